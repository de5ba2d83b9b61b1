import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModuleSession, isDeviceTensor, probeBackend, tensor, type Tensor } from '@mplug2/core';
import { decoderTensorNames as N } from '@mplug2/decoder';
import { FixtureFile } from '@mplug2/converter';
import { GOLDENS, goldenModel } from '../helpers/golden';
import { useSwiftShaderVulkan } from './webgpu-env';

/**
 * What onnxruntime's WebGPU backend allows for decoding (measured on SwiftShader): the decoder's
 * cross-attention K/V (computed once) and its self-attention KV cache kept in GPU memory across
 * steps (`deviceOutputs`), only the logits downloaded each step — against the same steps with every
 * output downloaded and re-uploaded. Same logits, same greedy ids; timings printed.
 */
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');
const STEPS = 8;

async function greedy(deviceResident: boolean) {
  const model = await goldenModel('videoqa_tiny', { fusedAttention: false });
  const fx = await FixtureFile.open(path.join(GOLDENS, 'videoqa_tiny', 'fixtures.safetensors'));
  const memory = (await fx.get('fusion.merged_states')) as Tensor<'float32'>;
  const memoryMask = (await fx.get('fusion.merged_mask')) as Tensor<'int64'>;
  await fx.close();
  const memS = await model.session('decoder', 'memory', { backend: 'webgpu', ...(deviceResident ? { deviceOutputs: 'all' as const } : {}) });
  const layers = memS.outputNames.length / 2;
  const presents = Array.from({ length: 2 * layers }, (_, j) => N.presentName(j % 2 ? 'value' : 'key', j >> 1));
  const stepS = await model.session('decoder', 'step', { backend: 'webgpu', ...(deviceResident ? { deviceOutputs: presents } : {}) });
  const B = memory.shape[0];
  const t0 = performance.now();
  const cross = await memS.run({ memory });
  const some = Object.values(cross)[0];
  const [, heads, , headDim] = some.shape;
  let past: Record<string, Tensor> = {};
  const stepLayers = layers;
  for (let i = 0; i < stepLayers; i++)
    for (const kind of ['key', 'value'] as const)
      past[N.pastName(kind, i)] = tensor('float32', ['rows', 'heads', 'past', 'head_dim'], [B, heads, 0, headDim], new Float32Array(0));
  let ids = new BigInt64Array(B).fill(101n);
  const out: number[][] = Array.from({ length: B }, () => []);
  const logitsSeen: Float32Array[] = [];
  for (let t = 0; t < STEPS; t++) {
    const r = await stepS.run({
      input_ids: tensor('int64', ['rows', 'new'], [B, 1], ids),
      attention_mask: tensor('int64', ['rows', 'total'], [B, t + 1], new BigInt64Array(B * (t + 1)).fill(1n)),
      memory_mask: memoryMask,
      ...cross,
      ...past,
    });
    const logits = r.logits.data as Float32Array;
    logitsSeen.push(logits.slice());
    const V = logits.length / B;
    ids = new BigInt64Array(B);
    for (let b = 0; b < B; b++) {
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[b * V + v] > logits[b * V + best]) best = v;
      ids[b] = BigInt(best);
      out[b].push(best);
    }
    for (const old of Object.values(past)) if (isDeviceTensor(old)) old.dispose();
    past = {};
    for (let i = 0; i < stepLayers; i++) for (const kind of ['key', 'value'] as const) past[N.pastName(kind, i)] = r[N.presentName(kind, i)];
  }
  const ms = performance.now() - t0;
  const resident = Object.values(past).every(isDeviceTensor) && Object.values(cross).every(isDeviceTensor);
  for (const t of [...Object.values(past), ...Object.values(cross)]) if (isDeviceTensor(t)) t.dispose();
  await memS.dispose();
  await stepS.dispose();
  return { ids: out, logits: logitsSeen, ms, resident };
}

describe.skipIf(webgpuError !== null)('decoder state in GPU memory (webgpu)', () => {
  it('KV cache and cross K/V stay on the GPU across steps; logits and ids match the download path', async () => {
    const host = await greedy(false);
    const device = await greedy(true);
    expect(host.resident).toBe(false);
    expect(device.resident).toBe(true);
    expect(device.ids).toEqual(host.ids);
    let maxDiff = 0;
    host.logits.forEach((l, s) => l.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - device.logits[s][i])))));
    process.stdout.write(
      `[decoder webgpu] ${STEPS} greedy steps: downloaded ${host.ms.toFixed(0)} ms, GPU-resident ${device.ms.toFixed(0)} ms, max logits diff ${maxDiff}\n`,
    );
    expect(maxDiff).toBeLessThan(1e-4);
  }, 180_000);
});
