import { ConfigError } from '../errors.js';
import type { ComputePrecision, GraphBuilder, Value } from './graph.js';
import { identity, isQuantizedStorage, Q4_SCHEME, transpose2d, type WeightPlan, type WeightStorage, type WeightTransform } from './weights.js';

/** What a module builder needs: the graph, the weight plan and the data file its weights go to. */
export interface BuildContext {
  readonly g: GraphBuilder;
  readonly plan: WeightPlan;
  readonly file: string;
  /**
   * Unmasked attention as one `com.microsoft.MultiHeadAttention` op (onnxruntime's fused kernel:
   * on CPU a flash-attention path that never materialises the scores) instead of primitive ops.
   */
  readonly fusedAttention?: boolean;
  /**
   * Other `com.microsoft` fused ops onnxruntime's cpu kernels implement: `BiasGelu` (exact erf
   * GELU), `QuickGelu` (alpha 1.702) and `SkipLayerNormalization` (bias + residual + LayerNorm),
   * instead of primitive ops (for runtimes without the contrib domain). Default false.
   */
  readonly fusedOps?: boolean;
  /** How weights are stored and consumed (see `WeightStorage`); default `fp32`. */
  readonly weights?: WeightStorage;
}

/** Options every module graph builder takes. */
export interface GraphOptions {
  /** See `BuildContext.fusedAttention`; default true (onnxruntime cpu, wasm and webgpu implement the op). */
  readonly fusedAttention?: boolean;
  /** See `BuildContext.fusedOps`; default: same as `fusedAttention`. */
  readonly fusedOps?: boolean;
  /** See `BuildContext.weights`; default `fp32`, or `fp16` with fp16 compute (the only storage it takes). */
  readonly weights?: WeightStorage;
  /**
   * The float type graphs compute in (see `ComputePrecision`); default `fp32`. Pass it to the
   * graph's `GraphBuilder` too. LayerNorm and the decoder's logits stay float32 (`toFloat32` islands).
   */
  readonly compute?: ComputePrecision;
}

/** The context fields a builder derives from `GraphOptions` (`fusedAttention` defaults to true, `fusedOps` follows it). */
export function contextOptions(options: GraphOptions = {}): Pick<BuildContext, 'fusedAttention' | 'fusedOps' | 'weights'> {
  const fusedAttention = options.fusedAttention ?? true;
  const weights = options.weights ?? (options.compute === 'fp16' ? 'fp16' : 'fp32');
  if (options.compute === 'fp16' && weights !== 'fp16') throw new ConfigError('graph', `fp16 compute needs fp16 weights, not ${weights}`);
  return { fusedAttention, fusedOps: options.fusedOps ?? fusedAttention, weights };
}

/** A weight in the graph's float type (stored as `ctx.weights`). */
export function param(ctx: BuildContext, name: string, shape: readonly number[], transform?: WeightTransform): Value {
  return ctx.plan.param(ctx.g, ctx.file, name, shape, transform, ctx.weights === 'fp16' ? 'fp16' : 'fp32', ctx.g.floatType);
}

/** A weight consumed as float32 whatever the graph's float type (inside an fp32 island of an fp16 graph). */
export function float32Param(ctx: BuildContext, name: string, shape: readonly number[], transform?: WeightTransform): Value {
  return ctx.plan.param(ctx.g, ctx.file, name, shape, transform, ctx.weights === 'fp16' ? 'fp16' : 'fp32', 'float32');
}

/**
 * `x·W (+ b)` for a checkpoint matrix that `transform` turns into `[in, out]`. With int8 weights,
 * one `com.microsoft.DynamicQuantizeMatMul` (x quantized per call to uint8, per-column weight
 * scales, bias fused); with q4 weights `com.microsoft.MatMulNBits` (4-bit blocks, activations
 * quantized to int8 per block on CPU: `accuracy_level` 4) + Add; else MatMul (+ Add).
 */
export function matmulParam(
  ctx: BuildContext,
  x: Value,
  name: string,
  shape: readonly number[],
  transform: WeightTransform = identity,
  bias?: { name: string; shape: readonly number[] } | null,
): Value {
  const { g } = ctx;
  let y: Value;
  if (isQuantizedStorage(ctx.weights)) {
    const q = ctx.plan.quantized(g, ctx.file, name, shape, transform, ctx.weights);
    if (ctx.weights === 'int8') {
      const b = bias ? param(ctx, bias.name, bias.shape) : null;
      return g.op('DynamicQuantizeMatMul', [x, q.weight, q.scale, null, b], {}, 'com.microsoft');
    }
    const [k, n] = q.matrix;
    const attrs = { K: k, N: n, bits: 4, block_size: Q4_SCHEME.blockSize, accuracy_level: 4 };
    y = g.op('MatMulNBits', q.zeroPoint ? [x, q.weight, q.scale, q.zeroPoint] : [x, q.weight, q.scale], attrs, 'com.microsoft');
  } else {
    y = g.op('MatMul', [x, param(ctx, name, shape, transform)]);
  }
  return bias ? g.op('Add', [y, param(ctx, bias.name, bias.shape)]) : y;
}

