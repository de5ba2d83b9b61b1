import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float16ToNumber, float32ToFloat16Bits, toFloat16Bits } from './float16.js';

describe('float16', () => {
  it('float16 → float32 → float16 is the identity for every bit pattern (quiet-NaN payloads and -0 included)', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const back = toFloat16Bits(float16ToFloat32(all));
    const diff = [...all].filter((h, i) => back[i] !== h);
    // Signalling NaNs (quiet bit 0x200 clear) are quieted when a float32 becomes a JS number; they come
    // back as the quiet NaN with the same payload.
    const signalling = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 && (h & 0x200) === 0;
    expect(diff.filter((h) => !signalling(h))).toEqual([]);
    for (const h of diff) expect(back[h]).toBe(h | 0x200);
  });

  it('rounds to nearest even, overflows to ±Inf, keeps subnormals', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // halfway to the next (absent) value: rounds up to Inf
    expect(float32ToFloat16Bits(-1e6)).toBe(0xfc00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(2 ** -26)).toBe(0x0000);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(float16ToNumber(float32ToFloat16Bits(0.1))).toBe(0.0999755859375);
  });

  it('keeps a NaN payload (its top 10 bits) instead of canonicalising it', () => {
    const f = new Float32Array(1);
    new Uint32Array(f.buffer)[0] = 0x7fc02000; // quiet NaN with payload bit 13
    expect(float32ToFloat16Bits(f[0])).toBe(0x7e01);
    expect(Number.isNaN(float16ToNumber(0x7e01))).toBe(true);
  });
});
