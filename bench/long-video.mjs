#!/usr/bin/env node
// Peak memory of `loadVideo` (probe, sample, streaming decode, resize, normalise) on a 1-minute and a
// 60-minute video: it must be bounded by the sampled frames, not the video's length. The videos are
// generated once with ffmpeg (lavfi testsrc, 160x120, 25 fps, x264 ultrafast) and cached; each load
// runs in its own child process, whose peak RSS (getrusage maxrss) is read back.
//
//   npm run bench:long-video -- [--minutes 1,60] [--frames 16] [--size 224] [--max-ratio 1.25] [--regenerate] [--json]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { writeSyntheticVideo } from '../tests/helpers/synthetic-video.mjs';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1,60' },
    frames: { type: 'string', default: '16' },
    size: { type: 'string', default: '224' },
    'max-ratio': { type: 'string', default: '1.25' },
    regenerate: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    child: { type: 'string' },
  },
});
const numFrames = Number(values.frames);
const size = Number(values.size);

if (values.child) {
  // Child: import first (baseline peak), then load; report both peaks.
  const { loadVideo } = await import('@mplug2/vision-encoder');
  const baseline = process.resourceUsage().maxRSS / 1024;
  const t = performance.now();
  const v = await loadVideo(values.child, { numFrames, size, timeoutMs: 1_800_000 });
  const seconds = (performance.now() - t) / 1000;
  console.log(
    JSON.stringify({
      seconds,
      frameCount: v.info.frameCount,
      durationS: v.info.durationS,
      lastIndex: v.frameIndices.at(-1),
      baselineMb: baseline,
      peakMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
  process.exit(0);
}

const cache = path.join(os.homedir(), '.cache', 'mplug2-bench');
mkdirSync(cache, { recursive: true });
const results = {};
for (const minutes of values.minutes.split(',').map(Number)) {
  const file = path.join(cache, `testsrc-${minutes}min.mp4`);
  let generatedS = null;
  if (values.regenerate || !existsSync(file)) {
    const t = performance.now();
    const tmp = `${file}.partial.mp4`;
    writeSyntheticVideo(tmp, `testsrc=size=160x120:rate=25:duration=${minutes * 60}`, null);
    renameSync(tmp, file);
    generatedS = (performance.now() - t) / 1000;
  }
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', file, '--frames', String(numFrames), '--size', String(size)], {
    encoding: 'utf8',
  });
  results[`${minutes} min`] = { ...JSON.parse(out.trim().split('\n').pop()), generatedS, fileMb: statSync(file).size / 2 ** 20 };
}

console.log(`loadVideo(numFrames ${numFrames}, size ${size}) on 160x120 25 fps testsrc videos, one child process each:`);
console.log('video     file MB  generated s  frames    decode s  import RSS MB  peak RSS MB  loadVideo adds MB');
for (const [k, r] of Object.entries(results))
  console.log(
    `${k.padEnd(8)} ${r.fileMb.toFixed(1).padStart(8)} ${(r.generatedS === null ? 'cached' : r.generatedS.toFixed(1)).padStart(12)} ${String(r.frameCount).padStart(7)} ${r.seconds.toFixed(1).padStart(11)} ${r.baselineMb.toFixed(0).padStart(14)} ${r.peakMb.toFixed(0).padStart(12)} ${(r.peakMb - r.baselineMb).toFixed(0).padStart(18)}`,
  );
const peaks = Object.values(results).map((r) => r.peakMb);
const ratio = Math.max(...peaks) / Math.min(...peaks);
const maxRatio = Number(values['max-ratio']);
const ok = ratio <= maxRatio;
console.log(
  `peak RSS longest / shortest = ${ratio.toFixed(2)} (bound ${maxRatio}): ${ok ? 'bounded by the sampled frames, not the length' : 'MEMORY GROWS WITH THE VIDEO LENGTH'}`,
);
if (values.json) console.log(JSON.stringify({ numFrames, size, results, ratio, ok }));
process.exit(ok ? 0 : 1);
