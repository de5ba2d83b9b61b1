import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runParity } from '@mplug2/converter';
import { GOLDENS, goldenModel, type GoldenName } from './helpers/golden';

const BOUNDARIES: Record<GoldenName, string[]> = {
  videoqa_tiny: [
    'visual.out',
    'v_module.out',
    'image_embeds',
    'text.out',
    'fusion.text_out',
    'fusion.merged_states',
    'fusion.merged_mask',
    'decoder_tf.logits',
  ],
  videocaption_tiny: ['visual.out', 'v_module.out', 'image_embeds', 'decoder_tf.logits'],
};

const CASES = (Object.keys(BOUNDARIES) as GoldenName[]).flatMap((name) => [
  { name, fusedAttention: true },
  { name, fusedAttention: false },
]);

describe.each(CASES)('parity with the original PyTorch model: $name (fused attention: $fusedAttention)', ({ name, fusedAttention }) => {
  it('every module boundary and the generated ids match the reference', async () => {
    const model = await goldenModel(name, { fusedAttention });
    expect(model.manifest.graphOptions.fusedAttention).toBe(fusedAttention);
    const report = await runParity(model, path.join(GOLDENS, name, 'fixtures.safetensors'));
    const byName = new Map(report.tensors.map((t) => [t.name, t]));
    for (const b of BOUNDARIES[name]) {
      const t = byName.get(b);
      expect(t, `${b} was not compared`).toBeDefined();
      expect(t!.maxAbsDiff, `${b} max abs diff`).toBeLessThanOrEqual(t!.tolerance);
    }
    for (const b of ['beam.ids', 'beam.lengths', 'beam_nbest.ids']) expect(byName.get(b)?.maxAbsDiff, b).toBe(0);
    expect(report.missing).toEqual([]);
    expect(report.ok, JSON.stringify(report.tensors.filter((t) => !t.ok))).toBe(true);
  });
});
