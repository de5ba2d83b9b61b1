import { describe, expect, it } from 'vitest';
import { Pipeline } from './composer.js';
import { PortMismatchError } from './errors.js';
import { MODULE_SPEC_VERSION, type PipelineModule } from './module.js';
import { port, type PortSpec } from './ports.js';
import { isDeviceTensor, wrapDeviceTensor } from './runtime/device.js';
import { tensor, type Tensor } from './tensor.js';

/** A module whose run adds `delta` to its float input and counts calls. */
function fake(name: string, inputs: PortSpec[], outputs: PortSpec[], delta = 1): PipelineModule & { calls: number } {
  const m: PipelineModule & { calls: number } = {
    specVersion: MODULE_SPEC_VERSION,
    name,
    inputs,
    outputs,
    calls: 0,
    async run(feeds: Record<string, Tensor>) {
      m.calls++;
      const x = feeds[inputs[0].name] as Tensor<'float32'>;
      const out: Record<string, Tensor> = {};
      for (const o of outputs)
        out[o.name] = tensor(
          'float32',
          o.dims.map((d) => d.name),
          x.shape,
          x.data.map((v) => v + delta),
        );
      return out;
    },
    async dispose() {},
  };
  return m;
}

const video = port('video', 'float32', ['batch', 'tokens', { name: 'width', size: 4 }]);

describe('Pipeline.compose', () => {
  it('rejects a dim-size mismatch at compose time, naming both ports and the dim', () => {
    const a = fake('vision', [video], [port('states', 'float32', ['batch', 'tokens', { name: 'width', size: 4 }])]);
    const b = fake('universal', [port('states', 'float32', ['batch', 'tokens', { name: 'width', size: 8 }])], [video]);
    const compose = () =>
      Pipeline.compose({
        modules: { a, b },
        inputs: { video },
        connections: [
          ['input.video', 'a.video'],
          ['a.states', 'b.states'],
        ],
      });
    expect(compose).toThrow(PortMismatchError);
    expect(compose).toThrow(/a\.states -> b\.states: dim 'width' is 4 but 8 is expected/);
    expect(a.calls + b.calls).toBe(0);
  });

  it('rejects dtype, rank and dim-name mismatches', () => {
    const src = fake('src', [video], [port('ids', 'int64', ['batch', 'tokens'])]);
    const floatIn = fake('f', [port('ids', 'float32', ['batch', 'tokens'])], [video]);
    expect(() =>
      Pipeline.compose({
        modules: { src, floatIn },
        inputs: { video },
        connections: [
          ['input.video', 'src.video'],
          ['src.ids', 'floatIn.ids'],
        ],
      }),
    ).toThrow(/src\.ids -> floatIn\.ids: dtype int64 cannot feed float32/);
    const rank3 = fake('r', [port('ids', 'int64', ['batch', 'tokens', 'x'])], [video]);
    expect(() =>
      Pipeline.compose({
        modules: { src, rank3 },
        inputs: { video },
        connections: [
          ['input.video', 'src.video'],
          ['src.ids', 'rank3.ids'],
        ],
      }),
    ).toThrow(/rank 2 cannot feed rank 3/);
    const named = fake('n', [port('ids', 'int64', ['batch', 'words'])], [video]);
    expect(() =>
      Pipeline.compose({
        modules: { src, named },
        inputs: { video },
        connections: [
          ['input.video', 'src.video'],
          ['src.ids', 'named.ids'],
        ],
      }),
    ).toThrow(/axis 1 is 'tokens' but 'words' is expected/);
  });

  it('rejects unconnected inputs, unknown ports and cycles', () => {
    const a = fake('a', [video], [video]);
    expect(() => Pipeline.compose({ modules: { a }, connections: [] })).toThrow(/a\.video: is not connected/);
    expect(() => Pipeline.compose({ modules: { a }, inputs: { video }, connections: [['input.video', 'a.nope']] })).toThrow(/a has no input 'nope'/);
    const b = fake('b', [video], [video]);
    expect(() =>
      Pipeline.compose({
        modules: { a, b },
        connections: [
          ['a.video', 'b.video'],
          ['b.video', 'a.video'],
        ],
      }),
    ).toThrow(/cycle/);
  });

  it('runs in dependency order and reuses cached outputs', async () => {
    const first = fake('first', [video], [port('states', 'float32', ['batch', 'tokens', { name: 'width', size: 4 }])], 1);
    const second = fake('second', [port('states', 'float32', ['batch', 'tokens', { name: 'width', size: 4 }])], [video], 10);
    // Declared in reverse order: the composer must still run `first` before `second`.
    const p = Pipeline.compose({
      modules: { second, first },
      inputs: { video },
      connections: [
        ['first.states', 'second.states'],
        ['input.video', 'first.video'],
      ],
    });
    expect(p.order).toEqual(['first', 'second']);
    const x = tensor('float32', ['batch', 'tokens', 'width'], [1, 1, 4], new Float32Array([0, 1, 2, 3]));
    const out = await p.run({ video: x });
    expect(Array.from(out['second.video'].data as Float32Array)).toEqual([11, 12, 13, 14]);
    const again = await p.run({ video: x }, { 'first.states': out['first.states'] });
    expect(Array.from(again['second.video'].data as Float32Array)).toEqual([11, 12, 13, 14]);
    expect(first.calls).toBe(1);
    expect(second.calls).toBe(2);
  });
});

