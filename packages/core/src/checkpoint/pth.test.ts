/**
 * Crafted torch.save archives (pickle opcodes and ZIP written byte by byte in test-utils.ts):
 * wrappers, dtypes, strided views, shared storages, and every way the metadata can lie.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { CheckpointFormatError, Mplug2Error, UnsafePickleError } from '../errors.js';
import { openCheckpoint } from './open-file.js';
import { type Checkpoint, type ByteSource, openCheckpointBytes, openCheckpointSource } from './readers.js';
import { ZipArchive } from './zip.js';
import { bytesSource } from './source.js';
import { type FakeTensor, PickleWriter, buildZip, expectFormatError, le, rejectionOf, rowMajorStrides, torchPickle, torchZip } from '@mplug2/testing';
import { PICKLE_OP as OP } from './pickle.js';

const open = (bytes: Uint8Array, options = {}) => openCheckpointBytes(bytes, 'crafted.pth', options);
const archive = (tensors: FakeTensor[], storages: Record<string, Uint8Array>, opts: Parameters<typeof torchPickle>[1] = {}) =>
  torchZip(torchPickle(tensors, opts), storages).bytes;

/** Independent reference for a strided view: recursive row-major walk. */
function view<T>(storage: ArrayLike<T>, offset: number, shape: number[], stride: number[]): T[] {
  const out: T[] = [];
  const walk = (axis: number, pos: number) => {
    if (axis === shape.length) return void out.push(storage[pos]);
    for (let i = 0; i < shape[axis]; i++) walk(axis + 1, pos + i * stride[axis]);
  };
  walk(0, offset);
  return out;
}

const f32 = (n: number, seed = 1) => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 12.9898 + seed) * 43.75));
const F = (name: string, storageKey: string, storageNumel: number, shape: number[], extra: Partial<FakeTensor> = {}): FakeTensor => ({
  name,
  storageKey,
  storageType: 'FloatStorage',
  storageNumel,
  shape,
  ...extra,
});

describe('wrappers and ignored keys', () => {
  const storages = { '0': le(f32(6)) };
  const tensors = [F('w', '0', 6, [2, 3])];
  for (const wrapper of ['model', 'module', 'state_dict', null])
    test(`wrapper ${wrapper}`, async () => {
      const ck = await open(archive(tensors, storages, { wrapper }));
      expect(ck.wrapper).toBe(wrapper);
      expect(ck.list()).toEqual([{ name: 'w', dtype: 'float32', shape: [2, 3] }]);
      expect(Array.from(await ck.readFloat32('w'))).toEqual(Array.from(f32(6)));
    });

  test("a tensor named 'model' in a bare state dict, and {'model': <str>, 'state_dict': {...}}", async () => {
    const bare = await open(archive([F('model', '0', 6, [6]), F('w', '0', 6, [2, 3])], storages, { wrapper: null }));
    expect(bare.wrapper).toBeNull();
    expect(bare.list().map((t) => t.name)).toEqual(['model', 'w']);
    const named = await open(archive(tensors, storages, { wrapper: 'state_dict', before: (w) => w.str('model').str('resnet50').setitem() }));
    expect(named.wrapper).toBe('state_dict');
    expect(named.list().map((t) => t.name)).toEqual(['w']);
  });

  test('optimizer / lr_scheduler / config / epoch are ignored (plain values and extra tensors)', async () => {
    const pkl = torchPickle(tensors, {
      before: (w) => {
        w.str('epoch').int(7).setitem();
        w.str('config').emptyDict().mark().str('lr').binfloat(1e-4).str('layers').op(OP.EMPTY_LIST).mark().int(1).int(2).op(OP.APPENDS);
        w.str('name').str('mplug2').str('flag').none().setitems().setitem();
      },
      after: (w) => {
        // optimizer: {'state': {0: {'step': 10, 'exp_avg': <tensor on storage 9>}}, 'param_groups': [{'betas': (0.9, 0.999)}]}
        w.str('optimizer').emptyDict().str('state').emptyDict().int(0).emptyDict();
        w.mark().str('step').int(10).str('exp_avg');
        w.global('torch._utils', '_rebuild_tensor_v2').mark();
        w.mark().str('storage').global('torch', 'FloatStorage').str('9').str('cuda:0').int(6).tuple().op(OP.BINPERSID);
        w.int(0).ints([6]).ints([1]).bool(false).orderedDict().tuple().reduce();
        w.setitems().setitem().setitem();
        w.str('param_groups').op(OP.EMPTY_LIST).emptyDict().str('betas').binfloat(0.9).binfloat(0.999).op(OP.TUPLE2).setitem().op(OP.APPEND);
        w.setitem().setitem();
      },
    });
    const ck = await open(torchZip(pkl, { ...storages, '9': new Uint8Array(24) }).bytes);
    expect(ck.wrapper).toBe('model');
    expect(ck.list().map((t) => t.name)).toEqual(['w']);
  });

  test('OrderedDict BUILD with _metadata and _rebuild_parameter, as real state_dict()/Parameters give', async () => {
    const w = new PickleWriter().proto(2).emptyDict().str('model').orderedDict().mark();
    const body = torchPickle([F('p', '0', 6, [6], { parameter: true })], { wrapper: null });
    // splice the tensor items of a bare pickle: skip PROTO(2) + OrderedDict() + MARK, up to SETITEMS + STOP
    const start = 2 + 'c'.length + 'collections\nOrderedDict\n'.length + 2 + 1;
    w.raw(body.subarray(start, body.length - 2)).setitems();
    w.emptyDict().str('_metadata').orderedDict().str('').emptyDict().str('version').int(1).setitem().setitem().setitem().op(OP.BUILD);
    w.setitem().stop();
    const ck = await open(torchZip(w.bytes(), storages).bytes);
    expect(ck.list()).toEqual([{ name: 'p', dtype: 'float32', shape: [6] }]);
    expect(Array.from(await ck.readFloat32('p'))).toEqual(Array.from(f32(6)));
  });

  test('state dict must be a dict with tensors', async () => {
    await expectFormatError(open(torchZip(new PickleWriter().proto(2).op(OP.EMPTY_LIST).stop().bytes(), {}).bytes), /top-level object is a list/);
    await expectFormatError(
      open(torchZip(new PickleWriter().proto(2).emptyDict().str('model').int(3).setitem().stop().bytes(), {}).bytes),
      /no tensors found \(top-level keys: 'model'\)/,
    );
    await expectFormatError(
      open(torchZip(new PickleWriter().proto(2).emptyDict().str('epoch').int(3).setitem().stop().bytes(), {}).bytes),
      /no tensors found \(top-level keys: 'epoch'\)/,
    );
    await expectFormatError(open(archive([], {})), /'model' holds no tensors/);
  });
});

