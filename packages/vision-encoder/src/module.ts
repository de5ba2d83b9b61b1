import { GraphModule, manifestDims, port, type ModelDims, type ModelSource, type PortSpec, type SessionOptions } from '@mplug2/core';

export function visionEncoderPorts(dims: ModelDims): { inputs: PortSpec[]; outputs: PortSpec[] } {
  const v = dims.vision;
  return {
    inputs: [
      port(
        'pixel_values',
        'float32',
        ['batch', { name: 'channels', size: 3 }, 'frames', { name: 'height', size: v.imageRes }, { name: 'width', size: v.imageRes }],
        'CLIP-normalised RGB frames',
      ),
    ],
    outputs: [
      port('video_states', 'float32', ['batch', 'video_tokens', { name: 'vision_width', size: v.width }], '[video CLS; frame-major patches] after ln_post'),
    ],
  };
}

/** The video encoder as a pipeline module (`pixel_values` → `video_states`). */
export async function loadVisionEncoder(model: ModelSource, options: SessionOptions = {}): Promise<GraphModule> {
  const ports = visionEncoderPorts(manifestDims(model.manifest));
  return new GraphModule('vision_encoder', ports.inputs, ports.outputs, await model.session('vision_encoder', 'main', options));
}
