/**
 * Test helpers (not exported from the package): a ZIP builder (on core's ZIP record writer) and a
 * pickle opcode writer, to craft torch.save-like archives and hostile pickles byte by byte, and rejection checks.
 */
import { deflateRawSync } from 'node:zlib';
import { expect } from 'vitest';
import {
  CheckpointFormatError,
  crc32,
  PICKLE_OP as OP,
  ZIP_LOCAL_HEADER_SIZE,
  ZIP_VERSION_ZIP64,
  type ZipCentralFields,
  zip64EndRecord,
  zip64ExtraField,
  zip64Locator,
  zipCentralHeader,
  zipEndOfCentralDirectory,
  zipLocalHeader,
  zipPaddingField,
} from '@mplug2/core';

// ---------------------------------------------------------------------------------------------
// ZIP

export interface ZipInput {
  name: string;
  data: Uint8Array;
  /** 0 = STORED (default), 8 = DEFLATE (data is compressed here); any other value is written as is. */
  method?: number;
  /** Override the compressed payload (with method 8) — e.g. a zip bomb. */
  payload?: Uint8Array;
  /** Override the declared uncompressed size / CRC. */
  size?: number;
  crc?: number;
  /** Pad the local extra field so data starts at a multiple of this (torch uses 64). */
  align?: number;
  /** Local header offset written to the central directory (default: the real one). */
  localHeaderOffset?: number;
}

export interface ZipBuildOptions {
  zip64?: boolean;
  comment?: string;
  /** Override the entry count in the end record(s). */
  count?: number;
}

export interface BuiltZip {
  bytes: Uint8Array;
  /** Per entry: local header offset and data offset. */
  layout: { name: string; localHeaderOffset: number; dataOffset: number; size: number }[];
  centralDirectoryOffset: number;
  eocdOffset: number;
}