describe('dtypes', () => {
  test('fp16 / bf16 (raw Uint16Array), int64, int32, float64, uint8, bool', async () => {
    const half = Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001);
    const bf = Uint16Array.of(0x3f80, 0xc000, 0x4049);
    const i64 = BigInt64Array.of(-1n, 2n ** 40n + 3n, 101n);
    const i32 = Int32Array.of(-7, 2147483647);
    const f64 = Float64Array.of(0.1, -2.5);
    const u8 = Uint8Array.of(0, 200, 255);
    const b = Uint8Array.of(1, 0, 1);
    const ck = await open(
      archive(
        [
          { name: 'h', storageKey: '0', storageType: 'HalfStorage', storageNumel: 4, shape: [4] },
          { name: 'bf', storageKey: '1', storageType: 'BFloat16Storage', storageNumel: 3, shape: [3] },
          { name: 'l', storageKey: '2', storageType: 'LongStorage', storageNumel: 3, shape: [3] },
          { name: 'i', storageKey: '3', storageType: 'IntStorage', storageNumel: 2, shape: [2] },
          { name: 'd', storageKey: '4', storageType: 'DoubleStorage', storageNumel: 2, shape: [2] },
          { name: 'u', storageKey: '5', storageType: 'ByteStorage', storageNumel: 3, shape: [3] },
          { name: 'b', storageKey: '6', storageType: 'BoolStorage', storageNumel: 3, shape: [3] },
        ],
        { '0': le(half), '1': le(bf), '2': le(i64), '3': le(i32), '4': le(f64), '5': u8, '6': b },
      ),
    );
    expect(ck.list().map((t) => t.dtype)).toEqual(['float16', 'bfloat16', 'int64', 'int32', 'float64', 'uint8', 'bool']);
    const h = await ck.read('h');
    expect(h).toBeInstanceOf(Uint16Array);
    expect(Array.from(h as Uint16Array)).toEqual(Array.from(half));
    expect(Array.from(await ck.readFloat32('h'))).toEqual([1, -2, 65504, 2 ** -24]);
    expect(Array.from(await ck.readFloat32('bf'))).toEqual([1, -2, 3.140625]);
    const l = await ck.read('l');
    expect(l).toBeInstanceOf(BigInt64Array);
    expect(Array.from(l as BigInt64Array)).toEqual([-1n, 2n ** 40n + 3n, 101n]);
    expect(Array.from(await ck.readFloat32('l'))).toEqual([-1, 2 ** 40 + 3, 101].map(Math.fround));
    expect(Array.from((await ck.read('i')) as Int32Array)).toEqual([-7, 2147483647]);
    expect(Array.from((await ck.read('d')) as Float64Array)).toEqual([0.1, -2.5]);
    expect(Array.from((await ck.read('u')) as Uint8Array)).toEqual([0, 200, 255]);
    expect(Array.from((await ck.read('b')) as Uint8Array)).toEqual([1, 0, 1]);
  });

  test('unsupported storage type names the tensor', async () => {
    await expectFormatError(
      open(archive([{ name: 's', storageKey: '0', storageType: 'ShortStorage', storageNumel: 2, shape: [2] }], { '0': new Uint8Array(4) })),
      /tensor 's': storage type torch\.ShortStorage is not supported/,
    );
  });
});

