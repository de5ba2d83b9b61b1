import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  BackendUnavailableError,
  MANIFEST_FILE,
  MANIFEST_HASH_FILE,
  ModelDirectory,
  ModuleSession,
  isDeviceTensor,
  maxAbsDiff,
  probeBackend,
  tensor,
  type DeviceTensor,
  type Tensor,
} from '@mplug2/core';
import { TextDecoderModule, beamSearch, disposeDecoderMemory, rankAnswers, selectMemorySamples } from '@mplug2/decoder';
import { FixtureFile } from '@mplug2/converter';
import { Fixtures, GOLDENS, goldenModel } from '../helpers/golden';
import { useSwiftShaderVulkan } from './webgpu-env';

// TextDecoderModule on webgpu keeps cross K/V and the KV cache in GPU memory across steps, with beam
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
  const dec = await TextDecoderModule.load(model, { backend });
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

describe.skipIf(webgpuError !== null)('TextDecoderModule on webgpu', () => {
  it('keeps the KV cache in GPU memory and reorders beams on the GPU, with the CPU path’s logits', async () => {
    const cpu = await threeSteps('cpu');
    const gpu = await threeSteps('webgpu');
    expect(cpu.resident).toBe(false);
    expect(gpu.resident).toBe(true);
    const diffs = gpu.logits.map((l, i) => maxAbsDiff(l, cpu.logits[i]));
    process.stdout.write(`[decoder webgpu] logits max abs diff per step vs cpu: ${diffs.map((d) => d.toExponential(1)).join(', ')}\n`);
    for (const d of diffs) expect(d).toBeLessThan(1e-3);
  }, 180_000);

  it('keeps the cross K/V in GPU memory and selects memory samples on the GPU: ranking and beam search equal cpu and the golden', async () => {
    const model = await goldenModel('videoqa_tiny', { fusedAttention: false });
    const fx = await Fixtures.open('videoqa_tiny');
    const memory = await fx.float('fusion.merged_states');
    const mask = await fx.int64('fusion.merged_mask');
    const answerIds = await fx.ids('input.answer_list_ids');
    const answerMask = await fx.ids('input.answer_list_mask');
    const goldenIds = await fx.ids('rank.topk_ids');
    const goldenLoss = (await fx.float('rank.candidate_answer_loss')).data;
    await fx.close();
    const k = goldenIds[0].length;

    const run = async (backend: 'cpu' | 'webgpu') => {
      const dec = await TextDecoderModule.load(model, { backend });
      const mem = await dec.encodeMemory(memory, mask);
      const onDevice = Object.values(mem.cross).every(isDeviceTensor);
      const selectError = await Promise.resolve()
        .then(() => selectMemorySamples(mem, [1]))
        .then(
          () => null,
          (e: { code?: string }) => e.code,
        );
      const runs: string[] = [];
      const made: DeviceTensor[] = [];
      const runSession = ModuleSession.prototype.run;
      vi.spyOn(ModuleSession.prototype, 'run').mockImplementation(async function (this: ModuleSession, feeds, ...rest) {
        runs.push(this.label);
        const out = await runSession.call(this, feeds, ...rest);
        made.push(...Object.values(out).filter(isDeviceTensor));
        return out;
      });
      // One row per call: every sample is its own memory block, and the shared [CLS] prefix starts every call.
      const ranked = await rankAnswers(dec, mem, answerIds, answerMask, k, { maxRowsPerCall: 1 });
      const second = await dec.selectMemory(mem, [1]);
      const alone = await beamSearch(dec, second, { beamSize: 3, minLength: 1, maxLength: 6 });
      disposeDecoderMemory(second);
      vi.mocked(ModuleSession.prototype.run).mockRestore();
      const memoryKept = Object.values(mem.cross).every((t) => !isDeviceTensor(t) || !t.disposed);
      disposeDecoderMemory(mem);
      const memoryReleased = Object.values(mem.cross).every((t) => !isDeviceTensor(t) || t.disposed);
      await dec.dispose();
      return { ranked, alone, onDevice, selectError, runs, memoryKept, memoryReleased, madeLeft: made.filter((t) => !t.disposed).map((t) => t.label) };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');

    expect(cpu.onDevice).toBe(false);
    expect(gpu.onDevice).toBe(true);
    expect(cpu.selectError).toBe(null);
    expect(gpu.selectError).toBe('TENSOR_ON_DEVICE');
    expect(gpu.runs).toContain('decoder.select_memory');
    expect(gpu.runs).toContain('decoder.reorder');
    // The memory stays the caller's until disposeDecoderMemory; what ranking and search made is released by them.
    expect(gpu.memoryKept).toBe(true);
    expect(gpu.memoryReleased).toBe(true);
    expect(gpu.madeLeft).toEqual([]);

    for (const r of [cpu, gpu]) expect(r.ranked.results.map((x) => x.ids)).toEqual(goldenIds);
    expect(gpu.alone[0].hypotheses[0].ids).toEqual(cpu.alone[0].hypotheses[0].ids);
    const lossDiff = maxAbsDiff(gpu.ranked.candidateLoss, cpu.ranked.candidateLoss);
    const goldenDiff = maxAbsDiff(gpu.ranked.candidateLoss, goldenLoss);
    const scoreDiff = Math.abs(gpu.alone[0].hypotheses[0].score - cpu.alone[0].hypotheses[0].score);
    process.stdout.write(
      `[decoder webgpu] rank (one row per call, GPU memory blocks): candidate loss max abs diff vs cpu ${lossDiff.toExponential(1)}, vs golden ${goldenDiff.toExponential(1)}; ` +
        `beam search on a GPU memory selection: score diff vs cpu ${scoreDiff.toExponential(1)}\n`,
    );
    expect(lossDiff).toBeLessThan(1e-4);
    expect(goldenDiff).toBeLessThan(1e-4);
    expect(scoreDiff).toBeLessThan(1e-4);
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
