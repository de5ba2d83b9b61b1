import { Mplug2Error, PortMismatchError } from './errors.js';
import { checkTensor, type PortSpec } from './ports.js';
import type { ModuleSession } from './runtime/session.js';
import type { Tensor } from './tensor.js';

/** Version of the module interface below; bump on breaking changes. */
export const MODULE_SPEC_VERSION = 1;

/** What the composer wires together: typed input and output ports and a run function. */
export interface PipelineModule {
  readonly specVersion: typeof MODULE_SPEC_VERSION;
  readonly name: string;
  readonly inputs: readonly PortSpec[];
  readonly outputs: readonly PortSpec[];
  run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  dispose(): Promise<void>;
}

/** Checks `inputs` against `ports` (dtype, rank, fixed sizes, one size per symbolic dim). */
export function checkInputs(module: string, ports: readonly PortSpec[], inputs: Record<string, Tensor>): void {
  const bindings = new Map<string, number>();
  for (const p of ports) {
    const t = inputs[p.name];
    if (!t) throw new PortMismatchError(`${module}.${p.name}`, `input is missing (given: ${Object.keys(inputs).join(', ') || 'none'})`);
    checkTensor(p, t, module, bindings);
  }
  for (const k of Object.keys(inputs))
    if (!ports.some((p) => p.name === k))
      throw new PortMismatchError(`${module}.${k}`, `is not an input of ${module} (inputs: ${ports.map((p) => p.name).join(', ')})`);
}

/** A module that is exactly one ONNX graph. */
export class GraphModule implements PipelineModule {
  readonly specVersion = MODULE_SPEC_VERSION;

  constructor(
    readonly name: string,
    readonly inputs: readonly PortSpec[],
    readonly outputs: readonly PortSpec[],
    private readonly session: ModuleSession,
  ) {}

  async run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    checkInputs(this.name, this.inputs, inputs);
    const dims = Object.fromEntries(this.outputs.map((p) => [p.name, p.dims.map((d) => d.name)]));
    const out = await this.session.run(inputs, dims);
    for (const p of this.outputs) if (!out[p.name]) throw new Mplug2Error('SESSION_RUN', `${this.name}: graph did not return ${p.name}`);
    return out;
  }

  get backend() {
    return this.session.backend;
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  dispose(): Promise<void> {
    return this.session.dispose();
  }
}
