import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  InvalidOptionError,
  ModuleSession,
  parseManifest,
  probeBackend,
  tensor,
  webGpuFloat16Support,
  type Backend,
} from '@mplug2/core';
import { GraphBuilder } from '@mplug2/core/onnx';
import { convertCheckpoint, runParity, type ParityReport } from '@mplug2/converter';
import { GOLDENS, type GoldenName } from '../helpers/golden';
import { useSwiftShaderVulkan } from './webgpu-env';

/**
 * The two fp16 options against the fp32 reference (golden fixtures), deviation measured and printed:
 * - fp16 weights (`dtype: 'fp16'`): stored as float16 — half the download — and cast to float32 in
 *   the graph (fp32 arithmetic), on cpu and webgpu;
 * - fp16 compute (`compute: 'fp16'`): float16 arithmetic inside the graphs, float32 ports. cpu and
 *   wasm run it (onnxruntime casts around kernels it lacks in fp16), as the deviation reference; on
 *   webgpu it needs `shader-f16`, which SwiftShader lacks: there the model must be refused with a
 *   typed error naming the feature (where a GPU offers it, its parity is measured instead).
 */
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');
const float16Error = webgpuError ? null : await webGpuFloat16Support();
const storageBackends: Backend[] = ['cpu', ...(webgpuError ? [] : (['webgpu'] as Backend[]))];
const computeBackends: Backend[] = ['cpu', 'wasm', ...(webgpuError || float16Error ? [] : (['webgpu'] as Backend[]))];
const GOLDEN_NAMES: GoldenName[] = ['videoqa_tiny', 'videocaption_tiny'];
const results: Record<string, { maxAbsDiff: Record<string, number>; idsAgree: Record<string, boolean> }> = {};
const models = new Map<string, Promise<string>>();

type Precision = 'fp16 weights' | 'fp16 compute';

function fp16Model(name: GoldenName, precision: Precision): Promise<string> {
  const key = `${name}:${precision}`;
  let p = models.get(key);
  if (!p) {
    const out = mkdtempSync(path.join(tmpdir(), `mplug2-${name}-fp16-`));
    const compute = precision === 'fp16 compute' ? 'fp16' : 'fp32';
    p = convertCheckpoint({
      checkpoint: path.join(GOLDENS, name, 'checkpoint.pth'),
      config: path.join(GOLDENS, name, 'config.json'),
      out,
      dtype: 'fp16',
      compute,
      fusedAttention: false,
    }).then(() => out);
    models.set(key, p);
  }
  return p;
}

/** Runs the parity harness and records max |diff| per boundary and which id tensors agree exactly. */
async function measure(name: GoldenName, precision: Precision, backend: Backend): Promise<ParityReport> {
  const report = await runParity(await fp16Model(name, precision), path.join(GOLDENS, name, 'fixtures.safetensors'), { backend });
  const floats = report.tensors.filter((t) => t.tolerance !== 0);
  const ids = report.tensors.filter((t) => t.tolerance === 0);
  results[`${precision} / ${backend} / ${name}`] = {
    maxAbsDiff: Object.fromEntries(floats.map((t) => [t.name, Number(t.maxAbsDiff.toPrecision(3))])),
    idsAgree: Object.fromEntries(ids.map((t) => [t.name, t.maxAbsDiff === 0])),
  };
  expect(report.missing).toEqual([]);
  for (const t of floats) expect(Number.isFinite(t.maxAbsDiff), t.name).toBe(true);
  return report;
}

afterAll(() => {
  for (const [key, r] of Object.entries(results))
    process.stdout.write(`[fp16] ${key}: max |diff| vs the fp32 reference ${JSON.stringify(r.maxAbsDiff)}; ids agree ${JSON.stringify(r.idsAgree)}\n`);
});

describe.each(storageBackends)('fp16 weights on %s', (backend) => {
  it.each(GOLDEN_NAMES)(
    '%s: deviation vs the fp32 reference is small and finite',
    async (name) => {
      const report = await measure(name, 'fp16 weights', backend);
      expect(Math.max(...report.tensors.map((t) => t.maxAbsDiff))).toBeLessThan(0.1);
    },
    180_000,
  );
});

describe.each(computeBackends)('fp16 compute on %s', (backend) => {
  it.each(GOLDEN_NAMES)(
    '%s: deviation vs the fp32 reference is bounded and finite; beam and ranking ids agree',
    async (name) => {
      const report = await measure(name, 'fp16 compute', backend);
      const floats = report.tensors.filter((t) => t.tolerance !== 0);
      // Measured on cpu: ≤ 0.014 (activations rounded to 11 significant bits at every op).
      expect(Math.max(...floats.map((t) => t.maxAbsDiff))).toBeLessThan(0.05);
      for (const t of report.tensors.filter((t) => t.tolerance === 0)) expect(t.maxAbsDiff, t.name).toBe(0);
    },
    180_000,
  );
});

describe.skipIf(!!webgpuError || !float16Error)('fp16 compute on webgpu without shader-f16', () => {
  it('loading the model is refused with BackendUnavailableError naming shader-f16', async () => {
    const err = await runParity(await fp16Model('videocaption_tiny', 'fp16 compute'), path.join(GOLDENS, 'videocaption_tiny', 'fixtures.safetensors'), {
      backend: 'webgpu',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toMatch(/shader-f16/);
    expect(err.message).toMatch(/--dtype fp16/);
  });
});

describe('fp16 compute conversion', () => {
  it('is recorded in the manifest (older manifests without it read as fp32); with int8 weights it is refused', async () => {
    const raw = JSON.parse(readFileSync(path.join(await fp16Model('videocaption_tiny', 'fp16 compute'), 'manifest.json'), 'utf8'));
    expect(raw.graphOptions).toEqual({ fusedAttention: false, compute: 'fp16' });
    delete raw.graphOptions.compute;
    expect(parseManifest(raw, 'old manifest').graphOptions.compute).toBe('fp32');
    const golden = path.join(GOLDENS, 'videocaption_tiny');
    const out = mkdtempSync(path.join(tmpdir(), 'mplug2-fp16-int8-'));
    const err = await convertCheckpoint({
      checkpoint: path.join(golden, 'checkpoint.pth'),
      config: path.join(golden, 'config.json'),
      out,
      dtype: 'int8',
      compute: 'fp16',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect(err.option).toBe('compute');
  });
});

describe('NaN guard with fp16 compute', () => {
  it('an activation past the fp16 range (65504) is reported as NON_FINITE, never returned', async () => {
    const g = new GraphBuilder('overflow', 'fp16');
    const x = g.input('x', 'float32', ['n']);
    // cpu has no fp16 Mul (onnxruntime runs it in float32); the Transpose, which it runs in fp16, holds the product in fp16.
    g.output(g.op('Transpose', [g.op('Mul', [x, g.scalar(300)])]), 'y', 'float32', ['n']);
    const session = await ModuleSession.create(g.toBytes(), { backend: 'cpu', label: 'overflow', compute: 'fp16' });
    try {
      await expect(session.run({ x: tensor('float32', ['n'], [2], new Float32Array([1, 300])) })).rejects.toMatchObject({
        code: 'NON_FINITE',
        message: /overflow\.y: 1 NaN\/Inf/,
      });
      const ok = await session.run({ x: tensor('float32', ['n'], [1], new Float32Array([2])) });
      expect([...(ok.y.data as Float32Array)]).toEqual([600]);
    } finally {
      await session.dispose();
    }
  });
});
