import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '@mplug2/core';
import { checkTorchLayout, LAYOUT_CHECK_SCRIPT } from '@mplug2/testing';
import { float16ToNumber, float32ToFloat16Bits } from '@mplug2/core';
import { buildTorchPickle, centralHeader, endRecords, localHeader, planTorchTensors, writeTorchCheckpoint, type TorchTensorSource } from './torch-writer.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-torch-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const f32 = (xs: number[]) => Float32Array.from(xs);
const halfValues = [0, -0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8, 0.1, -1000.5, 3.140625, 1e-7, 2048];

/** A small checkpoint covering fp32 / fp16 / int64, a scalar, an empty tensor, a 5-D weight and a tie. */
function smallTensors(): TorchTensorSource[] {
  return [
    { name: 'layer.weight', dtype: 'float32', shape: [3, 4], data: f32([1, -2, 3.25, 1e-30, -1e30, 0.1, 7, 8, 9, 10, 11, -0]) },
    {
      name: 'layer.bias',
      dtype: 'float32',
      shape: [4],
      fill: (out) => {
        for (let i = 0; i < out.length; i++) (out as Float32Array)[i] = i * 0.5 - 1;
      },
    },
    { name: 'half', dtype: 'float16', shape: [3, 4], data: Uint16Array.from(halfValues, float32ToFloat16Bits) },
    { name: 'ids', dtype: 'int64', shape: [1, 5], data: BigInt64Array.from([0n, 1n, -5n, 2n ** 40n, -(2n ** 50n)]) },
    { name: 'scalar', dtype: 'float32', shape: [], data: f32([3.5]) },
    { name: 'empty', dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
    { name: 'conv.weight', dtype: 'float32', shape: [2, 1, 3, 1, 1], data: f32([1, 2, 3, 4, 5, 6]) },
    { name: 'head.weight', dtype: 'float32', shape: [3, 4], tiedTo: 'layer.weight' },
  ];
}

function expectedValues(t: TorchTensorSource): number[] {
  if (t.dtype === 'float16') return Array.from(t.data as Uint16Array, float16ToNumber);
  if (t.dtype === 'int64') return Array.from(t.data as BigInt64Array, Number);
  if (t.data) return Array.from(t.data as Float32Array);
  const out = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
  void t.fill!(out);
  return Array.from(out);
}

async function* asAsync<T>(items: T[]): AsyncIterable<T> {
  for (const x of items) yield x;
}

describe('writeTorchCheckpoint', () => {
  for (const mode of ['array (data.pkl first)', 'async stream (data.pkl last)'] as const) {
    it(`writes a torch.save archive Python reads back exactly — ${mode}`, async () => {
      const file = path.join(dir, mode.startsWith('array') ? 'small_sync.pth' : 'small_async.pth');
      const tensors = smallTensors();
      const res = await writeTorchCheckpoint(file, mode.startsWith('array') ? tensors : asAsync(tensors), { wrapper: 'module' });
      expect(res.pickleFirst).toBe(mode.startsWith('array'));
      expect(res.tensors).toBe(8);
      expect(res.storages).toBe(7);
      expect(res.zip64).toBe(false);
      expect(res.archiveName).toBe(path.basename(file, '.pth'));

      const report = checkTorchLayout(file, ['--values', '--sha256']);
      expect(report.archive).toBe(res.archiveName);
      expect(report.wrapper).toBe('module');
      expect(report.zip64).toBe(false);
      const a = res.archiveName;
      expect(report.entries).toEqual([`${a}/data.pkl`, ...[0, 1, 2, 3, 4, 5, 6].map((k) => `${a}/data/${k}`), `${a}/version`]);
      expect(report.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(tensors.map((t) => [t.name, t.dtype, t.shape]));
      expect(report.tied).toEqual([['layer.weight', 'head.weight']]);
      for (const t of tensors) {
        const src = t.tiedTo ? tensors.find((x) => x.name === t.tiedTo)! : t;
        expect(report.values![t.name], t.name).toEqual(expectedValues(src));
      }
      // int64 beyond 2^53 and raw fp16 bits: compare bytes.
      const sha = (a: ArrayBufferView) =>
        createHash('sha256')
          .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
          .digest('hex');
      expect(report.sha256!.ids).toBe(sha(tensors[3].data!));
      expect(report.sha256!.half).toBe(sha(tensors[2].data!));
      expect(report.sha256!['head.weight']).toBe(sha(tensors[0].data!));

      // Every data start is 64-byte aligned; CRCs are the CRC of the data.
      for (const e of res.entries) expect(e.dataOffset % 64, e.name).toBe(0);
    });
  }

  it('is byte-identical across runs and independent of the data source (sync vs async)', async () => {
    const f1 = path.join(dir, 'same_a.pth');
    const f2 = path.join(dir, 'same_b.pth');
    await writeTorchCheckpoint(f1, smallTensors(), { wrapper: 'model', archiveName: 'archive' });
    await writeTorchCheckpoint(f2, smallTensors(), { wrapper: 'model', archiveName: 'archive' });
    expect(readFileSync(f1).equals(readFileSync(f2))).toBe(true);
    const f3 = path.join(dir, 'same_c.pth');
    await writeTorchCheckpoint(f3, asAsync(smallTensors()), { wrapper: 'model', archiveName: 'archive', specs: smallTensors() });
    expect(readFileSync(f1).equals(readFileSync(f3))).toBe(true);
  });

  it('writes a bare state dict (wrapper null)', async () => {
    const file = path.join(dir, 'bare.pt');
    await writeTorchCheckpoint(file, smallTensors(), { wrapper: null });
    const report = checkTorchLayout(file);
    expect(report.wrapper).toBeNull();
    expect(report.tensors).toHaveLength(8);
  });

  it('reads back through @mplug2/core openCheckpoint', async () => {
    const file = path.join(dir, 'small_core.pth');
    const tensors = smallTensors().filter((t) => t.name !== 'empty');
    await writeTorchCheckpoint(file, tensors, { wrapper: 'model' });
    const ckpt = await openCheckpoint(file);
    try {
      expect(ckpt.wrapper).toBe('model');
      expect(ckpt.list().map((t) => [t.name, t.dtype, [...t.shape]])).toEqual(tensors.map((t) => [t.name, t.dtype, t.shape]));
      for (const t of tensors) {
        const src = t.tiedTo ? tensors.find((x) => x.name === t.tiedTo)! : t;
        const got = await ckpt.read(t.name);
        const want =
          src.data ??
          (() => {
            const o = new Float32Array(4);
            void src.fill!(o);
            return o;
          })();
        expect(Array.from(got as ArrayLike<number>), t.name).toEqual(Array.from(want as ArrayLike<number>));
      }
      expect(ckpt.sharesStorage('head.weight', 'layer.weight')).toBe(true);
    } finally {
      await ckpt.close();
    }
  });

  it('rejects bad input and leaves no partial file', async () => {
    const file = path.join(dir, 'bad.pth');
    const base = smallTensors();
    const cases: [TorchTensorSource[], RegExp][] = [
      [
        [...base, { name: 'x', dtype: 'float32', shape: [2], tiedTo: 'later' }, { name: 'later', dtype: 'float32', shape: [2], data: f32([1, 2]) }],
        /does not come before/,
      ],
      [[{ name: 'x', dtype: 'float32', shape: [3], data: f32([1, 2]) }], /has 2 elements/],
      [
        [
          { name: 'x', dtype: 'float32', shape: [2], data: f32([1, 2]) },
          { name: 'x', dtype: 'float32', shape: [2], data: f32([1, 2]) },
        ],
        /duplicate/,
      ],
      [[{ name: 'x', dtype: 'float16', shape: [2], data: f32([1, 2]) }], /array type/],
      [[{ name: 'x', dtype: 'float32', shape: [2] }], /exactly one of data/],
      [
        [
          { name: 'x', dtype: 'float32', shape: [2], data: f32([1, 2]) },
          { name: 'y', dtype: 'float32', shape: [1, 2], tiedTo: 'x' },
        ],
        /cannot share/,
      ],
    ];
    for (const [tensors, err] of cases) {
      await expect(writeTorchCheckpoint(file, tensors, { wrapper: 'model' })).rejects.toThrow(err);
      await expect(writeTorchCheckpoint(file, asAsync(tensors), { wrapper: 'model' })).rejects.toThrow(err);
      expect(existsSync(file)).toBe(false);
    }
  });

  it('data.pkl is byte-identical to CPython pickling the same state dict like torch.save (batches, memo, int opcodes)', () => {
    // 2345 tensors: three SETITEMS batches, LONG_BINPUT/LONG_BINGET memo indices, ties to early
    // storages, scalars, 5-D shapes, BININT1/BININT2/BININT/LONG1 sizes and counts.
    const specs: { name: string; dtype: 'float32' | 'float16' | 'int64'; shape: number[]; tiedTo?: string }[] = [];
    const dtypes = ['float32', 'float16', 'int64'] as const;
    for (let i = 0; i < 2345; i++) {
      const name = `m${i % 7}.layer.${i}.w`;
      if (i > 10 && i % 97 === 0) {
        const target = specs[i % 11];
        if (!target.tiedTo) {
          specs.push({ name, dtype: target.dtype, shape: target.shape, tiedTo: target.name });
          continue;
        }
      }
      const shapes = [[], [1], [255], [256], [65535, 2], [65536], [3, 1, 2, 14, 14], [2 ** 31 - 1], [2 ** 31 + 5], [1, 2 ** 33]];
      specs.push({ name, dtype: dtypes[i % 3], shape: shapes[i % shapes.length] });
    }
    for (const wrapper of ['model', null] as const) {
      const plan = planTorchTensors(specs);
      const ours = buildTorchPickle(plan, wrapper);
      const specFile = path.join(dir, `pickle_spec_${wrapper}.json`);
      const refFile = path.join(dir, `pickle_ref_${wrapper}.pkl`);
      writeFileSync(specFile, JSON.stringify({ wrapper, tensors: plan.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, key: t.key })) }));
      execFileSync('python3', [LAYOUT_CHECK_SCRIPT, '--reference-pickle', specFile, refFile]);
      const ref = readFileSync(refFile);
      expect(Buffer.from(ours).equals(ref), `pickle differs from CPython's (wrapper ${wrapper})`).toBe(true);
    }
  });
});

