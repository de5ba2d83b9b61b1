import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tensor } from '@mplug2/core';
import { TextDecoderModule, type DecoderMemory } from '@mplug2/decoder';
import { sequenceLosses } from '../packages/decoder/src/generation/index.js';
import { goldenModel } from './helpers/golden.js';

// `sequenceLosses` decodes rows shortest first in calls of similar length, skips the columns after
// each row's last target, and can start every row from a shared first-token decode (answer
// ranking's [CLS]). None of that may change a loss: compare with one plain full-width decode per row.

const PAD = 0;
const CLS = 101;

/** Summed CE of a row from one full-width decoder call, computed independently of `sequenceLosses`. */
async function plainLoss(decoder: TextDecoderModule, memory: DecoderMemory, sample: number, ids: number[], mask: number[]): Promise<number> {
  const mem: DecoderMemory = {
    batch: 1,
    mask: tensor(
      'int64',
      ['batch', 'memory_tokens'],
      [1, memory.mask.shape[1]],
      memory.mask.data.slice(sample * memory.mask.shape[1], (sample + 1) * memory.mask.shape[1]),
    ),
    cross: Object.fromEntries(
      Object.entries(memory.cross).map(([k, t]) => {
        const per = t.data.length / memory.batch;
        return [k, tensor('float32', t.dims, [1, ...t.shape.slice(1)], t.data.slice(sample * per, (sample + 1) * per))];
      }),
    ),
  };
  const w = ids.length;
  const out = await decoder.forward(
    mem,
    tensor('int64', ['rows', 'tokens'], [1, w], BigInt64Array.from(ids.map(BigInt))),
    tensor('int64', ['rows', 'total_tokens'], [1, w], BigInt64Array.from(mask.map(BigInt))),
  );
  const V = decoder.vocabSize;
  let sum = 0;
  for (let t = 0; t + 1 < w; t++) {
    if (ids[t + 1] === PAD) continue;
    const row = out.logits.data.subarray(t * V, (t + 1) * V);
    const max = Math.max(...row);
    let s = 0;
    for (const v of row) s += Math.exp(v - max);
    sum += max + Math.log(s) - row[ids[t + 1]];
  }
  return sum;
}

describe('teacher-forced sequence losses: length-bucketed calls and the shared first token', () => {
  let decoder: TextDecoderModule;
  let memory: DecoderMemory;
  const B = 2;
  const S = 9;
  // Rows of very different lengths (sample-major, 5 per sample), right-padded to 9 columns.
  const lengths = [2, 9, 3, 4, 3, 6, 2, 8, 3, 5];
  const ids = lengths.map((n, r) => Array.from({ length: 9 }, (_, t) => (t === 0 ? CLS : t < n ? 2 + ((r * 7 + t * 13) % 180) : PAD)));
  const mask = lengths.map((n) => Array.from({ length: 9 }, (_, t) => (t < n ? 1 : 0)));

  beforeAll(async () => {
    decoder = await TextDecoderModule.load(await goldenModel('videoqa_tiny'));
    const width = decoder.dims.text.encoderWidth;
    const states = Float32Array.from({ length: B * S * width }, (_, i) => Math.sin(i * 0.37));
    const memMask = BigInt64Array.from({ length: B * S }, (_, i) => (i % S < S - 2 * (i >= S ? 1 : 0) ? 1n : 0n));
    memory = await decoder.encodeMemory(
      tensor('float32', ['batch', 'memory_tokens', 'hidden'], [B, S, width], states),
      tensor('int64', ['batch', 'memory_tokens'], [B, S], memMask),
    );
  });
  afterAll(() => decoder.dispose());

  it('equal the plain full-width decode of each row, with and without a shared first token, in one call or one row per call', async () => {
    const group = ids.length / B;
    const expected = await Promise.all(ids.map((r, i) => plainLoss(decoder, memory, Math.floor(i / group), r, mask[i])));
    const first = await decoder.forward(
      memory,
      tensor('int64', ['rows', 'tokens'], [B, 1], new BigInt64Array(B).fill(BigInt(CLS))),
      tensor('int64', ['rows', 'total_tokens'], [B, 1], new BigInt64Array(B).fill(1n)),
    );
    const prefix = { id: CLS, logits: first.logits, cache: first.cache };
    for (const options of [{}, { prefix }, { maxRowsPerCall: 1 }, { maxRowsPerCall: 3, prefix }]) {
      const { loss, targets } = await sequenceLosses(decoder, memory, ids, mask, options);
      for (let r = 0; r < ids.length; r++) {
        expect(Math.abs(loss[r] - expected[r]), `row ${r} ${JSON.stringify(Object.keys(options))}`).toBeLessThan(1e-4);
        expect(targets[r]).toBe(lengths[r] - 1);
      }
    }
  });

  it('a prefix whose token the rows do not start with is not used', async () => {
    const first = await decoder.forward(
      memory,
      tensor('int64', ['rows', 'tokens'], [B, 1], new BigInt64Array(B).fill(7n)),
      tensor('int64', ['rows', 'total_tokens'], [B, 1], new BigInt64Array(B).fill(1n)),
    );
    const withWrong = await sequenceLosses(decoder, memory, ids, mask, { prefix: { id: 7, logits: first.logits, cache: first.cache } });
    const plain = await sequenceLosses(decoder, memory, ids, mask);
    expect(Array.from(withWrong.loss)).toEqual(Array.from(plain.loss));
  });
});

describe('decoder sessions', () => {
  it('prefill runs on the cached step graph with an empty past (one graph file, weights loaded once)', async () => {
    const model = await goldenModel('videoqa_tiny');
    const { graphs, portableGraphs } = model.manifest.modules.decoder!;
    expect(graphs.prefill).toBe(graphs.step);
    expect(portableGraphs!.prefill).toBe(portableGraphs!.step);
    expect(
      model.manifest.files
        .filter((f) => f.path.startsWith('decoder') && f.path.endsWith('.onnx'))
        .map((f) => f.path)
        .sort(),
    ).toEqual(['decoder_memory.onnx', 'decoder_memory.portable.onnx', 'decoder_step.onnx', 'decoder_step.portable.onnx']);
  });
});
