/**
 * A minimal, defensive ZIP reader for torch.save archives.
 *
 * Reads only what it needs by offset: the end-of-central-directory record (searched in the last
 * 64 KiB + 22 bytes), the zip64 locator / record when present, the central directory (size capped),
 * and each entry's local header when that entry's data position is asked for. Every size and offset
 * is checked against the real file size before anything is allocated; entries must not overlap each
 * other or the central directory; names must be unique. Only STORED data can be referenced in
 * place; DEFLATE is supported for small records (data.pkl) with a bounded inflate.
 */
import { crc32Fast, loadZlib } from '../crc32.js';
import { CheckpointFormatError } from '../errors.js';
import { type ByteSource, type ReadContext, readExact } from './source.js';

import {
  ZIP_CENTRAL_HEADER_SIZE as CENTRAL_MIN,
  ZIP_EOCD_SIZE as EOCD_SIZE,
  ZIP_LOCAL_HEADER_SIZE as LOCAL_MIN,
  ZIP_SIG_CENTRAL as SIG_CENTRAL,
  ZIP_SIG_EOCD as SIG_EOCD,
  ZIP_SIG_LOCAL as SIG_LOCAL,
  ZIP_SIG_ZIP64_EOCD as SIG_ZIP64_EOCD,
  ZIP_SIG_ZIP64_LOCATOR as SIG_ZIP64_LOCATOR,
  ZIP64_EOCD_SIZE as ZIP64_EOCD_MIN,
  ZIP64_LOCATOR_SIZE,
} from './zip-write.js';

const MAX_COMMENT = 0xffff;

/** DEFLATE records above this many bytes may expand at most MAX_DEFLATE_RATIO times their compressed size. */
export const MAX_DEFLATE_FREE_BYTES = 1 << 20;
export const MAX_DEFLATE_RATIO = 100;

export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;

export interface ZipOptions {
  /** Largest central directory accepted (default 128 MiB: ~1.5 M entries). */
  maxCentralDirectoryBytes?: number;
}

export interface ZipEntry {
  readonly name: string;
  /** The name as stored in the central directory. */
  readonly rawName: Uint8Array;
  readonly index: number;
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  /** Uncompressed size. */
  readonly size: number;
  readonly localHeaderOffset: number;
  /** Exclusive bound of this entry's local header + data: the next entry's local header, or the central directory. */
  readonly limit: number;
}

// ---------------------------------------------------------------------------------------------

function u16(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8);
}
function u32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}
/** Little-endian u64 as a JS number; null when it does not fit a safe integer. */
function u64(b: Uint8Array, p: number): number | null {
  const lo = u32(b, p);
  const hi = u32(b, p + 4);
  if (hi > 0x1fffff) return null;
  return hi * 0x100000000 + lo;
}

const utf8 = new TextDecoder('utf-8');
function decodeName(bytes: Uint8Array, utf8Flag: boolean): string {
  if (utf8Flag) return utf8.decode(bytes);
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  // CP437 and ASCII agree below 0x80, which is all torch writes; keep bytes above as latin-1.
  return s;
}

export interface ZipEntryLayout {
  name: Uint8Array;
  method: number;
  crc: number;
  csize: number;
  usize: number;
  /** Local header offset, data offset and central directory entry offset. */
  lh: number;
  data: number;
  cd: number;
}

export interface ZipLayout {
  entries: ZipEntryLayout[];
  cdOffset: number;
  cdSize: number;
  eocd: number;
}

/**
 * Byte positions of a plain (non-zip64) archive's records, or null when `bytes` is not one. No
 * validation beyond what locating the records needs (for tools that rewrite fields: the fuzz);
 * `ZipArchive.open` is the checked reader.
 */
export function zipLayout(bytes: Uint8Array): ZipLayout | null {
  let eocd = -1;
  for (let i = bytes.length - EOCD_SIZE; i >= Math.max(0, bytes.length - EOCD_SIZE - MAX_COMMENT); i--)
    if (u32(bytes, i) === SIG_EOCD) {
      eocd = i;
      break;
    }
  if (eocd < 0) return null;
  const count = u16(bytes, eocd + 10);
  const cdOffset = u32(bytes, eocd + 16);
  const entries: ZipEntryLayout[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_MIN > bytes.length || u32(bytes, p) !== SIG_CENTRAL) return null;
    const nameLen = u16(bytes, p + 28);
    const lh = u32(bytes, p + 42);
    if (lh + LOCAL_MIN > bytes.length) return null;
    const data = lh + LOCAL_MIN + u16(bytes, lh + 26) + u16(bytes, lh + 28);
    entries.push({
      name: bytes.slice(p + CENTRAL_MIN, p + CENTRAL_MIN + nameLen),
      method: u16(bytes, p + 10),
      crc: u32(bytes, p + 16),
      csize: u32(bytes, p + 20),
      usize: u32(bytes, p + 24),
      lh,
      data,
      cd: p,
    });
    p += CENTRAL_MIN + nameLen + u16(bytes, p + 30) + u16(bytes, p + 32);
  }
  return { entries, cdOffset, cdSize: u32(bytes, eocd + 12), eocd };
}

