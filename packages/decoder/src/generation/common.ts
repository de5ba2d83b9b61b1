import { InvalidOptionError, Mplug2Error, PortMismatchError, isDeviceTensor, tensor, type Tensor } from '@mplug2/core';
import type { DecoderMemory, TextDecoder } from '../decoder.js';

/** `[CLS]`: the decoder's start token (every hypothesis and every answer begins with it). */
export const BOS_TOKEN_ID = 101;
/** `[SEP]`: the end-of-sequence token the reference appends as eos text. */
export const EOS_TOKEN_ID = 102;
/** `[PAD]`: padding; padded targets are ignored by the losses (the reference maps them to -100). */
export const PAD_TOKEN_ID = 0;

/**
 * What generation needs from a decoder. `TextDecoder` satisfies it; tests and alternative
 * runtimes can pass any object with the same step API.
 */
export interface GenerationDecoder {
  readonly vocabSize: number;
  readonly dims: { readonly text: { readonly maxPositions: number } };
  forward: TextDecoder['forward'];
  reorder: TextDecoder['reorder'];
  /** Row selection of memories `selectMemorySamples` cannot cut (GPU memories); left out, `selectMemorySamples` is used. */
  selectMemory?: TextDecoder['selectMemory'];
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

/** Whether selecting `samples` of `memory` is the identity; throws when a sample is out of range. */
export function isIdentitySelection(memory: DecoderMemory, samples: readonly number[]): boolean {
  if (samples.length === memory.batch && samples.every((s, i) => s === i)) return true;
  for (const s of samples)
    if (!Number.isInteger(s) || s < 0 || s >= memory.batch)
      throw new PortMismatchError('decoder.memory', `sample ${s} is out of range for a memory batch of ${memory.batch}`, 'batch');
  return false;
}

/** The rows `samples` of `data` (`batch` equal rows): a view for a contiguous range, else a copy. */
export function selectSampleRows<T extends Float32Array | BigInt64Array>(data: T, batch: number, samples: readonly number[], make: (n: number) => T): T {
  const per = data.length / batch;
  if (samples.every((s, i) => s === samples[0] + i)) return data.subarray(samples[0] * per, (samples[0] + samples.length) * per) as T;
  const out = make(samples.length * per);
  samples.forEach((s, i) => out.set(data.subarray(s * per, (s + 1) * per) as never, i * per));
  return out;
}

/**
 * A `DecoderMemory` holding only the given samples (in that order). A contiguous range shares the
 * cross-attention keys/values of `memory` (typed-array views); other selections copy those samples'
 * keys/values. Returns `memory` itself when the selection is the identity. JS memories only: a GPU
 * memory (`webgpu`) is selected by `TextDecoder.selectMemory`.
 */
export function selectMemorySamples(memory: DecoderMemory, samples: readonly number[]): DecoderMemory {
  if (isIdentitySelection(memory, samples)) return memory;
  if (Object.values(memory.cross).some(isDeviceTensor))
    throw new Mplug2Error('TENSOR_ON_DEVICE', 'decoder.memory: the cross-attention keys/values are in GPU memory; select samples with TextDecoder.selectMemory');
  const cross: Record<string, Tensor<'float32'>> = {};
  for (const [name, t] of Object.entries(memory.cross))
    cross[name] = tensor('float32', t.dims, [samples.length, ...t.shape.slice(1)], selectSampleRows(t.data, memory.batch, samples, (n) => new Float32Array(n)));
  const m = memory.mask;
  const mask = tensor('int64', m.dims, [samples.length, ...m.shape.slice(1)], selectSampleRows(m.data, memory.batch, samples, (n) => new BigInt64Array(n)));
  return { batch: samples.length, cross, mask };
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
