import { InvalidOptionError, PortMismatchError } from '@mplug2/core';
import { describe, expect, it } from 'vitest';
import { firstBitMismatch, float32s, goldenConfig, goldenDecodedFrames, goldenTensors, int64s, sha256, uint8s } from './golden.testutil.js';
import {
  nearestSourceIndex,
  normalizeFrames,
  preprocessFrames,
  preprocessSampledFrames,
  resizeNearest,
  rgbaToRgb,
  stackVideos,
  type RgbFrame,
} from './transform.js';

const m = await goldenTensors();
const cfg = goldenConfig();
const decoded = await goldenDecodedFrames();
const W = 320;
const H = 240;
const frameAt = (i: number): RgbFrame => {
  const data = decoded.get(i);
  if (!data) throw new Error(`golden has no decoded frame ${i}`);
  return { data, width: W, height: H };
};

describe('nearestSourceIndex', () => {
  it.each([
    ['h240_to_56', 240, 56],
    ['w320_to_56', 320, 56],
    ['h240_to_224', 240, 224],
    ['w320_to_224', 320, 224],
  ])('equals nearest_src_index.%s', (name, inSize, outSize) => {
    expect(Array.from(nearestSourceIndex(inSize, outSize))).toEqual(int64s(m, `nearest_src_index.${name}`));
  });

  it('identity, 2x upsampling, and clamping to the last source index', () => {
    expect(Array.from(nearestSourceIndex(5, 5))).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(nearestSourceIndex(3, 6))).toEqual([0, 0, 1, 1, 2, 2]);
    for (const [i, o] of [
      [7, 3],
      [224, 1000],
      [1080, 224],
      [1920, 224],
      [1, 224],
    ]) {
      const idx = nearestSourceIndex(i, o);
      for (let k = 0; k < o; k++) {
        expect(idx[k]).toBeGreaterThanOrEqual(0);
        expect(idx[k]).toBeLessThan(i);
      }
    }
  });
});

describe('f4_r56 golden (from the golden decoded frames)', () => {
  const setting = cfg.f4_r56;
  const frames = setting.frame_indices.map(frameAt);

  it('resized frames are exact', () => {
    const expected = uint8s(m, 'f4_r56.resized_frames');
    const n = 56 * 56 * 3;
    const all = new Uint8Array(4 * n);
    frames.forEach((f, t) => {
      const r = resizeNearest(f, 56, 56);
      expect(r.width).toBe(56);
      all.set(r.data, t * n);
    });
    expect(Buffer.from(all).equals(Buffer.from(expected))).toBe(true);
    expect(sha256(all)).toBe(setting.resized_sha256_u8);
  });

  it('pixel values are bit-exact (normalizeFrames and the fused preprocessSampledFrames)', () => {
    const expected = float32s(m, 'f4_r56.pixel_values');
    const resized = frames.map((f) => resizeNearest(f, 56, 56).data);
    const viaNormalize = normalizeFrames(resized, 56);
    expect(firstBitMismatch(viaNormalize, expected)).toBe(-1);

    const t = preprocessSampledFrames(frames, { size: 56 });
    expect(t.dtype).toBe('float32');
    expect(t.dims).toEqual(['channels', 'frames', 'height', 'width']);
    expect(t.shape).toEqual(setting.pixel_values_shape);
    expect(firstBitMismatch(t.data, expected)).toBe(-1);
    expect(sha256(t.data)).toBe(setting.pixel_values_sha256_f32le);
  });

  it('preprocessFrames samples from the full frame list', () => {
    // A 90-frame "video": the golden frames at the sampled positions, a dummy everywhere else.
    const dummy: RgbFrame = { data: new Uint8Array(16 * 16 * 3).fill(7), width: 16, height: 16 };
    const all = Array.from({ length: cfg.vlen }, (_, i) => (decoded.has(i) ? frameAt(i) : dummy));
    const t = preprocessFrames(all, { numFrames: 4, size: 56 });
    expect(firstBitMismatch(t.data, float32s(m, 'f4_r56.pixel_values'))).toBe(-1);
  });
});

