/**
 * Test-mode spatial transform and normalisation of the reference (`video_test_transform`):
 * nearest resize to `size x size` (PyTorch legacy nearest, aspect ratio not kept, no crop),
 * `/ 255`, then `(x - mean_c) / std_c` with the CLIP constants, all in float32, laid out as
 * `(channels, frames, height, width)`.
 *
 * Browser-safe: no Node built-ins.
 */
import { InvalidOptionError, PortMismatchError, tensor, type Tensor } from '@mplug2/core';
import { sampleFrameIndices } from './sampling.js';

/** One decoded frame: packed RGB, row-major, `height * width * 3` bytes. */
export interface RgbFrame {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** CLIP normalisation constants (RGB order), as written in the reference; cast to float32 where used. */
export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];

/** Dim names of one preprocessed video, and of a batch of them. */
export const VIDEO_DIMS = ['channels', 'frames', 'height', 'width'] as const;
export const VIDEO_BATCH_DIMS = ['batch', 'channels', 'frames', 'height', 'width'] as const;

function checkSize(option: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(option, `must be an integer >= 1, got ${String(value)}`);
}

function checkFrame(frame: RgbFrame, what: string): void {
  if (!frame || !(frame.data instanceof Uint8Array)) throw new InvalidOptionError(what, 'must be {data: Uint8Array, width, height} (packed RGB)');
  checkSize(`${what}.width`, frame.width);
  checkSize(`${what}.height`, frame.height);
  const need = frame.width * frame.height * 3;
  if (frame.data.length !== need) throw new InvalidOptionError(what, `${frame.width}x${frame.height} RGB needs ${need} bytes, data has ${frame.data.length}`);
}

/**
 * Source row/column read by PyTorch's legacy `F.interpolate(mode='nearest')` for every output
 * row/column: `min(floor(float32(o) * float32(inSize / outSize)), inSize - 1)`, with float32
 * arithmetic (ratio and product are each rounded to float32, as the CPU kernel does).
 */
export function nearestSourceIndex(inSize: number, outSize: number): Int32Array {
  checkSize('inSize', inSize);
  checkSize('outSize', outSize);
  const out = new Int32Array(outSize);
  if (inSize === outSize) {
    for (let o = 0; o < outSize; o++) out[o] = o;
    return out;
  }
  if (outSize === 2 * inSize) {
    for (let o = 0; o < outSize; o++) out[o] = o >> 1;
    return out;
  }
  // float(in) / out, both exact small integers: rounding the double quotient to float32 gives the
  // correctly rounded float32 quotient (a float32 midpoint needs a power-of-two denominator).
  const scale = Math.fround(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    // o * scale is exact in float64 (24-bit x 24-bit), so fround gives the float32 product.
    const src = Math.floor(Math.fround(o * scale));
    out[o] = Math.min(src, inSize - 1);
  }
  return out;
}

const indexCache = new Map<string, Int32Array>();
function cachedIndex(inSize: number, outSize: number): Int32Array {
  const key = `${inSize}>${outSize}`;
  let idx = indexCache.get(key);
  if (!idx) {
    idx = nearestSourceIndex(inSize, outSize);
    if (indexCache.size > 64) indexCache.clear();
    indexCache.set(key, idx);
  }
  return idx;
}

/**
 * Nearest resize of one RGB frame to `outH x outW` (reference `video_transforms.Resize`; values
 * stay integers 0..255, so the result is uint8 without loss). When `out` is given it is filled and
 * returned (it must hold `outH * outW * 3` bytes).
 */
export function resizeNearest(frame: RgbFrame, outH: number, outW: number, out?: Uint8Array): RgbFrame {
  checkFrame(frame, 'frame');
  checkSize('outH', outH);
  checkSize('outW', outW);
  const dst = out ?? new Uint8Array(outH * outW * 3);
  if (dst.length !== outH * outW * 3) throw new InvalidOptionError('out', `needs ${outH * outW * 3} bytes, has ${dst.length}`);
  const hIdx = cachedIndex(frame.height, outH);
  const wIdx = cachedIndex(frame.width, outW);
  const src = frame.data;
  const rowBytes = frame.width * 3;
  let d = 0;
  for (let y = 0; y < outH; y++) {
    const row = hIdx[y] * rowBytes;
    for (let x = 0; x < outW; x++) {
      const s = row + wIdx[x] * 3;
      dst[d] = src[s];
      dst[d + 1] = src[s + 1];
      dst[d + 2] = src[s + 2];
      d += 3;
    }
  }
  return { data: dst, width: outW, height: outH };
}

let lutCache: Float32Array[] | undefined;
/**
 * Per-channel lookup table u8 -> normalised float32, computed in the reference's float32 op order:
 * `fround(fround(fround(v / 255) - fround(mean_c)) / fround(std_c))`.
 */
