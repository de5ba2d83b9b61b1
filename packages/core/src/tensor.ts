import { PortMismatchError } from './errors.js';

/** Element types a tensor can hold. */
export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

export interface DTypeArrays {
  float32: Float32Array;
  float16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/**
 * A dense, row-major tensor whose every axis has a name (e.g. `['batch', 'tokens', 'hidden']`).
 * Names are documentation and the key for compose-time checks; `shape` holds the sizes.
 */
export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly dims: readonly string[];
  readonly shape: readonly number[];
  readonly data: DTypeArrays[D];
}

const ARRAY_CTORS = {
  float32: Float32Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Wraps existing data (no copy). Checks that the data length matches the shape and dims. */
export function tensor<D extends DType>(dtype: D, dims: readonly string[], shape: readonly number[], data: DTypeArrays[D], what = 'tensor'): Tensor<D> {
  if (dims.length !== shape.length) throw new PortMismatchError(what, `has ${shape.length} axes [${shape}] but ${dims.length} dim names [${dims}]`);
  if (!(data instanceof ARRAY_CTORS[dtype]))
    throw new PortMismatchError(what, `data is ${data?.constructor?.name}, expected ${ARRAY_CTORS[dtype].name} for ${dtype}`);
  const n = numel(shape);
  if (data.length !== n) throw new PortMismatchError(what, `shape [${shape}] needs ${n} elements but data has ${data.length}`);
  return { dtype, dims: [...dims], shape: [...shape], data };
}

/** Allocates a zero-filled tensor. */
export function zeros<D extends DType>(dtype: D, dims: readonly string[], shape: readonly number[]): Tensor<D> {
  const Ctor = ARRAY_CTORS[dtype] as unknown as new (n: number) => DTypeArrays[D];
  return tensor(dtype, dims, shape, new Ctor(numel(shape)));
}

/** Converts a JS number matrix / id list to an int64 tensor. */
export function int64Tensor(dims: readonly string[], rows: readonly (readonly number[])[]): Tensor<'int64'> {
  const width = rows[0]?.length ?? 0;
  const data = new BigInt64Array(rows.length * width);
  rows.forEach((r, i) => {
    if (r.length !== width) throw new PortMismatchError('int64Tensor', `row ${i} has ${r.length} values, expected ${width}`);
    r.forEach((v, j) => (data[i * width + j] = BigInt(v)));
  });
  return tensor('int64', dims, [rows.length, width], data);
}

/** Reads an int64 tensor as JS numbers (ids, lengths, masks are always safe integers). */
export function toNumbers(t: Tensor<'int64'> | Tensor<'int32'>): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Float32 view/copy for comparisons (int64 → number). */
export function toFloat32(t: Tensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  const out = new Float32Array(t.data.length);
  const src = t.data as ArrayLike<number | bigint>;
  for (let i = 0; i < out.length; i++) out[i] = Number(src[i]);
  return out;
}

/** Largest absolute elementwise difference; Infinity when shapes differ. NaN anywhere counts as Infinity. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
