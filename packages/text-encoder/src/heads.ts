import { port, type ModelDims, type PortSpec } from '@mplug2/core';
import { GraphBuilder, itcProjection, type BuildContext, type WeightPlan } from '@mplug2/core/onnx';

/**
 * The text ITC head (mPLUG v1 recipe, spec §11.3 [INFER]): token 0 ([CLS]) of `text_states`
 * → `text_proj` (Linear hidden → embed_dim) → L2 normalisation.
 * `text_states f32[batch, tokens, hidden]` → `text_feat f32[batch, embed_dim]`.
 */
export function buildTextProjGraph(plan: WeightPlan, dims: ModelDims, embedDim: number): GraphBuilder {
  const g = new GraphBuilder('mplug2_text_proj');
  const ctx: BuildContext = { g, plan, file: 'heads.weights' };
  const h = dims.text.hidden;
  const x = g.input('text_states', 'float32', ['batch', 'tokens', h]);
  g.output(itcProjection(ctx, x, 'text_proj', h, embedDim), 'text_feat', 'float32', ['batch', embedDim]);
  return g;
}

export function textProjPorts(dims: ModelDims, embedDim: number): { inputs: PortSpec[]; outputs: PortSpec[] } {
  return {
    inputs: [port('text_states', 'float32', ['batch', 'tokens', { name: 'hidden', size: dims.text.hidden }])],
    outputs: [port('text_feat', 'float32', ['batch', { name: 'embed_dim', size: embedDim }], 'L2-normalised ITC text embedding')],
  };
}
