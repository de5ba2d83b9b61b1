import { ConfigError, MissingTensorError } from '../errors.js';
import { numel, type DType } from '../tensor.js';
import type { GraphBuilder, InitializerData, Value } from './graph.js';

/** Where module builders read checkpoint tensors from (a `Checkpoint` satisfies it). */
export interface WeightSource {
  readonly file: string;
  has(name: string): boolean;
  info(name: string): { shape: readonly number[] };
  readFloat32(name: string): Promise<Float32Array>;
}

/** Where converted weight bytes go: appends to a named data file, returns the byte offset. */
export interface WeightSink {
  append(file: string, bytes: Uint8Array): Promise<number>;
}

/** A re-layout applied to a checkpoint tensor at conversion time, so the graph needs no runtime transpose. */
export interface WeightTransform {
  readonly id: string;
  outShape(shape: readonly number[]): number[];
  apply(data: Float32Array, shape: readonly number[]): Float32Array;
}

export const identity: WeightTransform = { id: '', outShape: (s) => [...s], apply: (d) => d };

/** `(out, in)` Linear weight → `(in, out)` for MatMul. */
export const transpose2d: WeightTransform = {
  id: 'T',
  outShape: ([r, c]) => [c, r],
  apply(d, [r, c]) {
    const out = new Float32Array(d.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = d[i * c + j];
    return out;
  },
};

/** Same bytes, another shape (e.g. drop singleton conv axes). */
export function reshapeTo(shape: readonly number[]): WeightTransform {
  return {
    id: `R${shape.join('x')}`,
    outShape: (s) => {
      if (numel(s) !== numel(shape)) throw new ConfigError('weights', `cannot reshape [${s}] to [${shape}]`);
      return [...shape];
    },
    apply: (d) => d,
  };
}

/** Reshape to 2-D `(rows, cols)` then transpose, e.g. a 1×1×1 conv `(out, in, 1, 1, 1)` → `(in, out)`. */
export function flattenTranspose(rows: number, cols: number): WeightTransform {
  return {
    id: `FT${rows}x${cols}`,
    outShape: () => [cols, rows],
    apply: (d) => transpose2d.apply(d, [rows, cols]),
  };
}

interface Pending {
  key: string;
  file: string;
  source: string;
  transform: WeightTransform;
  shape: number[];
  dtype: DType;
  location?: { offset: number; length: number };
}

/**
 * Collects the checkpoint tensors that graphs reference, validates all of them at once
 * (every missing or mis-shaped tensor is reported together), then streams them — one tensor
 * in memory at a time — into data files. A tensor used by several graphs with the same
 * transform is written once and shared (e.g. the universal layers' weights between the text
 * encoder and the universal graph).
 */
export class WeightPlan {
  private readonly pending = new Map<string, Pending>();
  private readonly missing = new Set<string>();
  private readonly wrong = new Map<string, { name: string; expected: number[]; actual: number[] }>();
  readonly used = new Set<string>();

  constructor(readonly source: WeightSource) {}

  /**
   * A graph initializer backed by checkpoint tensor `name`, which must have `expected` shape
   * (`-1` = any size on that axis). Returns a placeholder even when the tensor is missing so that
   * graph construction can continue and report everything missing at the end.
   */
  param(g: GraphBuilder, file: string, name: string, expected: readonly number[], transform: WeightTransform = identity): Value {
    this.used.add(name);
    let shape: readonly number[] = expected;
    if (!this.source.has(name)) {
      this.missing.add(name);
    } else {
      shape = this.source.info(name).shape;
      const ok = shape.length === expected.length && expected.every((e, i) => e < 0 || e === shape[i]);
      if (!ok) this.wrong.set(name, { name, expected: [...expected], actual: [...shape] });
    }
    const key = `${name}${transform.id ? `|${transform.id}` : ''}`;
    let p = this.pending.get(key);
    if (!p) {
      const outShape = this.missing.has(name) || this.wrong.has(name) ? [...expected] : transform.outShape(shape);
      p = { key, file, source: name, transform, shape: outShape, dtype: 'float32' };
      this.pending.set(key, p);
    }
    const entry = p;
    const data: InitializerData = {
      kind: 'deferred',
      resolve: () => {
        if (!entry.location) throw new ConfigError(this.source.file, `weight ${entry.key} was not written before serialization`);
        return { kind: 'external', location: entry.file, ...entry.location };
      },
    };
    return g.initializer(key, entry.dtype, entry.shape, data);
  }

  /** Throws `MissingTensorError` listing every missing or mis-shaped tensor requested so far. */
  validate(): void {
    if (this.missing.size || this.wrong.size)
      throw new MissingTensorError(this.source.file, [...this.missing], [...this.wrong.values()]);
  }

  /** Validates, then reads, transforms and writes every pending tensor. */
  async write(sink: WeightSink, onProgress?: (done: number, total: number, name: string) => void): Promise<void> {
    this.validate();
    const todo = [...this.pending.values()].filter((p) => !p.location);
    let done = 0;
    for (const p of todo) {
      const raw = await this.source.readFloat32(p.source);
      const data = p.transform.apply(raw, this.source.info(p.source).shape);
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const offset = await sink.append(p.file, bytes);
      p.location = { offset, length: bytes.byteLength };
      onProgress?.(++done, todo.length, p.source);
    }
  }

  /** Total bytes of converted weights per data file. */
  bytesPerFile(): Map<string, number> {
    const m = new Map<string, number>();
    for (const p of this.pending.values()) m.set(p.file, (m.get(p.file) ?? 0) + numel(p.shape) * 4);
    return m;
  }
}

/** An in-memory sink (tests, browser-side conversion). */
export class MemoryWeightSink implements WeightSink {
  readonly files = new Map<string, Uint8Array[]>();
  private readonly sizes = new Map<string, number>();
  async append(file: string, bytes: Uint8Array): Promise<number> {
    const offset = this.sizes.get(file) ?? 0;
    if (!this.files.has(file)) this.files.set(file, []);
    this.files.get(file)!.push(bytes.slice());
    this.sizes.set(file, offset + bytes.byteLength);
    return offset;
  }
  bytes(file: string): Uint8Array {
    const parts = this.files.get(file) ?? [];
    const out = new Uint8Array(this.sizes.get(file) ?? 0);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    return out;
  }
}
