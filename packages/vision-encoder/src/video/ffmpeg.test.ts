import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidOptionError, VideoDecodeError } from '@mplug2/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VideoDecodeTimeoutError, VideoFrameCountError, checkFfmpeg, decodeFrames, probeVideo } from './ffmpeg.js';
import { GOLDEN_VIDEO, firstBitMismatch, float32s, goldenConfig, goldenTensors, int64s, sha256, uint8s } from './golden.testutil.js';
import { loadImage, loadVideo } from './load.js';
import { sampleFrameIndices } from './sampling.js';
import { preprocessFrames } from './transform.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('ffprobe', ['-version'], { stdio: 'ignore' }).status === 0;

const cfg = goldenConfig();
const m = await goldenTensors();

/** Expects `p` to reject with a VideoDecodeError naming `file` and matching `detail`; returns it. */
async function decodeError(p: Promise<unknown>, file: string, detail: RegExp): Promise<VideoDecodeError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(VideoDecodeError);
  const err = e as VideoDecodeError;
  expect(err.code).toBe('VIDEO_DECODE');
  expect(err.file).toBe(file);
  expect(err.message).toContain(file);
  expect(err.message).toMatch(detail);
  expect(err.remedy).toBeTruthy();
  return err;
}

describe.skipIf(!hasFfmpeg)('ffmpeg decoding against the golden', () => {
  it('probes the golden video like the reference (vlen 90, 30 fps)', async () => {
    const info = await probeVideo(GOLDEN_VIDEO);
    expect(info).toMatchObject({
      frameCount: cfg.vlen,
      frameCountSource: 'container',
      fps: cfg.fps,
      width: 320,
      height: 240,
      durationS: 3,
      streamIndex: 0,
      codec: 'h264',
    });
  });

  it('decodes exactly the golden decoded_frames', async () => {
    const indices = int64s(m, 'decoded_frame_indices');
    const expected = uint8s(m, 'decoded_frames');
    const { frames, stats } = await decodeFrames(GOLDEN_VIDEO, indices);
    const n = 240 * 320 * 3;
    let maxDiff = 0;
    let differing = 0;
    frames.forEach((f, row) => {
      expect([f.width, f.height]).toEqual([320, 240]);
      const want = expected.subarray(row * n, (row + 1) * n);
      for (let k = 0; k < n; k++) {
        const d = Math.abs(f.data[k] - want[k]);
        if (d) {
          differing++;
          if (d > maxDiff) maxDiff = d;
        }
      }
    });
    expect({ differing, maxDiff }).toEqual({ differing: 0, maxDiff: 0 });
    expect(stats.framesRead).toBe(Math.max(...indices) + 1);
  });

  it('loadVideo f16_r224: frame indices and pixel sha256 equal the golden', async () => {
    const { pixelValues, frameIndices, info } = await loadVideo(GOLDEN_VIDEO, { numFrames: 16, size: 224 });
    expect(frameIndices).toEqual(cfg.f16_r224.frame_indices);
    expect(info.frameCount).toBe(90);
    expect(pixelValues.dims).toEqual(['channels', 'frames', 'height', 'width']);
    expect(pixelValues.shape).toEqual([3, 16, 224, 224]);
    expect(sha256(pixelValues.data)).toBe(cfg.f16_r224.pixel_values_sha256_f32le);
  });

  it('loadVideo f4_r56: pixel values bit-exact', async () => {
    const { pixelValues, frameIndices } = await loadVideo(GOLDEN_VIDEO, { numFrames: 4, size: 56 });
    expect(frameIndices).toEqual(int64s(m, 'f4_r56.frame_indices'));
    expect(firstBitMismatch(pixelValues.data, float32s(m, 'f4_r56.pixel_values'))).toBe(-1);
    expect(sha256(pixelValues.data)).toBe(cfg.f4_r56.pixel_values_sha256_f32le);
  });

  it('resize-while-decoding gives the same frames as resizing afterwards', async () => {
    const idx = [10, 33, 33, 55];
    const a = await decodeFrames(GOLDEN_VIDEO, idx, { resize: { width: 56, height: 56 } });
    expect(a.frames[1]).toBe(a.frames[2]); // repeated indices share one frame
    const expected = uint8s(m, 'f4_r56.resized_frames');
    const n = 56 * 56 * 3;
    expect(Buffer.from(a.frames[0].data).equals(Buffer.from(expected.subarray(0, n)))).toBe(true);
    expect(Buffer.from(a.frames[3].data).equals(Buffer.from(expected.subarray(2 * n, 3 * n)))).toBe(true);
  });
});

