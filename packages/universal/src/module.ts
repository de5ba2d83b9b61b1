import { GraphModule, manifestDims, port, type ModelDims, type ModelSource, type PortSpec, type SessionOptions } from '@mplug2/core';

export function universalPorts(dims: ModelDims): { inputs: PortSpec[]; outputs: PortSpec[] } {
  const hidden = { name: 'hidden', size: dims.text.hidden };
  return {
    inputs: [port('video_states', 'float32', ['batch', 'video_tokens', { name: 'vision_width', size: dims.vision.width }])],
    outputs: [
      port('universal_out', 'float32', ['batch', 'video_tokens', hidden], 'last universal layer output'),
      port('image_embeds', 'float32', ['batch', 'video_tokens', hidden], 'visn_emb_norm(video + universal): the visual states every later module reads'),
    ],
  };
}

/** The universal layers as a pipeline module (`video_states` → `image_embeds`). */
export async function loadUniversal(model: ModelSource, options: SessionOptions = {}): Promise<GraphModule> {
  const ports = universalPorts(manifestDims(model.manifest));
  return new GraphModule('universal', ports.inputs, ports.outputs, await model.session('universal', 'main', options));
}
