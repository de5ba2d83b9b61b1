/**
 * Hostile and unusual video input through `loadVideo` / `decodeFrames`, beyond
 * packages/vision-encoder/src/video/ffmpeg.test.ts (missing / empty / directory / text / audio-only / cut /
 * truncated files, missing binaries, the probe timeout, abort, the pixel guard) and video.test.ts here (a
 * huge declared PNG size, VFR through loadVideo, hanging ffprobe / ffmpeg killed, a FIFO): a real 4K video
 * decoded in bounded memory, a size beyond what ffmpeg accepts, VFR with a 100 s gap in a container
 * without a frame count (bit-exact against the passthrough stream), corrupt and random bytes, a
 * checkpoint given as a video, a decoder that never stops (killed once the frames arrived) and an
 * ffprobe printing garbage. Every failure is a VideoDecodeError with a remedy, within seconds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VideoDecodeError } from '@mplug2/core';
import { decodeFrames, loadVideo, preprocessFrames, probeVideo, sampleFrameIndices, type RgbFrame } from '@mplug2/vision-encoder';
import { GOLDENS } from '../helpers/golden';

const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('ffprobe', ['-version'], { stdio: 'ignore' }).status === 0;
const GOLDEN_VIDEO = path.join(GOLDENS, 'preprocess/testsrc_320x240_30fps_3s.mp4');

/** Runs `p`, expecting a VideoDecodeError naming `file` with a remedy, within `withinMs`. */
async function decodeError(p: Promise<unknown>, file: string, detail: RegExp, withinMs = 10_000): Promise<VideoDecodeError> {
  const t = performance.now();
  const e = await p.then(
    () => new Error('resolved, but an error was expected'),
    (err: unknown) => err,
  );
  expect(performance.now() - t).toBeLessThan(withinMs);
  expect(e).toBeInstanceOf(VideoDecodeError);
  const err = e as VideoDecodeError;
  expect(err.file).toBe(file);
  expect(err.message).toMatch(detail);
  expect(err.remedy, err.message).toBeTruthy();
  return err;
}

