// IEEE 754 binary16 (float16): the one converter in each direction, used by the checkpoint readers,
// the ONNX weight writer (fp16 weights and fp16-compute constants) and the torch.save writer. NaN
// payloads survive both directions (the top 10 payload bits), so fp16 → fp32 → fp16 is the identity.

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** IEEE binary16 bits of a number (rounded to float32 first, then round-to-nearest-even). */
export function float32ToFloat16Bits(value: number): number {
  F32[0] = value;
  const x = U32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    // subnormal half (or zero)
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  e = h >>> 10;
  return sign | (e >= 0x1f ? 0x7c00 : h);
}

/** float32 values → binary16 bits, element-wise (round to nearest even, overflow → ±Inf, subnormals and NaN payloads kept). */
export function toFloat16Bits(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) out[i] = float32ToFloat16Bits(src[i]);
  return out;
}

/** IEEE 754 half-precision bits → float32 bits (exact; NaN payloads and signed zero kept). */
export function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // Subnormal: value = mant * 2^-24. Normalise so the leading 1 becomes implicit.
    let e = 113; // float32 exponent bias 127 - 14
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e--;
    }
    return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
  }
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

/** One half-precision value (given as its 16-bit pattern) as a JS number. */
export function float16ToNumber(h: number): number {
  U32[0] = float16BitsToFloat32Bits(h & 0xffff);
  return F32[0];
}

/** Converts raw IEEE half-precision values to float32 (exact). */
export function float16ToFloat32(u16: Uint16Array): Float32Array {
  const out = new Float32Array(u16.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < u16.length; i++) bits[i] = float16BitsToFloat32Bits(u16[i]);
  return out;
}
