import { port, type ModelDims, type PortSpec } from '@mplug2/core';
import { GraphBuilder, itcProjection, type BuildContext, type WeightPlan } from '@mplug2/core/onnx';

/**
 * The visual ITC head (mPLUG v1 recipe, spec §11.3 [INFER]): token 0 of `image_embeds` (the
 * post-`visn_emb_norm` states; token 0 is the time-averaged video [CLS]) → `vision_proj`
 * (Linear hidden → embed_dim) → L2 normalisation. `image_embeds f32[batch, video_tokens, hidden]`
 * → `video_feat f32[batch, embed_dim]`. Weights go to `heads.weights`.
 */
export function buildVisionProjGraph(plan: WeightPlan, dims: ModelDims, embedDim: number): GraphBuilder {
  const g = new GraphBuilder('mplug2_vision_proj');
  const ctx: BuildContext = { g, plan, file: 'heads.weights' };
  const h = dims.text.hidden;
  const x = g.input('image_embeds', 'float32', ['batch', 'video_tokens', h]);
  g.output(itcProjection(ctx, x, 'vision_proj', h, embedDim), 'video_feat', 'float32', ['batch', embedDim]);
  return g;
}

export function visionProjPorts(dims: ModelDims, embedDim: number): { inputs: PortSpec[]; outputs: PortSpec[] } {
  return {
    inputs: [port('image_embeds', 'float32', ['batch', 'video_tokens', { name: 'hidden', size: dims.text.hidden }])],
    outputs: [port('video_feat', 'float32', ['batch', { name: 'embed_dim', size: embedDim }], 'L2-normalised ITC video embedding')],
  };
}
