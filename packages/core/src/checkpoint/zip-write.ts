/**
 * ZIP record writer, beside the reader in `zip.ts`: the local file header, central directory
 * header, zip64 extended-information extra field, 'FB' padding extra field, zip64 end record,
 * zip64 locator and end of central directory. Each function writes one record from explicit
 * field values (defaults are what torch.save writes), so streaming writers (the torch.save
 * writer), in-memory writers (the fuzz) and tests that craft malformed archives (by overriding
 * any field) all share one layout.
 */

export const ZIP_SIG_LOCAL = 0x04034b50;
export const ZIP_SIG_CENTRAL = 0x02014b50;
export const ZIP_SIG_EOCD = 0x06054b50;
export const ZIP_SIG_ZIP64_EOCD = 0x06064b50;
export const ZIP_SIG_ZIP64_LOCATOR = 0x07064b50;
export const ZIP_LOCAL_HEADER_SIZE = 30;
export const ZIP_CENTRAL_HEADER_SIZE = 46;
export const ZIP_EOCD_SIZE = 22;
export const ZIP64_EOCD_SIZE = 56;
export const ZIP64_LOCATOR_SIZE = 20;
export const ZIP_VERSION_DEFAULT = 20;
export const ZIP_VERSION_ZIP64 = 45;
/** Extra field ids: zip64 extended information, and 'FB' (torch's padding). */
export const ZIP_EXTRA_ZIP64 = 0x0001;
export const ZIP_EXTRA_PADDING = 0x4246;

const EMPTY = new Uint8Array(0);

/** Little-endian record builder. u16/u32 keep the low bits of their value (so tests can write any field); u64 takes safe integers only. */
class Rec {
  private readonly view: DataView;
  readonly bytes: Uint8Array;
  private p = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u16(v: number): this {
    this.view.setUint16(this.p, v, true);
    this.p += 2;
    return this;
  }
  u32(v: number): this {
    this.view.setUint32(this.p, v >>> 0, true);
    this.p += 4;
    return this;
  }
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`zip: ${v} is not a valid 64-bit size/offset`);
    this.view.setUint32(this.p, v % 0x100000000, true);
    this.view.setUint32(this.p + 4, Math.floor(v / 0x100000000), true);
    this.p += 8;
    return this;
  }
  /** The fields the local and central headers share, flags to extra field length. */
  header(f: ZipHeaderFields, extraLength: number): this {
    return this.u16(f.flags ?? 0)
      .u16(f.method ?? 0)
      .u16(f.time ?? 0)
      .u16(f.date ?? 0)
      .u32(f.crc32)
      .u32(f.compressedSize)
      .u32(f.size)
      .u16(f.name.length)
      .u16(extraLength);
  }
  raw(b: Uint8Array): this {
    this.bytes.set(b, this.p);
    this.p += b.length;
    return this;
  }
}

/** Fields shared by the local and central headers. */
export interface ZipHeaderFields {
  /** Version needed to extract (default 20). */
  readonly version?: number;
  readonly flags?: number;
  /** 0 = STORED (default), 8 = DEFLATE. */
  readonly method?: number;
  /** DOS time and date (default 0). */
  readonly time?: number;
  readonly date?: number;
  readonly crc32: number;
  readonly compressedSize: number;
  /** Uncompressed size. */
  readonly size: number;
  readonly name: Uint8Array;
  readonly extra?: Uint8Array;
}

export interface ZipCentralFields extends ZipHeaderFields {
  /** Version made by (default: `version`). */
  readonly versionMadeBy?: number;
  readonly localHeaderOffset: number;
  readonly comment?: Uint8Array;
  readonly diskStart?: number;
  readonly internalAttributes?: number;
  readonly externalAttributes?: number;
}

