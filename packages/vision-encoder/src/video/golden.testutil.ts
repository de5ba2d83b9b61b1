/**
 * Test-only helpers: the preprocessing golden's location and its tensors (read with core's safetensors reader).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CheckpointArray, type CheckpointArrays, type CheckpointDType, openCheckpoint } from '@mplug2/core';

export const PREPROCESS_DIR = fileURLToPath(new URL('../../../../fixtures/goldens/preprocess/', import.meta.url));
export const GOLDEN_VIDEO = `${PREPROCESS_DIR}testsrc_320x240_30fps_3s.mp4`;

export interface RawTensor {
  dtype: CheckpointDType;
  shape: number[];
  data: CheckpointArray;
}

/** Every tensor of a safetensors file, read with core's checked safetensors reader. */
export async function readSafetensors(file: string): Promise<Map<string, RawTensor>> {
  const checkpoint = await openCheckpoint(file);
  try {
    const out = new Map<string, RawTensor>();
    for (const t of checkpoint.list()) out.set(t.name, { dtype: t.dtype, shape: t.shape, data: await checkpoint.read(t.name) });
    return out;
  } finally {
    await checkpoint.close();
  }
}

function get<D extends CheckpointDType>(m: Map<string, RawTensor>, name: string, dtype: D): CheckpointArrays[D] {
  const t = m.get(name);
  if (!t) throw new Error(`golden tensor ${name} missing`);
  if (t.dtype !== dtype) throw new Error(`golden tensor ${name} is ${t.dtype}, expected ${dtype}`);
  return t.data as CheckpointArrays[D];
}

export function int64s(m: Map<string, RawTensor>, name: string): number[] {
  return Array.from(get(m, name, 'int64') as BigInt64Array, Number);
}
export function uint8s(m: Map<string, RawTensor>, name: string): Uint8Array {
  return get(m, name, 'uint8') as Uint8Array;
}
export function float32s(m: Map<string, RawTensor>, name: string): Float32Array {
  return get(m, name, 'float32') as Float32Array;
}

let cached: Promise<Map<string, RawTensor>> | undefined;
export function goldenTensors(): Promise<Map<string, RawTensor>> {
  cached ??= readSafetensors(`${PREPROCESS_DIR}fixtures.safetensors`);
  return cached;
}

export interface GoldenSetting {
  num_frames: number;
  image_res: number;
  frame_indices: number[];
  pixel_values_shape: number[];
  pixel_values_sha256_f32le: string;
  resized_sha256_u8: string;
}
export interface GoldenConfig {
  vlen: number;
  fps: number;
  f16_r224: GoldenSetting;
  f4_r56: GoldenSetting;
  ffprobe: { width: number; height: number; nb_frames: string };
}
export function goldenConfig(): GoldenConfig {
  return JSON.parse(readFileSync(`${PREPROCESS_DIR}config.json`, 'utf8')) as GoldenConfig;
}

/** The frames decoded by the golden's decoder, keyed by source frame index. */
export async function goldenDecodedFrames(): Promise<Map<number, Uint8Array>> {
  const m = await goldenTensors();
  const idx = int64s(m, 'decoded_frame_indices');
  const all = uint8s(m, 'decoded_frames');
  const n = 240 * 320 * 3;
  return new Map(idx.map((src, row) => [src, all.subarray(row * n, (row + 1) * n)]));
}

export function sha256(data: ArrayBufferView): string {
  return createHash('sha256')
    .update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    .digest('hex');
}

/** Bit pattern comparison of float32 arrays (NaN-safe, -0 vs 0 distinguished): index of first mismatch or -1. */
export function firstBitMismatch(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}
