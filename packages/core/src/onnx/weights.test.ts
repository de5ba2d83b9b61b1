import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { TensorTooLargeError } from '../errors.js';
import { GraphBuilder } from './graph.js';
import { layerNorm, linear } from './nn.js';
import { DataFileLayout, MemoryWeightSink, WeightPlan, chunkFileName } from './weights.js';
import { tinyWeightSource } from './tiny-weights.testutil.js';

function buildGraph(plan: WeightPlan): GraphBuilder {
  const g = new GraphBuilder('chunked');
  const ctx = { g, plan, file: 'w.bin' };
  const x = g.input('x', 'float32', ['batch', 3]);
  g.output(layerNorm(ctx, linear(ctx, x, 'fc', 3, 2), 'ln', 2, 1e-5), 'y', 'float32', ['batch', 2]);
  return g;
}

async function run(model: Uint8Array, sink: MemoryWeightSink): Promise<Float32Array> {
  const externalData = [...sink.files.keys()].map((path) => ({ path, data: sink.bytes(path) }));
  const session = await ort.InferenceSession.create(model, { externalData } as never);
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([0.3, -1.2, 0.8, 2, 0.5, -0.1]), [2, 3]) });
  await session.release();
  return out.y.data as Float32Array;
}

describe('chunkFileName', () => {
  it('keeps the family name for chunk 0 and numbers later chunks before the extension', () => {
    expect([0, 1, 12].map((i) => chunkFileName('vision.weights', i))).toEqual(['vision.weights', 'vision.1.weights', 'vision.12.weights']);
    expect(chunkFileName('weights', 2)).toBe('weights.2');
  });
});

describe('DataFileLayout', () => {
  it('aligns offsets and rolls over to the next chunk when a tensor would pass the limit', () => {
    const layout = new DataFileLayout(100, 64);
    expect(layout.place('f.bin', 40, 'a')).toEqual({ file: 'f.bin', offset: 0, size: 0 });
    expect(layout.place('f.bin', 30, 'b')).toEqual({ file: 'f.bin', offset: 64, size: 40 }); // ends at 94 ≤ 100
    expect(layout.place('f.bin', 10, 'c')).toEqual({ file: 'f.1.bin', offset: 0, size: 0 }); // 128 + 10 would pass 100
    expect(layout.place('g.bin', 100, 'd')).toEqual({ file: 'g.bin', offset: 0, size: 0 }); // families roll over independently
    expect(layout.place('f.bin', 100, 'e')).toEqual({ file: 'f.2.bin', offset: 0, size: 0 }); // exactly the limit fits a fresh chunk
  });

  it('refuses a single tensor larger than the limit, naming it and its size', () => {
    const layout = new DataFileLayout(100, 64);
    expect(() => layout.place('f.bin', 101, 'big.weight')).toThrow(TensorTooLargeError);
    expect(() => layout.place('f.bin', 101, 'big.weight')).toThrow(/tensor big\.weight is 101 bytes, more than the 100-byte data-file limit/);
  });
});

describe('WeightPlan with a data-file size limit', () => {
  it('splits a family into chunks no larger than the limit and the graph computes the same as unsplit', async () => {
    const whole = new WeightPlan(tinyWeightSource);
    const wholeGraph = buildGraph(whole);
    const wholeSink = new MemoryWeightSink();
    await whole.write(wholeSink);

    const split = new WeightPlan(tinyWeightSource);
    const splitGraph = buildGraph(split);
    const splitSink = new MemoryWeightSink(24);
    await split.write(splitSink);

    // fc.weight (24 B) fills w.bin; fc.bias, ln.weight and ln.bias (8 B each) fill w.1.bin.
    expect(split.dataFilesOf(splitGraph)).toEqual(['w.bin', 'w.1.bin']);
    expect([...splitSink.files.keys()].map((f) => splitSink.bytes(f).byteLength)).toEqual([24, 24]);
    expect(split.bytesPerFile()).toEqual(
      new Map([
        ['w.bin', 24],
        ['w.1.bin', 24],
      ]),
    );
    expect(new Float32Array(splitSink.bytes('w.bin').buffer)).toEqual(Float32Array.from([0.5, 1.5, -1, 0.25, 2, -0.75])); // (in, out) for MatMul
    expect(whole.dataFilesOf(wholeGraph)).toEqual(['w.bin']);

    const expected = await run(wholeGraph.toBytes(), wholeSink);
    const actual = await run(splitGraph.toBytes(), splitSink);
    expect(Array.from(actual)).toEqual(Array.from(expected));
  });

  it('checks every tensor against the limit before writing anything', async () => {
    const plan = new WeightPlan(tinyWeightSource);
    buildGraph(plan);
    const sink = new MemoryWeightSink(16);
    const error = await plan.write(sink).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TensorTooLargeError);
    expect(error).toMatchObject({ code: 'TENSOR_TOO_LARGE', tensor: 'fc.weight', bytes: 24, limit: 16 });
    expect(sink.files.size).toBe(0);
  });
});
