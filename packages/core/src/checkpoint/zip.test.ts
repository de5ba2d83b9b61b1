import { deflateRawSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { bytesSource } from './source.js';
import { buildZip, expectFormatError, type ZipInput } from '@mplug2/testing';
import { crc32 } from '../crc32.js';
import { ZipArchive } from './zip.js';

const enc = new TextEncoder();
const open = (bytes: Uint8Array) => ZipArchive.open(bytesSource(bytes), 'test.zip');
const put32 = (b: Uint8Array, at: number, v: number) => {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
};

const ENTRIES: ZipInput[] = [
  { name: 'a/data.pkl', data: enc.encode('hello pickle'.repeat(50)), method: 8 },
  { name: 'a/data/0', data: Uint8Array.from({ length: 100 }, (_, i) => i), align: 64 },
  { name: 'a/version', data: enc.encode('3\n') },
];

describe('ZipArchive', () => {
  test('crc32 reference values', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  for (const zip64 of [false, true])
    test(`reads STORED and DEFLATE entries (${zip64 ? 'zip64' : 'zip32'}, with a comment)`, async () => {
      const built = buildZip(ENTRIES, { zip64, comment: 'PK\x05\x06 not a record' });
      const z = await open(built.bytes);
      expect([...z.entries.keys()]).toEqual(['a/data.pkl', 'a/data/0', 'a/version']);
      const e0 = z.entries.get('a/data/0')!;
      expect(e0.size).toBe(100);
      const pos = await z.dataOffset(e0);
      expect(pos).toBe(built.layout[1].dataOffset);
      expect(pos % 64).toBe(0);
      expect(Array.from(await z.readEntry(e0, 1000))).toEqual(Array.from(ENTRIES[1].data));
      expect(new TextDecoder().decode(await z.readEntry(z.entries.get('a/data.pkl')!, 1 << 20))).toBe('hello pickle'.repeat(50));
    });

  test('not a zip / truncated inside the EOCD', async () => {
    await expectFormatError(open(enc.encode('short')), /only 5 bytes/);
    await expectFormatError(open(new Uint8Array(1000)), /end of central directory record not found/);
    const { bytes } = buildZip(ENTRIES);
    await expectFormatError(open(bytes.subarray(0, bytes.length - 5)), /end of central directory record not found/);
  });

  test('central directory outside the file, too small for its count, or with a huge count', async () => {
    const { bytes, eocdOffset } = buildZip(ENTRIES);
    let b = bytes.slice();
    put32(b, eocdOffset + 16, bytes.length + 100); // cd offset beyond EOF
    await expectFormatError(open(b), /runs past its end record/);
    b = bytes.slice();
    b[eocdOffset + 8] = b[eocdOffset + 10] = 0xfe; // 65534 entries
    b[eocdOffset + 9] = b[eocdOffset + 11] = 0xff;
    await expectFormatError(open(b), /cannot hold the 65534 entries/);
    b = bytes.slice();
    b[eocdOffset + 8] = b[eocdOffset + 10] = 4; // one more entry than present
    await expectFormatError(open(b), /truncated at entry 3|cannot hold/);
    b = bytes.slice();
    b[eocdOffset + 4] = 1; // disk number
    await expectFormatError(open(b), /multi-disk/);
  });

  test('zip64: huge counts and offsets beyond the file are rejected without allocation', async () => {
    const { bytes, eocdOffset } = buildZip(ENTRIES, { zip64: true });
    const rec = eocdOffset - 20 - 56;
    let b = bytes.slice();
    b.fill(0xff, rec + 24, rec + 40); // 2^64-1 entries
    await expectFormatError(open(b), /2\^53/);
    b = bytes.slice();
    put32(b, rec + 32, 0x7fffffff); // entries (total) = 2^31-1
    put32(b, rec + 24, 0x7fffffff);
    await expectFormatError(open(b), /cannot hold/);
    b = bytes.slice();
    put32(b, eocdOffset - 20 + 8, bytes.length); // locator → record offset beyond EOF
    await expectFormatError(open(b), /outside the file/);
    b = bytes.slice();
    put32(b, eocdOffset - 20, 0); // locator signature destroyed: saturated EOCD without zip64
    await expectFormatError(open(b), /without a zip64/);
  });

  test('duplicate names and overlapping entries', async () => {
    await expectFormatError(open(buildZip([ENTRIES[1], { ...ENTRIES[1] }]).bytes), /duplicate entry name/);
    const twice = buildZip([ENTRIES[1], { ...ENTRIES[2], localHeaderOffset: 0 }]);
    await expectFormatError(open(twice.bytes), /overlaps/);
    // a central record whose data length runs into the next entry
    const built = buildZip([
      { name: 'x', data: new Uint8Array(10) },
      { name: 'y', data: new Uint8Array(10) },
    ]);
    const b = built.bytes.slice();
    put32(b, built.centralDirectoryOffset + 20, 30); // compressed size 30 > room before 'y'
    await expectFormatError(open(b), /overlaps 'y'/);
    // an entry whose declared size runs into the central directory
    const b2 = built.bytes.slice();
    const second = built.centralDirectoryOffset + 46 + 1;
    put32(b2, second + 20, 1000);
    await expectFormatError(open(b2), /runs into the central directory/);
  });

  test('local header problems are found when the entry is used', async () => {
    const built = buildZip(ENTRIES);
    let b = built.bytes.slice();
    b[built.layout[1].localHeaderOffset] = 0; // signature
    let z = await open(b);
    await expectFormatError(z.dataOffset(z.entries.get('a/data/0')!), /bad local header signature/);
    b = built.bytes.slice();
    b[built.layout[1].localHeaderOffset + 28] = 0xff; // extra length → data beyond the next entry
    z = await open(b);
    await expectFormatError(z.dataOffset(z.entries.get('a/data/0')!), /runs past the next entry/);
    b = built.bytes.slice();
    b[built.layout[1].localHeaderOffset + 30] = 0x62; // name 'b/data/0'
    z = await open(b);
    await expectFormatError(z.dataOffset(z.entries.get('a/data/0')!), /local header names 'b\/data\/0'/);
  });

  test('CRC mismatch, bounded inflate (zip bomb), corrupt deflate, unsupported method, encryption', async () => {
    const name = 'a/data.pkl';
    const read = async (e: ZipInput, max = 1 << 20) => {
      const z = await open(buildZip([e]).bytes);
      return z.readEntry(z.entries.get(name)!, max);
    };
    await expectFormatError(read({ name, data: enc.encode('abc'), crc: 1234 }), /CRC-32 mismatch/);
    const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024)); // 64 MiB of zeros in ~64 KiB
    expect(bomb.length).toBeLessThan(100_000);
    await expectFormatError(read({ name, data: new Uint8Array(10), method: 8, payload: bomb, size: 1000 }), /inflates to more than the 1000 bytes/);
    await expectFormatError(
      read({ name, data: new Uint8Array(10), method: 8, payload: bomb, size: 64 * 1024 * 1024 }, 1 << 20),
      /above the 1048576-byte limit/,
    );
    await expectFormatError(read({ name, data: new Uint8Array(10), method: 8, payload: new Uint8Array(10), size: 20_000 }), /impossible for DEFLATE/);
    await expectFormatError(read({ name, data: new Uint8Array(10), method: 8, payload: Uint8Array.of(0xff, 0xff, 0xff) }), /corrupt DEFLATE|inflates/);
    const short = deflateRawSync(enc.encode('abc'));
    await expectFormatError(read({ name, data: enc.encode('abcdef'), method: 8, payload: short }), /inflates to 3 bytes but declares 6/);
    await expectFormatError(read({ name, data: enc.encode('abc'), method: 12 }), /compression method 12 is not supported/);
    const z = await open(buildZip([{ name, data: enc.encode('abc') }]).bytes);
    await expectFormatError(z.readEntry({ ...z.entries.get(name)!, flags: 1 }, 100), /encrypted/);
  });

  test('central directory size cap', async () => {
    const { bytes } = buildZip(ENTRIES);
    await expectFormatError(ZipArchive.open(bytesSource(bytes), 't', { maxCentralDirectoryBytes: 10 }), /exceeds the 10-byte limit/);
  });
});