describe('zip64', () => {
  it('forced zip64 on a small file: Python reads it, values intact', async () => {
    const file = path.join(dir, 'forced64.pth');
    const tensors = smallTensors();
    const res = await writeTorchCheckpoint(file, tensors, { wrapper: 'model', forceZip64: true });
    expect(res.zip64).toBe(true);
    expect(res.entries.every((e) => e.zip64)).toBe(true);
    const report = checkTorchLayout(file, ['--values', '--expect-zip64']);
    expect(report.zip64).toBe(true);
    expect(report.values!['layer.weight']).toEqual(expectedValues(tensors[0]));
    expect(report.values!.ids).toEqual(expectedValues(tensors[3]));
    {
      const ckpt = await openCheckpoint(file);
      try {
        expect(Array.from((await ckpt.read('half')) as Uint16Array)).toEqual(Array.from(tensors[2].data as Uint16Array));
      } finally {
        await ckpt.close();
      }
    }
  });

  const GiB = 2 ** 30;
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u64 = (v: DataView, p: number) => v.getUint32(p, true) + v.getUint32(p + 4, true) * 2 ** 32;

  it('local header: sizes ≥ 4 GiB go to a zip64 extra field, data stays 64-byte aligned past 4 GiB', () => {
    const offset = 5 * GiB + 123;
    const size = 4.5 * GiB;
    const h = localHeader('archive/data/7', offset, size, 0xdeadbeef, true);
    const v = dv(h);
    expect(v.getUint32(0, true)).toBe(0x04034b50);
    expect(v.getUint16(4, true)).toBe(45);
    expect(v.getUint32(14, true)).toBe(0xdeadbeef);
    expect(v.getUint32(18, true)).toBe(0xffffffff);
    expect(v.getUint32(22, true)).toBe(0xffffffff);
    const nameLen = v.getUint16(26, true);
    const extraLen = v.getUint16(28, true);
    expect(30 + nameLen + extraLen).toBe(h.length);
    expect((offset + h.length) % 64).toBe(0);
    const e = 30 + nameLen;
    expect(v.getUint16(e, true)).toBe(0x0001);
    expect(v.getUint16(e + 2, true)).toBe(16);
    expect(u64(v, e + 4)).toBe(size);
    expect(u64(v, e + 12)).toBe(size);
    expect(v.getUint16(e + 20, true)).toBe(0x4246); // 'FB'
  });

  it('central header: only overflowing fields are saturated, zip64 extra in APPNOTE order', () => {
    const big = centralHeader({ name: 'a/data/0', offset: 6 * GiB, dataOffset: 0, size: 4 * GiB + 1, crc32: 1, zip64: true }, false);
    let v = dv(big);
    expect(v.getUint32(20, true)).toBe(0xffffffff);
    expect(v.getUint32(24, true)).toBe(0xffffffff);
    expect(v.getUint32(42, true)).toBe(0xffffffff);
    let e = 46 + v.getUint16(28, true);
    expect(v.getUint16(30, true)).toBe(28);
    expect(v.getUint16(e, true)).toBe(1);
    expect(v.getUint16(e + 2, true)).toBe(24);
    expect(u64(v, e + 4)).toBe(4 * GiB + 1);
    expect(u64(v, e + 12)).toBe(4 * GiB + 1);
    expect(u64(v, e + 20)).toBe(6 * GiB);

    const offOnly = centralHeader({ name: 'a/version', offset: 7 * GiB, dataOffset: 0, size: 2, crc32: 1, zip64: false }, false);
    v = dv(offOnly);
    expect(v.getUint32(20, true)).toBe(2);
    expect(v.getUint32(42, true)).toBe(0xffffffff);
    e = 46 + v.getUint16(28, true);
    expect(v.getUint16(e + 2, true)).toBe(8);
    expect(u64(v, e + 4)).toBe(7 * GiB);

    const small = centralHeader({ name: 'a/version', offset: 100, dataOffset: 0, size: 2, crc32: 1, zip64: false }, false);
    expect(dv(small).getUint16(30, true)).toBe(0);
  });

  it('end records: zip64 record + locator when the central directory starts past 4 GiB', () => {
    const { bytes, zip64 } = endRecords(1900, 7 * GiB, 200_000, false);
    expect(zip64).toBe(true);
    const v = dv(bytes);
    expect(bytes.length).toBe(56 + 20 + 22);
    expect(v.getUint32(0, true)).toBe(0x06064b50);
    expect(u64(v, 4)).toBe(44);
    expect(u64(v, 24)).toBe(1900);
    expect(u64(v, 32)).toBe(1900);
    expect(u64(v, 40)).toBe(200_000);
    expect(u64(v, 48)).toBe(7 * GiB);
    expect(v.getUint32(56, true)).toBe(0x07064b50);
    expect(u64(v, 64)).toBe(7 * GiB + 200_000);
    expect(v.getUint32(72, true)).toBe(1);
    expect(v.getUint32(76, true)).toBe(0x06054b50);
    expect(v.getUint16(84, true)).toBe(1900); // fits: kept
    expect(v.getUint32(88, true)).toBe(200_000); // fits: kept
    expect(v.getUint32(92, true)).toBe(0xffffffff); // offset saturated

    const plain = endRecords(3, 1000, 150, false);
    expect(plain.zip64).toBe(false);
    expect(plain.bytes.length).toBe(22);
    expect(endRecords(70_000, 1000, 150, false).zip64).toBe(true);
  });
});