describe('f16_r224 golden (from the golden decoded frames)', () => {
  const setting = cfg.f16_r224;
  const frames = setting.frame_indices.map(frameAt);

  it('resized frame 0 and the sha256 of all resized frames', () => {
    const n = 224 * 224 * 3;
    const all = new Uint8Array(16 * n);
    frames.forEach((f, t) => resizeNearest(f, 224, 224, all.subarray(t * n, (t + 1) * n)));
    expect(Buffer.from(all.subarray(0, n)).equals(Buffer.from(uint8s(m, 'f16_r224.resized_frame0')))).toBe(true);
    expect(sha256(all)).toBe(setting.resized_sha256_u8);
  });

  it('pixel frame 0 bit-exact and sha256 of the full (3,16,224,224) tensor', () => {
    const t = preprocessSampledFrames(frames, { size: 224 });
    expect(t.shape).toEqual([3, 16, 224, 224]);
    const plane = 224 * 224;
    const frame0 = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) frame0.set(t.data.subarray((c * 16 + 0) * plane, (c * 16 + 1) * plane), c * plane);
    expect(firstBitMismatch(frame0, float32s(m, 'f16_r224.pixel_values_frame0'))).toBe(-1);
    expect(sha256(t.data)).toBe(setting.pixel_values_sha256_f32le);
    let sum = 0;
    for (const v of t.data) sum += v;
    expect(sum).toBeCloseTo(391611.2081009201, 3);
  });
});

describe('single images, batching, validation', () => {
  it('a single image becomes numFrames identical frames', () => {
    const img = frameAt(cfg.f4_r56.frame_indices[0]);
    const t = preprocessFrames([img], { numFrames: 3, size: 56 });
    expect(t.shape).toEqual([3, 3, 56, 56]);
    const single = preprocessSampledFrames([img], { size: 56 });
    const plane = 56 * 56;
    for (let c = 0; c < 3; c++)
      for (let f = 0; f < 3; f++)
        expect(firstBitMismatch(t.data.subarray((c * 3 + f) * plane, (c * 3 + f + 1) * plane), single.data.subarray(c * plane, (c + 1) * plane))).toBe(-1);
  });

  it('stackVideos gives (batch, channels, frames, height, width)', () => {
    const a = preprocessSampledFrames([frameAt(10), frameAt(33)], { size: 8 });
    const b = preprocessSampledFrames([frameAt(55), frameAt(78)], { size: 8 });
    const s = stackVideos([a, b]);
    expect(s.dims).toEqual(['batch', 'channels', 'frames', 'height', 'width']);
    expect(s.shape).toEqual([2, 3, 2, 8, 8]);
    expect(Array.from(s.data.subarray(a.data.length))).toEqual(Array.from(b.data));
    const c = preprocessSampledFrames([frameAt(10)], { size: 8 });
    expect(() => stackVideos([a, c])).toThrow(PortMismatchError);
    expect(() => stackVideos([])).toThrow(InvalidOptionError);
  });

  it('rgbaToRgb drops alpha', () => {
    const rgba = new Uint8ClampedArray([1, 2, 3, 255, 4, 5, 6, 0]);
    expect(Array.from(rgbaToRgb({ data: rgba, width: 2, height: 1 }).data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects bad inputs with InvalidOptionError', () => {
    const img = frameAt(10);
    expect(() => preprocessSampledFrames([], { size: 8 })).toThrow(InvalidOptionError);
    expect(() => preprocessSampledFrames([img], { size: 0 })).toThrow(InvalidOptionError);
    expect(() => preprocessFrames([img], { numFrames: 0, size: 8 })).toThrow(/numFrames/);
    expect(() => preprocessSampledFrames([{ data: new Uint8Array(5), width: 2, height: 2 }], { size: 8 })).toThrow(/frames\[0\]/);
    expect(() => normalizeFrames([new Uint8Array(3)], 2)).toThrow(InvalidOptionError);
    expect(() => resizeNearest(img, 4, 4, new Uint8Array(3))).toThrow(InvalidOptionError);
    expect(() => nearestSourceIndex(0, 4)).toThrow(InvalidOptionError);
  });
});
