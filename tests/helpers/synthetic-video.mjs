// Synthetic test videos from an ffmpeg lavfi source (colours, test patterns, noise, fractals), H.264 in
// MP4, yuv420p: one module for the tests (tests/helpers/videos.ts) and the benches (bench/eval.mjs,
// bench/queue.mjs, bench/retrieval.mjs, bench/long-video.mjs).
import { execFileSync } from 'node:child_process';

/**
 * Encodes `seconds` of the lavfi `source` (e.g. `testsrc2=s=64x64:r=8`; a source that carries its own
 * duration, like `testsrc=…:duration=60`, takes `seconds: null`) to `file`. Returns `file`.
 */
export function writeSyntheticVideo(file, source, seconds = 1) {
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    source,
    ...(seconds === null ? [] : ['-t', String(seconds)]),
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    file,
  ]);
  return file;
}
