import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { probeBackend, type Backend } from '@mplug2/core';
import { convertCheckpoint, runParity, type ParityReport } from '@mplug2/tasks';
import { GOLDENS, type GoldenName } from '../helpers/golden';
import { useSwiftShaderVulkan } from './webgpu-env';

/**
 * fp16 weights (`dtype: 'fp16'`: stored as float16 — half the download, which matters most in a
 * browser — and cast to float32 in the graph) on cpu and webgpu: the deviation from the fp32
 * reference is measured and printed, and the NaN guard stays quiet. fp16 *arithmetic*
 * (WebGPU `shader-f16`) is not used: SwiftShader does not offer that feature, so it cannot be checked here.
 */
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');
const backends: Backend[] = ['cpu', ...(webgpuError ? [] : (['webgpu'] as Backend[]))];
const results: Record<string, { maxFloatDiff: number; idsExact: boolean; worst: string }> = {};
const models = new Map<GoldenName, Promise<string>>();

function fp16Model(name: GoldenName): Promise<string> {
  let p = models.get(name);
  if (!p) {
    const out = mkdtempSync(path.join(tmpdir(), `mplug2-${name}-fp16-`));
    p = convertCheckpoint({ checkpoint: path.join(GOLDENS, name, 'checkpoint.pth'), config: path.join(GOLDENS, name, 'config.json'), out, dtype: 'fp16', fusedAttention: false }).then(() => out);
    models.set(name, p);
  }
  return p;
}

afterAll(() => process.stdout.write(`[fp16] deviation from the fp32 reference: ${JSON.stringify(results)}\n`));

describe.each(backends)('fp16 weights on %s', (backend) => {
  it.each(['videoqa_tiny', 'videocaption_tiny'] as GoldenName[])('%s: deviation vs the fp32 reference is small and finite', async (name) => {
    const report: ParityReport = await runParity(await fp16Model(name), path.join(GOLDENS, name, 'fixtures.safetensors'), { backend });
    const floats = report.tensors.filter((t) => t.tolerance !== 0);
    const worst = floats.reduce((a, b) => (b.maxAbsDiff > a.maxAbsDiff ? b : a));
    const ids = report.tensors.filter((t) => t.tolerance === 0);
    results[`${backend}/${name}`] = { maxFloatDiff: worst.maxAbsDiff, idsExact: ids.every((t) => t.maxAbsDiff === 0), worst: worst.name };
    for (const t of floats) expect(Number.isFinite(t.maxAbsDiff), t.name).toBe(true);
    expect(worst.maxAbsDiff).toBeLessThan(0.1);
  }, 180_000);
});
