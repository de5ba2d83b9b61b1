/**
 * Tensor layouts (storage offset + strides over a flat storage) and reading them into a fresh,
 * row-major contiguous array: contiguous tensors by ranges of at most `chunkBytes`, strided ones
 * by gathering from storage windows of at most `gatherWindowBytes`.
 */
import { CheckpointFormatError } from '../errors.js';
import { type CheckpointArray, type CheckpointDType, DTYPE_BYTES, viewAs } from './dtype.js';
import { type ByteSource, type ReadContext, readInto } from './source.js';

export interface TensorLayout {
  readonly name: string;
  readonly dtype: CheckpointDType;
  readonly shape: readonly number[];
  /** In elements. */
  readonly stride: readonly number[];
  /** In elements. */
  readonly storageOffset: number;
  /** Elements in the underlying storage. */
  readonly storageNumel: number;
  /** Absolute byte position of storage element 0 in the source. */
  readonly base: number;
  readonly numel: number;
  readonly contiguous: boolean;
}

export interface ReadLimits {
  chunkBytes: number;
  gatherWindowBytes: number;
  maxTensorBytes: number;
}

const MAX_RANK = 64;
/**
 * Largest materialised view whose element count exceeds its storage's (stride-0 / overlapping views).
 * Such a view's size is declared by the pickle, not backed by the file, so it gets a small fixed
 * budget: a 1 GiB one let a few bytes of pickle allocate and fill 1 GiB (fuzz).
 */
export const MAX_BROADCAST_BYTES = 16 << 20;
const MAX = Number.MAX_SAFE_INTEGER;

/** Whether strides are the row-major ones for `shape` (size-1 axes may have any stride). */
export function isRowMajor(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

/**
 * Validates a view over a storage of `storageNumel` elements and returns its element count.
 * Throws (via `fail`) on negative or non-integer dims / strides / offset, on overflow, and when the
 * view addresses elements outside the storage. Never allocates.
 */
export function checkView(
  shape: readonly number[],
  stride: readonly number[],
  storageOffset: number,
  storageNumel: number,
  elemBytes: number,
  fail: (detail: string) => never,
): number {
  if (shape.length !== stride.length) fail(`shape [${shape}] and stride [${stride}] have different ranks`);
  if (shape.length > MAX_RANK) fail(`rank ${shape.length} is above ${MAX_RANK}`);
  for (const d of shape) if (!Number.isSafeInteger(d) || d < 0) fail(`invalid dimension ${d} in shape [${shape}]`);
  for (const s of stride) if (!Number.isSafeInteger(s) || s < 0) fail(`invalid stride ${s} in stride [${stride}]`);
  if (!Number.isSafeInteger(storageOffset) || storageOffset < 0) fail(`invalid storage offset ${storageOffset}`);
  let numel = shape.includes(0) ? 0 : 1;
  if (numel)
    for (const d of shape) {
      if (numel > Math.floor(MAX / d / elemBytes)) fail(`shape [${shape}] has more elements than can be addressed`);
      numel *= d;
    }
  if (numel === 0) {
    if (storageOffset > storageNumel) fail(`storage offset ${storageOffset} is beyond the storage's ${storageNumel} elements`);
    return 0;
  }
  let last = storageOffset;
  for (let i = 0; i < shape.length; i++) {
    const span = shape[i] - 1;
    if (stride[i] !== 0 && span > Math.floor((MAX - last) / stride[i])) fail(`shape [${shape}] with stride [${stride}] addresses elements beyond 2^53`);
    last += span * stride[i];
  }
  if (last >= storageNumel)
    fail(`shape [${shape}], stride [${stride}], offset ${storageOffset} reach element ${last} but the storage has ${storageNumel} elements`);
  return numel;
}

export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapBytes(b: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= b.length; i += size) b.subarray(i, i + size).reverse();
}

