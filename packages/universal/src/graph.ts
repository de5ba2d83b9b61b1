import { type ModelDims } from '@mplug2/core';
import {
  GraphBuilder,
  bertCrossAttention,
  bertDimsOf,
  bertFeedForward,
  bertSelfAttention,
  contextOptions,
  layerNorm,
  linear,
  param,
  type BertDims,
  type BuildContext,
  type GraphOptions,
  type Value,
  type WeightPlan,
} from '@mplug2/core/onnx';

/** The universal layers are the last `num_uni_layer` layers of the text encoder; their weights live there. */
export const TEXT_LAYER_PREFIX = 'text_encoder.encoder.layer.';

/** Indices of the universal layers inside the text encoder stack. */
export function universalLayerIndices(dims: ModelDims): number[] {
  const { encoderLayers: n, uniLayers: u } = dims.text;
  return Array.from({ length: u }, (_, i) => n - u + i);
}

/** One BERT layer with cross-attention: self-attention among `queries`, cross-attention to `memory`, FFN. */
function universalLayer(ctx: BuildContext, index: number, queries: Value, memory: Value, d: BertDims, queryTokens = 0): Value {
  const p = `${TEXT_LAYER_PREFIX}${index}`;
  const a = bertSelfAttention(ctx, `${p}.attention`, queries, null, d, queryTokens);
  const c = bertCrossAttention(ctx, `${p}.crossattention`, a, memory, null, d);
  return bertFeedForward(ctx, p, c, d);
}

/**
 * The universal layers in `v_module` mode plus the residual and `visn_emb_norm`:
 * `video_states f32[batch, video_tokens, vision_width]` → `image_embeds f32[batch, video_tokens, hidden]`
 * (also `universal_out`, the last layer's output before the residual). No masks: every video token is valid.
 */
export function buildUniversalGraph(plan: WeightPlan, dims: ModelDims, options: GraphOptions = {}): GraphBuilder {
  const g = new GraphBuilder('mplug2_universal', options.compute);
  const ctx: BuildContext = { g, plan, file: 'text.weights', ...contextOptions(options) };
  const d = bertDimsOf(dims.text);
  const t = dims.text;
  const input = g.input('video_states', 'float32', ['batch', 'video_tokens', dims.vision.width]);
  // The width adapter exists only when the vision width differs from the text width.
  const v0 = dims.visionAdapter ? layerNorm(ctx, linear(ctx, input, 'visn_fc', dims.vision.width, t.hidden), 'visn_layer_norm', t.hidden, t.eps) : input;
  const layers = universalLayerIndices(dims);
  if (layers.length === 0) throw new Error('universal graph needs num_uni_layer >= 1');
  const latentsParam = param(ctx, `${TEXT_LAYER_PREFIX}${layers[0]}.latents`, [t.numLatents, t.hidden]);
  const batch = g.op('Slice', [g.op('Shape', [v0]), g.int64s([0]), g.int64s([1])]);
  const latents = g.op('Expand', [g.op('Unsqueeze', [latentsParam, g.int64s([0])]), g.op('Concat', [batch, g.int64s([t.numLatents, t.hidden])], { axis: 0 })]);
  let u: Value;
  if (layers.length === 1) {
    // A single universal layer: video queries attend to the raw latents.
    u = universalLayer(ctx, layers[0], v0, latents, d, dims.vision.tokens);
  } else {
    // First layer swaps in the latents; middle layers refine them; the last swaps back to the video.
    let z = latents;
    for (const i of layers.slice(0, -1)) z = universalLayer(ctx, i, z, v0, d);
    // The video queries' self-attention (4097 tokens at the released size) runs in query chunks.
    u = universalLayer(ctx, layers[layers.length - 1], v0, z, d, dims.vision.tokens);
  }
  g.output(u, 'universal_out', 'float32', ['batch', 'video_tokens', t.hidden]);
  const embeds = layerNorm(ctx, g.op('Add', [v0, u]), 'visn_emb_norm', t.hidden, t.eps);
  g.output(embeds, 'image_embeds', 'float32', ['batch', 'video_tokens', t.hidden]);
  return g;
}
