import type { TextDims } from '../config.js';
import type { Value } from './graph.js';
import { attention, layerNorm, linear, linearGelu, linearResidualNorm, mergeHeads, param, splitHeads, unmaskedAttention, type BuildContext } from './nn.js';

/** Shape of a BERT stack as the mPLUG-2 BERT json describes it. */
export interface BertDims {
  readonly hidden: number;
  readonly heads: number;
  readonly intermediate: number;
  readonly eps: number;
  /** Width of cross-attention memory (`encoder_width`). */
  readonly encoderWidth: number;
}

/** BERT stack dims plus the embedding table sizes. */
export interface BertEmbeddingDims extends BertDims {
  readonly vocab: number;
  readonly maxPositions: number;
  readonly typeVocab: number;
}

/** The BERT dims every text-side module (text encoder, universal, fusion, decoder) builds with. */
export function bertDimsOf(t: TextDims): BertEmbeddingDims {
  return {
    hidden: t.hidden,
    heads: t.heads,
    intermediate: t.intermediate,
    eps: t.eps,
    encoderWidth: t.encoderWidth,
    vocab: t.vocab,
    maxPositions: t.maxPositions,
    typeVocab: t.typeVocab,
  };
}

export const SELF_MASK_FILL = -10000;
export const CROSS_MASK_FILL = -1e9;

/** Key/value projections of a cross-attention block, split into heads: `[b, heads, m, dh]` each. */
export function crossKeyValue(ctx: BuildContext, prefix: string, memory: Value, d: BertDims): { k: Value; v: Value } {
  const dh = d.hidden / d.heads;
  return {
    k: splitHeads(ctx.g, linear(ctx, memory, `${prefix}.self.key`, d.encoderWidth, d.hidden), d.heads, dh),
    v: splitHeads(ctx.g, linear(ctx, memory, `${prefix}.self.value`, d.encoderWidth, d.hidden), d.heads, dh),
  };
}

/** Self-attention projections of `x`, split into heads. */
export function selfQueryKeyValue(ctx: BuildContext, prefix: string, x: Value, d: BertDims): { q: Value; k: Value; v: Value } {
  const dh = d.hidden / d.heads;
  const p = (n: string) => splitHeads(ctx.g, linear(ctx, x, `${prefix}.self.${n}`, d.hidden, d.hidden), d.heads, dh);
  return { q: p('query'), k: p('key'), v: p('value') };
}

/** `LN(x + ctx·Woᵀ + bo)`: the output sub-block of a BERT attention; `merged` is `[b, n, hidden]`. */
export function attentionOutput(ctx: BuildContext, prefix: string, x: Value, merged: Value, d: BertDims): Value {
  return linearResidualNorm(ctx, merged, x, `${prefix}.output.dense`, d.hidden, d.hidden, `${prefix}.output.LayerNorm`, d.eps);
}

/** Scores divided by √dh after `q·kᵀ`, then the additive bias (BERT order). */
export function bertAttend(ctx: BuildContext, q: Value, k: Value, v: Value, bias: Value | null, d: BertDims): Value {
  return attention(ctx.g, q, k, v, { scoreScale: 1 / Math.sqrt(d.hidden / d.heads), bias });
}

/**
 * A BERT self-attention block (post-LN); `bias` null = no mask. `tokens`: the sequence length the graph
 * is built for, when known (long unmasked sequences are attended in query chunks, see `ATTENTION_QUERY_CHUNK`).
 */
export function bertSelfAttention(ctx: BuildContext, prefix: string, x: Value, bias: Value | null, d: BertDims, tokens = 0): Value {
  if (!bias) {
    const p = (n: string) => linear(ctx, x, `${prefix}.self.${n}`, d.hidden, d.hidden);
    return attentionOutput(ctx, prefix, x, unmaskedAttention(ctx, p('query'), p('key'), p('value'), d.heads, d.hidden, false, tokens), d);
  }
  const { q, k, v } = selfQueryKeyValue(ctx, prefix, x, d);
  return attentionOutput(ctx, prefix, x, mergeHeads(ctx.g, bertAttend(ctx, q, k, v, bias, d), d.hidden), d);
}

/** A BERT cross-attention block (post-LN) from `x` to `memory` (`[b, m, encoderWidth]`); `bias` null = no mask. */
export function bertCrossAttention(ctx: BuildContext, prefix: string, x: Value, memory: Value, bias: Value | null, d: BertDims): Value {
  const q = linear(ctx, x, `${prefix}.self.query`, d.hidden, d.hidden);
  if (!bias) {
    const k = linear(ctx, memory, `${prefix}.self.key`, d.encoderWidth, d.hidden);
    const v = linear(ctx, memory, `${prefix}.self.value`, d.encoderWidth, d.hidden);
    return attentionOutput(ctx, prefix, x, unmaskedAttention(ctx, q, k, v, d.heads, d.hidden), d);
  }
  const kv = crossKeyValue(ctx, prefix, memory, d);
  const heads = bertAttend(ctx, splitHeads(ctx.g, q, d.heads, d.hidden / d.heads), kv.k, kv.v, bias, d);
  return attentionOutput(ctx, prefix, x, mergeHeads(ctx.g, heads, d.hidden), d);
}

/** `LN(x + W2·GELU(W1·x + b1) + b2)`, with `intermediate`/`output` sub-modules under `prefix`. */
export function bertFeedForward(ctx: BuildContext, prefix: string, x: Value, d: BertDims): Value {
  const h = linearGelu(ctx, x, `${prefix}.intermediate.dense`, d.hidden, d.intermediate);
  return linearResidualNorm(ctx, h, x, `${prefix}.output.dense`, d.intermediate, d.hidden, `${prefix}.output.LayerNorm`, d.eps);
}

/**
 * BERT embeddings `LN(word[ids] + token_type[0] + position[offset .. offset+n−1])`.
 * `positionStart` is a scalar int64 value (past length for cached decoding) or null for 0.
 */
export function bertEmbeddings(ctx: BuildContext, prefix: string, ids: Value, positionStart: Value | null, d: BertEmbeddingDims): Value {
  const g = ctx.g;
  const word = g.op('Gather', [param(ctx, `${prefix}.word_embeddings.weight`, [d.vocab, d.hidden]), ids], { axis: 0 });
  const n = g.op('Slice', [g.op('Shape', [ids]), g.int64s([1]), g.int64s([2])]);
  const start = positionStart ?? g.int64s([0], 'pos_start');
  const end = g.op('Add', [start, n]);
  const pos = g.op('Slice', [param(ctx, `${prefix}.position_embeddings.weight`, [d.maxPositions, d.hidden]), start, end, g.int64s([0])]);
  const type0 = g.op('Gather', [param(ctx, `${prefix}.token_type_embeddings.weight`, [d.typeVocab, d.hidden]), g.int64s([0])], { axis: 0 });
  const e = g.op('Add', [g.op('Add', [word, type0]), pos]);
  return layerNorm(ctx, e, `${prefix}.LayerNorm`, d.hidden, d.eps);
}