export class ZipArchive {
  private readonly dataOffsets = new Map<ZipEntry, number>();

  private constructor(
    readonly source: ByteSource,
    readonly file: string,
    /** Entries in central-directory order. */
    readonly entries: ReadonlyMap<string, ZipEntry>,
    readonly centralDirectoryOffset: number,
  ) {}

  static async open(source: ByteSource, file: string, options: ZipOptions = {}): Promise<ZipArchive> {
    const maxCd = options.maxCentralDirectoryBytes ?? 128 * 1024 * 1024;
    const ctx: ReadContext = { file, entry: 'end of central directory' };
    const fail = (detail: string, entry = ctx.entry): never => {
      throw new CheckpointFormatError(file, entry, detail);
    };
    const size = source.size;
    if (size < EOCD_SIZE) fail(`not a ZIP archive or truncated: file has only ${size} bytes`);

    // --- End of central directory: the last signature whose comment fits in the file. Torch writes no
    // comment, so the record is usually the last 22 bytes; only otherwise is the last 64 KiB searched.
    let tailLen = EOCD_SIZE;
    let tailStart = size - tailLen;
    let tail = await readExact(source, tailStart, tailLen, ctx, 'end of central directory');
    let eocd = u32(tail, 0) === SIG_EOCD && u16(tail, 20) === 0 ? 0 : -1;
    if (eocd < 0) {
      tailLen = Math.min(size, EOCD_SIZE + MAX_COMMENT);
      tailStart = size - tailLen;
      tail = await readExact(source, tailStart, tailLen, ctx, 'end of central directory search');
      for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
        if (tail[i] === 0x50 && u32(tail, i) === SIG_EOCD && i + EOCD_SIZE + u16(tail, i + 20) <= tailLen) {
          eocd = i;
          break;
        }
      }
    }
    if (eocd < 0) fail('not a ZIP archive or truncated: end of central directory record not found');
    const eocdPos = tailStart + eocd;
    const disk = u16(tail, eocd + 4);
    const cdDisk = u16(tail, eocd + 6);
    let diskEntries: number = u16(tail, eocd + 8);
    let totalEntries: number = u16(tail, eocd + 10);
    let cdSize: number = u32(tail, eocd + 12);
    let cdOffset: number = u32(tail, eocd + 16);
    let cdEnd = eocdPos;

    // --- zip64: a locator right before the EOCD points at the zip64 EOCD record.
    let locator: Uint8Array | null = null;
    if (eocdPos >= ZIP64_LOCATOR_SIZE) {
      locator =
        eocd >= ZIP64_LOCATOR_SIZE
          ? tail.subarray(eocd - ZIP64_LOCATOR_SIZE, eocd)
          : await readExact(source, eocdPos - ZIP64_LOCATOR_SIZE, ZIP64_LOCATOR_SIZE, ctx, 'zip64 locator');
      if (u32(locator, 0) !== SIG_ZIP64_LOCATOR) locator = null;
    }
    const saturated = diskEntries === 0xffff || totalEntries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff;
    if (locator) {
      const zctx: ReadContext = { file, entry: 'zip64 end of central directory' };
      const recPos = u64(locator, 8);
      const totalDisks = u32(locator, 16);
      if (u32(locator, 4) !== 0 || totalDisks > 1) fail('multi-disk ZIP archives are not supported', zctx.entry);
      if (recPos === null || recPos + ZIP64_EOCD_MIN > eocdPos - ZIP64_LOCATOR_SIZE)
        fail(`zip64 record offset ${recPos ?? 'beyond 2^53'} is outside the file`, zctx.entry);
      const rec = await readExact(source, recPos!, ZIP64_EOCD_MIN, zctx, 'zip64 end of central directory');
      if (u32(rec, 0) !== SIG_ZIP64_EOCD) fail('zip64 end of central directory signature not found', zctx.entry);
      if (u32(rec, 16) !== 0 || u32(rec, 20) !== 0) fail('multi-disk ZIP archives are not supported', zctx.entry);
      const de = u64(rec, 24);
      const te = u64(rec, 32);
      const cs = u64(rec, 40);
      const co = u64(rec, 48);
      if (de === null || te === null || cs === null || co === null) fail('zip64 sizes/counts do not fit in 2^53', zctx.entry);
      diskEntries = de!;
      totalEntries = te!;
      cdSize = cs!;
      cdOffset = co!;
      cdEnd = recPos!;
    } else {
      if (saturated) fail('zip64 archive without a zip64 end of central directory locator');
      if (disk !== 0 || cdDisk !== 0) fail('multi-disk ZIP archives are not supported');
    }
    if (diskEntries !== totalEntries) fail('multi-disk ZIP archives are not supported');
    if (cdOffset + cdSize > cdEnd) fail(`central directory (offset ${cdOffset}, ${cdSize} bytes) runs past its end record at ${cdEnd}`);
    if (totalEntries > Math.floor(cdSize / CENTRAL_MIN)) fail(`central directory of ${cdSize} bytes cannot hold the ${totalEntries} entries it declares`);
    if (cdSize > maxCd) fail(`central directory of ${cdSize} bytes exceeds the ${maxCd}-byte limit`);

