import { ConfigError, MissingTensorError, TensorTooLargeError } from '../errors.js';
import { numel } from '../tensor.js';
import type { GraphBuilder, GraphDType, InitializerData, Value } from './graph.js';
import { toFloat16Bits } from '../float16.js';

/** Where module builders read checkpoint tensors from (a `Checkpoint` satisfies it). */
export interface WeightSource {
  readonly file: string;
  has(name: string): boolean;
  info(name: string): { shape: readonly number[] };
  readFloat32(name: string): Promise<Float32Array>;
}

/** Where converted weight bytes go. */
export interface WeightSink {
  /** No data file grows past this many bytes (the plan checks every tensor fits before writing any). */
  readonly maxFileBytes: number;
  /**
   * Appends one tensor's bytes to data-file family `family` (e.g. `vision.weights`); returns the file
   * they landed in — the family's current chunk, see `DataFileLayout` — and their offset there.
   */
  append(family: string, bytes: Uint8Array, tensor: string): Promise<{ file: string; offset: number }>;
}

/**
 * Default data-file size limit of the converter: 1 GiB keeps every file well under what
 * onnxruntime-web takes as one external-data ArrayBuffer (2 GiB − 1) and what browsers cache
 * comfortably as one entry.
 */
export const DEFAULT_MAX_DATA_FILE_BYTES = 2 ** 30;

/** Chunk `index` of a data-file family: chunk 0 keeps the family name, chunk 2 of `vision.weights` is `vision.2.weights`. */
export function chunkFileName(family: string, index: number): string {
  if (index === 0) return family;
  const dot = family.lastIndexOf('.');
  return dot < 0 ? `${family}.${index}` : `${family.slice(0, dot)}.${index}${family.slice(dot)}`;
}

/**
 * Placement of tensors in size-limited data files: each family fills its current chunk and rolls
 * over to the next numbered chunk when a tensor would pass the limit, so a tensor never spans two
 * files (an ONNX initializer's external data names exactly one location).
 */
export class DataFileLayout {
  private readonly current = new Map<string, { file: string; index: number; size: number }>();

  constructor(
    readonly maxFileBytes: number,
    /** Offsets are rounded up to a multiple of this. */
    readonly align: number,
  ) {}

  /** Where `length` more bytes of `family` go; `size` is that file's size before them (padding runs from there to `offset`). */
  place(family: string, length: number, tensor: string): { file: string; offset: number; size: number } {
    if (length > this.maxFileBytes) throw new TensorTooLargeError(tensor, length, this.maxFileBytes);
    let chunk = this.current.get(family) ?? { file: family, index: 0, size: 0 };
    let offset = Math.ceil(chunk.size / this.align) * this.align;
    if (offset + length > this.maxFileBytes) {
      chunk = { file: chunkFileName(family, chunk.index + 1), index: chunk.index + 1, size: 0 };
      offset = 0;
    }
    const size = chunk.size;
    this.current.set(family, { ...chunk, size: offset + length });
    return { file: chunk.file, offset, size };
  }
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

/**
 * How converted weights are stored: `fp32` as is; `fp16` halved (graphs cast them back to float32,
 * which onnxruntime folds at load on CPU); `int8` for matmul weights only, symmetric per output
 * column (`w ≈ q·scale`, q in [−127, 127]), consumed by dynamically quantized matmuls; `q4` for
 * matmul weights only, 4-bit blocks along the input axis (see `Q4_SCHEME`), consumed by
 * `com.microsoft.MatMulNBits`.
 */
export type WeightStorage = 'fp32' | 'fp16' | 'int8' | 'q4';

/** Whether matmul weights of this storage are quantized (and consumed by a quantized matmul op). */
export function isQuantizedStorage(storage: WeightStorage | undefined): storage is 'int8' | 'q4' {
  return storage === 'int8' || storage === 'q4';
}

/** A 4-bit block quantization scheme: `blockSize` consecutive input rows of one output column share a scale (and a zero point unless symmetric). */
export interface Q4Scheme {
  readonly blockSize: number;
  readonly symmetric: boolean;
}

/**
 * The scheme the converter writes, chosen by `bench/q4-scheme.mjs` (weight error on the goldens'
 * real weights and MatMulNBits speed at the large layer shapes): blocks of 32 with zero points.
 */
export const Q4_SCHEME: Q4Scheme = { blockSize: 32, symmetric: false };

type Encoding = 'f32' | 'f16' | 'q8' | 'q4';

interface Pending {
  key: string;
  file: string;
  source: string;
  transform: WeightTransform;
  shape: number[];
  dtype: GraphDType;
  encoding: Encoding;
  /** For `q8`/`q4`: the float32 scales (and `q4` packed zero points), written right after the quantized matrix. */
  parts?: Pending[];
  /** For `q4`: the `[in, out]` matrix the blocks encode. */
  matrix?: [number, number];
  /** Set when written: the chunk of `file` holding the bytes. */
  location?: { file: string; offset: number; length: number };
}

const ELEMENT_BYTES: Record<GraphDType, number> = { float32: 4, float16: 2, int8: 1, uint8: 1, bool: 1, int32: 4, int64: 8 };

/** Symmetric per-column int8 quantization of a row-major `[rows, cols]` matrix. */
export function quantizeColumns(data: Float32Array, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      const a = Math.abs(data[i * cols + j]);
      if (a > scale[j]) scale[j] = a;
    }
  for (let j = 0; j < cols; j++) scale[j] = scale[j] > 0 ? scale[j] / 127 : 1;
  const q = new Int8Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) q[i * cols + j] = Math.max(-127, Math.min(127, Math.round(data[i * cols + j] / scale[j])));
  return { q, scale };
}

