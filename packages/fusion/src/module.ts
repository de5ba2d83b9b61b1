import { GraphModule, manifestDims, port, type ModelDims, type ModelSource, type PortSpec, type SessionOptions } from '@mplug2/core';

export function fusionPorts(dims: ModelDims): { inputs: PortSpec[]; outputs: PortSpec[] } {
  const hidden = { name: 'hidden', size: dims.text.hidden };
  return {
    inputs: [
      port('text_states', 'float32', ['batch', 'tokens', hidden]),
      port('text_mask', 'int64', ['batch', 'tokens']),
      port('image_embeds', 'float32', ['batch', 'video_tokens', hidden]),
      port('image_mask', 'int64', ['batch', 'video_tokens']),
    ],
    outputs: [
      port('fusion_text', 'float32', ['batch', 'tokens', hidden]),
      port('fusion_image', 'float32', ['batch', 'video_tokens', hidden]),
      port('merged_states', 'float32', ['batch', 'memory_tokens', hidden], '[video; fused text]: the answer decoder memory'),
      port('merged_mask', 'int64', ['batch', 'memory_tokens']),
    ],
  };
}

/** The fusion encoder as a pipeline module. */
export async function loadFusion(model: ModelSource, options: SessionOptions = {}): Promise<GraphModule> {
  const ports = fusionPorts(manifestDims(model.manifest));
  return new GraphModule('fusion', ports.inputs, ports.outputs, await model.session('fusion', 'main', options));
}
