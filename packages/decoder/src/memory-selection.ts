// Selecting samples (batch rows) of a decoder memory in JS: the decoder (GPU memories go through its
// row gather) and generation (answer ranking, per-sample loss) both use it, so it lives beside the
// decoder rather than in generation/, which imports the decoder.
import { Mplug2Error, PortMismatchError, isDeviceTensor, tensor, type Tensor } from '@mplug2/core';
import type { DecoderMemory } from './decoder.js';

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
 * memory (`webgpu`) is selected by `TextDecoderModule.selectMemory`.
 */
export function selectMemorySamples(memory: DecoderMemory, samples: readonly number[]): DecoderMemory {
  if (isIdentitySelection(memory, samples)) return memory;
  if (Object.values(memory.cross).some(isDeviceTensor))
    throw new Mplug2Error(
      'TENSOR_ON_DEVICE',
      'decoder.memory: the cross-attention keys/values are in GPU memory; select samples with TextDecoderModule.selectMemory',
    );
  const cross: Record<string, Tensor<'float32'>> = {};
  for (const [name, t] of Object.entries(memory.cross))
    cross[name] = tensor(
      'float32',
      t.dims,
      [samples.length, ...t.shape.slice(1)],
      selectSampleRows(t.data, memory.batch, samples, (n) => new Float32Array(n)),
    );
  const m = memory.mask;
  const mask = tensor(
    'int64',
    m.dims,
    [samples.length, ...m.shape.slice(1)],
    selectSampleRows(m.data, memory.batch, samples, (n) => new BigInt64Array(n)),
  );
  return { batch: samples.length, cross, mask };
}
