import { readFileSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { ModelDirectory } from '@mplug2/core';
import { toFloat16Bits } from '@mplug2/core';
import { quantizeColumns } from '@mplug2/core/onnx';
import { convertCheckpoint, runParity } from '@mplug2/converter';
import { GOLDENS, type GoldenName } from './helpers/golden';

const tmp = (p: string) => mkdtempSync(path.join(tmpdir(), `mplug2-${p}-`));

function opTypes(file: string): Set<string> {
  const m = fromBinary(ModelProtoSchema, readFileSync(file));
  return new Set(m.graph!.node.map((n) => `${n.domain ? `${n.domain}.` : ''}${n.opType}`));
}

async function convert(name: GoldenName, options: { dtype?: 'fp32' | 'fp16' | 'int8'; fusedAttention?: boolean }): Promise<string> {
  const out = tmp(`${name}-${options.dtype ?? 'fp32'}`);
  await convertCheckpoint({ checkpoint: path.join(GOLDENS, name, 'checkpoint.pth'), config: path.join(GOLDENS, name, 'config.json'), out, ...options });
  return out;
}

describe('weight encodings', () => {
  it('float16 bits round to nearest even, keep subnormals, overflow to infinity', () => {
    const bits = toFloat16Bits(Float32Array.from([0, -0, 1, -2, 0.1, 65504, 65520, 1e6, 6e-8, 2 ** -24, 1e-9, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, NaN]));
    expect(Array.from(bits.subarray(0, 14))).toEqual([
      0x0000, 0x8000, 0x3c00, 0xc000, 0x2e66, 0x7bff, 0x7c00, 0x7c00, 0x0001, 0x0001, 0x0000, 0x3c00, 0x3c02, 0x7c00,
    ]);
    expect(bits[14] & 0x7c00).toBe(0x7c00);
    expect(bits[14] & 0x3ff).not.toBe(0);
  });

  it('int8 quantization is symmetric per column with error at most half a step', () => {
    const rows = 7;
    const cols = 5;
    const w = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (1 + (i % cols)));
    w.fill(0, 0, 0);
    const { q, scale } = quantizeColumns(w, rows, cols);
    for (let j = 0; j < cols; j++) {
      let max = 0;
      for (let i = 0; i < rows; i++) max = Math.max(max, Math.abs(w[i * cols + j]));
      expect(scale[j]).toBeCloseTo(max / 127, 6);
      for (let i = 0; i < rows; i++) expect(Math.abs(q[i * cols + j] * scale[j] - w[i * cols + j])).toBeLessThanOrEqual(scale[j] / 2 + 1e-7);
    }
    expect(quantizeColumns(new Float32Array(6), 3, 2).scale).toEqual(Float32Array.from([1, 1]));
  });
});

describe('fused and primitive op paths', () => {
  it('fused graphs use the onnxruntime contrib ops; primitive graphs use none of them', async () => {
    const fused = await convert('videoqa_tiny', { fusedAttention: true });
    const plain = await convert('videoqa_tiny', { fusedAttention: false });
    const vision = opTypes(path.join(fused, 'vision_encoder.onnx'));
    expect(vision.has('com.microsoft.MultiHeadAttention')).toBe(true);
    expect(vision.has('com.microsoft.QuickGelu')).toBe(true);
    const graphs = (dir: string, m: string, role = 'main') =>
      path.join(dir, JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')).modules[m].graphs[role]);
    for (const [m, role] of [['universal'], ['text_encoder'], ['fusion'], ['decoder', 'step']]) {
      const ops = opTypes(graphs(fused, m, role));
      expect(ops.has('com.microsoft.BiasGelu'), m).toBe(true);
      expect(ops.has('com.microsoft.SkipLayerNormalization'), m).toBe(true);
    }
    const manifest = JSON.parse(readFileSync(path.join(plain, 'manifest.json'), 'utf8')) as { modules: Record<string, { graphs: Record<string, string> }> };
    for (const entry of Object.values(manifest.modules))
      for (const f of Object.values(entry.graphs))
        expect(
          [...opTypes(path.join(plain, f))].filter((o) => o.startsWith('com.microsoft.')),
          f,
        ).toEqual([]);
  });
});

// (Tiny golden models: per-column scales and unquantized tables weigh more than at the large size, where int8 files are ~0.26× fp32.)
// Reduced-precision weights cannot meet the fp32 parity tolerance; these bound the deviation from
// the PyTorch reference (printed by `node bench/deviation.mjs`) and require the same best beam.
describe.each([
  { dtype: 'int8' as const, maxDiff: 0.6, sizeRatio: 0.5 },
  { dtype: 'fp16' as const, maxDiff: 0.05, sizeRatio: 0.55 },
])('$dtype weights', ({ dtype, maxDiff, sizeRatio }) => {
  it.each(['videoqa_tiny', 'videocaption_tiny'] as GoldenName[])('%s: bounded deviation from the reference, same best beam, smaller files', async (name) => {
    const out = await convert(name, { dtype });
    const report = await runParity(await ModelDirectory.open(out), path.join(GOLDENS, name, 'fixtures.safetensors'));
    const byName = new Map(report.tensors.map((t) => [t.name, t]));
    for (const b of ['visual.out', 'image_embeds', 'decoder_tf.logits']) expect(byName.get(b)!.maxAbsDiff, b).toBeLessThan(maxDiff);
    expect(byName.get('beam.ids')!.maxAbsDiff).toBe(0);
    const fp32 = await convert(name, {});
    expect(statSync(path.join(out, 'vision.weights')).size).toBeLessThan(sizeRatio * statSync(path.join(fp32, 'vision.weights')).size);
  });
});