/** `y = x·Wᵀ + b` for a PyTorch Linear stored as `(out, in)`; the weight is pre-transposed at conversion. */
export function linear(ctx: BuildContext, x: Value, prefix: string, inDim: number, outDim: number, bias = true): Value {
  return matmulParam(ctx, x, `${prefix}.weight`, [outDim, inDim], transpose2d, bias ? { name: `${prefix}.bias`, shape: [outDim] } : null);
}

/** `GELU(x·Wᵀ + b)` (exact erf GELU): `BiasGelu` over the bare product when fused ops are on. */
export function linearGelu(ctx: BuildContext, x: Value, prefix: string, inDim: number, outDim: number): Value {
  if (ctx.fusedOps && ctx.weights !== 'int8') {
    const y = matmulParam(ctx, x, `${prefix}.weight`, [outDim, inDim], transpose2d);
    return ctx.g.op('BiasGelu', [y, param(ctx, `${prefix}.bias`, [outDim])], {}, 'com.microsoft');
  }
  const y = linear(ctx, x, prefix, inDim, outDim);
  return ctx.fusedOps ? ctx.g.op('Gelu', [y], {}, 'com.microsoft') : gelu(ctx.g, y);
}

/**
 * Post-LN residual `LN(x + y·Wᵀ + b)` of a Linear `prefix` applied to `y`: one
 * `SkipLayerNormalization` (bias, residual and LayerNorm fused) when fused ops are on.
 */
export function linearResidualNorm(ctx: BuildContext, y: Value, x: Value, prefix: string, inDim: number, outDim: number, lnPrefix: string, eps: number): Value {
  if (!ctx.fusedOps) return layerNorm(ctx, ctx.g.op('Add', [linear(ctx, y, prefix, inDim, outDim), x]), lnPrefix, outDim, eps);
  const { g } = ctx;
  const o = matmulParam(ctx, y, `${prefix}.weight`, [outDim, inDim], transpose2d);
  const p = (name: string) => float32Param(ctx, name, [outDim]);
  const normed = g.op(
    'SkipLayerNormalization',
    [g.toFloat32(o), g.toFloat32(x), p(`${lnPrefix}.weight`), p(`${lnPrefix}.bias`), p(`${prefix}.bias`)],
    { epsilon: { float: eps } },
    'com.microsoft',
  );
  return g.fromFloat32(normed);
}

/**
 * An ITC projection (mPLUG v1 recipe, spec §11.3): token 0 of `x` `[batch, tokens, dim]` →
 * Linear `prefix` (dim → embedDim) → L2 normalisation, `[batch, embedDim]`.
 */
export function itcProjection(ctx: BuildContext, x: Value, prefix: string, dim: number, embedDim: number): Value {
  const { g } = ctx;
  const first = g.op('Reshape', [g.op('Gather', [x, g.int64s([0])], { axis: 1 }), g.int64s([-1, dim])]);
  return g.op('LpNormalization', [linear(ctx, first, prefix, dim, embedDim)], { axis: -1, p: 2 });
}

/**
 * LayerNorm over the last axis, always in float32: an fp16 graph casts around it, since a kernel that
 * sums squares in fp16 overflows past 65504 (768 activations of magnitude 10 already do).
 */
export function layerNorm(ctx: BuildContext, x: Value, prefix: string, dim: number, eps: number): Value {
  const { g } = ctx;
  const normed = g.op('LayerNormalization', [g.toFloat32(x), float32Param(ctx, `${prefix}.weight`, [dim]), float32Param(ctx, `${prefix}.bias`, [dim])], {
    axis: -1,
    epsilon: { float: eps },
  });
  return g.fromFloat32(normed);
}

/** Exact GELU `0.5·x·(1 + erf(x/√2))` (BERT's `gelu`; never the tanh approximation). */
export function gelu(g: GraphBuilder, x: Value): Value {
  const erf = g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2, 'inv_sqrt2')])]);
  return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5, 'half')]), g.op('Add', [erf, g.scalar(1, 'one')])]);
}

/** CLIP's QuickGELU `x·σ(1.702x)`; `fused` = `com.microsoft.QuickGelu` (alpha 1.702). */
export function quickGelu(g: GraphBuilder, x: Value, fused = false): Value {
  if (fused) return g.op('QuickGelu', [x], { alpha: { float: 1.702 } }, 'com.microsoft');
  return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, g.scalar(1.702, 'qg')])])]);
}

/** `[b, n, heads·dh]` → `[b, heads, n, dh]`. */
export function splitHeads(g: GraphBuilder, x: Value, heads: number, headDim: number): Value {
  return g.op('Transpose', [g.op('Reshape', [x, g.int64s([0, 0, heads, headDim], 'heads_shape')])], { perm: [0, 2, 1, 3] });
}

