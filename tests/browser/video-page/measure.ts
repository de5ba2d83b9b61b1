/**
 * Browser video decoding + the reference transform vs the preprocessing golden
 * (fixtures/goldens/preprocess): frame indices, the preprocessed tensor and the raw decoded RGB
 * frames. Runs on the page and in a worker (video-page/worker.ts) alike.
 */
import { CLIP_STD, loadVideo, type BrowserVideoDecoder } from '@mplug2/vision-encoder/browser';
import { openCheckpoint } from '@mplug2/core';

export interface MeasureRequest {
  videoUrl: string;
  fixturesUrl: string;
  numFrames: number;
  size: number;
  decoder: BrowserVideoDecoder;
}

/** Absolute differences in 0..255 units: largest, mean, and how many values are exact. */
interface Diff {
  maxAbsU8: number;
  meanAbsU8: number;
  exactFraction: number;
}

function diffU8(values: ArrayLike<number>, reference: ArrayLike<number>, toU8: (d: number, i: number) => number): Diff {
  let max = 0;
  let sum = 0;
  let exact = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = toU8(Math.abs(values[i] - reference[i]), i);
    max = Math.max(max, d);
    sum += d;
    if (d === 0) exact++;
  }
  return { maxAbsU8: max, meanAbsU8: sum / reference.length, exactFraction: exact / reference.length };
}

export async function measure({ videoUrl, fixturesUrl, numFrames, size, decoder }: MeasureRequest) {
  const fx = await openCheckpoint(new URL(fixturesUrl, location.href).href);
  const key = `f${numFrames}_r${size}`;
  const t0 = performance.now();
  const v = await loadVideo(new URL(videoUrl, location.href).href, { numFrames, size, decoder, keepFrames: true });
  const ms = performance.now() - t0;
  // The preprocessed tensor (3, T, size, size): normalised values back in 0..255 units (× std × 255).
  // The golden stores it whole for f4_r56 and frame 0 only (3, size, size) for f16_r224.
  const whole = fx.has(`${key}.pixel_values`);
  const ref = await fx.readFloat32(whole ? `${key}.pixel_values` : `${key}.pixel_values_frame0`);
  const plane = size * size;
  const got = whole ? v.pixelValues.data : Float32Array.from(ref, (_, i) => v.pixelValues.data[Math.floor(i / plane) * numFrames * plane + (i % plane)]);
  const channelOf = (i: number) => Math.floor(i / (whole ? numFrames * plane : plane));
  const tensor = diffU8(got, ref, (d, i) => Math.round(d * CLIP_STD[channelOf(i)] * 255));
  // The raw RGB frames the golden's decoder (ffmpeg) produced, per sampled frame.
  const goldenIndices = Array.from((await fx.read('decoded_frame_indices')) as BigInt64Array, Number);
  const goldenFrames = (await fx.read('decoded_frames')) as Uint8Array;
  const [, h, w] = fx.info('decoded_frames').shape;
  const distinct = [...new Set(v.frameIndices)];
  const rawFrames = (v.frames ?? []).map((f, k) => {
    const row = goldenIndices.indexOf(distinct[k]);
    if (row < 0 || f.width !== w || f.height !== h) throw new Error(`frame ${distinct[k]}: no golden frame of ${w}×${h}`);
    return { frame: distinct[k], ...diffU8(f.data, goldenFrames.subarray(row * h * w * 3, (row + 1) * h * w * 3), (d) => d) };
  });
  return {
    frameIndices: v.frameIndices,
    info: v.info,
    shape: [...v.pixelValues.shape],
    tensor: { ...tensor, compared: whole ? 'whole tensor' : 'frame 0' },
    rawFrames,
    raw: {
      maxAbsU8: Math.max(...rawFrames.map((f) => f.maxAbsU8)),
      meanAbsU8: rawFrames.reduce((a, f) => a + f.meanAbsU8, 0) / rawFrames.length,
    },
    inWorker: typeof document === 'undefined',
    ms,
  };
}

export type Measurement = Awaited<ReturnType<typeof measure>>;

/** The decoded RGB frames of any video as SHA-256 digests (distinct sampled frames, in order), to compare with Node. */
export async function frameHashes({ videoUrl, numFrames, size, decoder }: Omit<MeasureRequest, 'fixturesUrl'>) {
  const v = await loadVideo(new URL(videoUrl, location.href).href, { numFrames, size, decoder, keepFrames: true });
  const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
  const hashes = await Promise.all((v.frames ?? []).map(async (f) => hex(await crypto.subtle.digest('SHA-256', f.data as Uint8Array<ArrayBuffer>))));
  return { frameIndices: v.frameIndices, info: v.info, hashes };
}

/** A failure as plain data (errors do not survive `page.evaluate` or `postMessage` with their class). */
export function describeError(e: unknown) {
  const err = e as { name?: string; code?: string; file?: string; message?: string };
  return { error: { name: err?.name, code: err?.code, file: err?.file, message: err?.message ?? String(e) } };
}
