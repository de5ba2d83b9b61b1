/**
 * safetensors files: 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the raw
 * little-endian data (offsets relative to its start). The header is bounded, every entry is
 * validated (dtype, shape, byte size, offsets within the data, no overlap) when the file is opened.
 */
import { CheckpointFormatError } from '../errors.js';
import { type CheckpointArray, type CheckpointDType, DTYPE_BYTES } from './dtype.js';
import { checkView, materialize, type TensorLayout } from './materialize.js';
import { type ByteSource, readExact } from './source.js';
import { TensorTableCheckpoint } from './tensor-table.js';
import { type Checkpoint, DEFAULT_OPTIONS, type OpenCheckpointOptions } from './types.js';

/** Largest JSON header accepted (the reference implementation uses the same 100 MB bound). */
export const MAX_SAFETENSORS_HEADER = 100_000_000;

export const SAFETENSORS_DTYPES: Readonly<Record<string, CheckpointDType>> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  F64: 'float64',
  U8: 'uint8',
  BOOL: 'bool',
};

/** Deepest JSON nesting accepted in a header (a valid one nests 3 deep; serde_json, the reference, stops at 128). */
export const MAX_SAFETENSORS_NESTING = 128;

/**
 * Deepest `[`/`{` nesting of JSON text (brackets inside strings skipped), stopping early above `limit`:
 * V8's JSON.parse takes ~1 s per million levels, so a deeply nested header is refused before parsing.
 */
export function jsonNestingDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

interface StTensor extends TensorLayout {
  readonly begin: number;
  readonly end: number;
}

/** Reads the 8-byte header length; null when it does not fit a safe integer. */
export function safetensorsHeaderLength(first8: Uint8Array): number | null {
  const lo = (first8[0] | (first8[1] << 8) | (first8[2] << 16) | (first8[3] << 24)) >>> 0;
  const hi = (first8[4] | (first8[5] << 8) | (first8[6] << 16) | (first8[7] << 24)) >>> 0;
  if (hi > 0x1fffff) return null;
  return hi * 0x100000000 + lo;
}

export async function openSafetensors(source: ByteSource, file: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  const opts = { ...DEFAULT_OPTIONS, ...options };
  const headerEntry = 'safetensors header';
  const fail = (detail: string, entry: string = headerEntry, cause?: unknown): never => {
    throw new CheckpointFormatError(file, entry, detail, cause === undefined ? undefined : { cause });
  };
  const ctx = { file, entry: headerEntry };
  if (source.size < 8) fail(`truncated: ${source.size} bytes, less than the 8-byte header length`);
  const n = safetensorsHeaderLength(await readExact(source, 0, 8, ctx, 'header length'));
  if (n === null || n > MAX_SAFETENSORS_HEADER) fail(`header length ${n ?? '≥ 2^53'} is above the ${MAX_SAFETENSORS_HEADER}-byte limit`);
  if (8 + n! > source.size) fail(`truncated: header of ${n} bytes runs past the end of the ${source.size}-byte file`);
  let header: unknown;
  const headerBytes = await readExact(source, 8, n!, ctx, 'header');
  if (jsonNestingDepth(headerBytes, MAX_SAFETENSORS_NESTING) > MAX_SAFETENSORS_NESTING) fail(`header JSON nests deeper than ${MAX_SAFETENSORS_NESTING} levels`);
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    if (e instanceof CheckpointFormatError) throw e;
    return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`, headerEntry, e);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('header is not a JSON object');
  const dataStart = 8 + n!;
  const dataSize = source.size - dataStart;

  const list: StTensor[] = [];
  for (const [name, spec] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const bad = (detail: string): never => fail(`tensor '${name}': ${detail}`, name);
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) bad('entry is not an object');
    const { dtype: st, shape, data_offsets: offsets } = spec as Record<string, unknown>;
    if (typeof st !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPES, st)) bad(`unsupported dtype ${JSON.stringify(st)}`);
    const dtype = SAFETENSORS_DTYPES[st as string];
    const es = DTYPE_BYTES[dtype];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1])
      bad(`invalid data_offsets ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    if (end > dataSize) bad(`data_offsets [${begin}, ${end}] run past the ${dataSize} bytes of data (truncated?)`);
    const dims = shape as number[];
    const stride: number[] = new Array(dims.length);
    for (let i = dims.length - 1, acc = 1; i >= 0; i--) {
      stride[i] = acc;
      acc = Math.min(acc * dims[i], Number.MAX_SAFE_INTEGER);
    }
    const bytes = end - begin;
    if (bytes % es !== 0) bad(`${bytes} bytes is not a whole number of ${es}-byte elements`);
    const numel = checkView(dims, stride, 0, bytes / es, es, bad);
    if (numel * es !== bytes) bad(`shape [${dims}] needs ${numel * es} bytes but data_offsets give ${bytes}`);
    list.push({
      name,
      dtype,
      shape: Object.freeze([...dims]),
      stride,
      storageOffset: 0,
      storageNumel: numel,
      base: dataStart + begin,
      numel,
      contiguous: true,
      begin,
      end,
    });
  }
  // File order = data order; ties (empty tensors) keep header order.
  list.sort((a, b) => a.begin - b.begin);
  let prev: StTensor | null = null; // the non-empty tensor reaching furthest so far
  for (const cur of list) {
    if (cur.end === cur.begin) continue;
    if (prev && cur.begin < prev.end)
      fail(`tensor '${cur.name}': data [${cur.begin}, ${cur.end}) overlaps '${prev.name}' [${prev.begin}, ${prev.end})`, cur.name);
    if (!prev || cur.end > prev.end) prev = cur;
  }
  return new SafetensorsCheckpoint(source, file, new Map(list.map((t) => [t.name, t])), opts);
}

class SafetensorsCheckpoint extends TensorTableCheckpoint<StTensor> {
  readonly format = 'safetensors' as const;
  readonly wrapper = null;

  async read(name: string): Promise<CheckpointArray> {
    const t = this.getReadable(name);
    return (await materialize(this.source, t, { file: this.file, entry: name }, this.opts)).array;
  }

  sharesStorage(a: string, b: string): boolean {
    const x = this.get(a);
    const y = this.get(b);
    return x === y || (x.begin === y.begin && x.end === y.end && x.end > x.begin && x.dtype === y.dtype && x.shape.join() === y.shape.join());
  }

  rawLocation(name: string): { offset: number; byteLength: number } | null {
    const t = this.get(name);
    return { offset: t.base, byteLength: t.end - t.begin };
  }
}