/** Reads a tensor into a new row-major array. Returns the array and its bytes (host order). */
export async function materialize(
  src: ByteSource,
  t: TensorLayout,
  ctx: ReadContext,
  limits: ReadLimits,
): Promise<{ array: CheckpointArray; bytes: Uint8Array }> {
  const fail = (detail: string, cause?: unknown): never => {
    throw new CheckpointFormatError(ctx.file, ctx.entry, `tensor '${t.name}': ${detail}`, cause ? { cause } : undefined);
  };
  const es = DTYPE_BYTES[t.dtype];
  const byteLength = t.numel * es;
  if (byteLength > limits.maxTensorBytes) fail(`${byteLength} bytes is above the ${limits.maxTensorBytes}-byte limit for one tensor`);
  // More elements than the storage holds means overlapping strides (a broadcast / expand view):
  // its size is not backed by the file, so it gets a much smaller budget.
  if (t.numel > t.storageNumel && byteLength > Math.min(limits.maxTensorBytes, MAX_BROADCAST_BYTES))
    fail(`${byteLength} bytes is above the ${MAX_BROADCAST_BYTES}-byte limit for a broadcast view of a ${t.storageNumel * es}-byte storage`);
  let buffer: ArrayBuffer;
  try {
    buffer = new ArrayBuffer(byteLength);
  } catch (e) {
    return fail(`cannot allocate ${byteLength} bytes`, e);
  }
  const out = new Uint8Array(buffer);
  const what = `tensor '${t.name}'`;
  if (t.numel > 0) {
    if (t.contiguous) {
      await readInto(src, out, t.base + t.storageOffset * es, ctx, what, limits.chunkBytes);
    } else {
      await gather(src, t, out, ctx, what, limits);
    }
    if (!LITTLE_ENDIAN_HOST) swapBytes(out, es);
  }
  return { array: viewAs(t.dtype, buffer), bytes: out };
}

async function gather(src: ByteSource, t: TensorLayout, out: Uint8Array, ctx: ReadContext, what: string, limits: ReadLimits): Promise<void> {
  const es = DTYPE_BYTES[t.dtype];
  const shape = t.shape;
  const stride = t.stride;
  const rank = shape.length;
  let maxIdx = t.storageOffset;
  for (let i = 0; i < rank; i++) maxIdx += (shape[i] - 1) * stride[i];
  const minIdx = t.storageOffset;
  const winElems = Math.max(1, Math.floor(Math.min(limits.gatherWindowBytes, limits.chunkBytes) / es));
  const words = es === 8 ? 2 : 1;
  const unit = es === 8 ? 4 : es;
  const outView = unit === 1 ? out : unit === 2 ? new Uint16Array(out.buffer) : new Uint32Array(out.buffer);
  const lastN = shape[rank - 1];
  const lastS = stride[rank - 1];
  const outerCount = t.numel / lastN;
  for (let ws = minIdx; ws <= maxIdx; ws += winElems) {
    const we = Math.min(maxIdx + 1, ws + winElems);
    const win = new Uint8Array((we - ws) * es);
    await readInto(src, win, t.base + ws * es, ctx, what, limits.chunkBytes);
    const winView = unit === 1 ? win : unit === 2 ? new Uint16Array(win.buffer) : new Uint32Array(win.buffer);
    const idx = new Array<number>(rank).fill(0);
    let rowStart = t.storageOffset;
    let o = 0;
    for (let r = 0; r < outerCount; r++) {
      let s = rowStart;
      for (let j = 0; j < lastN; j++, s += lastS, o++) {
        if (s < ws || s >= we) continue;
        const from = (s - ws) * words;
        const to = o * words;
        outView[to] = winView[from];
        if (words === 2) outView[to + 1] = winView[from + 1];
      }
      for (let ax = rank - 2; ax >= 0; ax--) {
        idx[ax]++;
        rowStart += stride[ax];
        if (idx[ax] < shape[ax]) break;
        rowStart -= stride[ax] * shape[ax];
        idx[ax] = 0;
      }
    }
  }
}