describe('views: offsets, strides, shared storages', () => {
  const S = f32(64, 3);
  const tensors: FakeTensor[] = [
    F('full', '0', 64, [4, 16]),
    F('tied', '0', 64, [4, 16]),
    F('T', '0', 64, [16, 4], { stride: [1, 16] }), // transposed
    F('off', '0', 64, [3, 5], { offset: 7 }), // contiguous with offset
    F('perm', '0', 64, [2, 3, 4], { offset: 1, stride: [3, 1, 15] }), // permuted 3-D
    F('step', '0', 64, [5], { offset: 2, stride: [13] }), // every 13th element
    F('expand', '0', 64, [3, 4], { offset: 5, stride: [0, 1] }), // broadcast rows
    F('scalar', '0', 64, [], { offset: 63 }),
    F('empty', '0', 64, [0, 5], { offset: 64 }),
    F('ones', '0', 64, [1, 4, 1], { offset: 8, stride: [99, 1, 7] }), // size-1 axes with odd strides: still contiguous
  ];
  const bytes = archive(tensors, { '0': le(S) });

  for (const options of [{}, { chunkBytes: 12, gatherWindowBytes: 20 }, { gatherWindowBytes: 4 }])
    test(`values match an independent strided walk ${JSON.stringify(options)}`, async () => {
      const ck = await open(bytes, options);
      for (const t of tensors) {
        const expected = view(S, t.offset ?? 0, t.shape, t.stride ?? rowMajorStrides(t.shape));
        const got = await ck.read(t.name);
        expect(got).toBeInstanceOf(Float32Array);
        expect(Array.from(got as Float32Array), t.name).toEqual(expected);
      }
    });

  test('sharesStorage: same storage, offset, shape and stride only', async () => {
    const ck = await open(bytes);
    expect(ck.sharesStorage('full', 'tied')).toBe(true);
    expect(ck.sharesStorage('full', 'T')).toBe(false); // same storage, other view
    expect(ck.sharesStorage('full', 'off')).toBe(false);
    expect(ck.sharesStorage('full', 'full')).toBe(true);
  });

  test('rawLocation: in place for contiguous views, null for strided ones', async () => {
    const ck = await open(bytes);
    const z = await ZipArchive.open(bytesSource(bytes), 'x');
    const base = await z.dataOffset(z.entries.get('archive/data/0')!);
    expect(ck.rawLocation('full')).toEqual({ offset: base, byteLength: 256 });
    expect(ck.rawLocation('off')).toEqual({ offset: base + 28, byteLength: 60 });
    expect(ck.rawLocation('ones')).toEqual({ offset: base + 32, byteLength: 16 });
    expect(ck.rawLocation('scalar')).toEqual({ offset: base + 252, byteLength: 4 });
    for (const n of ['T', 'perm', 'step', 'expand']) expect(ck.rawLocation(n)).toBeNull();
    const loc = ck.rawLocation('off')!;
    expect(Array.from(new Float32Array(bytes.slice(loc.offset, loc.offset + loc.byteLength).buffer))).toEqual(Array.from(S.subarray(7, 22)));
  });
});

