/**
 * Deterministic mutations of a file's bytes for robustness tests and benchmarks: every reader
 * must end in success or a typed Mplug2Error on each of them.
 *
 * Offsets are drawn a third from the head (local headers, data.pkl), a third from the tail
 * (central directory, end records; also where a safetensors header is *not*, so the head covers
 * that) and a third uniformly, so structural bytes are hit often.
 */

export interface Mutation {
  /** Reproducible description, e.g. `#12 flip@4711^0x20`. */
  readonly label: string;
  readonly bytes: Uint8Array;
}

/** mulberry32: small, fast, good enough for fuzzing, identical on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Yields `count` mutated copies of `bytes` (the input is never modified). */
export function* mutations(bytes: Uint8Array, seed: number, count: number): Generator<Mutation> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const len = bytes.length;
  const region = Math.min(len, 65536);
  const offset = (): number => {
    if (len === 0) return 0;
    const r = rnd();
    if (r < 1 / 3) return int(region);
    if (r < 2 / 3) return len - 1 - int(region);
    return int(len);
  };
  for (let i = 0; i < count; i++) {
    const kind = int(7);
    let out: Uint8Array;
    let label: string;
    if (len === 0) {
      yield { label: `#${i} empty`, bytes: new Uint8Array(0) };
      continue;
    }
    switch (kind) {
      case 0: {
        const at = offset();
        const bit = 1 << int(8);
        out = bytes.slice();
        out[at] ^= bit;
        label = `flip@${at}^0x${bit.toString(16)}`;
        break;
      }
      case 1: {
        const k = 2 + int(15);
        out = bytes.slice();
        const spots: number[] = [];
        for (let j = 0; j < k; j++) {
          const at = offset();
          out[at] ^= 1 << int(8);
          spots.push(at);
        }
        label = `flips@${spots.join(',')}`;
        break;
      }
      case 2: {
        const at = offset();
        out = bytes.slice(0, at);
        label = `truncate@${at}`;
        break;
      }
      case 3: {
        const at = offset();
        const v = int(256);
        out = bytes.slice();
        out[at] = v;
        label = `byte@${at}=0x${v.toString(16)}`;
        break;
      }
      case 4: {
        const at = Math.min(offset(), Math.max(0, len - 4));
        const v = rnd() < 0.7 ? INTERESTING_U32[int(INTERESTING_U32.length)] : (len + int(9) - 4) >>> 0;
        out = bytes.slice();
        for (let j = 0; j < 4 && at + j < len; j++) out[at + j] = (v >>> (8 * j)) & 0xff;
        label = `u32@${at}=0x${v.toString(16)}`;
        break;
      }
      case 5: {
        const at = offset();
        const n = 1 + int(64);
        out = bytes.slice();
        out.fill(rnd() < 0.5 ? 0 : 0xff, at, Math.min(len, at + n));
        label = `fill@${at}+${n}`;
        break;
      }
      default: {
        // delete or duplicate a small chunk: shifts every later offset
        const at = offset();
        const n = 1 + int(32);
        if (rnd() < 0.5) {
          out = new Uint8Array(len - Math.min(n, len - at));
          out.set(bytes.subarray(0, at));
          out.set(bytes.subarray(Math.min(len, at + n)), at);
          label = `delete@${at}+${n}`;
        } else {
          const chunk = bytes.subarray(at, Math.min(len, at + n));
          out = new Uint8Array(len + chunk.length);
          out.set(bytes.subarray(0, at));
          out.set(chunk, at);
          out.set(bytes.subarray(at), at + chunk.length);
          label = `dup@${at}+${chunk.length}`;
        }
      }
    }
    yield { label: `#${i} ${label}`, bytes: out };
  }
}
