import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, MANIFEST_FILE, MANIFEST_HASH_FILE, ModelDirectory, isDeviceTensor, maxAbsDiff, probeBackend, tensor, type Tensor } from '@mplug2/core';
import { TextDecoder } from '@mplug2/decoder';
import { FixtureFile } from '@mplug2/tasks';
import { GOLDENS, goldenModel } from '../helpers/golden';
import { useSwiftShaderVulkan } from './webgpu-env';

// TextDecoder on webgpu keeps cross K/V and the KV cache in GPU memory across steps, with beam
// reordering as a GPU gather (lazy, applied by the next step). Beam ids on webgpu are checked by the
// backend suite; this checks the cache really stays on the GPU and equals the CPU path.
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');

const ids = (rows: number, v: number) => tensor('int64', ['rows', 'tokens'], [rows, 1], new BigInt64Array(rows).fill(BigInt(v)));
const ones = (rows: number, n: number) => tensor('int64', ['rows', 'total'], [rows, n], new BigInt64Array(rows * n).fill(1n));

async function threeSteps(backend: 'cpu' | 'webgpu') {
  const model = await goldenModel('videoqa_tiny', { fusedAttention: false });
  const fx = await FixtureFile.open(path.join(GOLDENS, 'videoqa_tiny', 'fixtures.safetensors'));
  const memory = (await fx.get('fusion.merged_states')) as Tensor<'float32'>;
  const mask = (await fx.get('fusion.merged_mask')) as Tensor<'int64'>;
  await fx.close();
  const dec = await TextDecoder.load(model, { backend });
  const mem = await dec.encodeMemory(memory, mask);
  const B = memory.shape[0];
  const first = await dec.forward(mem, ids(B, 101), ones(B, 1));
  const resident = Object.values(first.cache.past).every(isDeviceTensor);
  // Beam-style: every sample's row repeated 3 times (sample-major), then two more steps.
  const order = Array.from({ length: B * 3 }, (_, i) => Math.floor(i / 3));
  const second = await dec.forward(mem, ids(B * 3, 1037 % dec.vocabSize), ones(B * 3, 2), dec.reorder(first.cache, order));
  const third = await dec.forward(mem, ids(B * 3, 2001 % dec.vocabSize), ones(B * 3, 3), dec.reorder(second.cache, [...order].reverse()));
  const logits = [first, second, third].map((s) => Float32Array.from(s.logits.data));
  await dec.dispose();
  return { logits, resident };
}

describe.skipIf(webgpuError !== null)('TextDecoder on webgpu', () => {
  it('keeps the KV cache in GPU memory and reorders beams on the GPU, with the CPU path’s logits', async () => {
    const cpu = await threeSteps('cpu');
    const gpu = await threeSteps('webgpu');
    expect(cpu.resident).toBe(false);
    expect(gpu.resident).toBe(true);
    const diffs = gpu.logits.map((l, i) => maxAbsDiff(l, cpu.logits[i]));
    process.stdout.write(`[decoder webgpu] logits max abs diff per step vs cpu: ${diffs.map((d) => d.toExponential(1)).join(', ')}\n`);
    for (const d of diffs) expect(d).toBeLessThan(1e-3);
  }, 180_000);
});

describe('fused-attention models on webgpu', () => {
  it('run their portable (primitive-op) graphs, converted alongside', async () => {
    const model = await goldenModel('videoqa_tiny', { fusedAttention: true });
    const entry = model.manifest.modules.universal!;
    expect(entry.portableGraphs?.main).toBe('universal.portable.onnx');
    // Same weights: both graph forms reference the same data files.
    expect(entry.data).toEqual(['text.weights']);
  });

  it('without portable graphs (converted before they existed) are refused naming the fix', async () => {
    const model = await goldenModel('videoqa_tiny', { fusedAttention: true });
    const old = mkdtempSync(path.join(tmpdir(), 'mplug2-old-fused-'));
    cpSync(model.location, old, { recursive: true });
    const manifest = JSON.parse(readFileSync(path.join(old, MANIFEST_FILE), 'utf8'));
    for (const m of Object.values(manifest.modules) as { portableGraphs?: unknown }[]) delete m.portableGraphs;
    const json = JSON.stringify(manifest);
    writeFileSync(path.join(old, MANIFEST_FILE), json);
    writeFileSync(path.join(old, MANIFEST_HASH_FILE), createHash('sha256').update(json).digest('hex'));
    const err = await (await ModelDirectory.open(old)).session('universal', 'main', { backend: 'webgpu' }).catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toMatch(/only fused-attention graphs.*convert it again.*--primitive-attention/);
  });
});
