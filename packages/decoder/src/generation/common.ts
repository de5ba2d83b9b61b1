import { InvalidOptionError, PortMismatchError, tensor, type Tensor } from '@mplug2/core';
import type { DecoderMemory, TextDecoderModule } from '../decoder.js';
import { selectMemorySamples } from '../memory-selection.js';

/** `[CLS]`: the decoder's start token (every hypothesis and every answer begins with it). */
export const BOS_TOKEN_ID = 101;
/** `[SEP]`: the end-of-sequence token the reference appends as eos text. */
export const EOS_TOKEN_ID = 102;
/** `[PAD]`: padding; padded targets are ignored by the losses (the reference maps them to -100). */
export const PAD_TOKEN_ID = 0;

/**
 * What generation needs from a decoder. `TextDecoderModule` satisfies it; tests and alternative
 * runtimes can pass any object with the same step API.
 */
export interface GenerationDecoder {
  readonly vocabSize: number;
  readonly dims: { readonly text: { readonly maxPositions: number } };
  forward: TextDecoderModule['forward'];
  reorder: TextDecoderModule['reorder'];
  /** Row selection of memories `selectMemorySamples` cannot cut (GPU memories); left out, `selectMemorySamples` is used. */
  selectMemory?: TextDecoderModule['selectMemory'];
}

/**
 * `memory` restricted to `samples` by the decoder (`selectMemory`) or in JS. A result other than `memory` itself is
 * the caller's to release (`disposeDecoderMemory`) once decoded against.
 */
export function selectMemory(decoder: GenerationDecoder, memory: DecoderMemory, samples: readonly number[]): Promise<DecoderMemory> {
  return decoder.selectMemory ? decoder.selectMemory(memory, samples) : Promise.resolve(selectMemorySamples(memory, samples));
}

export function checkInteger(option: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new InvalidOptionError(option, `must be an integer, got ${String(value)}`);
  if (value < min || value > max)
    throw new InvalidOptionError(option, `must be ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`}, got ${value}`);
  return value;
}

export function checkFinite(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidOptionError(option, `must be a finite number, got ${String(value)}`);
  return value;
}

/** `[rows, width]` int64 tensor filled with one value. */
export function filledIds(dims: readonly string[], rows: number, width: number, value: number): Tensor<'int64'> {
  return tensor('int64', dims, [rows, width], new BigInt64Array(rows * width).fill(BigInt(value)));
}

/** `[rows, width]` int64 tensor from row-major JS numbers. */
export function idsTensor(dims: readonly string[], rows: number, width: number, values: ArrayLike<number>): Tensor<'int64'> {
  const data = new BigInt64Array(rows * width);
  for (let i = 0; i < data.length; i++) data[i] = BigInt(values[i]);
  return tensor('int64', dims, [rows, width], data);
}

/** An int64 matrix (tensor or nested arrays) as rows of JS numbers. */
export function toRows(what: string, value: Tensor<'int64'> | readonly (readonly number[])[]): number[][] {
  if (Array.isArray(value)) return value.map((r) => Array.from(r as readonly number[]));
  const t = value as Tensor<'int64'>;
  if (t.shape.length !== 2) throw new PortMismatchError(what, `expected a [rows, tokens] matrix, got shape [${t.shape}]`);
  const [rows, width] = t.shape;
  return Array.from({ length: rows }, (_, i) => Array.from(t.data.subarray(i * width, (i + 1) * width), Number));
}

/**
 * `log(softmax(x))` of one row as the reference computes it in float32 (`torch.log(torch.softmax(x))`):
 * probabilities are rounded to float32 (so a probability that underflows gives `-Infinity`), then
 * the log is rounded again. Written into `out`.
 */
export function logOfSoftmaxF32(x: Float32Array, offset: number, n: number, out: Float32Array): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[offset + i] > max) max = x[offset + i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[offset + i] - max);
  for (let i = 0; i < n; i++) out[i] = Math.fround(Math.log(Math.fround(Math.exp(x[offset + i] - max) / sum)));
}

/** `softmax(x)` of one row, rounded to float32. */
export function softmaxF32(x: ArrayLike<number>, offset: number, n: number): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[offset + i] > max) max = x[offset + i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[offset + i] - max);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.exp(x[offset + i] - max) / sum;
  return out;
}

/**
 * Indices of the `k` largest values, largest first. Ties go to the lower index (what `torch.topk`
 * on CPU gives for the tie-free fixtures; the reference's order for exact ties is unspecified).
 * NaN values are never preferred over numbers.
 */
export function topKIndices(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  const key = (i: number) => (Number.isNaN(values[i]) ? -Infinity : values[i]);
  idx.sort((a, b) => {
    const va = key(a);
    const vb = key(b);
    return va > vb ? -1 : va < vb ? 1 : a - b;
  });
  return idx.slice(0, k);
}
