/**
 * Needs ~2.5 GB of RAM and ~10 s: a zip64 torch archive holding a
 * 2.25 GiB storage, written as a sparse file, read through the real file source in 1 GiB ranges.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open as fsOpen } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { openCheckpoint } from './open-file.js';
import { Bytes, torchPickle } from '@mplug2/testing';
import { crc32 } from '../crc32.js';

describe('tensors over 2 GiB', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mplug2-big-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a 2.25 GiB float32 storage reads in ranges, with values at both ends and past 2^31', async () => {
    const numel = 9 * 2 ** 26; // 2.25 GiB of float32
    const size = numel * 4;
    const pkl = torchPickle([
      { name: 'big', storageKey: '0', storageType: 'FloatStorage', storageNumel: numel, shape: [numel] },
      { name: 'tail', storageKey: '0', storageType: 'FloatStorage', storageNumel: numel, offset: numel - 4, shape: [2, 2] },
    ]);
    const enc = new TextEncoder();
    const file = join(dir, 'big.pth');
    const fh = await fsOpen(file, 'w');
    const w = new Bytes();
    const entries: { name: Uint8Array; lho: number; size: number; crc: number }[] = [];
    const local = (name: string, len: number, crc: number, pad = 0) => {
      const n = enc.encode(name);
      entries.push({ name: n, lho: w.length, size: len, crc });
      w.u32(0x04034b50).u16(45).u16(0).u16(0).u16(0).u16(0).u32(crc).u32(len).u32(len).u16(n.length).u16(pad).bytes(n);
      if (pad) w.bytes(new Uint8Array(pad));
    };
    local('archive/data.pkl', pkl.length, crc32(pkl));
    w.bytes(pkl);
    local('archive/data/0', size, 0, 64 - ((w.length + 30 + 'archive/data/0'.length) % 64));
    const dataStart = w.length;
    await fh.write(w.done(), 0, w.length, 0);
    const marks: [number, number][] = [
      [0, 1.5],
      [2 ** 29 + 7, -2.25], // byte offset > 2^31
      [numel - 1, 42],
    ];
    for (const [i, v] of marks) await fh.write(new Uint8Array(Float32Array.of(v).buffer), 0, 4, dataStart + i * 4);
    const cd = new Bytes();
    const cdOffset = dataStart + size;
    for (const e of entries) {
      cd.u32(0x02014b50).u16(45).u16(45).u16(0).u16(0).u16(0).u16(0).u32(e.crc).u32(0xffffffff).u32(0xffffffff);
      cd.u16(e.name.length).u16(28).u16(0).u16(0).u16(0).u32(0).u32(0xffffffff).bytes(e.name);
      cd.u16(1).u16(24).u64(e.size).u64(e.size).u64(e.lho);
    }
    const cdSize = cd.length;
    cd.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(entries.length).u64(entries.length).u64(cdSize).u64(cdOffset);
    cd.u32(0x07064b50)
      .u32(0)
      .u64(cdOffset + cdSize)
      .u32(1);
    cd.u32(0x06054b50).u16(0).u16(0).u16(0xffff).u16(0xffff).u32(0xffffffff).u32(0xffffffff).u16(0);
    await fh.write(cd.done(), 0, cd.length, cdOffset);
    await fh.close();

    const ck = await openCheckpoint(file, { verifyCrc: false });
    try {
      expect(ck.list()).toEqual([
        { name: 'big', dtype: 'float32', shape: [numel] },
        { name: 'tail', dtype: 'float32', shape: [2, 2] },
      ]);
      expect(ck.rawLocation('big')).toEqual({ offset: dataStart, byteLength: size });
      expect(Array.from((await ck.read('tail')) as Float32Array)).toEqual([0, 0, 0, 42]);
      const big = (await ck.read('big')) as Float32Array;
      expect(big.length).toBe(numel);
      for (const [i, v] of marks) expect(big[i]).toBe(v);
      expect(big[2 ** 29 + 6]).toBe(0);
    } finally {
      await ck.close();
    }
  }, 120_000);
});