describe('lying metadata gives CheckpointFormatError, never an allocation or a RangeError', () => {
  const S = le(f32(12));
  const one = (t: Partial<FakeTensor>, storages: Record<string, Uint8Array> = { '0': S }) => open(archive([{ ...F('x', '0', 12, [3, 4]), ...t }], storages));

  test('data.pkl missing names the entry', async () => {
    const e = await rejectionOf(open(torchZip(new Uint8Array(0), { '0': S }, { omitPkl: true }).bytes));
    expect(e).toBeInstanceOf(CheckpointFormatError);
    expect((e as CheckpointFormatError).entry).toBe('data.pkl');
    expect(e.message).toMatch(/data\.pkl/);
  });
  test('storage entry missing names archive/data/N', async () => {
    await expectFormatError(one({ storageKey: '3' }), /tensor 'x': storage entry 'archive\/data\/3' is missing/, 'archive/data/3');
  });
  test('huge declared shapes and strides', async () => {
    const t0 = performance.now();
    await expectFormatError(one({ shape: [1e12] }), /reach element 999999999999 but the storage has 12 elements/, 'archive/data/0');
    await expectFormatError(one({ shape: [2 ** 40, 2 ** 40] }), /more elements than can be addressed/);
    await expectFormatError(one({ shape: [4], stride: [1e6] }), /reach element 3000000/);
    await expectFormatError(one({ shape: [3, 4], stride: [2 ** 52, 1] }), /beyond 2\^53/);
    // a legal broadcast view of 1e12 elements opens, but is not materialised
    const ck = await one({ shape: [1e12], stride: [0] });
    expect(ck.info('x').shape).toEqual([1e12]);
    await expectFormatError(ck.read('x'), /4000000000000 bytes is above the \d+-byte limit/);
    const wide = await one({ shape: [3, 2 ** 28], stride: [1, 0] }); // 3 GiB broadcast of 12 floats
    await expectFormatError(wide.read('x'), /3221225472 bytes is above the 16777216-byte limit for a broadcast view of a 48-byte storage/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
  test('negative or non-integer dims, strides, offsets; offsets out of range', async () => {
    await expectFormatError(one({ shape: [-3, 4] }), /invalid dimension -3/);
    await expectFormatError(one({ stride: [-4, 1] }), /invalid stride -4/);
    await expectFormatError(one({ offset: -1 }), /invalid storage offset -1/);
    await expectFormatError(one({ offset: 1 }), /reach element 12 but the storage has 12/);
    await expectFormatError(one({ shape: [0], offset: 13 }), /storage offset 13 is beyond/);
    await expectFormatError(one({ stride: [4] }), /different ranks/);
  });
  test('storage numel vs entry size', async () => {
    await expectFormatError(one({ storageNumel: 13, shape: [12] }), /declares 13 elements of 4 bytes but its entry holds 48 bytes/);
    await expectFormatError(one({}, { '0': S.subarray(0, 47) }), /entry holds 47 bytes/);
    await expectFormatError(one({ storageNumel: 2 ** 52, shape: [1] }), /declares 4503599627370496 elements/);
  });
  test('compressed storages and big-endian archives are refused', async () => {
    const pkl = torchPickle([F('x', '0', 12, [12])]);
    const z = buildZip([
      { name: 'a/data.pkl', data: pkl },
      { name: 'a/data/0', data: S, method: 8 },
    ]);
    await expectFormatError(open(z.bytes), /storage entry is compressed/);
    const be = buildZip([
      { name: 'a/data.pkl', data: pkl },
      { name: 'a/byteorder', data: new TextEncoder().encode('big') },
      { name: 'a/data/0', data: S },
    ]);
    await expectFormatError(open(be.bytes), /'big'-endian/, 'a/byteorder');
    const little = buildZip([
      { name: 'a/data.pkl', data: pkl },
      { name: 'a/byteorder', data: new TextEncoder().encode('little') },
      { name: 'a/data/0', data: S },
    ]);
    expect((await open(little.bytes)).list()).toHaveLength(1);
  });
  test('CRC of a fully read storage is verified (unless disabled)', async () => {
    const built = torchZip(torchPickle([F('x', '0', 12, [12])]), { '0': S });
    const at = built.layout.find((l) => l.name === 'archive/data/0')!.dataOffset;
    const bad = built.bytes.slice();
    bad[at] ^= 0x40;
    await expectFormatError((await open(bad)).read('x'), /CRC-32 mismatch/);
    const raw = await (await open(bad, { verifyCrc: false })).read('x');
    expect(raw[0]).not.toBe(f32(12)[0]);
    expect(Array.from(raw as Float32Array).slice(1)).toEqual(Array.from(f32(12)).slice(1));
  });
  test('a forbidden global in an ignored key refuses the whole file', async () => {
    const pkl = torchPickle([F('x', '0', 12, [12])], { after: (w) => w.str('args').global('argparse', 'Namespace').emptyTuple().reduce().setitem() });
    const e = await rejectionOf(open(torchZip(pkl, { '0': S }).bytes));
    expect(e).toBeInstanceOf(UnsafePickleError);
    expect(e.message).toMatch(/GLOBAL argparse\.Namespace/);
  });
  test('DEFLATE-compressed data.pkl and zip64 archives are read', async () => {
    const pkl = torchPickle([F('x', '0', 12, [12])]);
    for (const o of [{ pklMethod: 8 as const }, { zip64: true }, { prefix: 'deep name with spaces' }]) {
      const ck = await open(torchZip(pkl, { '0': S }, o).bytes);
      expect(Array.from((await ck.read('x')) as Float32Array), JSON.stringify(o)).toEqual(Array.from(f32(12)));
    }
  });
});

describe('file detection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mplug2-ckpt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  test('wrong magic, empty file, legacy torch.save pickle', async () => {
    await expectFormatError(openCheckpoint(file('x.pth', new TextEncoder().encode('<html>not found</html>'))), /not a PyTorch checkpoint/);
    await expectFormatError(openCheckpoint(file('e.pth', new Uint8Array(0))), /not a PyTorch checkpoint.*empty/);
    // legacy format: pickled magic number 0x1950a86a20f9469cfc6c first
    const legacy = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e);
    const e = await rejectionOf(openCheckpoint(file('old.pth', legacy)));
    expect(e).toBeInstanceOf(CheckpointFormatError);
    expect(e.message).toMatch(/legacy .*torch\.save format is not supported/);
    expect(e.message).toMatch(/torch\.save\(torch\.load\(/);
  });
  test('detection is by content, not extension', async () => {
    const ck = await openCheckpoint(file('weights.safetensors', archive([F('x', '0', 12, [12])], { '0': le(f32(12)) })));
    expect(ck.format).toBe('pth');
    await ck.close();
  });
});

describe('truncation', () => {
  const golden = new Uint8Array(readFileSync(fileURLToPath(new URL('../../../../fixtures/goldens/videocaption_tiny/checkpoint.pth', import.meta.url))));

  async function structure() {
    const z = await ZipArchive.open(bytesSource(golden), 'g');
    const pkl = z.entries.get('checkpoint/data.pkl')!;
    const big = [...z.entries.values()].reduce((a, b) => (b.size > a.size ? b : a));
    const e5 = [...z.entries.values()][5];
    return {
      eocd: golden.length - 22,
      cd: z.centralDirectoryOffset,
      pklData: await z.dataOffset(pkl),
      pklSize: pkl.size,
      bigData: await z.dataOffset(big),
      bigSize: big.size,
      local5: e5.localHeaderOffset,
    };
  }

  test('cut at 10 structural offsets → CheckpointFormatError', async () => {
    const s = await structure();
    const cuts = {
      'inside EOCD': s.eocd + 10,
      'EOCD start': s.eocd,
      'inside central directory': s.cd + 1000,
      'central directory start': s.cd,
      'inside local header': s.local5 + 12,
      'inside data.pkl': s.pklData + Math.floor(s.pklSize / 2),
      'after data.pkl': s.pklData + s.pklSize,
      'inside tensor data': s.bigData + Math.floor(s.bigSize / 2),
      'zip magic only': 2,
      'one byte short': golden.length - 1,
    };
    for (const [what, at] of Object.entries(cuts)) {
      const e = await rejectionOf(open(golden.subarray(0, at)));
      expect(e, what).toBeInstanceOf(CheckpointFormatError);
    }
  });

  test('file shrinking under an open checkpoint (short reads) → CheckpointFormatError', async () => {
    const s = await structure();
    const stops = [
      s.eocd + 5,
      s.cd + 500,
      s.local5 + 3,
      s.pklData + 100,
      s.bigData + 10,
      s.bigData + s.bigSize - 1,
      golden.length - 30,
      s.cd - 1,
      s.pklData,
      40,
    ];
    for (const stop of stops) {
      const short: ByteSource = { ...bytesSource(golden.subarray(0, stop)), size: golden.length };
      let err: unknown;
      try {
        const ck: Checkpoint = await openCheckpointSource(short, 'shrunk');
        for (const t of ck.list()) await ck.read(t.name);
      } catch (e) {
        err = e;
      }
      expect(err, `stop at ${stop}`).toBeInstanceOf(CheckpointFormatError);
      expect(err).toBeInstanceOf(Mplug2Error);
    }
  });
});
