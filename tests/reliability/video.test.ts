/**
 * Hostile and unusual video input through `probeVideo` / `loadVideo` / `decodeFrames`, beyond
 * packages/vision-encoder/src/video/ffmpeg.test.ts (missing / empty / directory / text / audio-only / cut /
 * truncated files, missing binaries, the probe timeout, abort, the pixel guard): a real 4K video decoded in
 * bounded memory; declared sizes just above the pixel limit, far above it and beyond what ffmpeg accepts;
 * strongly variable frame rates (bit-exact against the passthrough stream, with and without a container
 * frame count); corrupt and random bytes and a checkpoint given as a video; tools that hang, never stop or
 * print garbage (a hung or endless child must be killed, not just given up on); a FIFO nobody writes to.
 * Every failure is a VideoDecodeError naming the file, with a remedy.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VideoDecodeError, crc32 } from '@mplug2/core';
import { DEFAULT_MAX_PIXELS, decodeFrames, loadVideo, preprocessFrames, probeVideo, sampleFrameIndices, type RgbFrame } from '@mplug2/vision-encoder';
import { GOLDENS } from '../helpers/golden';

const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('ffprobe', ['-version'], { stdio: 'ignore' }).status === 0;
const GOLDEN_VIDEO = path.join(GOLDENS, 'preprocess/testsrc_320x240_30fps_3s.mp4');

/** Awaits `p`, expecting a VideoDecodeError naming `file`, matching `detail`, with a remedy. */
async function decodeError(p: Promise<unknown>, file: string, detail: RegExp): Promise<VideoDecodeError> {
  const e = await p.then(
    () => new Error('resolved, but an error was expected'),
    (err: unknown) => err,
  );
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

/** Whether the process has exited, polling for up to `ms` (a killed child is reaped asynchronously). */
async function gone(pid: number, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !alive(pid);
}

/** Decodes every frame of `file` at its native 64x48 as ffmpeg's passthrough stream gives them: the reference. */
function passthroughFrames(file: string, count: number): Buffer[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const frameBytes = 64 * 48 * 3;
  expect(raw.length).toBe(count * frameBytes);
  return Array.from({ length: count }, (_, i) => raw.subarray(i * frameBytes, (i + 1) * frameBytes));
}

describe.skipIf(!hasFfmpeg)('video input under hostile and unusual files', () => {
  let dir = '';
  const p = (name: string) => path.join(dir, name);
  const ff = (...args: string[]) => execFileSync('ffmpeg', ['-y', '-v', 'error', ...args], { stdio: 'pipe' });
  const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
  /** A fake tool that records its pid in `<name>.pid`, runs `body`, then `exec`s `last` (so the pid is that process). */
  const fakeTool = (name: string, last: string, body = ''): string => {
    writeFileSync(p(name), `#!/bin/sh\necho $$ > '${p(`${name}.pid`)}'\n${body}exec ${last}\n`);
    chmodSync(p(name), 0o755);
    return p(name);
  };
  const pidOf = (tool: string) => Number(readFileSync(`${tool}.pid`, 'utf8'));

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mplug2-hostile-video-'));
    // A real 4096x2304 video (9.4 MP a frame): blue, red top-left quadrant.
    ff('-f', 'lavfi', '-i', 'color=c=blue:s=4096x2304:r=4:d=1,drawbox=x=0:y=0:w=2048:h=1152:color=red:t=fill', '-frames:v', '4', ...x264, p('4k.mp4'));
    // 64x48 PNG, then its IHDR patched to claim 8200x8200 (67.2 Mpx, just above the default limit; ffprobe
    // itself refuses sizes above ~268 Mpx): a decompression-bomb image header.
    ff('-f', 'lavfi', '-i', 'color=c=red:s=64x48', '-frames:v', '1', p('small.png'));
    const png = new Uint8Array(readFileSync(p('small.png')));
    const view = new DataView(png.buffer, png.byteOffset);
    expect(String.fromCharCode(...png.subarray(12, 16))).toBe('IHDR');
    view.setUint32(16, 8200);
    view.setUint32(20, 8200);
    view.setUint32(29, crc32(png.subarray(12, 29)));
    writeFileSync(p('huge.png'), png);
    // Declared-only sizes (YUV4MPEG2 headers, no frame data): far above the pixel limit, and beyond what ffmpeg accepts.
    writeFileSync(p('huge.y4m'), 'YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\n');
    writeFileSync(p('absurd.y4m'), 'YUV4MPEG2 W40000 H40000 F25:1 Ip A1:1 C420jpeg\n');
    // VFR burst: 100 frames, 50 within the first 0.5 s, then 50 at 5 fps (average ~9.7 fps, nominal 25).
    ff(
      '-f',
      'lavfi',
      '-i',
      'testsrc=s=64x48:r=25:d=4',
      '-vf',
      "setpts='if(lt(N,50),N*0.01,0.5+(N-50)*0.2)/TB'",
      '-fps_mode',
      'passthrough',
      ...x264,
      p('vfr-burst.mp4'),
    );
    // VFR gap: 60 frames, the last 30 after a 100 s pause (a constant-rate conversion would emit ~3000 frames).
    const vfrGap = [
      '-f',
      'lavfi',
      '-i',
      'testsrc=duration=2:size=64x48:rate=30',
      '-vf',
      "setpts='(if(lt(N,30),N/30,100+(N-30)/7))/TB'",
      '-fps_mode',
      'passthrough',
    ];
    ff(...vfrGap, ...x264, p('vfr-gap.mp4'));
    ff(...vfrGap, ...x264, p('vfr-gap.mkv')); // Matroska: no frame count in the container, packets are counted
    // The golden video with 4 KiB of its coded frames overwritten (index intact).
    const corrupt = new Uint8Array(readFileSync(GOLDEN_VIDEO));
    for (let i = 6000; i < 10_096; i++) corrupt[i] = (i * 2654435761) >>> 24;
    writeFileSync(p('corrupt-middle.mp4'), corrupt);
    const random = new Uint8Array(64 * 1024);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2246822519 + 3266489917) >>> 24;
    writeFileSync(p('random.mp4'), random);
  }, 60_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // First, so the peak RSS it measures is not raised by other cases in this process.
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

  describe('declared sizes above the pixel limit are refused from the probe, before any frame is decoded', () => {
    it('a PNG header declaring 8200x8200, just above the default limit', async () => {
      expect((await probeVideo(p('small.png'))).width).toBe(64);
      expect(DEFAULT_MAX_PIXELS).toBe(8192 * 8192);
      await decodeError(loadVideo(p('huge.png'), { numFrames: 4, size: 32 }), p('huge.png'), /8200x8200 = 67240000 pixels, more than the limit of 67108864/);
    });

    it('a 16000x16000 y4m header far above the limit, and a 40000x40000 one beyond what ffmpeg accepts', async () => {
      const e = await decodeError(loadVideo(p('huge.y4m'), { numFrames: 4, size: 32 }), p('huge.y4m'), /16000x16000 = 256000000 pixels, more than the limit/);
      expect(e.remedy).toMatch(/downscale|maxPixels/);
      await decodeError(loadVideo(p('absurd.y4m'), { numFrames: 4, size: 32 }), p('absurd.y4m'), /Picture size 40000x40000 is invalid/);
    });
  });

  describe('variable frame rate: the sampled frames are decoded frames, not a constant-rate resampling', () => {
    it('a 50-frame burst then 5 fps: decodeFrames returns exactly the passthrough frames loadVideo sampled', async () => {
      const v = await loadVideo(p('vfr-burst.mp4'), { numFrames: 8, size: 32 });
      expect(v.info.frameCount).toBe(100);
      expect(v.frameIndices).toEqual(sampleFrameIndices(8, 100));
      expect(v.pixelValues.shape).toEqual([3, 8, 32, 32]);
      const reference = passthroughFrames(p('vfr-burst.mp4'), 100);
      const { frames } = await decodeFrames(p('vfr-burst.mp4'), v.frameIndices, { info: v.info });
      v.frameIndices.forEach((idx, k) => expect(Buffer.from(frames[k].data).equals(reference[idx]), `frame ${idx}`).toBe(true));
    });

    it('a 100 s gap, in MP4 (container frame count) and Matroska (packets counted): pixel values bit-exact', async () => {
      const reference = passthroughFrames(p('vfr-gap.mp4'), 60);
      const frames: RgbFrame[] = reference.map((b) => ({ data: new Uint8Array(b), width: 64, height: 48 }));
      const expected = preprocessFrames(frames, { numFrames: 8, size: 32 });
      for (const file of ['vfr-gap.mp4', 'vfr-gap.mkv']) {
        const v = await loadVideo(p(file), { numFrames: 8, size: 32 });
        expect(v.info.frameCount, file).toBe(60);
        expect(v.info.frameCountSource, file).toBe(file.endsWith('.mkv') ? 'packets' : 'container');
        expect(v.info.durationS, file).toBeGreaterThan(100);
        expect(v.frameIndices).toEqual(sampleFrameIndices(8, 60));
        expect(Buffer.from(v.pixelValues.data.buffer).equals(Buffer.from(expected.data.buffer)), file).toBe(true);
      }
    });
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

  describe('tools that hang, never stop or print garbage', () => {
    it('a hanging ffprobe is killed at the timeout', async () => {
      const tool = fakeTool('hang-ffprobe', 'sleep 600');
      await decodeError(
        probeVideo(p('vfr-burst.mp4'), { ffprobePath: tool, timeoutMs: 300 }),
        p('vfr-burst.mp4'),
        /ffprobe did not finish within the 300 ms timeout and was killed/,
      );
      expect(await gone(pidOf(tool))).toBe(true);
    });

    it('an ffmpeg that hangs mid-stream (half a frame written) is killed at the timeout of loadVideo', async () => {
      const tool = fakeTool('hang-ffmpeg', 'sleep 600', 'head -c 1000 /dev/zero\n');
      await decodeError(loadVideo(p('vfr-burst.mp4'), { numFrames: 4, size: 32, ffmpegPath: tool, timeoutMs: 1500 }), p('vfr-burst.mp4'), /timeout/);
      expect(existsSync(`${tool}.pid`)).toBe(true);
      expect(await gone(pidOf(tool))).toBe(true);
    });

    it('a decoder that never stops is killed once the frames it needs have arrived', async () => {
      const tool = fakeTool('endless-ffmpeg', 'cat /dev/zero');
      const info = await probeVideo(GOLDEN_VIDEO);
      // endless zeros: 11 frames' worth arrive, the rest is not waited for (the 10 s timeout never fires)
      const r = await decodeFrames(GOLDEN_VIDEO, [0, 10], { info, ffmpegPath: tool, timeoutMs: 10_000 });
      expect(r.frames.map((f) => f.data.length)).toEqual([320 * 240 * 3, 320 * 240 * 3]);
      expect(r.stats.stoppedEarly).toBe(true);
      expect(await gone(pidOf(tool))).toBe(true);
    });

    it('an ffprobe that prints garbage gives a typed error', async () => {
      const tool = fakeTool('garbage-ffprobe', 'echo "{ this is not json"');
      await decodeError(loadVideo(GOLDEN_VIDEO, { numFrames: 4, size: 32, ffprobePath: tool }), GOLDEN_VIDEO, /unreadable output/);
    });
  });

  it('a named pipe nobody writes to is refused instead of blocking', async () => {
    const fifo = p('stream.mp4');
    execFileSync('mkfifo', [fifo]);
    await decodeError(loadVideo(fifo, { numFrames: 4, size: 32, timeoutMs: 2000 }), fifo, /not a regular file|timeout/);
  });
});