/**
 * 4-bit block quantization of a row-major `[rows, cols]` (`[K, N]`) matrix in onnxruntime's
 * MatMulNBits layout: per column, `ceil(rows / blockSize)` blocks of `blockSize / 2` bytes (element
 * `2i` in the low nibble); scales `[cols · blocks]`; with zero points, `[cols · ceil(blocks / 2)]`
 * bytes of packed 4-bit values (symmetric blocks omit them: the op's default zero point is 8).
 * Padding rows of a last partial block hold the zero point (they multiply nothing).
 */
export function quantizeBlocks4(
  data: Float32Array,
  rows: number,
  cols: number,
  scheme: Q4Scheme = Q4_SCHEME,
): { q: Uint8Array; scale: Float32Array; zeroPoint?: Uint8Array } {
  const { blockSize, symmetric } = scheme;
  if (blockSize < 16 || blockSize & (blockSize - 1)) throw new ConfigError('weights', `q4 block size must be a power of two ≥ 16, got ${blockSize}`);
  const blocks = Math.ceil(rows / blockSize);
  const blob = blockSize / 2;
  const q = new Uint8Array(cols * blocks * blob);
  const scale = new Float32Array(cols * blocks);
  const zpBytes = Math.ceil(blocks / 2);
  const zeroPoint = symmetric ? undefined : new Uint8Array(cols * zpBytes);
  for (let n = 0; n < cols; n++)
    for (let b = 0; b < blocks; b++) {
      const k0 = b * blockSize;
      const k1 = Math.min(rows, k0 + blockSize);
      let lo = 0;
      let hi = 0;
      for (let k = k0; k < k1; k++) {
        const v = data[k * cols + n];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      let s: number;
      let zp: number;
      if (symmetric) {
        const m = Math.max(-lo, hi);
        s = m > 0 ? m / 7 : 1;
        zp = 8;
      } else {
        // The range always holds 0, so an exact 0 stays exact (zero point = its code).
        s = hi > lo ? (hi - lo) / 15 : 1;
        zp = Math.max(0, Math.min(15, Math.round(-lo / s)));
        zeroPoint![n * zpBytes + (b >> 1)] |= zp << ((b & 1) * 4);
      }
      scale[n * blocks + b] = s;
      const base = (n * blocks + b) * blob;
      for (let i = 0; i < blockSize; i++) {
        const k = k0 + i;
        const code = k < k1 ? Math.max(0, Math.min(15, Math.round(data[k * cols + n] / s) + zp)) : zp;
        q[base + (i >> 1)] |= code << ((i & 1) * 4);
      }
    }
  return { q, scale, zeroPoint };
}

/** The `[K, N]` float matrix `quantizeBlocks4` output encodes (what MatMulNBits multiplies by at accuracy level 0). */
export function dequantizeBlocks4(
  q: Uint8Array,
  scale: Float32Array,
  zeroPoint: Uint8Array | undefined,
  rows: number,
  cols: number,
  scheme: Q4Scheme = Q4_SCHEME,
): Float32Array {
  const { blockSize } = scheme;
  const blocks = Math.ceil(rows / blockSize);
  const out = new Float32Array(rows * cols);
  for (let n = 0; n < cols; n++)
    for (let k = 0; k < rows; k++) {
      const b = Math.floor(k / blockSize);
      const i = k % blockSize;
      const code = (q[(n * blocks + b) * (blockSize / 2) + (i >> 1)] >> ((i & 1) * 4)) & 15;
      const zp = zeroPoint ? (zeroPoint[n * Math.ceil(blocks / 2) + (b >> 1)] >> ((b & 1) * 4)) & 15 : 8;
      out[k * cols + n] = (code - zp) * scale[n * blocks + b];
    }
  return out;
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
  private readonly graphEntries = new WeakMap<GraphBuilder, Set<Pending>>();
  /** Data files in the order writing first touched them (a family's chunks in index order). */
  private readonly writtenFiles: string[] = [];
  readonly used = new Set<string>();

  constructor(readonly source: WeightSource) {}

  /**
   * A graph initializer backed by checkpoint tensor `name`, which must have `expected` shape
   * (`-1` = any size on that axis). Returns a placeholder even when the tensor is missing so that
   * graph construction can continue and report everything missing at the end.
   */
  param(
    g: GraphBuilder,
    file: string,
    name: string,
    expected: readonly number[],
    transform: WeightTransform = identity,
    storage: WeightStorage = 'fp32',
    valueType: 'float32' | 'float16' = 'float32',
  ): Value {
    if (storage === 'fp16') {
      const half = this.initializerOf(g, this.entry(file, name, expected, transform, 'f16'));
      // fp16 compute uses it as stored; float32 consumers cast it back (onnxruntime folds the Cast at load).
      return valueType === 'float16' ? half : g.op('Cast', [half], { to: 1 });
    }
    if (valueType === 'float16') throw new ConfigError(this.source.file, `weight ${name}: a float16 value needs fp16 storage, not ${storage}`);
    return this.initializerOf(g, this.entry(file, name, expected, transform, 'f32'));
  }

  /**
   * A quantized matmul weight `[in, out]` (after `transform`): `int8` = the int8 matrix and its
   * per-column float32 scales `[out]`; `q4` = MatMulNBits blocks `[out, blocks, blockSize/2]`, scales
   * and (asymmetric scheme) packed zero points, plus `matrix` = `[in, out]` for the op's attributes.
   */
  quantized(
    g: GraphBuilder,
    file: string,
    name: string,
    expected: readonly number[],
    transform: WeightTransform = identity,
    storage: 'int8' | 'q4' = 'int8',
  ): { weight: Value; scale: Value; zeroPoint?: Value; matrix: [number, number] } {
    const q = this.entry(file, name, expected, transform, storage === 'q4' ? 'q4' : 'q8');
    const [k, n] = q.matrix ?? q.shape;
    if (!q.parts) {
      const part = (suffix: string, shape: number[], dtype: GraphDType): Pending => ({
        key: `${q.key}|${suffix}`,
        file,
        source: name,
        transform,
        shape,
        dtype,
        encoding: 'f32',
      });
      const blocks = Math.ceil(k / Q4_SCHEME.blockSize);
      q.parts =
        storage === 'q4'
          ? [part('scale', [n * blocks], 'float32'), ...(Q4_SCHEME.symmetric ? [] : [part('zp', [n * Math.ceil(blocks / 2)], 'uint8')])]
          : [part('scale', [n], 'float32')];
    }
    const [scale, zeroPoint] = q.parts.map((p) => this.initializerOf(g, p));
    return { weight: this.initializerOf(g, q), scale, zeroPoint, matrix: [k, n] };
  }

  private initializerOf(g: GraphBuilder, entry: Pending): Value {
    let entries = this.graphEntries.get(g);
    if (!entries) this.graphEntries.set(g, (entries = new Set()));
    entries.add(entry);
    const data: InitializerData = {
      kind: 'deferred',
      resolve: () => {
        if (!entry.location) throw new ConfigError(this.source.file, `weight ${entry.key} was not written before serialization`);
        const { file, offset, length } = entry.location;
        return { kind: 'external', location: file, offset, length };
      },
    };
    return g.initializer(entry.key, entry.dtype, entry.shape, data);
  }

  private entry(file: string, name: string, expected: readonly number[], transform: WeightTransform, encoding: Encoding): Pending {
    this.used.add(name);
    let shape: readonly number[] = expected;
    if (!this.source.has(name)) {
      this.missing.add(name);
    } else {
      shape = this.source.info(name).shape;
      const ok = shape.length === expected.length && expected.every((e, i) => e < 0 || e === shape[i]);
      if (!ok) this.wrong.set(name, { name, expected: [...expected], actual: [...shape] });
    }
    const key = `${name}${transform.id ? `|${transform.id}` : ''}${encoding === 'f32' ? '' : `|${encoding}`}`;
    let p = this.pending.get(key);
    if (!p) {
      const outShape = this.missing.has(name) || this.wrong.has(name) ? [...expected] : transform.outShape(shape);
      if (encoding === 'q8' || encoding === 'q4')
        if (outShape.length !== 2) throw new ConfigError(this.source.file, `quantized weight ${name} must be 2-D after its transform, got [${outShape}]`);
      const dtype: GraphDType = encoding === 'f16' ? 'float16' : encoding === 'q8' ? 'int8' : encoding === 'q4' ? 'uint8' : 'float32';
      if (encoding === 'q4') {
        const [k, n] = outShape;
        const bs = Q4_SCHEME.blockSize;
        p = { key, file, source: name, transform, shape: [n, Math.ceil(k / bs), bs / 2], dtype, encoding, matrix: [k, n] };
      } else {
        p = { key, file, source: name, transform, shape: outShape, dtype, encoding };
      }
      this.pending.set(key, p);
    }
    return p;
  }

  /** Throws `MissingTensorError` listing every missing or mis-shaped tensor requested so far. */
  validate(): void {
    if (this.missing.size || this.wrong.size) throw new MissingTensorError(this.source.file, [...this.missing], [...this.wrong.values()]);
  }

  /** Validates (tensors and their size against `sink.maxFileBytes`), then reads, transforms and writes every pending tensor. */
  async write(sink: WeightSink, onProgress?: (done: number, total: number, name: string) => void): Promise<void> {
    this.validate();
    for (const p of this.pending.values())
      for (const e of [p, ...(p.parts ?? [])])
        if (byteSize(e) > sink.maxFileBytes)
          throw new TensorTooLargeError(e.source + (e === p ? '' : ` (${e.key.slice(e.key.lastIndexOf('|') + 1)})`), byteSize(e), sink.maxFileBytes);
    const todo = [...this.pending.values()].filter((p) => !p.location);
    let done = 0;
    for (const p of todo) {
      if (p.location) continue; // a quantized matrix's scales / zero points, written with it
      const raw = await this.source.readFloat32(p.source);
      const data = p.transform.apply(raw, this.source.info(p.source).shape);
      const put = async (entry: Pending, v: ArrayBufferView) => {
        const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        const { file, offset } = await sink.append(entry.file, bytes, entry.source);
        if (!this.writtenFiles.includes(file)) this.writtenFiles.push(file);
        entry.location = { file, offset, length: bytes.byteLength };
      };
      if (p.encoding === 'q8' || p.encoding === 'q4') {
        const [k, n] = p.matrix ?? p.shape;
        const { q, scale, zeroPoint } = p.encoding === 'q4' ? quantizeBlocks4(data, k, n) : { ...quantizeColumns(data, k, n), zeroPoint: undefined };
        await put(p, q);
        const [scalePart, zpPart] = p.parts ?? [];
        if (scalePart) await put(scalePart, scale);
        if (zpPart && zeroPoint) await put(zpPart, zeroPoint);
      } else {
        await put(p, p.encoding === 'f16' ? toFloat16Bits(data) : data);
      }
      onProgress?.(++done, todo.length, p.source);
    }
  }

  /** After `write`: bytes of converted weights (alignment padding excluded) per data file written. */
  bytesPerFile(): Map<string, number> {
    const m = new Map<string, number>();
    for (const p of this.pending.values())
      for (const e of [p, ...(p.parts ?? [])]) if (e.location) m.set(e.location.file, (m.get(e.location.file) ?? 0) + e.location.length);
    return m;
  }

  /** After `write`: the data files graph `g`'s initializers point into, in chunk order. */
  dataFilesOf(g: GraphBuilder): string[] {
    const files = new Set([...(this.graphEntries.get(g) ?? [])].map((e) => e.location?.file));
    return this.writtenFiles.filter((f) => files.has(f));
  }
}

function byteSize(e: Pending): number {
  return numel(e.shape) * ELEMENT_BYTES[e.dtype];
}

/** An in-memory sink (tests, browser-side conversion); tensors are packed without padding. */
export class MemoryWeightSink implements WeightSink {
  readonly files = new Map<string, Uint8Array[]>();
  private readonly sizes = new Map<string, number>();
  private readonly layout: DataFileLayout;

  constructor(readonly maxFileBytes = DEFAULT_MAX_DATA_FILE_BYTES) {
    this.layout = new DataFileLayout(maxFileBytes, 1);
  }

  async append(family: string, bytes: Uint8Array, tensor: string): Promise<{ file: string; offset: number }> {
    const { file, offset } = this.layout.place(family, bytes.byteLength, tensor);
    if (!this.files.has(file)) this.files.set(file, []);
    this.files.get(file)!.push(bytes.slice());
    this.sizes.set(file, offset + bytes.byteLength);
    return { file, offset };
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
