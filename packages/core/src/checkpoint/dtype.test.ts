import { describe, expect, test } from 'vitest';
import { float16ToFloat32, float16ToNumber } from '../float16.js';
import { bfloat16ToFloat32, bfloat16ToNumber, checkpointArrayToFloat32 } from './dtype.js';

describe('float16 / bfloat16 conversion', () => {
  test('float16 reference values (IEEE 754 binary16)', () => {
    const cases: [number, number][] = [
      [0x0000, 0],
      [0x3c00, 1],
      [0xc000, -2],
      [0x3555, 0.333251953125],
      [0x7bff, 65504],
      [0x0400, 2 ** -14], // smallest normal
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x8001, -(2 ** -24)],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    const out = float16ToFloat32(Uint16Array.from(cases.map((c) => c[0])));
    expect(Array.from(out)).toEqual(cases.map((c) => c[1]));
    for (const [h, v] of cases) expect(float16ToNumber(h)).toBe(v);
    expect(Object.is(float16ToNumber(0x8000), -0)).toBe(true);
    expect(Number.isNaN(float16ToNumber(0x7e00))).toBe(true);
    // NaN payload survives (quiet NaN 0x7e01 → 0x7fc02000)
    const nan = float16ToFloat32(Uint16Array.of(0x7e01));
    expect(new Uint32Array(nan.buffer)[0]).toBe(0x7fc02000);
  });

  test('every finite float16 round-trips through Math.fround exactly', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = float16ToFloat32(all);
    for (let i = 0; i < 65536; i++) {
      const exp = (i >> 10) & 0x1f;
      if (exp === 0x1f) continue;
      const mant = i & 0x3ff;
      const sign = i & 0x8000 ? -1 : 1;
      const v = exp === 0 ? sign * mant * 2 ** -24 : sign * (1 + mant / 1024) * 2 ** (exp - 15);
      if (f[i] !== v) throw new Error(`0x${i.toString(16)}: ${f[i]} != ${v}`);
    }
  });

  test('bfloat16 reference values', () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x4049, 3.140625],
      [0x7f7f, 3.3895313892515355e38],
      [0x0001, 9.183549615799121e-41],
      [0xff80, -Infinity],
    ];
    expect(Array.from(bfloat16ToFloat32(Uint16Array.from(cases.map((c) => c[0]))))).toEqual(cases.map((c) => c[1]));
    for (const [h, v] of cases) expect(bfloat16ToNumber(h)).toBe(v);
  });

  test('checkpointArrayToFloat32 converts integers and doubles', () => {
    expect(Array.from(checkpointArrayToFloat32('int64', BigInt64Array.of(-3n, 2n ** 40n)))).toEqual([-3, 2 ** 40]);
    expect(Array.from(checkpointArrayToFloat32('float64', Float64Array.of(0.1, -1e300)))).toEqual([Math.fround(0.1), -Infinity]);
    expect(Array.from(checkpointArrayToFloat32('int32', Int32Array.of(-7, 7)))).toEqual([-7, 7]);
    expect(Array.from(checkpointArrayToFloat32('bool', Uint8Array.of(0, 1)))).toEqual([0, 1]);
  });
});
