/**
 * Streaming writer for torch.save checkpoints (the zip format of torch ≥ 1.6).
 *
 * Archive layout, as torch writes it:
 *
 *   <archive>/data.pkl      pickle protocol 2: {'model': OrderedDict(name → _rebuild_tensor_v2(...))}
 *   <archive>/data/<key>    raw little-endian storage bytes, one entry per storage (STORED)
 *   <archive>/version       "3\n"
 *
 * Every entry is STORED, its data 64-byte aligned with torch's 'FB' padding extra field. Local
 * headers carry the real sizes (known from each tensor's shape) and a CRC-32 that is computed while
 * the data streams and patched into the header afterwards, so no data descriptors are needed.
 * zip64 records are written when an entry size, an offset or the entry count needs them (or on
 * request, to exercise the path on small files).
 *
 * Only one tensor's data is held in memory at a time. When the tensor list is known up front (an
 * array, or `options.specs`), data.pkl is written first like torch does; for a bare async stream
 * it is written after the storages (torch.load reads entries by name, so order does not matter).
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import * as zlib from 'node:zlib';
import {
  crc32Fast,
  ZIP_LOCAL_HEADER_SIZE,
  ZIP_VERSION_DEFAULT,
  ZIP_VERSION_ZIP64,
  zip64EndRecord,
  zip64ExtraField,
  zip64Locator,
  zipCentralHeader,
  zipEndOfCentralDirectory,
  zipLocalHeader,
  zipPaddingField,
} from '@mplug2/core';
import { buildTorchPickle, numelOf, TORCH_STORAGE, type PickledTensor, type TorchDType } from './torch-pickle.js';

export { buildTorchPickle, contiguousStrides, numelOf, TORCH_STORAGE, type PickledTensor, type TorchDType } from './torch-pickle.js';

/** Element arrays: float32 → Float32Array, float16 → Uint16Array (IEEE half bits), int64 → BigInt64Array. */
export interface TorchArrays {
  float32: Float32Array;
  float16: Uint16Array;
  int64: BigInt64Array;
}
export type TorchTypedArray = TorchArrays[TorchDType];

/** Name, dtype and shape of a state-dict entry; `tiedTo` names an earlier entry whose storage it shares. */
export interface TorchTensorSpec {
  readonly name: string;
  readonly dtype: TorchDType;
  readonly shape: readonly number[];
  readonly tiedTo?: string;
}

/**
 * One tensor to write. Exactly one of `data` / `fill` for an untied tensor; neither for a tied
 * one (it reuses the storage of `tiedTo`, which must come earlier and have the same dtype and shape).
 */
export interface TorchTensorSource extends TorchTensorSpec {
  readonly data?: TorchTypedArray;
  /** Called with a zeroed array of the tensor's element count, to fill in place. */
  readonly fill?: (out: TorchTypedArray) => void | Promise<void>;
}

export interface WriteTorchOptions {
  /** Top-level key of the saved dict (`torch.save({'model': sd})`), or null for a bare state dict. */
  readonly wrapper: 'model' | 'module' | null;
  /** Folder name inside the zip. Default: the file name without its extension, as torch.save does. */
  readonly archiveName?: string;
  /** Write zip64 extra fields and end records even when nothing needs them (tests). */
  readonly forceZip64?: boolean;
  /** The tensor list in advance (same order as the stream), so data.pkl can be written first. */
  readonly specs?: readonly TorchTensorSpec[];
  /** Called after each tensor is written. */
  readonly onTensor?: (event: { name: string; index: number; bytes: number }) => void;
}

export interface WrittenEntry {
  readonly name: string;
  readonly offset: number;
  readonly dataOffset: number;
  readonly size: number;
  readonly crc32: number;
  readonly zip64: boolean;
}

export interface WriteTorchResult {
  readonly file: string;
  readonly archiveName: string;
  /** Total file size. */
  readonly bytes: number;
  /** State-dict entries (tied ones included). */
  readonly tensors: number;
  /** Distinct storages (`data/<key>` entries). */
  readonly storages: number;
  /** Whether data.pkl precedes the storages in the file. */
  readonly pickleFirst: boolean;
  /** Whether zip64 end-of-central-directory records were written. */
  readonly zip64: boolean;
  /** Entries in central-directory order. */
  readonly entries: readonly WrittenEntry[];
}

// ---------------------------------------------------------------------------------------------
// ZIP records

const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
const ALIGNMENT = 64;
/** DOS date 1980-01-01, time 00:00 — fixed, so equal inputs give equal files. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const DOS_TIME = 0;

const ascii = new TextEncoder();

/**
 * Local file header for a STORED entry of `size` bytes at `offset`, padded with an 'FB' extra
 * field so the data starts on a 64-byte boundary. The CRC field (at +14) is patched later.
 * With zip64 the size fields are 0xFFFFFFFF and a zip64 extra field holds both sizes.
 */