/** Local file header (30 bytes + name + extra field). The CRC-32 is at byte 14. */
export function zipLocalHeader(f: ZipHeaderFields): Uint8Array {
  const extra = f.extra ?? EMPTY;
  return new Rec(ZIP_LOCAL_HEADER_SIZE + f.name.length + extra.length)
    .u32(ZIP_SIG_LOCAL)
    .u16(f.version ?? ZIP_VERSION_DEFAULT)
    .header(f, extra.length)
    .raw(f.name)
    .raw(extra).bytes;
}

/** Central directory header (46 bytes + name + extra field + comment). */
export function zipCentralHeader(f: ZipCentralFields): Uint8Array {
  const extra = f.extra ?? EMPTY;
  const comment = f.comment ?? EMPTY;
  const version = f.version ?? ZIP_VERSION_DEFAULT;
  return new Rec(ZIP_CENTRAL_HEADER_SIZE + f.name.length + extra.length + comment.length)
    .u32(ZIP_SIG_CENTRAL)
    .u16(f.versionMadeBy ?? version)
    .u16(version)
    .header(f, extra.length)
    .u16(comment.length)
    .u16(f.diskStart ?? 0)
    .u16(f.internalAttributes ?? 0)
    .u32(f.externalAttributes ?? 0)
    .u32(f.localHeaderOffset)
    .raw(f.name)
    .raw(extra)
    .raw(comment).bytes;
}

/** zip64 extended-information extra field holding `values` (in the order the format wants: size, compressed size, offset). */
export function zip64ExtraField(values: readonly number[]): Uint8Array {
  const r = new Rec(4 + 8 * values.length).u16(ZIP_EXTRA_ZIP64).u16(8 * values.length);
  for (const v of values) r.u64(v);
  return r.bytes;
}

/** 'FB' padding extra field, as torch.save writes, starting at absolute position `at`: the bytes after it start at a multiple of `align`. */
export function zipPaddingField(at: number, align: number, fill = 0): Uint8Array {
  const pad = (align - ((at + 4) % align)) % align;
  const b = new Rec(4 + pad).u16(ZIP_EXTRA_PADDING).u16(pad).bytes;
  b.fill(fill, 4);
  return b;
}

export interface ZipEndFields {
  /** Entries (on this disk and in total). */
  readonly count: number;
  readonly cdSize: number;
  readonly cdOffset: number;
}

/** zip64 end of central directory record (56 bytes). */
export function zip64EndRecord(f: ZipEndFields): Uint8Array {
  return new Rec(ZIP64_EOCD_SIZE)
    .u32(ZIP_SIG_ZIP64_EOCD)
    .u64(ZIP64_EOCD_SIZE - 12) // size of the rest of this record
    .u16(ZIP_VERSION_ZIP64)
    .u16(ZIP_VERSION_ZIP64)
    .u32(0) // this disk
    .u32(0) // disk with the central directory
    .u64(f.count)
    .u64(f.count)
    .u64(f.cdSize)
    .u64(f.cdOffset).bytes;
}

/** zip64 end of central directory locator (20 bytes), pointing at the zip64 end record. */
export function zip64Locator(recordOffset: number): Uint8Array {
  return new Rec(ZIP64_LOCATOR_SIZE)
    .u32(ZIP_SIG_ZIP64_LOCATOR)
    .u32(0) // disk with the zip64 end record
    .u64(recordOffset)
    .u32(1).bytes; // total disks
}

/** End of central directory record (22 bytes + comment); values are written as given (saturate them for zip64). */
export function zipEndOfCentralDirectory(f: ZipEndFields & { readonly comment?: Uint8Array }): Uint8Array {
  const comment = f.comment ?? EMPTY;
  return new Rec(ZIP_EOCD_SIZE + comment.length)
    .u32(ZIP_SIG_EOCD)
    .u16(0) // this disk
    .u16(0) // disk with the central directory
    .u16(f.count)
    .u16(f.count)
    .u32(f.cdSize)
    .u32(f.cdOffset)
    .u16(comment.length)
    .raw(comment).bytes;
}
