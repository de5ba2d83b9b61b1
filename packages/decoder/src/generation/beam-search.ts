import { InvalidOptionError, throwIfAborted, type Tensor } from '@mplug2/core';
import { disposeDecoderCache, disposeDecoderMemory, type DecoderCache, type DecoderMemory } from '../decoder.js';
import {
  BOS_TOKEN_ID,
  EOS_TOKEN_ID,
  checkFinite,
  checkInteger,
  filledIds,
  idsTensor,
  logOfSoftmaxF32,
  selectMemory,
  type GenerationDecoder,
} from './common.js';

/** One finished hypothesis. */
export interface Hypothesis {
  /** Token ids including the leading `[CLS]` (101) and, when it ended by EOS, the final `[SEP]` (102). */
  readonly ids: number[];
  /**
   * Cumulative log-probability of the chosen tokens divided by the length penalty of the step at
   * which the hypothesis was recorded (a float32 value, as in the reference).
   */
  readonly score: number;
}

/** The search result of one sample: up to `numReturn` hypotheses, best first. */
export interface BeamSearchResult {
  readonly hypotheses: Hypothesis[];
}

/** Progress of one sample after a search step (see `BeamSearchOptions.onStep`). */
export interface BeamStepSample {
  /**
   * While searching: the rank-0 beam after this step (incl. the leading 101). Once done: the best
   * finished hypothesis (what the search returns as `hypotheses[0]`).
   */
  readonly bestIds: readonly number[];
  /** Score of `bestIds` (running log-prob / length penalty of this step, or the hypothesis score once done). */
  readonly bestScore: number;
  /** The sample has retired (at this step or earlier); its result will not change any more. */
  readonly done: boolean;
}

export interface BeamStepEvent {
  /** 0-based search step (step `s` appends the `(s+1)`-th generated token). */
  readonly step: number;
  /** One entry per input sample, in input order. */
  readonly samples: readonly BeamStepSample[];
}

export interface BeamSearchOptions {
  /** Beams per sample (`K`; 5 in every released config). 1 gives greedy decoding, see `greedySearch`. */
  readonly beamSize: number;
  /** EOS is forbidden (log-prob −1e20) while `step < minLength`: at least that many non-EOS tokens. */
  readonly minLength: number;
  /** Number of search steps; hypotheses hold at most `maxLength + 1` ids (the leading 101 included). */
  readonly maxLength: number;
  /** Hypotheses returned per sample (`out_size`), 1 … beamSize. Default 1. */
  readonly numReturn?: number;
  /** GNMT length-penalty exponent α in `((5 + step + 1) / 6) ** α`. Default 0.6. */
  readonly lengthPenalty?: number;
  /** Start token. Default 101 (`[CLS]`). */
  readonly bosTokenId?: number;
  /** End token. Default 102 (`[SEP]`). */
  readonly eosTokenId?: number;
  /** Called (and awaited) once after every search step, for streaming. */
  readonly onStep?: (event: BeamStepEvent) => void | Promise<void>;
  /** Aborts between steps: the promise rejects with `AbortError` (code `ABORTED`, cause = the signal's reason) after releasing the search's cache and memory slices. */
  readonly signal?: AbortSignal;
}

interface ResolvedOptions {
  beamSize: number;
  minLength: number;
  maxLength: number;
  numReturn: number;
  alpha: number;
  bos: number;
  eos: number;
}

function resolveOptions(decoder: GenerationDecoder, options: BeamSearchOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', 'beam search options are required');
  const vocab = decoder.vocabSize;
  const maxPositions = decoder.dims.text.maxPositions;
  const beamSize = checkInteger('beamSize', options.beamSize, 1, vocab);
  const minLength = checkInteger('minLength', options.minLength, 0);
  // The decoder sees at most `maxLength` tokens (the prefix at the last step); the token chosen
  // at that step is appended but never fed, so `maxLength ≤ max_position_embeddings` suffices.
  const maxLength = checkInteger('maxLength', options.maxLength, 1, maxPositions);
  const numReturn = checkInteger('numReturn', options.numReturn ?? 1, 1, beamSize);
  const alpha = checkFinite('lengthPenalty', options.lengthPenalty ?? 0.6);
  const bos = checkInteger('bosTokenId', options.bosTokenId ?? BOS_TOKEN_ID, 0, vocab - 1);
  const eos = checkInteger('eosTokenId', options.eosTokenId ?? EOS_TOKEN_ID, 0, vocab - 1);
  if (options.onStep !== undefined && typeof options.onStep !== 'function') throw new InvalidOptionError('onStep', 'must be a function');
  return { beamSize, minLength, maxLength, numReturn, alpha, bos, eos };
}