export function localHeader(name: string, offset: number, size: number, crc: number, zip64: boolean): Uint8Array {
  const nameBytes = ascii.encode(name);
  const zip64Extra = zip64 ? zip64ExtraField([size, size]) : new Uint8Array(0);
  const padding = zipPaddingField(offset + ZIP_LOCAL_HEADER_SIZE + nameBytes.length + zip64Extra.length, ALIGNMENT, 0x5a /* 'Z' */);
  const extra = new Uint8Array(zip64Extra.length + padding.length);
  extra.set(zip64Extra);
  extra.set(padding, zip64Extra.length);
  return zipLocalHeader({
    version: zip64 ? ZIP_VERSION_ZIP64 : ZIP_VERSION_DEFAULT,
    flags: 0, // no data descriptor; ASCII names
    method: 0, // STORED
    time: DOS_TIME,
    date: DOS_DATE,
    crc32: crc,
    compressedSize: zip64 ? U32_MAX : size,
    size: zip64 ? U32_MAX : size,
    name: nameBytes,
    extra,
  });
}

/** Central directory header; zip64 extra holds (size, size, offset) for the fields that overflow (or all, when forced). */
export function centralHeader(e: WrittenEntry, force: boolean): Uint8Array {
  const bigSize = force || e.size >= U32_MAX;
  const bigOffset = force || e.offset >= U32_MAX;
  const zip64Values = [...(bigSize ? [e.size, e.size] : []), ...(bigOffset ? [e.offset] : [])];
  const version = zip64Values.length ? ZIP_VERSION_ZIP64 : ZIP_VERSION_DEFAULT;
  return zipCentralHeader({
    versionMadeBy: version, // MS-DOS, like torch
    version,
    time: DOS_TIME,
    date: DOS_DATE,
    crc32: e.crc32,
    compressedSize: bigSize ? U32_MAX : e.size,
    size: bigSize ? U32_MAX : e.size,
    name: ascii.encode(e.name),
    extra: zip64Values.length ? zip64ExtraField(zip64Values) : undefined,
    localHeaderOffset: bigOffset ? U32_MAX : e.offset,
  });
}

/**
 * End records after a central directory of `cdSize` bytes at `cdOffset` holding `count` entries:
 * [zip64 end record + zip64 locator +] end of central directory. Returns the bytes and whether
 * zip64 records were written. The classic record keeps the real values where they fit.
 */
export function endRecords(count: number, cdOffset: number, cdSize: number, force: boolean): { bytes: Uint8Array; zip64: boolean } {
  const zip64 = force || count >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  const parts: Uint8Array[] = [];
  // the zip64 end record follows the central directory
  if (zip64) parts.push(zip64EndRecord({ count, cdSize, cdOffset }), zip64Locator(cdOffset + cdSize));
  const sat16 = (v: number) => (force || v >= U16_MAX ? U16_MAX : v);
  const sat32 = (v: number) => (force || v >= U32_MAX ? U32_MAX : v);
  parts.push(zipEndOfCentralDirectory({ count: sat16(count), cdSize: sat32(cdSize), cdOffset: sat32(cdOffset) }));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, zip64 };
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Sequential writer over a file handle with a small buffer for headers; big data goes straight through. */
class Sink {
  /** Bytes on disk. */
  private flushed = 0;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  constructor(private readonly fh: FileHandle) {}

  /** Logical end of the file (buffered bytes included). */
  get position(): number {
    return this.flushed + this.pendingBytes;
  }

  async write(b: Uint8Array): Promise<void> {
    if (b.length >= 1 << 16) {
      await this.flush();
      await this.writeAt(b, this.flushed);
      this.flushed += b.length;
      return;
    }
    this.pending.push(b.slice());
    this.pendingBytes += b.length;
    if (this.pendingBytes >= 1 << 20) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const all = new Uint8Array(this.pendingBytes);
    let o = 0;
    for (const p of this.pending) {
      all.set(p, o);
      o += p.length;
    }
    this.pending = [];
    this.pendingBytes = 0;
    await this.writeAt(all, this.flushed);
    this.flushed += all.length;
  }

  /** Positional write of the whole buffer (retries short writes). Does not move `position`. */
  async writeAt(b: Uint8Array, at: number): Promise<void> {
    let done = 0;
    while (done < b.length) {
      const chunk = Math.min(b.length - done, 1 << 30);
      const { bytesWritten } = await this.fh.write(b, done, chunk, at + done);
      if (bytesWritten <= 0) throw new Error(`short write at byte ${at + done}`);
      done += bytesWritten;
    }
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function allocate(dtype: TorchDType, n: number): TorchTypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float16':
      return new Uint16Array(n);
    case 'int64':
      return new BigInt64Array(n);
  }
}

