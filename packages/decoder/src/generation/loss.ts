import { InvalidOptionError, PortMismatchError, type Tensor } from '@mplug2/core';
import { disposeDecoderCache, disposeDecoderMemory, type DecoderCache, type DecoderMemory } from '../decoder.js';
import { PAD_TOKEN_ID, checkInteger, idsTensor, selectMemory, toRows, type GenerationDecoder } from './common.js';

/** Logits elements (`rows × tokens × vocab`) one teacher-forced decoder call may produce by default (64 MiB of float32). */
export const DEFAULT_LOGITS_BUDGET = 1 << 24;

export interface SequenceLossOptions {
  /** Token id whose targets are ignored (the reference maps them to −100). Default 0 (`[PAD]`). */
  readonly padTokenId?: number;
  /**
   * Most rows per decoder call (bounds the logits buffer). Default: as many as fit
   * `DEFAULT_LOGITS_BUDGET` logits elements, at least one.
   */
  readonly maxRowsPerCall?: number;
  /**
   * The decode of a first token shared by the rows — `decoder.forward` on `[batch, 1]` ids `id`
   * (one row per memory sample, attended): its logits score each row's first target and its cache
   * starts each row, so column 0 is not decoded again (answer ranking: every answer starts with
   * `[CLS]`, decoded once per sample for the first-token pass). Used only when every row starts
   * with `id`, attended; results equal a full decode up to float rounding. The prefix stays the
   * caller's: on `webgpu` its cache is not consumed by the calls it starts (release it with `disposeDecoderCache`).
   */
  readonly prefix?: { readonly id: number; readonly logits: Tensor<'float32'>; readonly cache: DecoderCache };
}

/** Summed token cross-entropy per row, and how many targets each sum covers. */
export interface RowLosses {
  /** `[rows]`, float32 values. */
  readonly loss: Float32Array;
  readonly targets: Int32Array;
}

/** `−log softmax(logits[off … off+V−1])[target]` (float64 accumulation). */
function crossEntropy(logits: Float32Array, off: number, V: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[off + v] > max) max = logits[off + v];
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[off + v] - max);
  return max + Math.log(s) - logits[off + target];
}

/** Cross-entropy of `logits[t]` against `ids[t + 1]` summed over t, skipping pad targets (float64 accumulation). */
function rowLoss(logits: Float32Array, base: number, V: number, ids: readonly number[], width: number, pad: number): [number, number] {
  let sum = 0;
  let n = 0;
  for (let t = 0; t + 1 < width; t++) {
    const target = ids[t + 1];
    if (target === pad) continue;
    sum += crossEntropy(logits, base + t * V, V, target);
    n++;
  }
  return [sum, n];
}

/**
 * Teacher-forced summed cross-entropy of `rows = memory.batch × group` sequences (sample-major:
 * rows `b·group … b·group+group−1` decode against sample `b`'s memory). One prefill call per chunk
 * of rows with the given attention mask (causal × padding); a chunk holds the same number of rows
 * of each sample of a block of samples, so the memory is shared, never copied per row (only sliced
 * per sample block when `memory.batch` alone exceeds the row limit). Each sample's rows are taken
 * shortest first and split into calls by `planChunks`, so short sequences are not padded to the
 * longest; a call decodes only the columns before its rows' last target (later columns, the last
 * token's own included, change no earlier position under the causal mask and have no target).
 */