/** Python's `sorted(hyps, key=score, reverse=True)`: descending, stable for equal scores. */
function sortHypotheses(hyps: Hypothesis[]): Hypothesis[] {
  return [...hyps].sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : 0));
}

/**
 * Beam search exactly as the reference `TextGenerator._fast_translate_batch` (spec §8.2), run on
 * the KV-cached step API: one prefill of `[CLS]`, then one new token per row and step, with the
 * self-attention cache reordered by beam origin. Cross-attention keys/values (`memory`) are shared
 * by the beams of a sample.
 *
 * Reproduced behaviour (parity with the reference, float32 emulated with `Math.fround`):
 * - one live beam per sample at step 0 (the other `K−1` start at −∞);
 * - `log(softmax(logits))` (not log-softmax: an underflowing probability gives −∞);
 * - EOS set to −1e20 while `step < minLength`;
 * - candidates `(logp + running) / lp` with `lp = ((5 + step + 1) / 6) ** α` (lp rounded to float32
 *   as torch does for a Python scalar); top-K over the `K × V` candidates of each sample
 *   (origin beam = index ÷ V, token = index mod V; exact ties go to the lower flat index, NaN counts
 *   as −∞);
 *   the running log-prob is `float32(topk_score × lp)`;
 * - a selected EOS candidate that is not rank 0 is recorded as a hypothesis but stays in the beam
 *   (it keeps being extended); when the rank-0 candidate is EOS, or at step `maxLength − 1`, all
 *   `K` current candidates are recorded and the sample retires;
 * - results: the recorded hypotheses sorted by score, descending and stable (Python `sorted`),
 *   the first `numReturn` kept.
 *
 * Implementation choices that do not change results:
 * - the prefill runs one `[CLS]` row per sample (not `K` identical rows): the other beams are −∞
 *   at step 0 and every step-0 winner descends from beam 0, so the cache is then expanded to `K`
 *   rows per sample by the first reorder;
 * - a retired sample's rows are dropped from the batch (like the reference), its memory slice too
 *   (`selectMemory`: a GPU gather for a GPU memory; the slices and the last cache are released here,
 *   `memory` stays the caller's).
 */
