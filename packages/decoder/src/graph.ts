import { type ModelDims } from '@mplug2/core';
import {
  CROSS_MASK_FILL,
  GraphBuilder,
  SELF_MASK_FILL,
  attentionOutput,
  bertAttend,
  bertDimsOf,
  bertEmbeddings,
  bertFeedForward,
  contextOptions,
  crossKeyValue,
  layerNorm,
  linear,
  linearGelu,
  maskBias,
  maskFill,
  float32Param,
  isQuantizedStorage,
  matmulParam,
  mergeHeads,
  selfQueryKeyValue,
  splitHeads,
  type BuildContext,
  type GraphOptions,
  type Value,
  type WeightPlan,
  transpose2d,
} from '@mplug2/core/onnx';

export const DECODER_PREFIX = 'text_decoder.bert.';
export const LM_HEAD_PREFIX = 'text_decoder.cls.predictions.';

export interface DecoderGraphOptions extends GraphOptions {
  /** The LM head reuses the decoder's word embeddings (true for every released checkpoint). */
  readonly tiedLmHead: boolean;
  readonly file?: string;
}

const crossName = (kind: 'key' | 'value', i: number) => `cross_${kind}_${i}`;
const pastName = (kind: 'key' | 'value', i: number) => `past_${kind}_${i}`;
const presentName = (kind: 'key' | 'value', i: number) => `present_${kind}_${i}`;
export const decoderTensorNames = { crossName, pastName, presentName };

/**
 * Cross-attention keys/values of every decoder layer, computed once per input:
 * `memory f32[batch, memory_tokens, width]` → `cross_{key,value}_i f32[batch, heads, memory_tokens, head_dim]`.
 */
export function buildDecoderMemoryGraph(plan: WeightPlan, dims: ModelDims, file = 'decoder.weights', options: GraphOptions = {}): GraphBuilder {
  const g = new GraphBuilder('mplug2_decoder_memory', options.compute);
  const ctx: BuildContext = { g, plan, file, ...contextOptions(options) };
  const d = bertDimsOf(dims.text);
  const dh = d.hidden / d.heads;
  const memory = g.input('memory', 'float32', ['batch', 'memory_tokens', d.encoderWidth]);
  for (let i = 0; i < dims.text.decoderLayers; i++) {
    const kv = crossKeyValue(ctx, `${DECODER_PREFIX}encoder.layer.${i}.crossattention`, memory, d);
    g.output(kv.k, crossName('key', i), 'float32', ['batch', d.heads, 'memory_tokens', dh]);
    g.output(kv.v, crossName('value', i), 'float32', ['batch', d.heads, 'memory_tokens', dh]);
  }
  return g;
}

/**
 * One decoder call on `input_ids i64[rows, new_tokens]`. Rows are grouped by memory sample
 * (`rows = batch·group`, sample-major: beams or candidate answers of one video share its memory
 * keys/values without copies). With `withPast`, self-attention keys/values of earlier tokens come
 * in as `past_*` and positions continue after them; `attention_mask` covers past and new tokens.
 * Outputs `logits f32[rows, new_tokens, vocab]` and `present_*` (past + new) for the next step.
 */
