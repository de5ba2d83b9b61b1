/**
 * Element types found in checkpoints, and conversions that do not depend on the host
 * (no DataView per element, no NaN canonicalisation: bits are moved through Uint32 views).
 */
import { float16ToFloat32 } from '../float16.js';

export type CheckpointDType = 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'float64' | 'uint8' | 'bool';

/** What `Checkpoint.read` returns for each dtype (fp16 / bf16 as their raw 16-bit patterns). */
export interface CheckpointArrays {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  float64: Float64Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type CheckpointArray = CheckpointArrays[CheckpointDType];

/** Bytes per element. */
export const DTYPE_BYTES: Readonly<Record<CheckpointDType, 1 | 2 | 4 | 8>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  float64: 8,
  uint8: 1,
  bool: 1,
};

/** Views little-endian bytes (already in host order) as the dtype's array type. No copy. */
export function viewAs(dtype: CheckpointDType, buffer: ArrayBuffer, byteOffset = 0, length?: number): CheckpointArray {
  const n = length ?? (buffer.byteLength - byteOffset) / DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, n);
    case 'int32':
      return new Int32Array(buffer, byteOffset, n);
    case 'float64':
      return new Float64Array(buffer, byteOffset, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, byteOffset, n);
  }
}

const F16_SCRATCH = new Float32Array(1);
const F16_SCRATCH_BITS = new Uint32Array(F16_SCRATCH.buffer);

/** One bfloat16 value (given as its 16-bit pattern) as a JS number. */
export function bfloat16ToNumber(h: number): number {
  F16_SCRATCH_BITS[0] = (h & 0xffff) << 16;
  return F16_SCRATCH[0];
}

/** Converts raw bfloat16 values to float32 (exact: bf16 is the top half of a float32). */
export function bfloat16ToFloat32(u16: Uint16Array): Float32Array {
  const out = new Float32Array(u16.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < u16.length; i++) bits[i] = u16[i] << 16;
  return out;
}

/** Converts any checkpoint array to float32 (float64 / int64 / int32 round to nearest float32). */
export function checkpointArrayToFloat32(dtype: CheckpointDType, data: CheckpointArray): Float32Array {
  switch (dtype) {
    case 'float32':
      return data as Float32Array;
    case 'float16':
      return float16ToFloat32(data as Uint16Array);
    case 'bfloat16':
      return bfloat16ToFloat32(data as Uint16Array);
    case 'int64': {
      const src = data as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    case 'int32':
    case 'float64':
    case 'uint8':
    case 'bool': {
      const out = new Float32Array(data.length);
      out.set(data as Int32Array | Float64Array | Uint8Array);
      return out;
    }
  }
}