export async function beamSearch(decoder: GenerationDecoder, memory: DecoderMemory, options: BeamSearchOptions): Promise<BeamSearchResult[]> {
  const o = resolveOptions(decoder, options);
  const K = o.beamSize;
  const V = decoder.vocabSize;
  const batch = memory.batch;
  const hyps: Hypothesis[][] = Array.from({ length: batch }, () => []);
  const results: (Hypothesis[] | null)[] = new Array(batch).fill(null);

  /** Original sample index of each live slot. */
  let live = Array.from({ length: batch }, (_, i) => i);
  /** Cache rows per live sample (1 after the prefill, K afterwards). */
  let group = 1;
  /** Running log-prob per (slot, beam). */
  let running = new Float32Array(batch * K).fill(-Infinity);
  for (let b = 0; b < batch; b++) running[b * K] = 0;
  /** Sequence per (slot, beam). */
  let seqs: number[][] = Array.from({ length: batch * K }, () => [o.bos]);
  let mem = memory;
  let cache: DecoderCache | undefined;
  let ids: Tensor<'int64'> = filledIds(['rows', 'tokens'], batch, 1, o.bos);

  const logp = new Float32Array(V);
  const topScore = new Float32Array(K);
  const topIndex = new Int32Array(K);

  try {
    for (let step = 0; step < o.maxLength; step++) {
      throwIfAborted(options.signal, 'beam search');
      const rows = live.length * group;
      const out = await decoder.forward(mem, ids, filledIds(['rows', 'total_tokens'], rows, step + 1, 1), cache);
      cache = out.cache;
      const logits = out.logits.data;
      const width = out.logits.shape[1]; // 1 (one new token per row)

      const lp = Math.fround(((5 + (step + 1)) / 6) ** o.alpha);
      const newRunning = new Float32Array(live.length * K);
      const newSeqs: number[][] = new Array(live.length * K);
      const order: number[] = [];
      const nextTokens: number[] = [];
      const keep: number[] = [];
      const stepSamples = new Map<number, BeamStepSample>();

      for (let slot = 0; slot < live.length; slot++) {
        const sample = live[slot];
        // Top-K over the K×V candidates; ties keep the lower flat index (strict comparisons while
        // scanning in index order).
        let filled = 0;
        for (let j = 0; j < K; j++) {
          const run = running[slot * K + j];
          const hasRow = j < group;
          if (hasRow) {
            logOfSoftmaxF32(logits, ((slot * group + j) * width + width - 1) * V, V, logp);
            if (step < o.minLength) logp[o.eos] = Math.fround(-1e20);
          }
          if (!hasRow && filled === K) continue;
          for (let t = 0; t < V; t++) {
            let s = hasRow ? Math.fround(Math.fround(logp[t] + run) / lp) : -Infinity;
            if (Number.isNaN(s)) s = -Infinity;
            if (filled === K && !(s > topScore[K - 1])) continue;
            let pos = filled < K ? filled : K - 1;
            while (pos > 0 && s > topScore[pos - 1]) pos--;
            const end = filled < K ? filled : K - 1;
            for (let q = end; q > pos; q--) {
              topScore[q] = topScore[q - 1];
              topIndex[q] = topIndex[q - 1];
            }
            topScore[pos] = s;
            topIndex[pos] = j * V + t;
            if (filled < K) filled++;
          }
        }

        const fin: boolean[] = [];
        for (let j = 0; j < K; j++) {
          const origin = Math.floor(topIndex[j] / V);
          const token = topIndex[j] % V;
          newRunning[slot * K + j] = Math.fround(topScore[j] * lp);
          newSeqs[slot * K + j] = [...seqs[slot * K + origin], token];
          fin.push(token === o.eos || step + 1 === o.maxLength);
        }
        const topDone = fin[0];
        for (let j = 0; j < K; j++) if (fin[j] || topDone) hyps[sample].push({ ids: newSeqs[slot * K + j], score: topScore[j] });
        if (topDone) {
          const best = sortHypotheses(hyps[sample]).slice(0, o.numReturn);
          results[sample] = best;
          stepSamples.set(sample, { bestIds: best[0].ids, bestScore: best[0].score, done: true });
        } else {
          stepSamples.set(sample, { bestIds: newSeqs[slot * K], bestScore: topScore[0], done: false });
          keep.push(slot);
          for (let j = 0; j < K; j++) {
            order.push(slot * group + Math.floor(topIndex[j] / V));
            nextTokens.push(topIndex[j] % V);
          }
        }
      }

      if (options.onStep) {
        const samples = Array.from({ length: batch }, (_, b): BeamStepSample => {
          const now = stepSamples.get(b);
          if (now) return now;
          const r = results[b] as Hypothesis[];
          return { bestIds: r[0].ids, bestScore: r[0].score, done: true };
        });
        await options.onStep({ step, samples });
      }

      if (keep.length === 0) break;
      if (keep.length !== live.length) {
        live = keep.map((slot) => live[slot]);
        const selected = await selectMemory(decoder, memory, live);
        if (mem !== memory) disposeDecoderMemory(mem);
        mem = selected;
      }
      running = new Float32Array(keep.length * K);
      seqs = [];
      keep.forEach((slot, i) => {
        running.set(newRunning.subarray(slot * K, (slot + 1) * K), i * K);
        for (let j = 0; j < K; j++) seqs.push(newSeqs[slot * K + j]);
      });
      cache = decoder.reorder(cache, order);
      group = K;
      ids = idsTensor(['rows', 'tokens'], order.length, 1, nextTokens);
    }
  } finally {
    if (mem !== memory) disposeDecoderMemory(mem);
    if (cache) disposeDecoderCache(cache);
  }

  return results.map((r) => ({ hypotheses: r ?? [] }));
}

export type GreedySearchOptions = Omit<BeamSearchOptions, 'beamSize' | 'numReturn'>;

/**
 * Greedy decoding, defined as `beamSearch` with `beamSize: 1` (no separate code path): at each
 * step the arg-max token of `log(softmax)` is appended (EOS forbidden while `step < minLength`,
 * exact ties → lower token id); the sample stops at the first EOS or after `maxLength` tokens.
 * The score is the summed log-prob divided by the length penalty of the last step, as for beams.
 * (The reference file's own greedy function is dead code and is not reproduced.)
 */
export async function greedySearch(decoder: GenerationDecoder, memory: DecoderMemory, options: GreedySearchOptions): Promise<BeamSearchResult[]> {
  return beamSearch(decoder, memory, { ...options, beamSize: 1, numReturn: 1 });
}
