/**
 * Typed video errors the per-package ffmpeg tests do not cover: a file whose header declares a huge
 * resolution (refused by the default pixel limit before any decoding), strongly variable frame rate end to
 * end through loadVideo, and tools that hang — the timeout must kill the child process, not just give up on it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VideoDecodeError, crc32 } from '@mplug2/core';
import { DEFAULT_MAX_PIXELS, decodeFrames, loadVideo, probeVideo } from '@mplug2/vision-encoder';
import { beforeAll, describe, expect, it } from 'vitest';

const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('ffprobe', ['-version'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-video-rel-'));
const p = (f: string) => path.join(dir, f);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !alive(pid);
}

/** A fake tool that records its pid, optionally prints something, then hangs (exec: the pid is the sleeper). */
function hangingTool(name: string, print = ''): { bin: string; pidFile: string } {
  const bin = p(name);
  const pidFile = p(`${name}.pid`);
  writeFileSync(bin, `#!/bin/sh\necho $$ > '${pidFile}'\n${print}exec sleep 600\n`);
  chmodSync(bin, 0o755);
  return { bin, pidFile };
}

async function rejectsTyped(promise: Promise<unknown>, detail: RegExp): Promise<VideoDecodeError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(VideoDecodeError);
  expect((e as Error).message).toMatch(detail);
  expect((e as VideoDecodeError).remedy).toBeTruthy();
  return e as VideoDecodeError;
}

describe.skipIf(!hasFfmpeg)('video reliability', () => {
  beforeAll(() => {
    // 64x48 PNG, then its IHDR patched to claim 8200x8200 (67.2 Mpx, just above the default limit; ffprobe itself refuses sizes above ~268 Mpx): a decompression-bomb image header
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=red:s=64x48', '-frames:v', '1', p('small.png')]);
    const png = new Uint8Array(readFileSync(p('small.png')));
    const view = new DataView(png.buffer, png.byteOffset);
    expect(String.fromCharCode(...png.subarray(12, 16))).toBe('IHDR');
    view.setUint32(16, 8200);
    view.setUint32(20, 8200);
    view.setUint32(29, crc32(png.subarray(12, 29)));
    writeFileSync(p('huge.png'), png);
    // 100 frames: 50 within the first 0.5 s, then 50 at 5 fps (average ~9.7 fps, nominal 25)
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=s=64x48:r=25:d=4', '-vf', "setpts='if(lt(N,50),N*0.01,0.5+(N-50)*0.2)/TB'", '-fps_mode', 'passthrough', '-c:v', 'libx264', '-preset', 'ultrafast', p('vfr.mp4')]);
  });

  it('a header declaring a huge resolution is refused by the default pixel limit before any frame is decoded', async () => {
    expect((await probeVideo(p('small.png'))).width).toBe(64);
    const t0 = Date.now();
    await rejectsTyped(loadVideo(p('huge.png'), { numFrames: 4, size: 32 }), /8200x8200 = 67240000 pixels, more than the limit of 67108864/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(DEFAULT_MAX_PIXELS).toBe(8192 * 8192);
  });

  it('strongly variable frame rate: loadVideo samples decoded frames, not frame-rate-duplicated ones', async () => {
    const v = await loadVideo(p('vfr.mp4'), { numFrames: 8, size: 32 });
    expect(v.info.frameCount).toBe(100);
    expect(v.frameIndices.every((i) => i >= 0 && i < 100)).toBe(true);
    expect(v.pixelValues.shape).toEqual([3, 8, 32, 32]);
    // the sampled frames are those of the passthrough stream (no duplicated or dropped frames)
    const { frames } = await decodeFrames(p('vfr.mp4'), v.frameIndices, { info: v.info });
    const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', p('vfr.mp4'), '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 64 << 20 });
    const size = 64 * 48 * 3;
    expect(raw.length).toBe(100 * size);
    v.frameIndices.forEach((idx, k) => expect(Buffer.from(frames[k].data).equals(raw.subarray(idx * size, (idx + 1) * size))).toBe(true));
  });

  it('a hanging ffprobe is killed at the timeout', async () => {
    const { bin, pidFile } = hangingTool('hang-ffprobe');
    const t0 = Date.now();
    await rejectsTyped(probeVideo(p('vfr.mp4'), { ffprobePath: bin, timeoutMs: 300 }), /ffprobe did not finish within the 300 ms timeout and was killed/);
    expect(Date.now() - t0).toBeLessThan(5000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(await gone(pid)).toBe(true);
  });

  it('an ffmpeg that hangs mid-stream is killed at the timeout of loadVideo', async () => {
    // writes half a frame of pixels, then hangs
    const { bin, pidFile } = hangingTool('hang-ffmpeg', `head -c 1000 /dev/zero\n`);
    const t0 = Date.now();
    const e = await rejectsTyped(loadVideo(p('vfr.mp4'), { numFrames: 4, size: 32, ffmpegPath: bin, timeoutMs: 1500 }), /timeout/);
    expect(e.file).toBe(p('vfr.mp4'));
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(existsSync(pidFile)).toBe(true);
    expect(await gone(Number(readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('a named pipe nobody writes to is refused instead of blocking', async () => {
    const fifo = p('stream.mp4');
    execFileSync('mkfifo', [fifo]);
    const t0 = Date.now();
    await rejectsTyped(loadVideo(fifo, { numFrames: 4, size: 32, timeoutMs: 2000 }), /not a regular file|timeout/);
    expect(Date.now() - t0).toBeLessThan(8000);
  });
});
