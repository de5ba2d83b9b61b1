import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType } from 'onnx-buf';
import { GraphBuilder, type ComputePrecision } from './graph.js';
import { gelu, itcProjection, layerNorm, linear, maskBias } from './nn.js';
import { MemoryWeightSink, WeightPlan } from './weights.js';
import { TINY_WEIGHTS, tinyWeightSource } from './tiny-weights.testutil.js';

/** Reference in plain JS: LN(GELU(x·Wᵀ + b)). */
function reference(x: number[]): number[] {
  const w = TINY_WEIGHTS['fc.weight'].data;
  const b = TINY_WEIGHTS['fc.bias'].data;
  const y = [0, 1].map((o) => x[0] * w[o * 3] + x[1] * w[o * 3 + 1] + x[2] * w[o * 3 + 2] + b[o]);
  const erf = (z: number) => {
    // Abramowitz–Stegun 7.1.26 is not exact enough; integrate numerically instead.
    let s = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const t = ((i + 0.5) / n) * z;
      s += Math.exp(-t * t);
    }
    return (2 / Math.sqrt(Math.PI)) * s * (z / n);
  };
  const g = y.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
  const mean = (g[0] + g[1]) / 2;
  const variance = ((g[0] - mean) ** 2 + (g[1] - mean) ** 2) / 2;
  return g.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * TINY_WEIGHTS['ln.weight'].data[i] + TINY_WEIGHTS['ln.bias'].data[i]);
}

async function buildModel(compute: ComputePrecision = 'fp32'): Promise<{ model: Uint8Array; data: Uint8Array }> {
  const g = new GraphBuilder('test', compute);
  const plan = new WeightPlan(tinyWeightSource);
  const ctx = { g, plan, file: 'w.bin', weights: compute === 'fp16' ? ('fp16' as const) : undefined };
  const x = g.input('x', 'float32', ['batch', 3]);
  g.output(layerNorm(ctx, gelu(g, linear(ctx, x, 'fc', 3, 2)), 'ln', 2, 1e-5), 'y', 'float32', ['batch', 2]);
  const sink = new MemoryWeightSink();
  await plan.write(sink);
  return { model: g.toBytes(), data: sink.bytes('w.bin') };
}

