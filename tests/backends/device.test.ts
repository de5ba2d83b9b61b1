import { describe, expect, it } from 'vitest';
import { ModuleSession, isDeviceTensor, probeBackend } from '@mplug2/core';
import { GraphBuilder } from '@mplug2/core/onnx';
import { useSwiftShaderVulkan } from './webgpu-env';

/**
 * Tensors kept in GPU memory between sessions (`deviceOutputs` → onnxruntime `preferredOutputLocation:
 * 'gpu-buffer'`), on onnxruntime-node's WebGPU (SwiftShader's Vulkan ICD when there is no GPU).
 */
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');

function addOne(): Uint8Array {
  const g = new GraphBuilder('add_one');
  const x = g.input('x', 'float32', ['n']);
  const one = g.const('one', 'float32', [1], [1]);
  g.output(g.op('Add', [x, one]), 'y', 'float32', ['n']);
  return g.toBytes();
}

describe.skipIf(webgpuError !== null)('device tensors (webgpu)', () => {
  it('an output left on the GPU feeds the next run without a round trip, and downloads exactly', async () => {
    const s = await ModuleSession.create(addOne(), { backend: 'webgpu', deviceOutputs: 'all', label: 'add' });
    const x = { dtype: 'float32' as const, dims: ['n'], shape: [4], data: new Float32Array([0, 1, 2, 3]) };
    let t = (await s.run({ x })).y;
    expect(isDeviceTensor(t)).toBe(true);
    expect(() => t.data).toThrow(/GPU memory/);
    for (let i = 0; i < 5; i++) {
      const next = (await s.run({ x: t })).y;
      if (isDeviceTensor(t)) t.dispose();
      t = next;
    }
    const host = await ModuleSession.download(t);
    expect(Array.from(host.data as Float32Array)).toEqual([6, 7, 8, 9]);
    const up = await ModuleSession.upload(x);
    expect(isDeviceTensor(up)).toBe(true);
    expect(Array.from((await ModuleSession.download((await s.run({ x: up })).y)).data as Float32Array)).toEqual([1, 2, 3, 4]);
    await s.dispose();
  });

  it('a device tensor fed to a cpu session is a clear error', async () => {
    const gpu = await ModuleSession.create(addOne(), { backend: 'webgpu', deviceOutputs: ['y'] });
    const cpu = await ModuleSession.create(addOne(), { backend: 'cpu' });
    const y = (await gpu.run({ x: { dtype: 'float32', dims: ['n'], shape: [1], data: new Float32Array([1]) } })).y;
    await expect(cpu.run({ x: y })).rejects.toThrow(/is in GPU memory but this session runs on cpu/);
    await gpu.dispose();
    await cpu.dispose();
  });
});