    // --- Central directory entries.
    const cctx: ReadContext = { file, entry: 'central directory' };
    const cd = await readExact(source, cdOffset, cdSize, cctx, 'central directory');
    const entries = new Map<string, ZipEntry>();
    const list: ZipEntry[] = [];
    let p = 0;
    for (let index = 0; index < totalEntries; index++) {
      if (p + CENTRAL_MIN > cdSize) fail(`truncated at entry ${index}`, cctx.entry);
      if (u32(cd, p) !== SIG_CENTRAL) fail(`bad signature for entry ${index} at byte ${cdOffset + p}`, cctx.entry);
      const flags = u16(cd, p + 8);
      const method = u16(cd, p + 10);
      const crc = u32(cd, p + 16);
      let csize: number = u32(cd, p + 20);
      let usize: number = u32(cd, p + 24);
      const nameLen = u16(cd, p + 28);
      const extraLen = u16(cd, p + 30);
      const commentLen = u16(cd, p + 32);
      const diskStart = u16(cd, p + 34);
      let lho: number = u32(cd, p + 42);
      const end = p + CENTRAL_MIN + nameLen + extraLen + commentLen;
      if (end > cdSize) fail(`truncated at entry ${index}`, cctx.entry);
      const rawName = cd.slice(p + CENTRAL_MIN, p + CENTRAL_MIN + nameLen);
      const name = decodeName(rawName, (flags & 0x800) !== 0);
      // zip64 extended information: present fields follow the order usize, csize, offset, disk.
      if (usize === 0xffffffff || csize === 0xffffffff || lho === 0xffffffff) {
        let q = p + CENTRAL_MIN + nameLen;
        const extraEnd = q + extraLen;
        let found = false;
        while (q + 4 <= extraEnd) {
          const id = u16(cd, q);
          const len = u16(cd, q + 2);
          if (q + 4 + len > extraEnd) break;
          if (id === 0x0001) {
            found = true;
            let r = q + 4;
            const take = (): number => {
              if (r + 8 > q + 4 + len) fail('zip64 extra field too short', name);
              const v = u64(cd, r);
              if (v === null) fail('zip64 size/offset does not fit in 2^53', name);
              r += 8;
              return v!;
            };
            if (usize === 0xffffffff) usize = take();
            if (csize === 0xffffffff) csize = take();
            if (lho === 0xffffffff) lho = take();
            break;
          }
          q += 4 + len;
        }
        if (!found) fail('entry has saturated sizes but no zip64 extra field', name);
      }
      if (diskStart !== 0 && diskStart !== 0xffff) fail('multi-disk ZIP archives are not supported', name);
      if (entries.has(name)) fail(`duplicate entry name (entries ${entries.get(name)!.index} and ${index})`, name);
      if (lho + LOCAL_MIN + nameLen + csize > cdOffset)
        fail(`entry data (local header at ${lho}, ${csize} bytes) runs into the central directory at ${cdOffset}`, name);
      const entry: ZipEntry = {
        name,
        rawName,
        index,
        method,
        flags,
        crc32: crc,
        compressedSize: csize,
        size: usize,
        localHeaderOffset: lho,
        limit: cdOffset,
      };
      entries.set(name, entry);
      list.push(entry);
      p = end;
    }

