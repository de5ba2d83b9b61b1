import { GraphModule, manifestDims, port, type ModelDims, type ModelSource, type PortSpec, type SessionOptions } from '@mplug2/core';

export function textEncoderPorts(dims: ModelDims): { inputs: PortSpec[]; outputs: PortSpec[] } {
  return {
    inputs: [port('input_ids', 'int64', ['batch', 'tokens']), port('attention_mask', 'int64', ['batch', 'tokens'])],
    outputs: [port('text_states', 'float32', ['batch', 'tokens', { name: 'hidden', size: dims.text.hidden }])],
  };
}

/** The BERT text encoder as a pipeline module (`input_ids`, `attention_mask` → `text_states`). */
export async function loadTextEncoder(model: ModelSource, options: SessionOptions = {}): Promise<GraphModule> {
  const ports = textEncoderPorts(manifestDims(model.manifest));
  return new GraphModule('text_encoder', ports.inputs, ports.outputs, await model.session('text_encoder', 'main', options));
}
