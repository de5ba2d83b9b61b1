/**
 * Test-only helpers: the preprocessing golden's location and a minimal safetensors reader
 * (8-byte LE header length, JSON header, raw little-endian data).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PREPROCESS_DIR = fileURLToPath(new URL('../../../../fixtures/goldens/preprocess/', import.meta.url));
export const GOLDEN_VIDEO = `${PREPROCESS_DIR}testsrc_320x240_30fps_3s.mp4`;

export interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

export function readSafetensors(file: string): Map<string, RawTensor> {
  const buf = readFileSync(file);
  const u8 = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(new DataView(u8.buffer, u8.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + headerLen))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLen;
  const out = new Map<string, RawTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = t.data_offsets;
    out.set(name, { dtype: t.dtype, shape: t.shape, bytes: u8.slice(base + a, base + b) });
  }
  return out;
}

function get(m: Map<string, RawTensor>, name: string, dtype: string): RawTensor {
  const t = m.get(name);
  if (!t) throw new Error(`golden tensor ${name} missing`);
  if (t.dtype !== dtype) throw new Error(`golden tensor ${name} is ${t.dtype}, expected ${dtype}`);
  return t;
}

export function int64s(m: Map<string, RawTensor>, name: string): number[] {
  const t = get(m, name, 'I64');
  return Array.from(new BigInt64Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 8), Number);
}
export function uint8s(m: Map<string, RawTensor>, name: string): Uint8Array {
  return get(m, name, 'U8').bytes;
}
export function float32s(m: Map<string, RawTensor>, name: string): Float32Array {
  const t = get(m, name, 'F32');
  return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4);
}

let cached: Map<string, RawTensor> | undefined;
export function goldenTensors(): Map<string, RawTensor> {
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
export function goldenDecodedFrames(): Map<number, Uint8Array> {
  const m = goldenTensors();
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