describe('Pipeline.run with kept outputs', () => {
  /** A module whose outputs are device tensors (a stand-in onnxruntime GPU tensor that records its release). */
  function onDevice(name: string, inputs: PortSpec[], outputs: PortSpec[], released: string[]): PipelineModule {
    return {
      specVersion: MODULE_SPEC_VERSION,
      name,
      inputs,
      outputs,
      async run(feeds: Record<string, Tensor>) {
        for (const [k, t] of Object.entries(feeds)) if (isDeviceTensor(t) && t.disposed) throw new Error(`${name}.${k} was released before it was read`);
        return Object.fromEntries(
          outputs.map((o) => [
            o.name,
            wrapDeviceTensor(
              'float32',
              o.dims.map((d) => d.name),
              { dims: [1, 1, 4], type: 'float32', dispose: () => released.push(`${name}.${o.name}`) },
              `${name}.${o.name}`,
            ),
          ]),
        );
      },
      async dispose() {},
    };
  }
  const states = port('states', 'float32', ['batch', 'tokens', { name: 'width', size: 4 }]);
  const extra = port('extra', 'float32', ['batch', 'tokens', { name: 'width', size: 4 }]);

  it('returns only the kept outputs and releases device intermediates once their last reader has run', async () => {
    const released: string[] = [];
    const a = onDevice('a', [video], [states, extra], released);
    const b = onDevice('b', [states], [video], released);
    const c = onDevice('c', [states, video], [video], released);
    const p = Pipeline.compose({
      modules: { a, b, c },
      inputs: { video },
      connections: [
        ['input.video', 'a.video'],
        ['a.states', 'b.states'],
        ['a.states', 'c.states'],
        ['b.video', 'c.video'],
      ],
    });
    const x = tensor('float32', ['batch', 'tokens', 'width'], [1, 1, 4], new Float32Array(4));
    const out = await p.run({ video: x }, {}, { outputs: ['c.video'] });
    expect(Object.keys(out)).toEqual(['c.video']);
    expect(isDeviceTensor(out['c.video']) && out['c.video'].disposed).toBe(false);
    // a.extra is read by nobody (released after a); a.states is read last by c; b.video by c.
    expect(released).toEqual(['a.extra', 'a.states', 'b.video']);
    await expect(p.run({ video: x }, {}, { outputs: ['c.nope' as const] })).rejects.toThrow(PortMismatchError);
  });

  it('without kept outputs returns everything and releases nothing', async () => {
    const released: string[] = [];
    const a = onDevice('a', [video], [states, extra], released);
    const b = onDevice('b', [states], [video], released);
    const p = Pipeline.compose({
      modules: { a, b },
      inputs: { video },
      connections: [
        ['input.video', 'a.video'],
        ['a.states', 'b.states'],
      ],
    });
    const out = await p.run({ video: tensor('float32', ['batch', 'tokens', 'width'], [1, 1, 4], new Float32Array(4)) });
    expect(Object.keys(out).sort()).toEqual(['a.extra', 'a.states', 'b.video', 'input.video']);
    expect(released).toEqual([]);
  });
});