/** A growable little-endian byte writer. */
export class Bytes {
  private buf = new Uint8Array(1024);
  length = 0;
  private grow(n: number) {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
  u8(v: number) {
    this.grow(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }
  u16(v: number) {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number) {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  u64(v: number) {
    return this.u32(v % 0x100000000).u32(Math.floor(v / 0x100000000));
  }
  bytes(b: Uint8Array) {
    this.grow(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const enc = new TextEncoder();

/** Builds the archive with core's ZIP record writer; the options above override fields to craft malformed archives. */
export function buildZip(entries: ZipInput[], options: ZipBuildOptions = {}): BuiltZip {
  const out = new Bytes();
  const layout: BuiltZip['layout'] = [];
  const central: ZipCentralFields[] = [];
  const z64 = options.zip64 === true;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const method = e.method ?? 0;
    const payload = e.payload ?? (method === 8 ? deflateRawSync(e.data) : e.data);
    const size = e.size ?? e.data.length;
    const crc = e.crc ?? crc32(e.data);
    const lho = out.length;
    // "FB" padding field, as torch writes
    const extra = e.align ? zipPaddingField(lho + ZIP_LOCAL_HEADER_SIZE + name.length, e.align) : undefined;
    const fields = { method, crc32: crc, compressedSize: payload.length, size, name };
    out.bytes(zipLocalHeader({ ...fields, extra }));
    const dataOffset = out.length;
    out.bytes(payload);
    layout.push({ name: e.name, localHeaderOffset: lho, dataOffset, size: payload.length });
    const localHeaderOffset = e.localHeaderOffset ?? lho;
    central.push(
      z64
        ? {
            ...fields,
            versionMadeBy: ZIP_VERSION_ZIP64,
            version: ZIP_VERSION_ZIP64,
            compressedSize: 0xffffffff,
            size: 0xffffffff,
            localHeaderOffset: 0xffffffff,
            extra: zip64ExtraField([size, payload.length, localHeaderOffset]),
          }
        : { ...fields, versionMadeBy: ZIP_VERSION_ZIP64, localHeaderOffset },
    );
  }
  const cdOffset = out.length;
  for (const c of central) out.bytes(zipCentralHeader(c));
  const cdSize = out.length - cdOffset;
  const count = options.count ?? central.length;
  if (z64) {
    const recOffset = out.length;
    out.bytes(zip64EndRecord({ count, cdSize, cdOffset })).bytes(zip64Locator(recOffset));
  }
  const eocdOffset = out.length;
  const comment = enc.encode(options.comment ?? '');
  out.bytes(zipEndOfCentralDirectory(z64 ? { count: 0xffff, cdSize: 0xffffffff, cdOffset: 0xffffffff, comment } : { count, cdSize, cdOffset, comment }));
  return { bytes: out.done(), layout, centralDirectoryOffset: cdOffset, eocdOffset };
}

// ---------------------------------------------------------------------------------------------
// Pickle

/** Emits pickle opcodes. Methods return `this` for chaining. */
export class PickleWriter {
  private readonly b = new Bytes();
  op(...codes: number[]) {
    for (const c of codes) this.b.u8(c);
    return this;
  }
  raw(bytes: Uint8Array | number[]) {
    this.b.bytes(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
    return this;
  }
  u32(v: number) {
    this.b.u32(v);
    return this;
  }
  proto(v = 2) {
    return this.op(OP.PROTO, v);
  }
  global(module: string, name: string) {
    return this.op(OP.GLOBAL).raw(enc.encode(`${module}\n${name}\n`));
  }
  str(s: string) {
    const b = enc.encode(s);
    return this.op(OP.BINUNICODE).u32(b.length).raw(b);
  }
  int(v: number) {
    if (v >= 0 && v < 256) return this.op(OP.BININT1, v);
    if (v >= 0 && v < 65536) return this.op(OP.BININT2, v & 0xff, v >>> 8);
    if (v >= -(2 ** 31) && v < 2 ** 31) return this.op(OP.BININT).u32(v >>> 0);
    // LONG1, little-endian two's complement, 8 bytes
    let x = BigInt.asUintN(64, BigInt(v));
    const bytes: number[] = [];
    for (let i = 0; i < 8; i++, x >>= 8n) bytes.push(Number(x & 0xffn));
    return this.op(OP.LONG1, 8, ...bytes);
  }
  ints(values: readonly number[]) {
    if (values.length === 0) return this.op(OP.EMPTY_TUPLE);
    this.op(OP.MARK);
    for (const v of values) this.int(v);
    return this.op(OP.TUPLE);
  }
  bool(v: boolean) {
    return this.op(v ? OP.NEWTRUE : OP.NEWFALSE);
  }
  none() {
    return this.op(OP.NONE);
  }
  binfloat(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return this.op(OP.BINFLOAT).raw(b);
  }
  mark() {
    return this.op(OP.MARK);
  }
  tuple() {
    return this.op(OP.TUPLE);
  }
  emptyDict() {
    return this.op(OP.EMPTY_DICT);
  }
  emptyTuple() {
    return this.op(OP.EMPTY_TUPLE);
  }
  reduce() {
    return this.op(OP.REDUCE);
  }
  setitem() {
    return this.op(OP.SETITEM);
  }
  setitems() {
    return this.op(OP.SETITEMS);
  }
  stop() {
    return this.op(OP.STOP);
  }
  orderedDict() {
    return this.global('collections', 'OrderedDict').emptyTuple().reduce();
  }
  bytes(): Uint8Array {
    return this.b.done();
  }
}

// ---------------------------------------------------------------------------------------------
// torch.save-like archives

export type StorageTypeName =
  | 'FloatStorage'
  | 'HalfStorage'
  | 'BFloat16Storage'
  | 'LongStorage'
  | 'IntStorage'
  | 'DoubleStorage'
  | 'ByteStorage'
  | 'BoolStorage'
  | (string & {});

export interface FakeTensor {
  name: string;
  storageKey: string;
  storageType: StorageTypeName;
  /** Elements declared in the persistent id. */
  storageNumel: number;
  offset?: number;
  shape: number[];
  stride?: number[];
  /** Wrap in torch._utils._rebuild_parameter. */
  parameter?: boolean;
}

export function rowMajorStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Pickles `{wrapper: OrderedDict(tensors)}` (or the bare OrderedDict) like torch.save does. */
export function torchPickle(
  tensors: FakeTensor[],
  options: { wrapper?: string | null; before?: (w: PickleWriter) => void; after?: (w: PickleWriter) => void } = {},
): Uint8Array {
  const w = new PickleWriter().proto(2);
  const wrapper = options.wrapper === undefined ? 'model' : options.wrapper;
  if (wrapper !== null) {
    w.emptyDict();
    options.before?.(w);
    w.str(wrapper);
  }
  w.orderedDict().mark();
  for (const t of tensors) {
    w.str(t.name);
    if (t.parameter) w.global('torch._utils', '_rebuild_parameter').mark();
    w.global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', t.storageType).str(t.storageKey).str('cpu').int(t.storageNumel).tuple();
    w.op(OP.BINPERSID);
    w.int(t.offset ?? 0)
      .ints(t.shape)
      .ints(t.stride ?? rowMajorStrides(t.shape))
      .bool(false)
      .orderedDict();
    w.tuple().reduce();
    if (t.parameter) w.bool(false).orderedDict().tuple().reduce();
  }
  w.setitems();
  if (wrapper !== null) {
    w.setitem();
    options.after?.(w);
  }
  return w.stop().bytes();
}

/** A torch.save-style archive: `<prefix>/data.pkl`, `<prefix>/data/<key>` (64-byte aligned), `<prefix>/version`. */
export function torchZip(
  pkl: Uint8Array,
  storages: Record<string, Uint8Array>,
  options: { prefix?: string; pklMethod?: 0 | 8; zip64?: boolean; omitPkl?: boolean } = {},
): BuiltZip {
  const prefix = options.prefix ?? 'archive';
  const entries: ZipInput[] = [];
  if (!options.omitPkl) entries.push({ name: `${prefix}/data.pkl`, data: pkl, method: options.pklMethod ?? 0 });
  for (const [key, data] of Object.entries(storages)) entries.push({ name: `${prefix}/data/${key}`, data, align: 64 });
  entries.push({ name: `${prefix}/version`, data: enc.encode('3\n') });
  return buildZip(entries, { zip64: options.zip64 });
}

/** Little-endian bytes of typed data. */
export function le(data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

// ---------------------------------------------------------------------------------------------
// Rejections

/** The error `p` rejects with (fails the test when it resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/** `p` rejects with a `CheckpointFormatError` whose message matches `what` (and names ZIP `entry`, when given). */
export async function expectFormatError(p: Promise<unknown>, what: RegExp, entry?: string): Promise<void> {
  const e = await rejectionOf(p);
  expect(e).toBeInstanceOf(CheckpointFormatError);
  expect(e.message).toMatch(what);
  if (entry !== undefined) expect((e as CheckpointFormatError).entry).toBe(entry);
}