/** Whether a process id is still running (signal 0 probes without signalling). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasFfmpeg)('video input under hostile and unusual files', () => {
  let dir = '';
  const p = (name: string) => path.join(dir, name);
  const ff = (...args: string[]) => execFileSync('ffmpeg', ['-y', '-v', 'error', ...args], { stdio: 'pipe' });
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mplug2-hostile-video-'));
    // VFR: 60 frames, the last 30 after a 100 s pause (a constant-rate conversion would emit ~3000 frames).
    const vfr = ['-f', 'lavfi', '-i', 'testsrc=duration=2:size=64x48:rate=30', '-vf', "setpts='(if(lt(N,30),N/30,100+(N-30)/7))/TB'", '-fps_mode', 'passthrough'];
    ff(...vfr, ...x264, p('vfr-gap.mp4'));
    ff(...vfr, ...x264, p('vfr-gap.mkv')); // Matroska: no frame count in the container, packets are counted
    // A real 4096x2304 video (9.4 MP a frame): blue, red top-left quadrant.
    ff('-f', 'lavfi', '-i', 'color=c=blue:s=4096x2304:r=4:d=1,drawbox=x=0:y=0:w=2048:h=1152:color=red:t=fill', '-frames:v', '4', ...x264, p('4k.mp4'));
    // Declared-only sizes (YUV4MPEG2 headers, no frame data): above the pixel limit, and beyond what ffmpeg accepts.
    writeFileSync(p('huge.y4m'), 'YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\n');
    writeFileSync(p('absurd.y4m'), 'YUV4MPEG2 W40000 H40000 F25:1 Ip A1:1 C420jpeg\n');
    // The golden video with 4 KiB of its coded frames overwritten (index intact).
    const corrupt = new Uint8Array(readFileSync(GOLDEN_VIDEO));
    for (let i = 6000; i < 10_096; i++) corrupt[i] = (i * 2654435761) >>> 24;
    writeFileSync(p('corrupt-middle.mp4'), corrupt);
    const random = new Uint8Array(64 * 1024);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2246822519 + 3266489917) >>> 24;
    writeFileSync(p('random.mp4'), random);
    writeFileSync(p('fake-ffmpeg-endless'), `#!/bin/sh\necho $$ > "${p('endless.pid')}"\nexec cat /dev/zero\n`);
    writeFileSync(p('fake-ffprobe-garbage'), '#!/bin/sh\necho "{ this is not json"\n');
    for (const f of ['fake-ffmpeg-endless', 'fake-ffprobe-garbage']) chmodSync(p(f), 0o755);
  }, 60_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a 4096x2304 video decodes with memory for one native frame, not its frame count or size', async () => {
    const peak0 = process.resourceUsage().maxRSS;
    const v = await loadVideo(p('4k.mp4'), { numFrames: 4, size: 56 });
    const growthMb = (process.resourceUsage().maxRSS - peak0) / 1024;
    expect(v.info).toMatchObject({ width: 4096, height: 2304, frameCount: 4 });
    expect(v.pixelValues.shape).toEqual([3, 4, 56, 56]);
    // red top-left, blue bottom-right after resize + CLIP normalisation (channel 0 = R, 2 = B)
    const at = (c: number, y: number, x: number) => v.pixelValues.data[c * 4 * 56 * 56 + y * 56 + x];
    expect(at(0, 2, 2)).toBeGreaterThan(1);
    expect(at(2, 2, 2)).toBeLessThan(0);
    expect(at(0, 50, 50)).toBeLessThan(0);
    expect(at(2, 50, 50)).toBeGreaterThan(1);
    // one 28 MB native frame (+ pipe buffers); keeping the 4 native frames would be 113 MB
    expect(growthMb).toBeLessThan(100);
  });

  it('declared sizes far above the limit, and beyond what ffmpeg accepts, are refused before decoding', async () => {
    const e = await decodeError(loadVideo(p('huge.y4m'), { numFrames: 4, size: 32 }), p('huge.y4m'), /16000x16000 = 256000000 pixels, more than the limit/, 5000);
    expect(e.remedy).toMatch(/downscale|maxPixels/);
    await decodeError(loadVideo(p('absurd.y4m'), { numFrames: 4, size: 32 }), p('absurd.y4m'), /Picture size 40000x40000 is invalid/, 5000);
  });

  it('variable frame rate with a 100 s gap: frames are decoded frames, in order, not a constant-rate resampling', async () => {
    const reference = execFileSync('ffmpeg', ['-v', 'error', '-i', p('vfr-gap.mp4'), '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 64 << 20 });
    const frameBytes = 64 * 48 * 3;
    expect(reference.length).toBe(60 * frameBytes);
    const frames: RgbFrame[] = Array.from({ length: 60 }, (_, i) => ({ data: new Uint8Array(reference.subarray(i * frameBytes, (i + 1) * frameBytes)), width: 64, height: 48 }));
    const expected = preprocessFrames(frames, { numFrames: 8, size: 32 });
    for (const file of ['vfr-gap.mp4', 'vfr-gap.mkv']) {
      const t = performance.now();
      const v = await loadVideo(p(file), { numFrames: 8, size: 32 });
      expect(performance.now() - t, file).toBeLessThan(5000);
      expect(v.info.frameCount, file).toBe(60);
      expect(v.info.frameCountSource, file).toBe(file.endsWith('.mkv') ? 'packets' : 'container');
      expect(v.info.durationS, file).toBeGreaterThan(100);
      expect(v.frameIndices).toEqual(sampleFrameIndices(8, 60));
      expect(Buffer.from(v.pixelValues.data.buffer).equals(Buffer.from(expected.data.buffer)), file).toBe(true);
    }
  });

  it('corrupt coded frames decode (ffmpeg conceals) or fail typed; random bytes and a checkpoint fail typed', async () => {
    const corrupt = await loadVideo(p('corrupt-middle.mp4'), { numFrames: 4, size: 32 }).then(
      (v) => v.pixelValues.shape,
      (e: unknown) => e,
    );
    if (Array.isArray(corrupt)) expect(corrupt).toEqual([3, 4, 32, 32]);
    else expect(corrupt).toBeInstanceOf(VideoDecodeError);
    await decodeError(loadVideo(p('random.mp4'), { numFrames: 4, size: 32 }), p('random.mp4'), /not a video or image ffprobe can read/);
    const ckpt = path.join(GOLDENS, 'videoqa_tiny/checkpoint.pth');
    await decodeError(loadVideo(ckpt, { numFrames: 4, size: 32 }), ckpt, /not a video|no video stream/);
  });

  it('a decoder that never stops is killed once the frames it needs have arrived', async () => {
    const info = await probeVideo(GOLDEN_VIDEO);
    // endless zeros: 11 frames' worth arrive, the rest is not waited for
    const t = performance.now();
    const r = await decodeFrames(GOLDEN_VIDEO, [0, 10], { info, ffmpegPath: p('fake-ffmpeg-endless'), timeoutMs: 10_000 });
    expect(performance.now() - t).toBeLessThan(5000);
    expect(r.frames.map((f) => f.data.length)).toEqual([320 * 240 * 3, 320 * 240 * 3]);
    expect(r.stats.stoppedEarly).toBe(true);
    const endless = Number(readFileSync(p('endless.pid'), 'utf8'));
    await new Promise((res) => setTimeout(res, 200));
    expect(alive(endless)).toBe(false);
  });

  it('an ffprobe that prints garbage gives a typed error', async () => {
    await decodeError(loadVideo(GOLDEN_VIDEO, { numFrames: 4, size: 32, ffprobePath: p('fake-ffprobe-garbage') }), GOLDEN_VIDEO, /unreadable output/);
  });
});