/** `[b, heads, n, dh]` → `[b, n, heads·dh]`. */
export function mergeHeads(g: GraphBuilder, x: Value, width: number): Value {
  return g.op('Reshape', [g.op('Transpose', [x], { perm: [0, 2, 1, 3] }), g.int64s([0, 0, width], 'merge_shape')]);
}

/**
 * Scaled dot-product attention on split heads. `scoreScale` is applied to the scores after
 * `q·kᵀ` (BERT); `queryScale` to q before the product (PyTorch MultiheadAttention). `bias` is an
 * additive mask broadcastable to `[b, heads, n, m]`.
 */
export function attention(g: GraphBuilder, q: Value, k: Value, v: Value, opts: { queryScale?: number; scoreScale?: number; bias?: Value | null }): Value {
  const qs = opts.queryScale !== undefined ? g.op('Mul', [q, g.scalar(opts.queryScale, 'q_scale')]) : q;
  let s = g.op('MatMul', [qs, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]);
  if (opts.scoreScale !== undefined) s = g.op('Div', [s, g.scalar(1 / opts.scoreScale, 'score_div')]);
  if (opts.bias) s = g.op('Add', [s, opts.bias]);
  return g.op('MatMul', [g.op('Softmax', [s], { axis: -1 }), v]);
}

/**
 * Query rows per fused attention call over a long query axis. onnxruntime's CPU attention kernel
 * (the wasm build: no flash path) holds all scores of a call, `heads × S × T` floats, and computes
 * its cost as `2·head_dim·S·T` in a pointer-sized integer, which overflows 32-bit wasm from
 * S = T = 4097 (the released model's video tokens): "SafeIntOnOverflow() Integer overflow".
 * Chunks of ≤ 1024 rows keep both small (270 MB of scores at 16 heads over 4113 keys).
 */
export const ATTENTION_QUERY_CHUNK = 1024;

/**
 * Unmasked multi-head attention on `[b, n, heads·dh]` projections, returning `[b, n, heads·dh]`:
 * the fused op when the context asks for it, else primitive ops (`scaleQuery` picks PyTorch
 * MultiheadAttention's order — q scaled before the product — over BERT's scaled scores).
 */
export function unmaskedAttention(ctx: BuildContext, q: Value, k: Value, v: Value, heads: number, width: number, scaleQuery = false, queryTokens = 0): Value {
  const { g } = ctx;
  if (ctx.fusedAttention) {
    const chunks = Math.ceil(queryTokens / ATTENTION_QUERY_CHUNK);
    if (chunks <= 1) return g.op('MultiHeadAttention', [q, k, v], { num_heads: heads }, 'com.microsoft');
    // Chunk i holds query rows ⌊S·i/n⌋ … ⌊S·(i+1)/n⌋ of the actual length S (every chunk non-empty for S ≥ n).
    const length = g.op('Slice', [g.op('Shape', [q]), g.int64s([1]), g.int64s([2])]);
    const bound = (i: number) => (i === 0 ? g.int64s([0]) : g.op('Div', [g.op('Mul', [length, g.int64s([i])]), g.int64s([chunks])]));
    const parts = Array.from({ length: chunks }, (_, i) =>
      g.op('MultiHeadAttention', [g.op('Slice', [q, bound(i), bound(i + 1), g.int64s([1])]), k, v], { num_heads: heads }, 'com.microsoft'),
    );
    return g.op('Concat', parts, { axis: 1 });
  }
  const dh = width / heads;
  const scale = 1 / Math.sqrt(dh);
  const out = attention(
    g,
    splitHeads(g, q, heads, dh),
    splitHeads(g, k, heads, dh),
    splitHeads(g, v, heads, dh),
    scaleQuery ? { queryScale: scale } : { scoreScale: scale },
  );
  return mergeHeads(g, out, width);
}

/**
 * Most negative additive mask fill of an fp16 graph: exp of it is 0 like −1e9's, and it stays finite
 * when added to scores down to −32000 (−1e9 would be −inf in fp16, and 0·−inf is NaN).
 */
export const FP16_MASK_FILL_FLOOR = -32768;

/** `fill` as the graph can hold it: fp16 graphs raise it to `FP16_MASK_FILL_FLOOR`. */
export function maskFill(g: GraphBuilder, fill: number): number {
  return g.compute === 'fp16' ? Math.max(fill, FP16_MASK_FILL_FLOOR) : fill;
}

/**
 * Additive attention bias from an int64 0/1 mask `[b, m]`: `(1 − m)·fill`, shaped `[b, 1, 1, m]`.
 * BERT uses −10000 for self-attention and −1e9 for cross-attention memory masks.
 */
export function maskBias(g: GraphBuilder, mask: Value, fill: number): Value {
  const inv = g.op('Sub', [g.scalar(1, 'one'), g.castFloat(mask)]);
  return g.op('Unsqueeze', [g.op('Mul', [inv, g.scalar(maskFill(g, fill), 'mask_fill')]), g.int64s([1, 2], 'mask_axes')]);
}
