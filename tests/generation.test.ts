import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, maxAbsDiff, tensor, type ModelDims, type Tensor } from '@mplug2/core';
import { TextDecoderModule, type DecoderCache, type DecoderMemory } from '@mplug2/decoder';
import { flattenHypotheses } from '@mplug2/converter';
import {
  beamSearch,
  greedySearch,
  rankAnswers,
  selectMemorySamples,
  teacherForcedLoss,
  type BeamStepEvent,
  type GenerationDecoder,
} from '../packages/decoder/src/generation/index.js';
import { Fixtures, GOLDENS, goldenModel, type GoldenName } from './helpers/golden.js';

const TOL = 1e-4;

interface GoldenConfig {
  model_config: { beam_size: number; min_length: number; max_length: number; k_test: number };
  beam_margins: { early_sample: number };
}

/** Like maxAbsDiff, but equal infinities (length-0 n-best rows score −inf) count as 0. */
function scoreDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

const ints = (t: Tensor<'int64'>) => Array.from(t.data, Number);

describe.each<GoldenName>(['videoqa_tiny', 'videocaption_tiny'])('generation parity: %s', (name) => {
  let decoder: TextDecoderModule;
  let fx: Fixtures;
  let memory: DecoderMemory;
  let cfg: GoldenConfig['model_config'];
  let search: { beamSize: number; minLength: number; maxLength: number };
  let earlySample: number;
  const qa = name === 'videoqa_tiny';
  const tf = qa ? 'input.tf_answer' : 'input.tf_caption';

  beforeAll(async () => {
    const config = JSON.parse(readFileSync(path.join(GOLDENS, name, 'config.json'), 'utf8')) as GoldenConfig;
    cfg = config.model_config;
    earlySample = config.beam_margins.early_sample;
    search = { beamSize: cfg.beam_size, minLength: cfg.min_length, maxLength: cfg.max_length };
    decoder = await TextDecoderModule.load(await goldenModel(name));
    fx = await Fixtures.open(name);
    if (qa) {
      const states = await fx.float('fusion.merged_states');
      const mask = await fx.int64('fusion.merged_mask');
      memory = await decoder.encodeMemory(
        tensor('float32', ['batch', 'memory_tokens', 'hidden'], states.shape, states.data),
        tensor('int64', ['batch', 'memory_tokens'], mask.shape, mask.data),
      );
    } else {
      const states = await fx.float('image_embeds');
      const [b, n] = states.shape;
      memory = await decoder.encodeMemory(
        tensor('float32', ['batch', 'memory_tokens', 'hidden'], states.shape, states.data),
        tensor('int64', ['batch', 'memory_tokens'], [b, n], new BigInt64Array(b * n).fill(1n)),
      );
    }
  });

  afterAll(async () => {
    await fx?.close();
    await decoder?.dispose();
  });

  it('beam search (out_size 1) matches beam.ids / lengths / scores', async () => {
    const width = fx.shape('beam.ids')[1];
    const got = flattenHypotheses(await beamSearch(decoder, memory, { ...search, numReturn: 1 }), 1, width);
    expect(got.ids).toEqual(ints(await fx.int64('beam.ids')));
    expect(got.lengths).toEqual(ints(await fx.int64('beam.lengths')));
    expect(scoreDiff(got.scores, (await fx.float('beam.scores')).data)).toBeLessThanOrEqual(TOL);
  });

  it('beam search n-best matches beam_nbest.ids / lengths / scores', async () => {
    const width = fx.shape('beam_nbest.ids')[2];
    const got = flattenHypotheses(await beamSearch(decoder, memory, { ...search, numReturn: search.beamSize }), search.beamSize, width);
    expect(got.ids).toEqual(ints(await fx.int64('beam_nbest.ids')));
    expect(got.lengths).toEqual(ints(await fx.int64('beam_nbest.lengths')));
    expect(scoreDiff(got.scores, (await fx.float('beam_nbest.scores')).data)).toBeLessThanOrEqual(TOL);
  });

  it('searching each sample alone gives the batch result (retired samples do not disturb the others)', async () => {
    const batch = await beamSearch(decoder, memory, { ...search, numReturn: search.beamSize });
    for (let b = 0; b < memory.batch; b++) {
      const [alone] = await beamSearch(decoder, selectMemorySamples(memory, [b]), { ...search, numReturn: search.beamSize });
      expect(alone.hypotheses.map((h) => h.ids)).toEqual(batch[b].hypotheses.map((h) => h.ids));
      expect(
        maxAbsDiff(
          alone.hypotheses.map((h) => h.score),
          batch[b].hypotheses.map((h) => h.score),
        ),
      ).toBeLessThanOrEqual(1e-5);
    }
    // A gathered (non-contiguous) selection: samples in reverse order.
    const reversed = await beamSearch(decoder, selectMemorySamples(memory, [1, 0]), { ...search, numReturn: search.beamSize });
    expect(reversed.map((r) => r.hypotheses.map((h) => h.ids))).toEqual([batch[1], batch[0]].map((r) => r.hypotheses.map((h) => h.ids)));
  });

  it('onStep is called once per step, in order, and ends with every sample done', async () => {
    const events: BeamStepEvent[] = [];
    const results = await beamSearch(decoder, memory, { ...search, onStep: (e) => void events.push(e) });
    // One sample of each golden searches until max_length, so the search runs max_length steps.
    expect(events.map((e) => e.step)).toEqual(Array.from({ length: search.maxLength }, (_, i) => i));
    for (const e of events) expect(e.samples).toHaveLength(memory.batch);
    const last = events[events.length - 1];
    expect(last.samples.every((s) => s.done)).toBe(true);
    last.samples.forEach((s, b) => {
      expect(s.bestIds).toEqual(results[b].hypotheses[0].ids);
      expect(s.bestScore).toBe(results[b].hypotheses[0].score);
    });
    // Once done, a sample stays done.
    for (let b = 0; b < memory.batch; b++) {
      const firstDone = events.findIndex((e) => e.samples[b].done);
      for (const e of events.slice(firstDone)) expect(e.samples[b].done).toBe(true);
    }
    // VideoQA: sample 0 retires at step 2 (its rank-0 candidate is EOS; n-best lengths [3, 4, 4, 4, 4]),
    // sample 1 searches until max_length. (The caption README calls its sample 1 "retired early"; the
    // fixtures do not pin the retirement step — its n-best ids/scores, all matched above, were recorded
    // at steps ≤ 15 — and in this search its rank-0 candidate is never EOS, so it runs to the end.)
    if (qa) {
      expect(events.findIndex((e) => e.samples[earlySample].done)).toBe(2);
      expect(events.findIndex((e) => e.samples[1 - earlySample].done)).toBe(search.maxLength - 1);
    }
  });

  it('greedy search = beam size 1 and picks the arg-max token at each step (checked by a teacher-forced re-decode)', async () => {
    const greedy = await greedySearch(decoder, memory, { minLength: search.minLength, maxLength: search.maxLength });
    const beam1 = await beamSearch(decoder, memory, { ...search, beamSize: 1 });
    expect(greedy).toEqual(beam1);
    for (let b = 0; b < memory.batch; b++) {
      const ids = greedy[b].hypotheses[0].ids;
      const mem = selectMemorySamples(memory, [b]);
      const idsT = tensor('int64', ['rows', 'tokens'], [1, ids.length], BigInt64Array.from(ids, BigInt));
      const { logits } = await decoder.forward(mem, idsT, tensor('int64', ['rows', 'total_tokens'], [1, ids.length], new BigInt64Array(ids.length).fill(1n)));
      const V = decoder.vocabSize;
      for (let t = 0; t + 1 < ids.length; t++) {
        const row = Array.from(logits.data.subarray(t * V, (t + 1) * V));
        if (t < search.minLength) row[102] = -Infinity;
        expect(ids[t + 1]).toBe(row.indexOf(Math.max(...row)));
      }
    }
  });

  it('KV-cached step logits equal the teacher-forced prefill logits', async () => {
    const ids = await fx.ids(`${tf}_ids`);
    const mask = await fx.ids(`${tf}_mask`);
    const [rows, len] = [ids.length, ids[0].length];
    const V = decoder.vocabSize;
    const mk = (w: number, get: (r: number, t: number) => number, dims: string[]) =>
      tensor(
        'int64',
        dims,
        [rows, w],
        BigInt64Array.from({ length: rows * w }, (_, i) => BigInt(get(Math.floor(i / w), i % w))),
      );
    const prefill = await decoder.forward(
      memory,
      mk(len, (r, t) => ids[r][t], ['rows', 'tokens']),
      mk(len, (r, t) => mask[r][t], ['rows', 'total_tokens']),
    );
    const reference = await fx.float('decoder_tf.logits');
    expect(maxAbsDiff(prefill.logits.data, reference.data)).toBeLessThanOrEqual(TOL);

    const stepped = new Float32Array(rows * len * V);
    let cache: DecoderCache | undefined;
    for (let t = 0; t < len; t++) {
      const out = await decoder.forward(
        memory,
        mk(1, (r) => ids[r][t], ['rows', 'tokens']),
        mk(t + 1, (r, u) => mask[r][u], ['rows', 'total_tokens']),
        cache,
      );
      cache = out.cache;
      expect(cache.length).toBe(t + 1);
      for (let r = 0; r < rows; r++) stepped.set(out.logits.data.subarray(r * V, (r + 1) * V), (r * len + t) * V);
    }
    expect(maxAbsDiff(stepped, prefill.logits.data)).toBeLessThanOrEqual(TOL);
    expect(maxAbsDiff(stepped, reference.data)).toBeLessThanOrEqual(TOL);
  });

  it('teacherForcedLoss matches decoder_tf.loss', async () => {
    const ids = await fx.int64(`${tf}_ids`);
    const mask = await fx.int64(`${tf}_mask`);
    // VideoQA: BertLMHeadModel(reduction='none') → per-sample sums; captioning: BertPrefixModel → batch mean.
    const loss = await teacherForcedLoss(decoder, memory, ids, mask, { reduction: qa ? 'sum' : 'mean' });
    const want = await fx.float('decoder_tf.loss');
    expect(loss.length).toBe(want.shape[0]);
    expect(maxAbsDiff(loss, want.data)).toBeLessThanOrEqual(TOL);
    // Row chunking (one row per call) gives the same sums.
    const chunked = await teacherForcedLoss(decoder, memory, ids, mask, { reduction: qa ? 'sum' : 'mean', maxRowsPerCall: 1 });
    expect(maxAbsDiff(chunked, loss)).toBeLessThanOrEqual(1e-5);
  });

  it('invalid options throw InvalidOptionError', async () => {
    const maxPositions = decoder.dims.text.maxPositions;
    const bad: Record<string, unknown>[] = [
      { beamSize: 0 },
      { beamSize: 2.5 },
      { beamSize: decoder.vocabSize + 1 },
      { minLength: -1 },
      { maxLength: 0 },
      { maxLength: maxPositions + 1 },
      { numReturn: search.beamSize + 1 },
      { numReturn: 0 },
      { lengthPenalty: Number.NaN },
      { eosTokenId: decoder.vocabSize },
    ];
    for (const b of bad) {
      await expect(beamSearch(decoder, memory, { ...search, ...b } as never), JSON.stringify(b)).rejects.toBeInstanceOf(InvalidOptionError);
    }
    await expect(beamSearch(decoder, memory, undefined as never)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(teacherForcedLoss(decoder, memory, [[101, 5]], [[1, 1]], { reduction: 'avg' as never })).rejects.toBeInstanceOf(InvalidOptionError);
    // maxLength = max_position_embeddings is still valid (the decoder never sees more than maxLength tokens).
    await expect(beamSearch(decoder, selectMemorySamples(memory, [0]), { beamSize: 2, minLength: 0, maxLength: maxPositions })).resolves.toHaveLength(1);
  });

  // Only the VideoQA golden has answer-ranking fixtures (captioning never ranks).
  if (qa)
    it('rankAnswers matches rank.* (k from model_config.k_test)', async () => {
      const answerIds = await fx.ids('input.answer_list_ids');
      const answerMask = await fx.ids('input.answer_list_mask');
      const k = cfg.k_test;
      const ranked = await rankAnswers(decoder, memory, answerIds, answerMask, k);
      expect(ranked.firstTokenLogits.shape).toEqual([memory.batch, decoder.vocabSize]);
      expect(maxAbsDiff(ranked.firstTokenLogits.data, (await fx.float('rank.first_token_logits')).data)).toBeLessThanOrEqual(TOL);
      expect(maxAbsDiff(ranked.candidateLoss, (await fx.float('rank.candidate_answer_loss')).data)).toBeLessThanOrEqual(TOL);
      expect(ranked.results.flatMap((r) => r.ids)).toEqual(ints(await fx.int64('rank.topk_ids')));
      expect(
        maxAbsDiff(
          ranked.results.flatMap((r) => r.probs),
          (await fx.float('rank.topk_probs')).data,
        ),
      ).toBeLessThanOrEqual(TOL);

      // Chunked candidate decoding (one row per call) changes nothing.
      const chunked = await rankAnswers(decoder, memory, answerIds, answerMask, k, { maxRowsPerCall: 1 });
      expect(chunked.results.map((r) => r.ids)).toEqual(ranked.results.map((r) => r.ids));
      expect(maxAbsDiff(chunked.candidateLoss, ranked.candidateLoss)).toBeLessThanOrEqual(1e-5);

      await expect(rankAnswers(decoder, memory, answerIds, answerMask, answerIds.length + 1)).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(rankAnswers(decoder, memory, answerIds, answerMask, 0)).rejects.toBeInstanceOf(InvalidOptionError);
    });
});

describe('beam search mechanics (stub decoder)', () => {
  /** A decoder whose logits are a fixed function of (row's last token, step); the cache tracks row identity. */
  function stub(V: number, maxPositions: number, logitsOf: (lastToken: number, step: number) => number[]) {
    const calls: { rows: number; tokens: number; past: number }[] = [];
    const decoder: GenerationDecoder = {
      vocabSize: V,
      dims: { text: { maxPositions } } as unknown as ModelDims,
      async forward(memory, ids, attentionMask, cache) {
        const [rows, t] = ids.shape;
        const past = cache?.length ?? 0;
        calls.push({ rows, tokens: t, past });
        expect(attentionMask.shape).toEqual([rows, past + t]);
        const data = new Float32Array(rows * t * V);
        for (let r = 0; r < rows; r++) for (let i = 0; i < t; i++) data.set(logitsOf(Number(ids.data[r * t + i]), past + i), (r * t + i) * V);
        return {
          logits: tensor('float32', ['rows', 'tokens', 'vocab'], [rows, t, V], data),
          cache: { rows, length: past + t, past: {} } satisfies DecoderCache,
        };
      },
      reorder(cache, order) {
        return { rows: order.length, length: cache.length, past: {} };
      },
    };
    return { decoder, calls };
  }
  const memory = (batch: number): DecoderMemory => ({
    batch,
    cross: {},
    mask: tensor('int64', ['batch', 'memory_tokens'], [batch, 1], new BigInt64Array(batch).fill(1n)),
  });

  it('feeds one new token per row after a one-row-per-sample prefill; ties go to the lower flat index', async () => {
    const { decoder, calls } = stub(200, 32, () => new Array(200).fill(0));
    const [r] = await beamSearch(decoder, memory(1), { beamSize: 3, minLength: 0, maxLength: 4, numReturn: 3 });
    expect(calls).toEqual([
      { rows: 1, tokens: 1, past: 0 },
      { rows: 3, tokens: 1, past: 1 },
      { rows: 3, tokens: 1, past: 2 },
      { rows: 3, tokens: 1, past: 3 },
    ]);
    // All candidates tie: flat indices 0,1,2 → beam 0, tokens 0,1,2 at every step; stable sort keeps that order.
    expect(r.hypotheses.map((h) => h.ids)).toEqual([
      [101, 0, 0, 0, 0],
      [101, 0, 0, 0, 1],
      [101, 0, 0, 0, 2],
    ]);
  });

  it.each([
    // After EOS, token 6 has logit a. a = 6: the continued [5,EOS,6] beam ranks below the recorded [5,EOS];
    // a = 8: it ranks above it. Either way the sample is not retired at step 1 (its top beam is [5,5]).
    {
      a: 6,
      best: [
        [101, 5, 5, 5],
        [101, 5, 102],
      ],
    },
    {
      a: 8,
      best: [
        [101, 5, 5, 5],
        [101, 5, 102, 6],
      ],
    },
  ])('a non-top EOS beam is recorded and stays alive; EOS is forbidden below minLength (a = $a)', async ({ a, best }) => {
    const V = 120;
    const logitsOf = (last: number) =>
      Array.from({ length: V }, (_, i) => (last === 102 ? (i === 6 ? a : 0) : i === 5 ? 10 : i === 102 ? 9 : i === 7 ? 8.5 : 0));
    const { decoder } = stub(V, 32, logitsOf);
    const events: BeamStepEvent[] = [];
    const [r] = await beamSearch(decoder, memory(1), { beamSize: 2, minLength: 1, maxLength: 3, numReturn: 2, onStep: (e) => void events.push(e) });
    expect(r.hypotheses.map((h) => h.ids)).toEqual(best);
    // Step 0 must not pick EOS (second best logit) because of minLength; it picks 5 then 7.
    expect(events.map((e) => e.samples[0].bestIds)).toEqual([[101, 5], [101, 5, 5], best[0]]);
    expect(events.map((e) => e.samples[0].done)).toEqual([false, false, true]);
    // Scores: running log-prob / ((5 + step + 1) / 6) ** 0.6 at the recording step.
    const logp = (last: number, tok: number) => {
      const l = logitsOf(last);
      const m = Math.max(...l);
      return l[tok] - m - Math.log(l.reduce((s, x) => s + Math.exp(x - m), 0));
    };
    const lp = (step: number) => ((5 + step + 1) / 6) ** 0.6;
    const score = (ids: number[]) => ids.slice(1).reduce((s, tok, i) => s + logp(ids[i], tok), 0) / lp(ids.length - 2);
    expect(
      maxAbsDiff(
        r.hypotheses.map((h) => h.score),
        best.map(score),
      ),
    ).toBeLessThanOrEqual(1e-5);
  });

  it('retired samples leave the batch', async () => {
    // Sample-independent stub: EOS is always best once allowed, so every sample retires at step minLength.
    const V = 120;
    const { decoder, calls } = stub(V, 32, () => Array.from({ length: V }, (_, i) => (i === 102 ? 5 : i === 3 ? 4 : 0)));
    const results = await beamSearch(decoder, memory(3), { beamSize: 2, minLength: 2, maxLength: 6 });
    expect(calls.map((c) => c.rows)).toEqual([3, 6, 6]);
    for (const r of results) expect(r.hypotheses[0].ids).toEqual([101, 3, 3, 102]);
  });
});
