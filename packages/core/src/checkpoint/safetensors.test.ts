import { describe, expect, test } from 'vitest';
import { openCheckpointBytes } from './readers.js';
import { openSafetensors } from './safetensors.js';
import { bytesSource } from './source.js';
import { expectFormatError, le } from '@mplug2/testing';

const enc = new TextEncoder();

/** header (object or raw string) + data → safetensors bytes; `declared` overrides the length field. */
function st(header: unknown, data: Uint8Array, declared?: number): Uint8Array {
  const h = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  const n = declared ?? h.length;
  new DataView(out.buffer).setUint32(0, n % 2 ** 32, true);
  new DataView(out.buffer).setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
/** Format detection + reader. */
const open = (b: Uint8Array) => openCheckpointBytes(b, 'x.safetensors');
/** The reader alone (detection would already turn some of these away as "not a checkpoint"). */
const reader = (b: Uint8Array) => openSafetensors(bytesSource(b), 'x.safetensors');

describe('safetensors', () => {
  // Data laid out in a different order than the header lists it; names include integer-like keys,
  // which JSON.parse would reorder.
  const parts = {
    f: le(Float32Array.of(1.5, -2, 3.25)), // 12
    h: le(Uint16Array.of(0x3c00, 0xbc00)), // 4
    b: le(Uint16Array.of(0x4049)), // 2
    l: le(BigInt64Array.of(-5n, 2n ** 50n)), // 16
    i: le(Int32Array.of(42)), // 4
    d: le(Float64Array.of(Math.PI)), // 8
    u: Uint8Array.of(7, 8), // 2
    t: Uint8Array.of(1, 0, 1), // 3
  };
  const order = ['l', 'd', 'f', 'h', 'i', 'b', 'u', 't'] as const;
  const dtypes = { f: 'F32', h: 'F16', b: 'BF16', l: 'I64', i: 'I32', d: 'F64', u: 'U8', t: 'BOOL' } as const;
  const shapes = { f: [3], h: [2], b: [], l: [2, 1], i: [1], d: [1, 1], u: [2], t: [3] };
  const names = { f: 'f', h: '10', b: '2', l: 'long.weight', i: 'i', d: 'd', u: 'u', t: 'mask' };
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let at = 0;
  const offsets: Record<string, [number, number]> = {};
  for (const k of order) {
    offsets[k] = [at, at + parts[k].length];
    at += parts[k].length;
  }
  for (const k of ['f', 'h', 'b', 'l', 'i', 'd', 'u', 't'] as const) header[names[k]] = { dtype: dtypes[k], shape: shapes[k], data_offsets: offsets[k] };
  const data = new Uint8Array(at);
  for (const k of order) data.set(parts[k], offsets[k][0]);
  const file = st(header, data);

  test('lists in data order and reads every dtype', async () => {
    const ck = await open(file);
    expect(ck.format).toBe('safetensors');
    expect(ck.wrapper).toBeNull();
    expect(ck.list()).toEqual(
      order.map((k) => ({
        name: names[k],
        dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', F64: 'float64', U8: 'uint8', BOOL: 'bool' }[dtypes[k]],
        shape: shapes[k],
      })),
    );
    expect(Array.from((await ck.read('f')) as Float32Array)).toEqual([1.5, -2, 3.25]);
    expect(Array.from((await ck.read('10')) as Uint16Array)).toEqual([0x3c00, 0xbc00]);
    expect(Array.from(await ck.readFloat32('10'))).toEqual([1, -1]);
    expect(Array.from(await ck.readFloat32('2'))).toEqual([3.140625]);
    expect(Array.from((await ck.read('long.weight')) as BigInt64Array)).toEqual([-5n, 2n ** 50n]);
    expect(Array.from((await ck.read('i')) as Int32Array)).toEqual([42]);
    expect(Array.from((await ck.read('d')) as Float64Array)).toEqual([Math.PI]);
    expect(Array.from((await ck.read('u')) as Uint8Array)).toEqual([7, 8]);
    expect(Array.from((await ck.read('mask')) as Uint8Array)).toEqual([1, 0, 1]);
    const hdrLen = file.length - data.length;
    expect(ck.rawLocation('f')).toEqual({ offset: hdrLen + offsets.f[0], byteLength: 12 });
    expect(ck.sharesStorage('f', 'f')).toBe(true);
    expect(ck.sharesStorage('f', 'i')).toBe(false);
    expect(ck.has('__metadata__')).toBe(false);
    await expectFormatError(ck.read('nope'), /no tensor named 'nope'/);
  });

  test('header length: bounded, within the file', async () => {
    await expectFormatError(reader(Uint8Array.of(1, 0, 0)), /truncated: 3 bytes/);
    await expectFormatError(open(Uint8Array.of(1, 0, 0)), /not a PyTorch checkpoint/);
    await expectFormatError(reader(st(header, data, 200_000_000)), /above the 100000000-byte limit/);
    await expectFormatError(reader(st(header, data, 2 ** 60)), /above the 100000000-byte limit/);
    await expectFormatError(open(st(header, data, 2 ** 60)), /not a PyTorch checkpoint/);
    await expectFormatError(open(st(header, data, file.length)), /runs past the end/);
    await expectFormatError(open(file.subarray(0, 40)), /runs past the end/);
  });

  test('corrupt headers', async () => {
    await expectFormatError(open(st('{"a": {"dtype": "F32", ', new Uint8Array(0))), /not valid UTF-8 JSON/);
    await expectFormatError(reader(st('[1, 2]', new Uint8Array(0))), /not a JSON object/);
    await expectFormatError(reader(st('null', new Uint8Array(0))), /not a JSON object/);
    const badUtf8 = st('{"\u00e9":1}', new Uint8Array(0));
    badUtf8[10] = 0xff;
    await expectFormatError(open(badUtf8), /not valid UTF-8/);
    const one = (spec: unknown, bytes = 16) => open(st({ x: spec }, new Uint8Array(bytes)));
    await expectFormatError(one(3), /tensor 'x': entry is not an object/);
    await expectFormatError(one({ dtype: 'I8', shape: [4], data_offsets: [0, 4] }), /unsupported dtype "I8"/);
    await expectFormatError(one({ dtype: 'F32', shape: [-1], data_offsets: [0, 4] }), /invalid shape \[-1\]/);
    await expectFormatError(one({ dtype: 'F32', shape: [1.5], data_offsets: [0, 4] }), /invalid shape/);
    await expectFormatError(one({ dtype: 'F32', shape: [1], data_offsets: [4, 0] }), /invalid data_offsets/);
    await expectFormatError(one({ dtype: 'F32', shape: [1], data_offsets: [0, -4] }), /invalid data_offsets/);
    await expectFormatError(one({ dtype: 'F32', shape: [8], data_offsets: [0, 32] }), /run past the 16 bytes of data/);
    await expectFormatError(one({ dtype: 'F32', shape: [3], data_offsets: [0, 16] }), /needs 12 bytes but data_offsets give 16/);
    await expectFormatError(one({ dtype: 'F32', shape: [1e12], data_offsets: [0, 16] }), /storage has 4 elements/);
    await expectFormatError(one({ dtype: 'F64', shape: [1], data_offsets: [0, 12] }), /not a whole number/);
    await expectFormatError(
      open(
        st(
          {
            a: { dtype: 'U8', shape: [8], data_offsets: [0, 8] },
            e: { dtype: 'U8', shape: [0], data_offsets: [4, 4] },
            b: { dtype: 'U8', shape: [4], data_offsets: [6, 10] },
          },
          new Uint8Array(16),
        ),
      ),
      /tensor 'b': data \[6, 10\) overlaps 'a'/,
    );
  });

  test('deeply nested header JSON is refused before parsing (fuzz: 10^6 levels took ~1 s in JSON.parse)', async () => {
    const deep = (d: number) => `{"__metadata__":{"k":"[[[{{"},"deep":${'['.repeat(d)}${']'.repeat(d)}}`;
    await expectFormatError(open(st(deep(1_000_000), new Uint8Array(0))), /nests deeper than 128 levels/);
    await expectFormatError(open(st(deep(127), new Uint8Array(0))), /tensor 'deep': entry is not an object/);
    // brackets inside strings, escaped quotes included, do not count
    const ck = await open(st(`{"__metadata__":{"k":"\\\"${'['.repeat(500)}"},"e":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, new Uint8Array(0)));
    expect(ck.list().map((t) => t.name)).toEqual(['e']);
  });

  test('empty tensors and an empty file body are fine', async () => {
    const ck = await open(st({ e: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] } }, new Uint8Array(0)));
    expect(ck.list()).toEqual([{ name: 'e', dtype: 'float32', shape: [0, 3] }]);
    expect((await ck.read('e')).length).toBe(0);
  });
});
