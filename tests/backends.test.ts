import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, ModuleSession } from '@mplug2/core';
import { runParity } from '@mplug2/tasks';
import { GOLDENS, goldenModel, type GoldenName } from './helpers/golden';

/**
 * The same parity suite on every backend this machine runs without a GPU: onnxruntime-node cpu and
 * onnxruntime-web wasm (in Node), with fused and primitive attention graphs.
 */
const BACKENDS = ['cpu', 'wasm'] as const;
const CASES = BACKENDS.flatMap((backend) =>
  (['videoqa_tiny', 'videocaption_tiny'] as GoldenName[]).flatMap((name) => [true, false].map((fusedAttention) => ({ backend, name, fusedAttention }))),
);

describe.each(CASES)('backend $backend: $name (fused attention: $fusedAttention)', ({ backend, name, fusedAttention }) => {
  it('matches the reference at every boundary and in every generated id', async () => {
    const report = await runParity(await goldenModel(name, { fusedAttention }), path.join(GOLDENS, name, 'fixtures.safetensors'), { backend });
    const failed = report.tensors.filter((t) => !t.ok);
    expect(failed, JSON.stringify(failed)).toEqual([]);
    expect(report.tensors.length).toBeGreaterThanOrEqual(name === 'videoqa_tiny' ? 18 : 10);
  });
});

describe('backend selection', () => {
  it('an unavailable backend is a typed error saying what was tried and what is available', async () => {
    const model = await goldenModel('videoqa_tiny');
    const err = await model.session('fusion', 'main', { backend: 'cuda' }).catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toMatch(/backend 'cuda' is not available \(tried: cuda: .+; available here: cpu, wasm/);
  });

  it('an unknown backend name is an invalid option', async () => {
    await expect(ModuleSession.create(new Uint8Array(), { backend: 'tpu' as never })).rejects.toThrow(/option 'backend': 'tpu' is not one of auto, cpu, wasm, webgpu, cuda/);
  });
});
