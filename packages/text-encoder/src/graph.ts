import { type ModelDims } from '@mplug2/core';
import {
  GraphBuilder,
  SELF_MASK_FILL,
  bertDimsOf,
  bertEmbeddings,
  bertFeedForward,
  bertSelfAttention,
  maskBias,
  contextOptions,
  type BuildContext,
  type GraphOptions,
  type WeightPlan,
} from '@mplug2/core/onnx';

export const TEXT_PREFIX = 'text_encoder.';

/** Which text layers run: `norm` = all (VideoQA questions), `text` = all but the universal ones. */
export type TextEncoderMode = 'norm' | 'text';

/**
 * BERT text encoder: `input_ids i64[batch, tokens]`, `attention_mask i64[batch, tokens]` →
 * `text_states f32[batch, tokens, hidden]`. Universal layers act as plain BERT layers on text
 * (their cross-attention is skipped); their weights are shared with the universal graph through
 * the same data file.
 */
export function buildTextEncoderGraph(plan: WeightPlan, dims: ModelDims, mode: TextEncoderMode = 'norm', options: GraphOptions = {}): GraphBuilder {
  const g = new GraphBuilder(`mplug2_text_encoder_${mode}`, options.compute);
  const ctx: BuildContext = { g, plan, file: 'text.weights', ...contextOptions(options) };
  const t = dims.text;
  const d = bertDimsOf(t);
  const ids = g.input('input_ids', 'int64', ['batch', 'tokens']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'tokens']);
  let x = bertEmbeddings(ctx, `${TEXT_PREFIX}embeddings`, ids, null, d);
  const bias = maskBias(g, mask, SELF_MASK_FILL);
  const layers = mode === 'norm' ? t.encoderLayers : t.encoderLayers - t.uniLayers;
  for (let i = 0; i < layers; i++) {
    const p = `${TEXT_PREFIX}encoder.layer.${i}`;
    x = bertFeedForward(ctx, p, bertSelfAttention(ctx, `${p}.attention`, x, bias, d), d);
  }
  g.output(x, 'text_states', 'float32', ['batch', 'tokens', t.hidden]);
  return g;
}