export function normalizationTable(): readonly Float32Array[] {
  if (!lutCache) {
    lutCache = [0, 1, 2].map((c) => {
      const mean = Math.fround(CLIP_MEAN[c]);
      const std = Math.fround(CLIP_STD[c]);
      const t = new Float32Array(256);
      for (let v = 0; v < 256; v++) t[v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
      return t;
    });
  }
  return lutCache;
}

/**
 * `ClipToTensor` + `Normalize` on frames that are already `res x res` RGB: returns float32
 * `(3, T, res, res)` (channel-major), bit-exact with the reference.
 */
export function normalizeFrames(frames: readonly Uint8Array[], res: number): Float32Array {
  checkSize('res', res);
  if (frames.length < 1) throw new InvalidOptionError('frames', 'needs at least one frame');
  const plane = res * res;
  const T = frames.length;
  const out = new Float32Array(3 * T * plane);
  const lut = normalizationTable();
  const [l0, l1, l2] = lut;
  frames.forEach((f, t) => {
    if (!(f instanceof Uint8Array) || f.length !== plane * 3)
      throw new InvalidOptionError(`frames[${t}]`, `must be a Uint8Array of ${res}x${res}x3 = ${plane * 3} bytes`);
    const o0 = t * plane;
    const o1 = (T + t) * plane;
    const o2 = (2 * T + t) * plane;
    for (let p = 0, s = 0; p < plane; p++, s += 3) {
      out[o0 + p] = l0[f[s]];
      out[o1 + p] = l1[f[s + 1]];
      out[o2 + p] = l2[f[s + 2]];
    }
  });
  return out;
}

export interface PreprocessOptions {
  /** Output side length (the model's `image_res`, 224 for the released models). */
  size: number;
}

/**
 * Resize + normalise frames that were already sampled (one output frame per input frame, in
 * order) into one preallocated float32 `(channels, frames, height, width)` tensor. Frames may
 * have any (and differing) sizes; each is squashed to `size x size`.
 */
export function preprocessSampledFrames(frames: readonly RgbFrame[], options: PreprocessOptions): Tensor<'float32'> {
  const size = options?.size;
  checkSize('size', size);
  if (!frames || !(frames.length >= 1)) throw new InvalidOptionError('frames', 'needs at least one frame');
  frames.forEach((f, i) => checkFrame(f, `frames[${i}]`));
  const T = frames.length;
  const plane = size * size;
  const out = new Float32Array(3 * T * plane);
  const [l0, l1, l2] = normalizationTable();
  for (let t = 0; t < T; t++) {
    const { data: src, width, height } = frames[t];
    const hIdx = cachedIndex(height, size);
    const wIdx = cachedIndex(width, size);
    const rowBytes = width * 3;
    let p0 = t * plane;
    let p1 = (T + t) * plane;
    let p2 = (2 * T + t) * plane;
    for (let y = 0; y < size; y++) {
      const row = hIdx[y] * rowBytes;
      for (let x = 0; x < size; x++) {
        const s = row + wIdx[x] * 3;
        out[p0++] = l0[src[s]];
        out[p1++] = l1[src[s + 1]];
        out[p2++] = l2[src[s + 2]];
      }
    }
  }
  return tensor('float32', VIDEO_DIMS, [3, T, size, size], out, 'pixel_values');
}

export interface SampleAndPreprocessOptions extends PreprocessOptions {
  /** Frames the model takes (`model_num_frames`, 16 for the released models). */
  numFrames: number;
}

/**
 * Full test-mode preprocessing of a decoded video given as ALL its frames in order: samples
 * `numFrames` of them ('middle' sampling with `vlen = frames.length`), then resizes and normalises.
 * A single image is a 1-frame video: pass `[image]` and it is repeated `numFrames` times, exactly
 * as the reference pads short videos.
 */
export function preprocessFrames(frames: readonly RgbFrame[], options: SampleAndPreprocessOptions): Tensor<'float32'> {
  if (!frames || !(frames.length >= 1)) throw new InvalidOptionError('frames', 'needs at least one frame (a single image is a 1-frame video)');
  const indices = sampleFrameIndices(options?.numFrames, frames.length);
  return preprocessSampledFrames(
    indices.map((i) => frames[i]),
    options,
  );
}

/** Stacks per-video `(channels, frames, height, width)` tensors into `(batch, channels, frames, height, width)`. */
export function stackVideos(videos: readonly Tensor<'float32'>[]): Tensor<'float32'> {
  if (!videos || !(videos.length >= 1)) throw new InvalidOptionError('videos', 'needs at least one video');
  const shape = videos[0].shape;
  videos.forEach((v, i) => {
    if (v.dtype !== 'float32') throw new PortMismatchError('pixel_values', `video ${i} is ${v.dtype}, expected float32`);
    if (v.shape.length !== 4 || v.shape.some((s, j) => s !== shape[j]))
      throw new PortMismatchError('pixel_values', `video ${i} has shape [${v.shape}], expected [${shape}] (channels, frames, height, width) like video 0`);
  });
  const n = videos[0].data.length;
  const out = new Float32Array(videos.length * n);
  videos.forEach((v, i) => out.set(v.data, i * n));
  return tensor('float32', VIDEO_BATCH_DIMS, [videos.length, ...shape], out, 'pixel_values');
}

/** Drops the alpha channel of RGBA pixels (canvas `ImageData`, WebCodecs `RGBA`/`RGBX` copies). */
export function rgbaToRgb(frame: { readonly data: Uint8Array | Uint8ClampedArray; readonly width: number; readonly height: number }): RgbFrame {
  checkSize('frame.width', frame.width);
  checkSize('frame.height', frame.height);
  const n = frame.width * frame.height;
  if (frame.data.length !== n * 4) throw new InvalidOptionError('frame', `${frame.width}x${frame.height} RGBA needs ${n * 4} bytes, has ${frame.data.length}`);
  const out = new Uint8Array(n * 3);
  const src = frame.data;
  for (let p = 0, s = 0, d = 0; p < n; p++, s += 4, d += 3) {
    out[d] = src[s];
    out[d + 1] = src[s + 1];
    out[d + 2] = src[s + 2];
  }
  return { data: out, width: frame.width, height: frame.height };
}