describe('GraphBuilder', () => {
  const input = [0.3, -1.2, 0.8, 2, 0.5, -0.1];
  it('runs on onnxruntime-node cpu and onnxruntime-web wasm with the same result, matching a JS reference', async () => {
    const { model, data } = await buildModel();
    const results: Float32Array[] = [];
    for (const ort of [ortNode, ortWeb] as const) {
      const session = await (ort as typeof ortNode).InferenceSession.create(model, { externalData: [{ path: 'w.bin', data }] } as never);
      const out = await session.run({ x: new (ort as typeof ortNode).Tensor('float32', Float32Array.from(input), [2, 3]) });
      results.push(out.y.data as Float32Array);
      await session.release();
    }
    const expected = [...reference(input.slice(0, 3)), ...reference(input.slice(3))];
    for (const r of results) for (let i = 0; i < 4; i++) expect(Math.abs(r[i] - expected[i])).toBeLessThan(1e-5);
    expect(Math.max(...results[0].map((v, i) => Math.abs(v - results[1][i])))).toBeLessThan(1e-6);
  });

  it('fp16 compute: float16 weights and activations behind float32 ports, LayerNorm in float32, close to the reference', async () => {
    const { model, data } = await buildModel('fp16');
    const graph = fromBinary(ModelProtoSchema, model).graph!;
    const elem = (v: (typeof graph.input)[number]) => (v.type!.value.value as { elemType: number }).elemType;
    expect([...graph.input, ...graph.output].map(elem)).toEqual([TensorProto_DataType.FLOAT, TensorProto_DataType.FLOAT]);
    const initType = Object.fromEntries(graph.initializer.map((t) => [t.name, t.dataType]));
    expect(initType['fc.weight|T|f16']).toBe(TensorProto_DataType.FLOAT16);
    // The LayerNorm runs on float32 inputs: its input is a Cast to float, its weights are cast back up.
    const ln = graph.node.find((n) => n.opType === 'LayerNormalization')!;
    const producer = (name: string) => graph.node.find((n) => n.output.includes(name))!;
    for (const name of ln.input) expect(producer(name).opType).toBe('Cast');
    expect(data.byteLength).toBe((6 + 2 + 2 + 2) * 2);
    const session = await ortNode.InferenceSession.create(model, { externalData: [{ path: 'w.bin', data }] } as never);
    const out = (await session.run({ x: new ortNode.Tensor('float32', Float32Array.from(input), [2, 3]) })).y;
    await session.release();
    expect(out.type).toBe('float32');
    const expected = [...reference(input.slice(0, 3)), ...reference(input.slice(3))];
    // fp16 keeps 11 significant bits: ~1e-3 relative per rounding, a few roundings deep.
    for (let i = 0; i < 4; i++) expect(Math.abs((out.data as Float32Array)[i] - expected[i])).toBeLessThan(1e-2);
  });

  it('fp16 compute: a −1e9 mask fill becomes a finite −32768, so masked scores stay finite', async () => {
    const g = new GraphBuilder('mask', 'fp16');
    const mask = g.input('mask', 'int64', ['batch', 'keys']);
    g.output(maskBias(g, mask, -1e9), 'bias', 'float32', ['batch', 1, 1, 'keys']);
    const session = await ortNode.InferenceSession.create(g.toBytes());
    const out = await session.run({ mask: new ortNode.Tensor('int64', BigInt64Array.from([1n, 0n]), [1, 2]) });
    await session.release();
    expect([...(out.bias.data as Float32Array)].map((v) => v + 0)).toEqual([0, -32768]); // + 0: 0·fill is −0
  });

  it('reports every missing or mis-shaped weight at once', () => {
    const g = new GraphBuilder('bad');
    const plan = new WeightPlan(tinyWeightSource);
    const ctx = { g, plan, file: 'w.bin' };
    const x = g.input('x', 'float32', ['batch', 4]);
    linear(ctx, x, 'fc', 4, 2);
    layerNorm(ctx, x, 'missing_ln', 4, 1e-5);
    expect(() => plan.validate()).toThrow(/missing 2 tensor\(s\): missing_ln\.weight, missing_ln\.bias; wrong shape: fc\.weight expected \[2,4\] got \[2,3\]/);
  });

  it('writes a tensor shared by two graphs once', async () => {
    const plan = new WeightPlan(tinyWeightSource);
    for (const name of ['g1', 'g2']) {
      const g = new GraphBuilder(name);
      const x = g.input('x', 'float32', ['batch', 3]);
      g.output(linear({ g, plan, file: 'w.bin' }, x, 'fc', 3, 2), 'y', 'float32', ['batch', 2]);
    }
    const sink = new MemoryWeightSink();
    await plan.write(sink);
    expect(sink.bytes('w.bin').byteLength).toBe((6 + 2) * 4);
  });
});

describe('itcProjection', () => {
  it('projects token 0 of every sample and L2-normalises it, as a JS reference does', async () => {
    const g = new GraphBuilder('itc');
    const plan = new WeightPlan(tinyWeightSource);
    const x = g.input('x', 'float32', ['batch', 'tokens', 3]);
    g.output(itcProjection({ g, plan, file: 'w.bin' }, x, 'fc', 3, 2), 'y', 'float32', ['batch', 2]);
    const sink = new MemoryWeightSink();
    await plan.write(sink);
    // Two samples of two tokens; only token 0 of each may count.
    const input = [0.3, -1.2, 0.8, 9, 9, 9, 2, 0.5, -0.1, -9, 9, -9];
    const session = await ortNode.InferenceSession.create(g.toBytes(), { externalData: [{ path: 'w.bin', data: sink.bytes('w.bin') }] } as never);
    const out = (await session.run({ x: new ortNode.Tensor('float32', Float32Array.from(input), [2, 2, 3]) })).y.data as Float32Array;
    await session.release();
    const w = TINY_WEIGHTS['fc.weight'].data;
    const b = TINY_WEIGHTS['fc.bias'].data;
    const expected = [0, 6].flatMap((at) => {
      const y = [0, 1].map((o) => input[at] * w[o * 3] + input[at + 1] * w[o * 3 + 1] + input[at + 2] * w[o * 3 + 2] + b[o]);
      const norm = Math.hypot(...y);
      return y.map((v) => v / norm);
    });
    for (let i = 0; i < 4; i++) expect(Math.abs(out[i] - expected[i])).toBeLessThan(1e-6);
  });
});
