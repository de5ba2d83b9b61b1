import { InvalidOptionError, PortMismatchError, tensor, type Tensor } from '@mplug2/core';
import { disposeDecoderCache, type DecoderMemory } from '../decoder.js';
import { BOS_TOKEN_ID, PAD_TOKEN_ID, checkInteger, filledIds, softmaxF32, topKIndices, type GenerationDecoder } from './common.js';
import { sequenceLosses, type SequenceLossOptions } from './loss.js';

export interface RankAnswersOptions extends SequenceLossOptions {
  /** Start token of the first-token decode. Default 101 (`[CLS]`; the reference uses `answer_ids[0, 0]`, which is `[CLS]`). */
  readonly bosTokenId?: number;
}

/** Ranking of one sample. */
export interface RankedAnswers {
  /** Indices into the answer list, best first (`topk_ids` after re-ranking). */
  readonly ids: number[];
  /** Softmax over the `k` re-ranked log-probabilities, descending (`topk_probs`). */
  readonly probs: number[];
  /** The `k` candidates in first-token order (top-k of the first-token probability). */
  readonly candidates: number[];
  /** First-token probability of each candidate (`candidates` order). */
  readonly firstTokenProbs: number[];
  /** Summed answer NLL of each candidate (`candidates` order). */
  readonly candidateLoss: number[];
}

export interface RankAnswersResult {
  /** One entry per sample, in input order. */
  readonly results: RankedAnswers[];
  /** Logits of the `[CLS]`-only decode, `[batch, vocab]` (parity: `rank.first_token_logits`). */
  readonly firstTokenLogits: Tensor<'float32'>;
  /** `[batch × k]`, sample-major, candidates in first-token order (parity: `rank.candidate_answer_loss`). */
  readonly candidateLoss: Float32Array;
}

/**
 * The reference `rank_answer` (spec §8.5): closed-vocabulary answer selection.
 * 1. decode `[CLS]` alone per sample; `softmax(logits)` at each answer's first wordpiece
 *    (column 1 of `answerIds`) → keep the top `k` answers (exact ties: lower answer index first);
 * 2. the `batch × k` candidates' summed NLL (positions 1…La−1, pad targets skipped, so the first
 *    token is counted again and the final `[SEP]` too) by teacher-forced decoder calls with the
 *    answer mask, each sample's memory shared by its candidates (rows chunked, see
 *    `maxRowsPerCall`, so k = 128 of thousands of answers stays bounded);
 * 3. `score = log(p_first) − nll` (float32), `softmax` over the k candidates, sorted descending
 *    (exact ties: first-token order).
 *
 * `answerIds`: one row per answer, `[CLS] w… [SEP]` right-padded with `[PAD]` (rows may also be
 * ragged: they are padded with pad id / mask 0). `answerMask`: the matching attention masks.
 */
export async function rankAnswers(
  decoder: GenerationDecoder,
  memory: DecoderMemory,
  answerIds: readonly (readonly number[])[],
  answerMask: readonly (readonly number[])[],
  k: number,
  options: RankAnswersOptions = {},
): Promise<RankAnswersResult> {
  const A = answerIds.length;
  if (A === 0) throw new InvalidOptionError('answerIds', 'the answer list is empty');
  if (answerMask.length !== A) throw new PortMismatchError('rank.answer_mask', `${answerMask.length} rows but there are ${A} answers`, 'answers');
  checkInteger('k', k, 1, A);
  const V = decoder.vocabSize;
  const bos = checkInteger('bosTokenId', options.bosTokenId ?? BOS_TOKEN_ID, 0, V - 1);
  const pad = options.padTokenId ?? PAD_TOKEN_ID;
  answerIds.forEach((r, i) => {
    if (r.length < 2) throw new PortMismatchError('rank.answer_ids', `answer ${i} has ${r.length} token(s); at least [CLS] and one token are needed`, 'tokens');
    if (!Number.isInteger(r[1]) || r[1] < 0 || r[1] >= V)
      throw new PortMismatchError('rank.answer_ids', `answer ${i} starts with token ${r[1]}, outside the vocabulary of ${V}`, 'tokens');
  });

  const B = memory.batch;
  const first = await decoder.forward(memory, filledIds(['rows', 'tokens'], B, 1, bos), filledIds(['rows', 'total_tokens'], B, 1, 1));
  const firstTokenLogits = tensor('float32', ['batch', 'vocab'], [B, V], first.logits.data.slice(0, B * V));

  const candidates: number[][] = [];
  const firstProbs: Float32Array[] = [];
  const rows: number[][] = [];
  const rowMasks: number[][] = [];
  for (let b = 0; b < B; b++) {
    const probs = softmaxF32(firstTokenLogits.data, b * V, V);
    const perAnswer = Float32Array.from(answerIds, (r) => probs[r[1]]);
    const top = topKIndices(perAnswer, k);
    candidates.push(top);
    firstProbs.push(Float32Array.from(top, (a) => perAnswer[a]));
    for (const a of top) {
      rows.push([...answerIds[a]]);
      rowMasks.push([...answerMask[a]]);
    }
  }

  // Every answer starts with [CLS], already decoded above: its logits and cache start every candidate.
  const { loss } = await sequenceLosses(decoder, memory, rows, rowMasks, {
    padTokenId: pad,
    maxRowsPerCall: options.maxRowsPerCall,
    prefix: { id: bos, logits: first.logits, cache: first.cache },
  }).finally(() => disposeDecoderCache(first.cache));

  const results: RankedAnswers[] = [];
  for (let b = 0; b < B; b++) {
    const scores = new Float32Array(k);
    for (let j = 0; j < k; j++) scores[j] = Math.fround(Math.fround(Math.log(firstProbs[b][j])) - loss[b * k + j]);
    const probs = softmaxF32(scores, 0, k);
    const rerank = topKIndices(probs, k);
    results.push({
      ids: rerank.map((j) => candidates[b][j]),
      probs: rerank.map((j) => probs[j]),
      candidates: candidates[b],
      firstTokenProbs: Array.from(firstProbs[b]),
      candidateLoss: Array.from(loss.subarray(b * k, (b + 1) * k)),
    });
  }
  return { results, firstTokenLogits, candidateLoss: loss };
}
