import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, ModuleSession, availableBackends, resolveBackend } from '@mplug2/core';
import { goldenModel } from '../helpers/golden';

describe('backend selection (Node)', () => {
  it("'auto' is onnxruntime-node cpu", async () => {
    expect(await resolveBackend('auto')).toBe('cpu');
    expect(await resolveBackend(undefined)).toBe('cpu');
  });

  it('cpu and wasm are always available in Node', async () => {
    const list = await availableBackends();
    expect(list).toEqual(expect.arrayContaining(['cpu', 'wasm']));
  });

  it('an unavailable backend is a typed error saying what was tried and what is available', async () => {
    const model = await goldenModel('videoqa_tiny');
    const err = await model.session('fusion', 'main', { backend: 'cuda' }).catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toMatch(/backend 'cuda' is not available \(tried: cuda: .+; available here: cpu, wasm/);
  });

  it('an unknown backend name is an invalid option', async () => {
    await expect(ModuleSession.create(new Uint8Array(), { backend: 'tpu' as never })).rejects.toThrow(
      /option 'backend': 'tpu' is not one of auto, cpu, wasm, webgpu, cuda/,
    );
  });

  it('the NaN guard names the module output holding non-finite values', async () => {
    const { GraphBuilder } = await import('@mplug2/core/onnx');
    const g = new GraphBuilder('nan');
    const x = g.input('x', 'float32', ['n']);
    g.output(g.op('Log', [x]), 'y', 'float32', ['n']);
    const s = await ModuleSession.create(g.toBytes(), { backend: 'cpu', label: 'probe' });
    const ok = await s.run({ x: { dtype: 'float32', dims: ['n'], shape: [2], data: new Float32Array([1, 2]) } });
    expect(Array.from(ok.y.data as Float32Array)).toEqual([0, Math.fround(Math.log(2))]);
    await expect(s.run({ x: { dtype: 'float32', dims: ['n'], shape: [3], data: new Float32Array([1, -1, 0]) } })).rejects.toThrow(
      /probe\.y: 2 NaN\/Inf value\(s\) \(first at flat index 1\)/,
    );
    await s.dispose();
    const off = await ModuleSession.create(g.toBytes(), { backend: 'cpu', checkFinite: false });
    const r = await off.run({ x: { dtype: 'float32', dims: ['n'], shape: [1], data: new Float32Array([-1]) } });
    expect(Number.isNaN((r.y.data as Float32Array)[0])).toBe(true);
    await off.dispose();
  });
});
