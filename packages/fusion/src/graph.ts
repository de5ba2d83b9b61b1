import { type ModelDims } from '@mplug2/core';
import {
  CROSS_MASK_FILL,
  GraphBuilder,
  SELF_MASK_FILL,
  bertCrossAttention,
  bertDimsOf,
  bertFeedForward,
  bertSelfAttention,
  contextOptions,
  maskBias,
  type BuildContext,
  type GraphOptions,
  type WeightPlan,
} from '@mplug2/core/onnx';

export const FUSION_PREFIX = 'fusion_encoder.encoder.layer.';

/** Slots of the fusion stack that run: the top `fusion_layers` of `num_hidden_layers`. */
export function fusionSlots(dims: ModelDims): number[] {
  const { fusionSlots: n, fusionLayers: f } = dims.text;
  return Array.from({ length: f }, (_, j) => n - f + j);
}

/**
 * Fusion encoder: `text_states`, `text_mask`, `image_embeds`, `image_mask` → `fusion_text`,
 * `fusion_image`, and the decoder memory `merged_states = [image; text]` with `merged_mask`.
 * Layer `j` is a cross-attention layer unless `j > 0 && j % stride_layer == 0`, in which case it is
 * a merged-attention layer over `[image; text]` whose image part is added to the running image states.
 */
export function buildFusionGraph(plan: WeightPlan, dims: ModelDims, options: GraphOptions = {}): GraphBuilder {
  const g = new GraphBuilder('mplug2_fusion', options.compute);
  const ctx: BuildContext = { g, plan, file: 'fusion.weights', ...contextOptions(options) };
  const t = dims.text;
  const d = bertDimsOf(t);
  let text = g.input('text_states', 'float32', ['batch', 'tokens', t.hidden]);
  const textMask = g.input('text_mask', 'int64', ['batch', 'tokens']);
  let image = g.input('image_embeds', 'float32', ['batch', 'video_tokens', t.hidden]);
  const imageMask = g.input('image_mask', 'int64', ['batch', 'video_tokens']);
  const textBias = maskBias(g, textMask, SELF_MASK_FILL);
  const imageBias = maskBias(g, imageMask, CROSS_MASK_FILL);
  const mergedMask = g.op('Concat', [imageMask, textMask], { axis: 1 });
  fusionSlots(dims).forEach((slot, j) => {
    const p = `${FUSION_PREFIX}${slot}`;
    if (j > 0 && j % t.strideLayer === 0) {
      const merged = g.op('Concat', [image, text], { axis: 1 });
      const bias = g.op('Concat', [imageBias, textBias], { axis: 3 });
      const out = bertFeedForward(ctx, p, bertSelfAttention(ctx, `${p}.attention`, merged, bias, d), d);
      const nImage = g.op('Slice', [g.op('Shape', [image]), g.int64s([1]), g.int64s([2])]);
      const big = g.int64s([2 ** 62]);
      image = g.op('Add', [image, g.op('Slice', [out, g.int64s([0]), nImage, g.int64s([1])])]);
      text = g.op('Slice', [out, nImage, big, g.int64s([1])]);
    } else {
      const a = bertSelfAttention(ctx, `${p}.attention`, text, textBias, d);
      const c = bertCrossAttention(ctx, `${p}.crossattention`, a, image, imageBias, d);
      text = bertFeedForward(ctx, p, c, d);
    }
  });
  g.output(text, 'fusion_text', 'float32', ['batch', 'tokens', t.hidden]);
  g.output(image, 'fusion_image', 'float32', ['batch', 'video_tokens', t.hidden]);
  g.output(g.op('Concat', [image, text], { axis: 1 }), 'merged_states', 'float32', ['batch', 'memory_tokens', t.hidden]);
  g.output(mergedMask, 'merged_mask', 'int64', ['batch', 'memory_tokens']);
  return g;
}