    // --- No two entries may share bytes: sort by local header offset and bound each by the next.
    const sorted = [...list].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
    for (let i = 0; i < sorted.length; i++) {
      const e = sorted[i];
      const next = sorted[i + 1];
      if (!next) break;
      if (next.localHeaderOffset < e.localHeaderOffset + LOCAL_MIN + e.compressedSize)
        fail(`entry overlaps '${next.name}' (local headers at ${e.localHeaderOffset} and ${next.localHeaderOffset})`, e.name);
      (e as { limit: number }).limit = next.localHeaderOffset;
    }
    return new ZipArchive(source, file, entries, cdOffset);
  }

  /** Absolute position of the entry's (possibly compressed) data, from its local header. Cached. */
  async dataOffset(entry: ZipEntry): Promise<number> {
    const cached = this.dataOffsets.get(entry);
    if (cached !== undefined) return cached;
    const ctx: ReadContext = { file: this.file, entry: entry.name };
    const fail = (detail: string): never => {
      throw new CheckpointFormatError(this.file, entry.name, detail);
    };
    const lho = entry.localHeaderOffset;
    // Header + name only (never the extra field or the data that follows).
    const nameLen = entry.rawName.length;
    if (lho + LOCAL_MIN + nameLen > entry.limit) fail('truncated local header');
    const h = await readExact(this.source, lho, LOCAL_MIN + nameLen, ctx, 'local header');
    if (u32(h, 0) !== SIG_LOCAL) fail(`bad local header signature at byte ${lho}`);
    const method = u16(h, 8);
    const localNameLen = u16(h, 26);
    const extraLen = u16(h, 28);
    if (method !== entry.method) fail(`local header says compression method ${method}, central directory ${entry.method}`);
    if (localNameLen !== nameLen || h.subarray(LOCAL_MIN).some((b, i) => b !== entry.rawName[i]))
      fail(`local header names '${decodeName(h.subarray(LOCAL_MIN, LOCAL_MIN + Math.min(nameLen, localNameLen)), true)}'`);
    const dataPos = lho + LOCAL_MIN + localNameLen + extraLen;
    if (dataPos + entry.compressedSize > entry.limit)
      fail(`entry data (${entry.compressedSize} bytes at ${dataPos}) runs past the next entry or the central directory at ${entry.limit}`);
    this.dataOffsets.set(entry, dataPos);
    return dataPos;
  }

  /**
   * The entry's uncompressed content, for small records (data.pkl, version, byteorder).
   * STORED or DEFLATE; sizes checked against `maxBytes` before reading; CRC-32 verified.
   */
  async readEntry(entry: ZipEntry, maxBytes: number): Promise<Uint8Array> {
    const ctx: ReadContext = { file: this.file, entry: entry.name };
    const fail = (detail: string, cause?: unknown): never => {
      throw new CheckpointFormatError(this.file, entry.name, detail, cause === undefined ? undefined : { cause });
    };
    if (entry.flags & 0x1) fail('encrypted entries are not supported');
    if (entry.size > maxBytes) fail(`declares ${entry.size} bytes, above the ${maxBytes}-byte limit for this record`);
    const pos = await this.dataOffset(entry);
    let out: Uint8Array;
    if (entry.method === METHOD_STORED) {
      if (entry.compressedSize !== entry.size) fail(`stored entry has compressed size ${entry.compressedSize} but size ${entry.size}`);
      out = await readExact(this.source, pos, entry.size, ctx, 'entry data');
    } else if (entry.method === METHOD_DEFLATE) {
      const zlib = await loadZlib();
      if (!zlib) fail('DEFLATE-compressed record needs node:zlib, which this runtime lacks');
      if (entry.compressedSize > maxBytes) fail(`compressed size ${entry.compressedSize} is above the ${maxBytes}-byte limit for this record`);
      // DEFLATE cannot expand more than ~1032:1, so a larger declared size is a lie (or a bomb).
      if (entry.size > entry.compressedSize * 1032 + 1024)
        fail(`declares ${entry.size} bytes from only ${entry.compressedSize} compressed bytes (impossible for DEFLATE)`);
      // An honest bomb is possible up to ~1032:1: a 500 KB record inflating to 512 MiB of pickle
      // opcodes cost ~10 s and 1 GB (fuzz). Real records (pickles) compress ~5:1.
      if (entry.size > MAX_DEFLATE_FREE_BYTES && entry.size > entry.compressedSize * MAX_DEFLATE_RATIO)
        fail(`declares ${entry.size} bytes from ${entry.compressedSize} compressed bytes, a ratio above ${MAX_DEFLATE_RATIO}:1 (a zip bomb?)`);
      const packed = await readExact(this.source, pos, entry.compressedSize, ctx, 'compressed entry data');
      try {
        // maxOutputLength bounds the inflate: a zip bomb stops at the declared size (+1 to detect it).
        out = zlib!.inflateRawSync(packed, { maxOutputLength: Math.max(1, entry.size + 1) });
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) fail(`inflates to more than the ${entry.size} bytes it declares`, e);
        fail(`corrupt DEFLATE data (${(e as Error).message})`, e);
      }
      if (out!.length !== entry.size) fail(`inflates to ${out!.length} bytes but declares ${entry.size}`);
    } else {
      fail(`compression method ${entry.method} is not supported (only STORED and DEFLATE)`);
    }
    const crc = await crc32Fast(out!);
    if (crc !== entry.crc32) fail(`CRC-32 mismatch (stored ${entry.crc32.toString(16)}, computed ${crc.toString(16)}): the file is corrupt`);
    return out!;
  }
}