function arrayMatches(dtype: TorchDType, a: TorchTypedArray): boolean {
  return (
    (dtype === 'float32' && a instanceof Float32Array) || (dtype === 'float16' && a instanceof Uint16Array) || (dtype === 'int64' && a instanceof BigInt64Array)
  );
}

function isSyncIterable<T>(x: Iterable<T> | AsyncIterable<T>): x is Iterable<T> {
  return typeof (x as Iterable<T>)[Symbol.iterator] === 'function';
}

/** torch.save's archive name: the file name without extension; characters a zip path cannot hold are replaced. */
export function defaultArchiveName(file: string): string {
  const base = path.basename(file).replace(/\.[^.]*$/, '');
  const clean = base.replace(/[^A-Za-z0-9_.-]/g, '_');
  return clean.length > 0 ? clean : 'archive';
}

export interface PlannedTensor extends PickledTensor {
  readonly tiedTo?: string;
}

/** Storage keys ("0", "1", … in order of first use, like torch) for a tensor list; validates names, shapes and ties. */
export function planTorchTensors(specs: Iterable<TorchTensorSpec>): PlannedTensor[] {
  const out: PlannedTensor[] = [];
  const byName = new Map<string, PlannedTensor>();
  let nextKey = 0;
  for (const s of specs) out.push(planOne(s, byName, () => String(nextKey++)));
  return out;
}

function planOne(s: TorchTensorSpec, byName: Map<string, PlannedTensor>, newKey: () => string): PlannedTensor {
  if (typeof s.name !== 'string' || s.name.length === 0) throw new Error('torch writer: tensor name must be a non-empty string');
  if (byName.has(s.name)) throw new Error(`torch writer: duplicate tensor name '${s.name}'`);
  if (!Object.hasOwn(TORCH_STORAGE, s.dtype)) throw new Error(`torch writer: '${s.name}' has unsupported dtype '${s.dtype}'`);
  for (const d of s.shape) if (!Number.isSafeInteger(d) || d < 0) throw new Error(`torch writer: '${s.name}' has invalid shape [${s.shape.join(', ')}]`);
  const numel = numelOf(s.shape);
  let key: string;
  if (s.tiedTo !== undefined) {
    const target = byName.get(s.tiedTo);
    if (!target) throw new Error(`torch writer: '${s.name}' is tied to '${s.tiedTo}', which does not come before it`);
    if (target.dtype !== s.dtype || target.shape.length !== s.shape.length || target.shape.some((d, i) => d !== s.shape[i]))
      throw new Error(
        `torch writer: '${s.name}' (${s.dtype} [${s.shape.join(', ')}]) cannot share the storage of '${s.tiedTo}' (${target.dtype} [${target.shape.join(', ')}])`,
      );
    key = target.key;
  } else {
    key = newKey();
  }
  const planned: PlannedTensor = { name: s.name, dtype: s.dtype, shape: [...s.shape], key, numel, tiedTo: s.tiedTo };
  byName.set(s.name, planned);
  return planned;
}

/**
 * Writes a torch.save checkpoint of the given tensors to `file`, streaming: each tensor's data
 * is produced (`fill`) or taken (`data`), written with its CRC-32, and released before the next.
 */
