import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runParity } from '@mplug2/tasks';
import { GOLDENS, goldenModel, type GoldenName } from './helpers/golden';

const BOUNDARIES: Record<GoldenName, string[]> = {
  videoqa_tiny: ['visual.out', 'v_module.out', 'image_embeds', 'text.out', 'fusion.text_out', 'fusion.merged_states', 'fusion.merged_mask', 'decoder_tf.logits'],
  videocaption_tiny: ['visual.out', 'v_module.out', 'image_embeds', 'decoder_tf.logits'],
};

describe.each(Object.keys(BOUNDARIES) as GoldenName[])('parity with the original PyTorch model: %s', (name) => {
  it('every module boundary is within 1e-4 of the reference', async () => {
    const report = await runParity(await goldenModel(name), path.join(GOLDENS, name, 'fixtures.safetensors'));
    const byName = new Map(report.tensors.map((t) => [t.name, t]));
    for (const b of BOUNDARIES[name]) {
      const t = byName.get(b);
      expect(t, `${b} was not compared`).toBeDefined();
      expect(t!.maxAbsDiff, `${b} max abs diff`).toBeLessThanOrEqual(t!.tolerance);
    }
    expect(report.missing).toEqual([]);
    expect(report.ok, JSON.stringify(report.tensors.filter((t) => !t.ok))).toBe(true);
  });
});