describe.skipIf(!hasFfmpeg)('ffmpeg: generated files, errors, early stop', () => {
  let dir = '';
  const p = (name: string) => join(dir, name);
  const ff = (...args: string[]) => execFileSync('ffmpeg', ['-y', '-v', 'error', ...args], { stdio: 'pipe' });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mplug2-video-'));
    // 2 min at 64x48: 3600 frames, 33 MB of raw RGB.
    ff('-f', 'lavfi', '-i', 'testsrc=duration=120:size=64x48:rate=30', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', p('long.mp4'));
    // Variable frame rate: 60 frames, the last 30 spread 3x apart.
    ff(
      '-f',
      'lavfi',
      '-i',
      'testsrc=duration=2:size=64x48:rate=30',
      '-vf',
      "setpts='if(lt(N,30),N,30+(N-30)*3)/30/TB'",
      '-fps_mode',
      'passthrough',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      p('vfr.mp4'),
    );
    ff('-f', 'lavfi', '-i', 'sine=duration=1', '-c:a', 'aac', p('audio.m4a'));
    ff(
      '-f',
      'lavfi',
      '-i',
      'sine=duration=1',
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=32x32:duration=0.04',
      '-map',
      '0',
      '-map',
      '1',
      '-c:a',
      'aac',
      '-c:v',
      'png',
      '-disposition:v',
      'attached_pic',
      p('cover.m4a'),
    );
    ff('-f', 'lavfi', '-i', 'testsrc=size=80x60', '-frames:v', '1', p('image.png'));
    ff('-f', 'lavfi', '-i', 'testsrc=duration=1:size=64x48:rate=30', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', p('moov-at-end.mp4'));
    ff('-i', p('moov-at-end.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', p('rotated.mp4'));
    writeFileSync(p('moov-cut.mp4'), readFileSync(p('moov-at-end.mp4')).subarray(0, 2000));
    writeFileSync(p('empty.mp4'), new Uint8Array(0));
    writeFileSync(p('text.mp4'), 'this is not a video\n'.repeat(20));
    // Golden video (faststart: index first) cut after ~25 frames: index says 90, fewer decode.
    writeFileSync(p('truncated.mp4'), readFileSync(GOLDEN_VIDEO).subarray(0, 9000));
    mkdirSync(p('a-directory.mp4'));
    writeFileSync(p('slow-ffprobe'), '#!/bin/sh\nexec sleep 30\n');
    chmodSync(p('slow-ffprobe'), 0o755);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stops decoding as soon as the last needed frame arrived', async () => {
    const info = await probeVideo(p('long.mp4'));
    expect(info.frameCount).toBe(3600);
    const frameBytes = 64 * 48 * 3;
    const total = info.frameCount * frameBytes;
    const t0 = Date.now();
    const { frames, stats } = await decodeFrames(p('long.mp4'), [0, 5, 20], { info });
    expect(frames.map((f) => f.data.length)).toEqual([frameBytes, frameBytes, frameBytes]);
    expect(stats.framesRead).toBe(21);
    expect(stats.stoppedEarly).toBe(true);
    // Everything received is at most the 21 frames plus one pipe buffer; far below the whole stream.
    expect(stats.bytesRead).toBeGreaterThanOrEqual(21 * frameBytes);
    expect(stats.bytesRead).toBeLessThan(21 * frameBytes + (1 << 20));
    expect(stats.bytesRead).toBeLessThan(total / 10);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('decodes the last frame of a long video with memory for the kept frames only', async () => {
    const idx = sampleFrameIndices(4, 3600);
    const { frames, stats } = await decodeFrames(p('long.mp4'), [...idx, 3599], { resize: { width: 8, height: 8 } });
    expect(frames.every((f) => f.data.length === 8 * 8 * 3)).toBe(true);
    expect(stats.framesRead).toBe(3600);
  });

  it('keeps one output frame per decoded frame for variable-frame-rate video', async () => {
    const info = await probeVideo(p('vfr.mp4'));
    expect(info.frameCount).toBe(60);
    const all = Array.from({ length: 60 }, (_, i) => i);
    const { frames, stats } = await decodeFrames(p('vfr.mp4'), all, { info });
    expect(frames.length).toBe(60);
    expect(stats.framesRead).toBe(60);
    // The CFR default would have produced ~119 frames (duplicates); compare against the whole passthrough stream.
    const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', p('vfr.mp4'), '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], {
      maxBuffer: 64 << 20,
    });
    expect(raw.length).toBe(60 * 64 * 48 * 3);
    expect(Buffer.from(frames[59].data).equals(raw.subarray(59 * 9216))).toBe(true);
  });

  it('ignores rotation metadata (coded orientation, like decord)', async () => {
    const info = await probeVideo(p('rotated.mp4'));
    expect(info).toMatchObject({ width: 64, height: 48, rotation: 90 });
    const rotated = await decodeFrames(p('rotated.mp4'), [0, 7], { info });
    const plain = await decodeFrames(p('moov-at-end.mp4'), [0, 7]);
    expect(plain.info.rotation).toBe(0);
    for (const k of [0, 1]) expect(Buffer.from(rotated.frames[k].data).equals(Buffer.from(plain.frames[k].data))).toBe(true);
  });

  it('loads a still image as a 1-frame video repeated numFrames times', async () => {
    const info = await probeVideo(p('image.png'));
    expect(info).toMatchObject({ frameCount: 1, frameCountSource: 'packets', width: 80, height: 60 });
    const img = await loadImage(p('image.png'), { numFrames: 4, size: 32 });
    expect(img.frameIndices).toEqual([0, 0, 0, 0]);
    expect(img.pixelValues.shape).toEqual([3, 4, 32, 32]);
    const { frames } = await decodeFrames(p('image.png'), [0]);
    const viaFrames = preprocessFrames(frames, { numFrames: 4, size: 32 });
    expect(firstBitMismatch(img.pixelValues.data, viaFrames.data)).toBe(-1);
    const asVideo = await loadVideo(p('image.png'), { numFrames: 4, size: 32 });
    expect(firstBitMismatch(asVideo.pixelValues.data, viaFrames.data)).toBe(-1);
  });

  it('nonexistent path', async () => {
    const f = p('missing.mp4');
    await decodeError(probeVideo(f), f, /does not exist/);
    await decodeError(loadVideo(f, { numFrames: 4, size: 32 }), f, /does not exist/);
  });

  it('zero-byte file', async () => {
    await decodeError(loadVideo(p('empty.mp4'), { numFrames: 4, size: 32 }), p('empty.mp4'), /empty \(0 bytes\)/);
  });

  it('a directory', async () => {
    await decodeError(probeVideo(p('a-directory.mp4')), p('a-directory.mp4'), /directory/);
  });

  it('a text file named .mp4', async () => {
    const e = await decodeError(probeVideo(p('text.mp4')), p('text.mp4'), /not a video/);
    expect(e.remedy).toMatch(/complete video/);
  });

  it('audio only, and audio with cover art', async () => {
    await decodeError(loadVideo(p('audio.m4a'), { numFrames: 4, size: 32 }), p('audio.m4a'), /no video stream \(streams: audio\/aac\)/);
    await decodeError(probeVideo(p('cover.m4a')), p('cover.m4a'), /no video stream.*cover art/);
  });

  it('mp4 cut before its index (moov atom at the end)', async () => {
    const e = await decodeError(probeVideo(p('moov-cut.mp4')), p('moov-cut.mp4'), /moov atom not found/);
    expect(e.remedy).toMatch(/truncated/);
  });

  it('truncated mp4 whose index promises more frames than decode', async () => {
    const f = p('truncated.mp4');
    const info = await probeVideo(f);
    expect(info.frameCount).toBe(90);
    const e = (await decodeError(loadVideo(f, { numFrames: 16, size: 32 }), f, /produced only \d+ frame/)) as VideoFrameCountError;
    expect(e).toBeInstanceOf(VideoFrameCountError);
    expect(e.expectedFrames).toBe(90);
    expect(e.decodedFrames).toBeGreaterThan(0);
    expect(e.decodedFrames).toBeLessThan(90);
    // Early sampled frames are still there.
    const early = await decodeFrames(f, [0, 1], { info });
    expect(early.frames.length).toBe(2);
    // Opt-in: resample on the frames that do decode.
    const r = await loadVideo(f, { numFrames: 16, size: 32, onShortDecode: 'resample' });
    expect(r.info.frameCount).toBe(e.decodedFrames);
    expect(r.frameIndices).toEqual(sampleFrameIndices(16, e.decodedFrames));
    expect(r.pixelValues.shape).toEqual([3, 16, 32, 32]);
  });

  it('missing ffprobe / ffmpeg via env overrides and options', async () => {
    const saved = { probe: process.env.MPLUG2_FFPROBE, mpeg: process.env.MPLUG2_FFMPEG };
    try {
      process.env.MPLUG2_FFPROBE = join(dir, 'no-such-ffprobe');
      const e = await decodeError(probeVideo(GOLDEN_VIDEO), GOLDEN_VIDEO, /ffprobe not found \(tried '.*no-such-ffprobe'\)/);
      expect(e.remedy).toMatch(/apt-get install ffmpeg/);
      expect(e.remedy).toMatch(/MPLUG2_FFPROBE/);
      delete process.env.MPLUG2_FFPROBE;
      process.env.MPLUG2_FFMPEG = join(dir, 'no-such-ffmpeg');
      await decodeError(loadVideo(GOLDEN_VIDEO, { numFrames: 4, size: 32 }), GOLDEN_VIDEO, /ffmpeg not found/);
      // The option wins over the env.
      const ok = await decodeFrames(GOLDEN_VIDEO, [0], { ffmpegPath: 'ffmpeg' });
      expect(ok.frames.length).toBe(1);
    } finally {
      for (const [k, v] of [
        ['MPLUG2_FFPROBE', saved.probe],
        ['MPLUG2_FFMPEG', saved.mpeg],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    await decodeError(probeVideo(GOLDEN_VIDEO, { ffprobePath: '/nonexistent/bin/ffprobe' }), GOLDEN_VIDEO, /ffprobe not found/);
  });

  it('timeouts kill the tool and throw VideoDecodeTimeoutError (a VideoDecodeError) naming the tool and the budget', async () => {
    const t0 = Date.now();
    const e = await decodeError(
      probeVideo(GOLDEN_VIDEO, { ffprobePath: p('slow-ffprobe'), timeoutMs: 200 }),
      GOLDEN_VIDEO,
      /did not finish within the 200 ms timeout/,
    );
    expect(e).toBeInstanceOf(VideoDecodeTimeoutError);
    expect({ tool: (e as VideoDecodeTimeoutError).tool, timeoutMs: (e as VideoDecodeTimeoutError).timeoutMs }).toEqual({ tool: 'ffprobe', timeoutMs: 200 });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('abort signal stops decoding', async () => {
    const ac = new AbortController();
    const p1 = decodeFrames(p('long.mp4'), [3599], { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop please')), 20);
    await expect(p1).rejects.toThrow('stop please');
  });

  it('huge-frame guard and invalid options', async () => {
    await decodeError(probeVideo(GOLDEN_VIDEO, { maxPixels: 320 * 239 }), GOLDEN_VIDEO, /320x240 = 76800 pixels, more than the limit/);
    await expect(decodeFrames(GOLDEN_VIDEO, [90])).rejects.toThrow(InvalidOptionError);
    await expect(decodeFrames(GOLDEN_VIDEO, [-1])).rejects.toThrow(InvalidOptionError);
    await expect(loadVideo(GOLDEN_VIDEO, { numFrames: 0, size: 32 })).rejects.toThrow(InvalidOptionError);
    await expect(loadVideo(GOLDEN_VIDEO, { numFrames: 4, size: 32, timeoutMs: -1 })).rejects.toThrow(InvalidOptionError);
    await expect(decodeFrames(GOLDEN_VIDEO, [0], { timeoutMs: 0 })).rejects.toThrow(/timeoutMs/);
    await expect(decodeFrames(GOLDEN_VIDEO, [0], { resize: { width: 0, height: 4 } })).rejects.toThrow(/resize.width/);
    expect((await decodeFrames(GOLDEN_VIDEO, [])).frames).toEqual([]);
  });
});

describe('checkFfmpeg', () => {
  it('passes with the installed ffmpeg and ffprobe', async () => {
    await expect(checkFfmpeg()).resolves.toBeUndefined();
  });

  it('names the missing tool and gives the install hint', async () => {
    const err = await checkFfmpeg({ ffprobePath: '/nonexistent/ffprobe' }).catch((e) => e);
    expect(err).toBeInstanceOf(VideoDecodeError);
    expect(err.message).toMatch(/ffprobe not found \(tried '\/nonexistent\/ffprobe'\)/);
    expect(err.remedy).toMatch(/apt-get install ffmpeg/);
  });
});