export async function sequenceLosses(
  decoder: GenerationDecoder,
  memory: DecoderMemory,
  ids: readonly (readonly number[])[],
  mask: readonly (readonly number[])[],
  options: SequenceLossOptions = {},
): Promise<RowLosses> {
  const pad = checkInteger('padTokenId', options.padTokenId ?? PAD_TOKEN_ID, 0);
  const rows = ids.length;
  const B = memory.batch;
  if (rows === 0 || rows % B !== 0)
    throw new PortMismatchError('decoder.input_ids', `${rows} rows is not a positive multiple of the memory batch ${B}`, 'rows');
  if (mask.length !== rows) throw new PortMismatchError('decoder.attention_mask', `${mask.length} rows but input_ids has ${rows}`, 'rows');
  const width = Math.max(...ids.map((r) => r.length));
  if (width < 1) throw new PortMismatchError('decoder.input_ids', 'sequences are empty', 'tokens');
  ids.forEach((r, i) => {
    if (mask[i].length !== r.length)
      throw new PortMismatchError('decoder.attention_mask', `row ${i} has ${mask[i].length} values but input_ids row ${i} has ${r.length}`, 'tokens');
  });
  if (width > decoder.dims.text.maxPositions)
    throw new PortMismatchError('decoder.input_ids', `${width} tokens exceed max_position_embeddings ${decoder.dims.text.maxPositions}`, 'tokens');
  const V = decoder.vocabSize;
  const rowLimit = (w: number) =>
    options.maxRowsPerCall === undefined ? Math.max(1, Math.floor(DEFAULT_LOGITS_BUDGET / (w * V))) : checkInteger('maxRowsPerCall', options.maxRowsPerCall, 1);
  const group = rows / B;
  // Columns row r needs decoded: the logits at t predict token t + 1, so positions 0 … last − 1
  // where `last` is the row's last non-pad token (later columns, its own included, change nothing
  // earlier under the causal mask and have no target).
  const need = ids.map((r) => {
    for (let t = r.length - 1; t > 0; t--) if (r[t] !== pad) return t;
    return 0;
  });
  const prefix = options.prefix && ids.every((r, i) => r[0] === options.prefix!.id && mask[i][0] !== 0) ? options.prefix : undefined;
  if (prefix && (prefix.cache.rows !== B || prefix.cache.length !== 1 || prefix.logits.shape[0] !== B))
    throw new PortMismatchError('decoder.prefix', `the shared first-token decode must have one row per memory sample (${B}) and one token`, 'rows');
  // With a prefix, column 0 comes from it: a call decodes columns 1 … w − 1.
  const skip = prefix ? 1 : 0;
  const widest = Math.max(...need);
  // Every call starts from the prefix cache: shared, so no call releases it.
  const prefixCache: DecoderCache | undefined = prefix && { ...prefix.cache, shared: true };
  const sampleBlock = Math.min(B, rowLimit(Math.max(1, widest - skip)));

  const loss = new Float32Array(rows);
  const targets = new Int32Array(rows);
  for (let s0 = 0; s0 < B; s0 += sampleBlock) {
    const s1 = Math.min(B, s0 + sampleBlock);
    const nb = s1 - s0;
    const mem =
      nb === B
        ? memory
        : await selectMemory(
            decoder,
            memory,
            Array.from({ length: nb }, (_, i) => s0 + i),
          );
    try {
      // Each sample's candidates by the columns they need; slice j takes the j-th of every sample.
      const order = Array.from({ length: nb }, (_, i) =>
        Array.from({ length: group }, (_, c) => (s0 + i) * group + c).sort((a, b) => need[a] - need[b] || a - b),
      );
      const widths = Array.from({ length: group }, (_, j) => Math.max(...order.map((o) => need[o[j]])));
      for (const [j0, j1] of planChunks(
        widths.map((w) => Math.max(0, w - skip)),
        nb,
        rowLimit,
      )) {
        const w = widths[j1 - 1];
        if (w === 0) continue; // no row of these slices has a target
        const chunk: number[] = [];
        for (let i = 0; i < nb; i++) for (let j = j0; j < j1; j++) chunk.push(order[i][j]);
        const at = (src: readonly (readonly number[])[], r: number, t: number, fill: number) => (t < src[r].length ? src[r][t] : fill);
        // Decoded columns skip … w − 1; their logits score targets skip + 1 … w.
        const cols = w - skip;
        let logits: Float32Array | undefined;
        if (cols > 0) {
          const flatIds: number[] = [];
          const flatMask: number[] = [];
          for (const r of chunk) {
            for (let t = skip; t < w; t++) flatIds.push(at(ids, r, t, pad));
            for (let t = 0; t < w; t++) flatMask.push(at(mask, r, t, 0));
          }
          const cache = prefixCache
            ? decoder.reorder(
                prefixCache,
                chunk.map((r) => Math.floor(r / group)),
              )
            : undefined;
          const out = await decoder.forward(
            mem,
            idsTensor(['rows', 'tokens'], chunk.length, cols, flatIds),
            idsTensor(['rows', 'total_tokens'], chunk.length, w, flatMask),
            cache,
          );
          logits = out.logits.data;
          disposeDecoderCache(out.cache); // no call continues from it
        }
        chunk.forEach((r, i) => {
          let [l, n] = [0, 0];
          if (prefix) {
            const target = at(ids, r, 1, pad);
            if (target !== pad) {
              l += crossEntropy(prefix.logits.data, Math.floor(r / group) * V, V, target);
              n++;
            }
          }
          if (logits) {
            // The row's tokens skip … w (pad past its end): logits of column c score token c + 1.
            const row = Array.from({ length: cols + 1 }, (_, c) => at(ids, r, skip + c, pad));
            const [lr, nr] = rowLoss(logits, i * cols * V, V, row, cols + 1, pad);
            l += lr;
            n += nr;
          }
          loss[r] = l;
          targets[r] = n;
        });
      }
    } finally {
      if (mem !== memory) disposeDecoderMemory(mem);
    }
  }
  return { loss, targets };
}

