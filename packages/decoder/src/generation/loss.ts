import { InvalidOptionError, PortMismatchError, type Tensor } from '@mplug2/core';
import type { DecoderMemory } from '../decoder.js';
import { PAD_TOKEN_ID, checkInteger, idsTensor, selectMemorySamples, toRows, type GenerationDecoder } from './common.js';

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
}

/** Summed token cross-entropy per row, and how many targets each sum covers. */
export interface RowLosses {
  /** `[rows]`, float32 values. */
  readonly loss: Float32Array;
  readonly targets: Int32Array;
}

/** Cross-entropy of `logits[t]` against `ids[t + 1]` summed over t, skipping pad targets (float64 accumulation). */
function rowLoss(logits: Float32Array, base: number, V: number, ids: readonly number[], width: number, pad: number): [number, number] {
  let sum = 0;
  let n = 0;
  for (let t = 0; t + 1 < width; t++) {
    const target = ids[t + 1];
    if (target === pad) continue;
    const off = base + t * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[off + v] > max) max = logits[off + v];
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[off + v] - max);
    sum += max + Math.log(s) - logits[off + target];
    n++;
  }
  return [sum, n];
}

/**
 * Teacher-forced summed cross-entropy of `rows = memory.batch × group` sequences (sample-major:
 * rows `b·group … b·group+group−1` decode against sample `b`'s memory). One prefill call per chunk
 * of rows with the given attention mask (causal × padding); chunks hold whole candidate columns of
 * a block of samples, so the memory is shared, never copied per row (only sliced per sample block
 * when `memory.batch` alone exceeds the row limit). Trailing all-padding columns of a chunk are not
 * decoded (under the causal mask they change no earlier position, and their targets are ignored).
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
  const maxRows =
    options.maxRowsPerCall === undefined
      ? Math.max(1, Math.floor(DEFAULT_LOGITS_BUDGET / (width * V)))
      : checkInteger('maxRowsPerCall', options.maxRowsPerCall, 1);
  const group = rows / B;
  const sampleBlock = Math.min(B, maxRows);
  const colBlock = Math.max(1, Math.floor(maxRows / sampleBlock));

  const loss = new Float32Array(rows);
  const targets = new Int32Array(rows);
  for (let s0 = 0; s0 < B; s0 += sampleBlock) {
    const s1 = Math.min(B, s0 + sampleBlock);
    const mem = s1 - s0 === B ? memory : selectMemorySamples(memory, Array.from({ length: s1 - s0 }, (_, i) => s0 + i));
    for (let c0 = 0; c0 < group; c0 += colBlock) {
      const c1 = Math.min(group, c0 + colBlock);
      const chunk: number[] = [];
      for (let s = s0; s < s1; s++) for (let c = c0; c < c1; c++) chunk.push(s * group + c);
      // Width of this chunk: up to the last column holding a token or an attended position.
      let w = 1;
      for (const r of chunk)
        for (let t = ids[r].length - 1; t >= w; t--)
          if (ids[r][t] !== pad || mask[r][t] !== 0) {
            w = t + 1;
            break;
          }
      const flatIds: number[] = [];
      const flatMask: number[] = [];
      for (const r of chunk)
        for (let t = 0; t < w; t++) {
          flatIds.push(t < ids[r].length ? ids[r][t] : pad);
          flatMask.push(t < mask[r].length ? mask[r][t] : 0);
        }
      const out = await decoder.forward(
        mem,
        idsTensor(['rows', 'tokens'], chunk.length, w, flatIds),
        idsTensor(['rows', 'total_tokens'], chunk.length, w, flatMask),
      );
      chunk.forEach((r, i) => {
        const [l, n] = rowLoss(out.logits.data, i * w * V, V, flatIds.slice(i * w, (i + 1) * w), w, pad);
        loss[r] = l;
        targets[r] = n;
      });
    }
  }
  return { loss, targets };
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
