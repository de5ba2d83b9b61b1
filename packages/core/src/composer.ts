import { Mplug2Error, PortMismatchError } from './errors.js';
import type { PipelineModule } from './module.js';
import { checkConnection, type PortSpec } from './ports.js';
import { isDeviceTensor } from './runtime/device.js';
import type { Tensor } from './tensor.js';

/** `module.port` */
export type PortRef = `${string}.${string}`;

export interface PipelineSpec {
  /** Modules by step name. */
  readonly modules: Record<string, PipelineModule>;
  /** `from` (an output, or `input.<name>` for a pipeline input) → `to` (a module input). */
  readonly connections: readonly (readonly [from: PortRef, to: PortRef])[];
  /** Pipeline inputs by name, each with the port spec callers must satisfy. */
  readonly inputs?: Record<string, PortSpec>;
}

export interface PipelineRunOptions {
  /**
   * The step outputs (`module.port`) the caller keeps. When given, `run` returns only these and
   * releases every other device tensor (`DeviceTensor`, GPU memory) a step of this run produced as
   * soon as the last step reading it has run; without it every output is returned and GPU
   * intermediates live until they are garbage-collected. Inputs and `cached` tensors are never released.
   */
  readonly outputs?: readonly PortRef[];
}

interface Step {
  readonly name: string;
  readonly module: PipelineModule;
  readonly feeds: readonly { port: string; from: PortRef }[];
}

function split(ref: PortRef): [string, string] {
  const i = ref.indexOf('.');
  return [ref.slice(0, i), ref.slice(i + 1)];
}

/**
 * A pipeline of modules wired output → input. Every connection is checked when the pipeline is
 * composed (dtype, rank, dim names, fixed sizes), before anything runs; every module input must be
 * fed exactly once; steps run in dependency order. `run` accepts cached outputs of earlier runs so
 * work can be reused (e.g. the video features for several questions).
 */
export class Pipeline {
  private constructor(
    private readonly steps: readonly Step[],
    readonly inputs: Record<string, PortSpec>,
  ) {}

  static compose(spec: PipelineSpec): Pipeline {
    const inputs = spec.inputs ?? {};
    const outputPort = (ref: PortRef): PortSpec => {
      const [mod, port] = split(ref);
      if (mod === 'input') {
        const p = inputs[port];
        if (!p) throw new PortMismatchError(ref, `no pipeline input '${port}' (inputs: ${Object.keys(inputs).join(', ') || 'none'})`);
        return p;
      }
      const m = spec.modules[mod];
      if (!m) throw new PortMismatchError(ref, `no module '${mod}' (modules: ${Object.keys(spec.modules).join(', ')})`);
      const p = m.outputs.find((o) => o.name === port);
      if (!p) throw new PortMismatchError(ref, `${mod} has no output '${port}' (outputs: ${m.outputs.map((o) => o.name).join(', ')})`);
      return p;
    };
    const feeds = new Map<string, { port: string; from: PortRef }[]>();
    for (const [from, to] of spec.connections) {
      const [toMod, toPort] = split(to);
      const m = spec.modules[toMod];
      if (!m) throw new PortMismatchError(to, `no module '${toMod}' (modules: ${Object.keys(spec.modules).join(', ')})`);
      const target = m.inputs.find((i) => i.name === toPort);
      if (!target) throw new PortMismatchError(to, `${toMod} has no input '${toPort}' (inputs: ${m.inputs.map((i) => i.name).join(', ')})`);
      checkConnection(outputPort(from), from, target, to);
      const list = feeds.get(toMod) ?? [];
      if (list.some((f) => f.port === toPort)) throw new PortMismatchError(to, 'is fed by more than one connection');
      list.push({ port: toPort, from });
      feeds.set(toMod, list);
    }
    for (const [name, m] of Object.entries(spec.modules)) {
      const fed = new Set((feeds.get(name) ?? []).map((f) => f.port));
      const unfed = m.inputs.filter((i) => !fed.has(i.name));
      if (unfed.length)
        throw new PortMismatchError(`${name}.${unfed[0].name}`, `is not connected (unconnected inputs of ${name}: ${unfed.map((u) => u.name).join(', ')})`);
    }
    // Topological order (Kahn); a cycle is a composition error.
    const order: Step[] = [];
    const done = new Set<string>(['input']);
    const pending = new Set(Object.keys(spec.modules));
    while (pending.size) {
      const ready = [...pending].find((n) => (feeds.get(n) ?? []).every((f) => done.has(split(f.from)[0])));
      if (!ready) throw new PortMismatchError([...pending].join(', '), 'modules form a cycle');
      order.push({ name: ready, module: spec.modules[ready], feeds: feeds.get(ready) ?? [] });
      done.add(ready);
      pending.delete(ready);
    }
    return new Pipeline(order, inputs);
  }

  /** Step names in execution order. */
  get order(): string[] {
    return this.steps.map((s) => s.name);
  }

  /**
   * Runs the pipeline. `cached` holds outputs by `module.port` from an earlier run; a step whose
   * outputs are all cached is skipped. Returns every output of every step by `module.port`, or
   * only `options.outputs` (see `PipelineRunOptions`). Tensors pass between steps as they are: a
   * device tensor feeds the next step without leaving the GPU.
   */
  async run(inputs: Record<string, Tensor>, cached: Record<string, Tensor> = {}, options: PipelineRunOptions = {}): Promise<Record<string, Tensor>> {
    const keep = options.outputs ? new Set<string>(options.outputs) : null;
    for (const ref of keep ?? []) {
      const [mod, port] = split(ref as PortRef);
      if (!this.steps.some((s) => s.name === mod && s.module.outputs.some((o) => o.name === port)))
        throw new PortMismatchError(ref, `is not a step output (steps: ${this.order.join(', ')})`);
    }
    const values: Record<string, Tensor> = { ...cached };
    for (const [k, t] of Object.entries(inputs)) {
      if (!this.inputs[k]) throw new PortMismatchError(`input.${k}`, `is not a pipeline input (inputs: ${Object.keys(this.inputs).join(', ')})`);
      values[`input.${k}`] = t;
    }
    // Index of the last step reading each value: past it, an unkept intermediate can be released.
    const lastRead = new Map<string, number>();
    this.steps.forEach((s, i) => s.feeds.forEach((f) => lastRead.set(f.from, i)));
    const produced = new Set<string>();
    const release = (ref: string) => {
      const t = values[ref];
      if (isDeviceTensor(t)) t.dispose();
      delete values[ref];
    };
    try {
      for (const [i, step] of this.steps.entries()) {
        if (step.module.outputs.every((o) => values[`${step.name}.${o.name}`])) continue;
        const feeds: Record<string, Tensor> = {};
        for (const f of step.feeds) {
          const v = values[f.from];
          if (!v) throw new Mplug2Error('PIPELINE_INPUT', `${step.name}.${f.port}: no value for ${f.from}`);
          feeds[f.port] = v;
        }
        const out = await step.module.run(feeds);
        for (const [k, t] of Object.entries(out)) {
          values[`${step.name}.${k}`] = t;
          produced.add(`${step.name}.${k}`);
        }
        if (!keep) continue;
        for (const ref of produced)
          if (!keep.has(ref) && (lastRead.get(ref) ?? -1) <= i) {
            release(ref);
            produced.delete(ref);
          }
      }
    } catch (e) {
      // The caller gets nothing from a failed run: release what it produced on the device.
      for (const ref of produced) release(ref);
      throw e;
    }
    return keep ? Object.fromEntries([...keep].map((ref) => [ref, values[ref]])) : values;
  }
}