/**
 * Fixed cost of one decoder call (reading every weight and the memory keys/values once) in units
 * of decoded token-rows; only steers how `sequenceLosses` splits rows into calls, never results.
 */
const CALL_COST_TOKENS = 32;

/**
 * Splits slices `0 … n−1` (non-decreasing `width[j]` columns, `samples` rows each) into contiguous
 * calls minimising `Σ (CALL_COST_TOKENS + rows · width)`, each within `rowLimit(width)` rows: short
 * answers are not padded to the longest one, and the split is exact dynamic programming.
 */
function planChunks(width: readonly number[], samples: number, rowLimit: (w: number) => number): [number, number][] {
  const n = width.length;
  const best = new Float64Array(n + 1).fill(Infinity);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let e = 1; e <= n; e++) {
    const w = width[e - 1];
    const limit = w === 0 ? Infinity : rowLimit(w);
    for (let b = e - 1; b >= 0 && (e - b) * samples <= Math.max(limit, samples); b--) {
      const cost = best[b] + (w === 0 ? 0 : CALL_COST_TOKENS + (e - b) * samples * w);
      if (cost < best[e]) {
        best[e] = cost;
        from[e] = b;
      }
    }
  }
  const chunks: [number, number][] = [];
  for (let e = n; e > 0; e = from[e]) chunks.unshift([from[e], e]);
  return chunks;
}

export interface TeacherForcedLossOptions extends SequenceLossOptions {
  /**
   * `'sum'` (default): per row, the sum over positions of `CE(logits[t], ids[t+1])` ignoring pad
   * targets — `BertLMHeadModel(..., reduction='none')`, the VideoQA `decoder_tf.loss` and the
   * `rank_answer` answer loss. `'mean'`: one value, the mean over every non-pad target of the
   * batch — `BertPrefixModel` (captioning), which ignores `reduction`.
   */
  readonly reduction?: 'sum' | 'mean';
}

/**
 * Teacher-forced loss of `ids` (`[rows, tokens]`, rows = memory.batch × group, sample-major, each
 * starting with `[CLS]`) under `mask` (causal × padding self-attention mask), as the reference
 * decoder returns it with `labels = ids` (pad → −100). Returns `[rows]` (`'sum'`) or `[1]` (`'mean'`).
 */
export async function teacherForcedLoss(
  decoder: GenerationDecoder,
  memory: DecoderMemory,
  ids: Tensor<'int64'> | readonly (readonly number[])[],
  mask: Tensor<'int64'> | readonly (readonly number[])[],
  options: TeacherForcedLossOptions = {},
): Promise<Float32Array> {
  const reduction = options.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') throw new InvalidOptionError('reduction', `must be 'sum' or 'mean', got ${String(reduction)}`);
  const r = await sequenceLosses(decoder, memory, toRows('decoder.input_ids', ids), toRows('decoder.attention_mask', mask), options);
  if (reduction === 'sum') return r.loss;
  let sum = 0;
  let n = 0;
  r.loss.forEach((l, i) => {
    sum += l;
    n += r.targets[i];
  });
  return Float32Array.of(sum / n);
}
