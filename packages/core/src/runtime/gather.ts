import { GraphBuilder } from '../onnx/graph.js';
import { tensor, type DType, type Tensor } from '../tensor.js';
import { ModuleSession } from './session.js';

/** A tensor a `DeviceRowGather` takes: its name, dtype and rank. */
export interface GatherInput {
  readonly name: string;
  readonly dtype: DType;
  readonly rank: number;
}

/**
 * Row selection (`Gather` on axis 0) of device tensors on the `webgpu` backend, several tensors per
 * run: row i of each result is row `rows[i]` of its input. Results stay in GPU memory (`DeviceTensor`s
 * owned by the caller) and keep their input's dim names; the inputs are left as they are. Used for
 * beam reordering and memory-sample selection in the decoder and row repetition in the tasks.
 */
export class DeviceRowGather {
  private constructor(
    private readonly session: ModuleSession,
    private readonly names: readonly string[],
  ) {}

  static async create(label: string, inputs: readonly GatherInput[]): Promise<DeviceRowGather> {
    const g = new GraphBuilder(`mplug2_${label.replaceAll('.', '_')}`);
    const rows = g.input('rows', 'int64', ['rows_out']);
    for (const { name, dtype, rank } of inputs) {
      const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
      g.output(g.op('Gather', [g.input(name, dtype, dims), rows], { axis: 0 }), `gathered_${name}`, dtype, ['rows_out', ...dims.slice(1)]);
    }
    const session = await ModuleSession.create(g.toBytes(), { backend: 'webgpu', deviceOutputs: 'all', label });
    return new DeviceRowGather(
      session,
      inputs.map((i) => i.name),
    );
  }

  async select(tensors: Readonly<Record<string, Tensor>>, rows: readonly number[]): Promise<Record<string, Tensor>> {
    const feeds: Record<string, Tensor> = { rows: tensor('int64', ['rows_out'], [rows.length], BigInt64Array.from(rows, BigInt)) };
    for (const n of this.names) feeds[n] = tensors[n];
    const out = await this.session.run(feeds, Object.fromEntries(this.names.map((n) => [`gathered_${n}`, tensors[n].dims])));
    return Object.fromEntries(this.names.map((n) => [n, out[`gathered_${n}`]]));
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}
