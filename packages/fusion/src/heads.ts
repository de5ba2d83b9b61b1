import { port, type ModelDims, type PortSpec } from '@mplug2/core';
import { GraphBuilder, linear, type BuildContext, type WeightPlan } from '@mplug2/core/onnx';

/**
 * The ITM head (mPLUG v1 recipe, spec §11.3 [INFER]): fused text [CLS] (token 0 of `fusion_text`)
 * → `itm_head` (Linear hidden → 2) → softmax. `fusion_text f32[batch, tokens, hidden]` →
 * `itm_logits f32[batch, 2]`, `itm_probs f32[batch, 2]` (class 1 = match).
 */
export function buildItmHeadGraph(plan: WeightPlan, dims: ModelDims): GraphBuilder {
  const g = new GraphBuilder('mplug2_itm_head');
  const ctx: BuildContext = { g, plan, file: 'heads.weights' };
  const h = dims.text.hidden;
  const x = g.input('fusion_text', 'float32', ['batch', 'tokens', h]);
  const cls = g.op('Reshape', [g.op('Gather', [x, g.int64s([0])], { axis: 1 }), g.int64s([-1, h])]);
  const logits = linear(ctx, cls, 'itm_head', h, 2);
  g.output(logits, 'itm_logits', 'float32', ['batch', 2]);
  g.output(g.op('Softmax', [logits], { axis: -1 }), 'itm_probs', 'float32', ['batch', 2]);
  return g;
}

export function itmHeadPorts(dims: ModelDims): { inputs: PortSpec[]; outputs: PortSpec[] } {
  const two = { name: 'classes', size: 2 };
  return {
    inputs: [port('fusion_text', 'float32', ['batch', 'tokens', { name: 'hidden', size: dims.text.hidden }])],
    outputs: [port('itm_logits', 'float32', ['batch', two]), port('itm_probs', 'float32', ['batch', two], 'softmax; class 1 = match')],
  };
}
