import { describe, expect, it } from 'vitest';
import { Pipeline, PortMismatchError, tensor } from '@mplug2/core';
import { loadFusion } from '@mplug2/fusion';
import { loadUniversal } from '@mplug2/universal';
import { loadVisionEncoder } from '@mplug2/vision-encoder';
import { Fixtures, goldenModel } from './helpers/golden';

describe('module ports on converted models', () => {
  it('a wrong-sized input names the port and the dim, before onnxruntime runs', async () => {
    const vision = await loadVisionEncoder(await goldenModel('videoqa_tiny'));
    const bad = tensor('float32', ['batch', 'channels', 'frames', 'height', 'width'], [1, 3, 4, 64, 64], new Float32Array(3 * 4 * 64 * 64));
    await expect(vision.run({ pixel_values: bad })).rejects.toThrow(PortMismatchError);
    await expect(vision.run({ pixel_values: bad })).rejects.toThrow(/vision_encoder\.pixel_values: dim 'height' \(axis 3\) is 64, expected 56/);
    await expect(vision.run({ pixel_values: tensor('int64', ['a'], [1], new BigInt64Array(1)) })).rejects.toThrow(/dtype int64, expected float32/);
    await vision.dispose();
  });

  it('modules of models with different widths do not compose', async () => {
    const qaVision = await loadVisionEncoder(await goldenModel('videoqa_tiny')); // width 128
    const capUniversal = await loadUniversal(await goldenModel('videocaption_tiny')); // expects width 64
    expect(() =>
      Pipeline.compose({
        modules: { vision: qaVision, universal: capUniversal },
        inputs: { pixel_values: qaVision.inputs[0] },
        connections: [
          ['input.pixel_values', 'vision.pixel_values'],
          ['vision.video_states', 'universal.video_states'],
        ],
      }),
    ).toThrow(/vision\.video_states -> universal\.video_states: dim 'vision_width' is 128 but 64 is expected/);
    await qaVision.dispose();
    await capUniversal.dispose();
  });

  it('a pipeline of real modules reproduces the reference visual states and caches them', async () => {
    const model = await goldenModel('videoqa_tiny');
    const fx = await Fixtures.open('videoqa_tiny');
    const [vision, universal, fusion] = await Promise.all([loadVisionEncoder(model), loadUniversal(model), loadFusion(model)]);
    const p = Pipeline.compose({
      modules: { vision, universal },
      inputs: { pixel_values: vision.inputs[0] },
      connections: [
        ['input.pixel_values', 'vision.pixel_values'],
        ['vision.video_states', 'universal.video_states'],
      ],
    });
    const video = await fx.float('input.video');
    const out = await p.run({ pixel_values: tensor('float32', ['batch', 'channels', 'frames', 'height', 'width'], video.shape, video.data) });
    const ref = await fx.float('image_embeds');
    const got = out['universal.image_embeds'].data as Float32Array;
    expect(Math.max(...got.map((v, i) => Math.abs(v - ref.data[i])))).toBeLessThanOrEqual(1e-4);
    expect(fusion.inputs.map((i) => i.name)).toEqual(['text_states', 'text_mask', 'image_embeds', 'image_mask']);
    await Promise.all([vision.dispose(), universal.dispose(), fusion.dispose(), fx.close()]);
  });
});
