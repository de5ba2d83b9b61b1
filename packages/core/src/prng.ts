/**
 * The one seeded PRNG of the SDK (synthetic weights, fuzzing, data splits): xoshiro128** on 32-bit
 * integer arithmetic (Math.imul / shifts), so a (seed, tensor name) pair gives the same bits on
 * every machine and JS engine. Each tensor gets its own stream derived from the seed and its
 * name, so a tensor's values do not depend on which other tensors are generated.
 */

/** 32-bit FNV-1a of a string's UTF-16 code units, mixed with a seed. */
export function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return fmix32(h);
}

/** MurmurHash3 finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** splitmix32 step, to expand one 32-bit seed into a xoshiro state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** Normalises a user seed (any finite number, or a string) to 32 bits. */
export function seed32(seed: number | string): number {
  if (typeof seed === 'string') return hashString(seed, 0x5eed);
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be finite, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x100000000) >>> 0;
  return fmix32((lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0);
}

export class Xoshiro128 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const st = { s: seed >>> 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A stream for one named tensor. */
  static forTensor(seed: number, name: string): Xoshiro128 {
    return new Xoshiro128(hashString(name, seed));
  }

  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1), 24-bit resolution (exact in float32). */
  nextFloat(): number {
    return (this.nextU32() >>> 8) * 5.960464477539063e-8;
  }

  /**
   * Fills `out` with `mean + std·z`, `z` uniform on [-√3, √3) (unit variance): cheap and bounded,
   * the default for weights.
   */
  fillUniform(out: Float32Array, mean: number, std: number): void {
    const half = std * Math.sqrt(3);
    const scale = 2 * half * 5.960464477539063e-8;
    const base = mean - half;
    // Local copies of the state keep the loop in registers.
    let a = this.a;
    let b = this.b;
    let c = this.c;
    let d = this.d;
    for (let i = 0; i < out.length; i++) {
      const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
      out[i] = base + (r >>> 8) * scale;
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }

  /** Fills `out` with N(mean, std²) samples (Box–Muller). Slower than `fillUniform`. */
  fillNormal(out: Float32Array, mean: number, std: number): void {
    const n = out.length;
    for (let i = 0; i < n; i += 2) {
      const u1 = 1 - this.nextFloat(); // (0, 1]
      const u2 = this.nextFloat();
      const r = Math.sqrt(-2 * Math.log(u1)) * std;
      const th = 2 * Math.PI * u2;
      out[i] = mean + r * Math.cos(th);
      if (i + 1 < n) out[i + 1] = mean + r * Math.sin(th);
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A seeded stream of uniforms in [0, 1) (24-bit resolution) for fuzzing and data splits: the same
 * xoshiro128** generator as the synthetic weights, identical on every platform.
 */
export function prng(seed: number): () => number {
  const g = new Xoshiro128(seed32(seed));
  return () => g.nextFloat();
}