export function buildDecoderGraph(plan: WeightPlan, dims: ModelDims, withPast: boolean, opts: DecoderGraphOptions): GraphBuilder {
  const g = new GraphBuilder(withPast ? 'mplug2_decoder_step' : 'mplug2_decoder_prefill', opts.compute);
  const ctx: BuildContext = { g, plan, file: opts.file ?? 'decoder.weights', ...contextOptions(opts) };
  const d = bertDimsOf(dims.text);
  const dh = d.hidden / d.heads;
  const n = dims.text.decoderLayers;
  const ids = g.input('input_ids', 'int64', ['rows', 'new_tokens']);
  const mask = g.input('attention_mask', 'int64', ['rows', 'total_tokens']);
  const past = Array.from({ length: n }, (_, i) =>
    withPast
      ? {
          k: g.input(pastName('key', i), 'float32', ['rows', d.heads, 'past_tokens', dh]),
          v: g.input(pastName('value', i), 'float32', ['rows', d.heads, 'past_tokens', dh]),
        }
      : null,
  );
  const cross = Array.from({ length: n }, (_, i) => ({
    k: g.input(crossName('key', i), 'float32', ['batch', d.heads, 'memory_tokens', dh]),
    v: g.input(crossName('value', i), 'float32', ['batch', d.heads, 'memory_tokens', dh]),
  }));
  const memoryMask = g.input('memory_mask', 'int64', ['batch', 'memory_tokens']);

  const shapeOf = (x: Value, axis: number) => g.op('Slice', [g.op('Shape', [x]), g.int64s([axis]), g.int64s([axis + 1])]);
  const pastLen = past[0] ? shapeOf(past[0].k, 2) : g.int64s([0], 'past_len');
  const newLen = shapeOf(ids, 1);
  const totalLen = g.op('Add', [pastLen, newLen]);

  // Causal × padding mask: query at absolute position p sees keys 0..p.
  const maxPos = d.maxPositions;
  const tri = new Array<number>(maxPos * maxPos);
  for (let r = 0; r < maxPos; r++) for (let c = 0; c < maxPos; c++) tri[r * maxPos + c] = c <= r ? 1 : 0;
  const causalTable = g.const('causal', 'float32', [maxPos, maxPos], tri);
  const causal = g.op('Slice', [
    causalTable,
    g.op('Concat', [pastLen, g.int64s([0])], { axis: 0 }),
    g.op('Concat', [totalLen, totalLen], { axis: 0 }),
    g.int64s([0, 1]),
  ]);
  const pad = g.op('Unsqueeze', [g.castFloat(mask), g.int64s([1, 2])]);
  const allowed = g.op('Mul', [g.op('Unsqueeze', [causal, g.int64s([0, 1])]), pad]);
  const selfBias = g.op('Mul', [g.op('Sub', [g.scalar(1, 'one'), allowed]), g.scalar(SELF_MASK_FILL, 'self_fill')]);
  const crossBias = maskBias(g, memoryMask, CROSS_MASK_FILL);
  const keyPadding = ctx.fusedAttention ? g.op('Cast', [memoryMask], { to: 6 }) : null;

  let x = bertEmbeddings(ctx, `${DECODER_PREFIX}embeddings`, ids, past[0] ? pastLen : null, d);
  const batch = shapeOf(cross[0].k, 0);
  const groupedShape = g.op('Concat', [batch, g.int64s([-1, d.hidden])], { axis: 0 });
  for (let i = 0; i < n; i++) {
    const p = `${DECODER_PREFIX}encoder.layer.${i}`;
    const s = selfQueryKeyValue(ctx, `${p}.attention`, x, d);
    const k = past[i] ? g.op('Concat', [past[i]!.k, s.k], { axis: 2 }) : s.k;
    const v = past[i] ? g.op('Concat', [past[i]!.v, s.v], { axis: 2 }) : s.v;
    g.output(k, presentName('key', i), 'float32', ['rows', d.heads, 'total_tokens', dh]);
    g.output(v, presentName('value', i), 'float32', ['rows', d.heads, 'total_tokens', dh]);
    const a = attentionOutput(ctx, `${p}.attention`, x, mergeHeads(g, bertAttend(ctx, s.q, k, v, selfBias, d), d.hidden), d);
    // Cross-attention: rows of one sample are folded into its query axis so they share its memory K/V.
    const q = linear(ctx, a, `${p}.crossattention.self.query`, d.hidden, d.hidden);
    const grouped = g.op('Reshape', [q, groupedShape]);
    // Fused: one MultiHeadAttention over the head-split memory K/V (masked memory → −1e9, as the
    // reference's additive bias); it works head by head, so the [group·t, memory] scores of all heads
    // never stream through memory as one tensor (answer ranking decodes 128 candidates at once).
    const ctxGrouped = ctx.fusedAttention
      ? g.op(
          'MultiHeadAttention',
          [grouped, cross[i].k, cross[i].v, null, keyPadding!],
          { num_heads: d.heads, mask_filter_value: { float: maskFill(g, CROSS_MASK_FILL) } },
          'com.microsoft',
        )
      : mergeHeads(g, bertAttend(ctx, splitHeads(g, grouped, d.heads, dh), cross[i].k, cross[i].v, crossBias, d), d.hidden);
    const ctxRows = g.op('Reshape', [ctxGrouped, g.op('Shape', [a])]);
    const c = attentionOutput(ctx, `${p}.crossattention`, a, ctxRows, d);
    x = bertFeedForward(ctx, p, c, d);
  }
  // LM head: transform, then scores against the (tied) word embeddings, in float32 even in an fp16
  // graph: beam search ranks by these logits, and close candidates must not swap on rounding.
  const z = layerNorm(ctx, linearGelu(ctx, x, `${LM_HEAD_PREFIX}transform.dense`, d.hidden, d.hidden), `${LM_HEAD_PREFIX}transform.LayerNorm`, d.hidden, d.eps);
  const tableName = opts.tiedLmHead ? `${DECODER_PREFIX}embeddings.word_embeddings.weight` : `${LM_HEAD_PREFIX}decoder.weight`;
  const flat = g.op('Reshape', [z, g.int64s([-1, d.hidden])]);
  // int8 / q4: a transposed, quantized copy of the (tied) table; the fp32 table stays for the embedding Gather.
  const scores = isQuantizedStorage(ctx.weights)
    ? matmulParam(ctx, flat, tableName, [d.vocab, d.hidden], transpose2d, { name: `${LM_HEAD_PREFIX}bias`, shape: [d.vocab] })
    : g.op('Gemm', [g.toFloat32(flat), float32Param(ctx, tableName, [d.vocab, d.hidden]), float32Param(ctx, `${LM_HEAD_PREFIX}bias`, [d.vocab])], {
        transB: 1,
      });
  const logits = g.op('Reshape', [scores, g.op('Concat', [shapeOf(ids, 0), newLen, g.int64s([d.vocab])], { axis: 0 })]);
  g.output(logits, 'logits', 'float32', ['rows', 'new_tokens', d.vocab]);
  return g;
}