export async function writeTorchCheckpoint(
  file: string,
  tensors: Iterable<TorchTensorSource> | AsyncIterable<TorchTensorSource>,
  options: WriteTorchOptions,
): Promise<WriteTorchResult> {
  if (!LITTLE_ENDIAN) throw new Error('torch writer: big-endian hosts are not supported');
  const { wrapper } = options;
  if (wrapper !== null && wrapper !== 'model' && wrapper !== 'module') throw new Error(`torch writer: invalid wrapper '${String(wrapper)}'`);
  const archive = options.archiveName ?? defaultArchiveName(file);
  if (!/^[A-Za-z0-9_.-]+$/.test(archive)) throw new Error(`torch writer: invalid archive name '${archive}'`);
  const force = options.forceZip64 === true;

  // Known up front → pickle first (torch's order). A sync iterable is drained into an array; its
  // items hold `fill` closures or data that already exists, so this adds no tensor memory.
  let source: Iterable<TorchTensorSource> | AsyncIterable<TorchTensorSource> = tensors;
  let specs = options.specs;
  if (!specs && isSyncIterable(tensors)) {
    const list = Array.from(tensors);
    source = list;
    specs = list;
  }
  const plan: PlannedTensor[] | null = specs ? planTorchTensors(specs) : null;

  const fh = await open(file, 'w');
  const sink = new Sink(fh);
  const entries: WrittenEntry[] = [];
  let ok = false;

  const writeEntry = async (name: string, size: number, produce: (emit: (b: Uint8Array) => Promise<void>) => Promise<void>) => {
    const offset = sink.position;
    const zip64 = force || size >= U32_MAX;
    const header = localHeader(name, offset, size, 0, zip64);
    await sink.write(header);
    const dataOffset = sink.position;
    let crc = 0;
    let written = 0;
    await produce(async (b) => {
      crc = await crc32Fast(b, crc);
      written += b.length;
      await sink.write(b);
    });
    if (written !== size) throw new Error(`torch writer: entry '${name}' produced ${written} bytes, expected ${size}`);
    await sink.flush();
    const crcBytes = new Uint8Array(4);
    new DataView(crcBytes.buffer).setUint32(0, crc >>> 0, true);
    await sink.writeAt(crcBytes, offset + 14);
    const e: WrittenEntry = { name, offset, dataOffset, size, crc32: crc, zip64 };
    entries.push(e);
    return e;
  };
  const writeBytes = (name: string, bytes: Uint8Array) => writeEntry(name, bytes.length, (emit) => emit(bytes));

  try {
    if (plan) await writeBytes(`${archive}/data.pkl`, buildTorchPickle(plan, wrapper));

    const seen: PlannedTensor[] = [];
    const byName = new Map<string, PlannedTensor>();
    let nextKey = 0;
    let index = 0;
    for await (const t of source) {
      let planned: PlannedTensor;
      if (plan) {
        planned = plan[index];
        if (!planned) throw new Error(`torch writer: the stream yields more tensors than the ${plan.length} specs`);
        if (planned.name !== t.name || planned.dtype !== t.dtype || planned.shape.join(',') !== t.shape.join(',') || planned.tiedTo !== t.tiedTo)
          throw new Error(`torch writer: stream item ${index} ('${t.name}') does not match spec '${planned.name}'`);
      } else {
        planned = planOne(t, byName, () => String(nextKey++));
      }
      seen.push(planned);
      let bytes = 0;
      if (t.tiedTo !== undefined) {
        if (t.data !== undefined || t.fill !== undefined)
          throw new Error(`torch writer: tied tensor '${t.name}' must not carry data (it shares '${t.tiedTo}')`);
      } else {
        if ((t.data === undefined) === (t.fill === undefined)) throw new Error(`torch writer: '${t.name}' needs exactly one of data / fill`);
        let arr: TorchTypedArray;
        if (t.data !== undefined) {
          arr = t.data;
          if (!arrayMatches(t.dtype, arr)) throw new Error(`torch writer: '${t.name}' data is not the array type of ${t.dtype}`);
          if (arr.length !== planned.numel)
            throw new Error(`torch writer: '${t.name}' has ${arr.length} elements, shape [${t.shape.join(', ')}] needs ${planned.numel}`);
        } else {
          arr = allocate(t.dtype, planned.numel);
          await t.fill!(arr);
        }
        const raw = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
        bytes = raw.length;
        await writeBytes(`${archive}/data/${planned.key}`, raw);
      }
      options.onTensor?.({ name: t.name, index, bytes });
      index++;
    }
    if (plan && index !== plan.length) throw new Error(`torch writer: the stream ended after ${index} of ${plan.length} tensors`);
    if (!plan) await writeBytes(`${archive}/data.pkl`, buildTorchPickle(seen, wrapper));
    await writeBytes(`${archive}/version`, ascii.encode('3\n'));

    // Central directory in torch's order: data.pkl, storages, version.
    const rank = (n: string) => (n.endsWith('/data.pkl') ? 0 : n.endsWith('/version') ? 2 : 1);
    const ordered = [...entries].sort((a, b) => rank(a.name) - rank(b.name) || a.offset - b.offset);
    const cdOffset = sink.position;
    for (const e of ordered) await sink.write(centralHeader(e, force));
    const cdSize = sink.position - cdOffset;
    const end = endRecords(ordered.length, cdOffset, cdSize, force);
    await sink.write(end.bytes);
    await sink.flush();
    ok = true;
    return {
      file,
      archiveName: archive,
      bytes: sink.position,
      tensors: seen.length,
      storages: entries.length - 2,
      pickleFirst: plan !== null,
      zip64: end.zip64,
      entries: ordered,
    };
  } finally {
    await fh.close();
    if (!ok) await rm(file, { force: true }).catch(() => {});
  }
}
