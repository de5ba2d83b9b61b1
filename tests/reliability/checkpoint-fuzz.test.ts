/**
 * Hostile checkpoints, seeded and fast: the reader bugs the fuzz benchmark (`npm run bench:fuzz`) found,
 * as regression tests, and a sample of its hostile mutations (`hostileMutations`, @mplug2/testing) of the golden
 * `.pth`. Every case must read fully or fail with a typed Mplug2Error, quickly, without memory following a
 * declared size; policy mutations (forbidden callables, object construction, unknown opcodes) must be
 * refused as UnsafePickleError. Samples of the other generators: `mutations` in
 * packages/testing/src/fuzz.test.ts, `structuralMutations` in fuzz-structural.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { CheckpointFormatError, Mplug2Error, openCheckpointBytes } from '@mplug2/core';
import { HOSTILE_KINDS, analysePth, hostileMutations, pthWithPickle, type PthAnalysis } from '@mplug2/testing';
import { GOLDENS } from '../helpers/golden';

const golden = (rel: string) => new Uint8Array(readFileSync(path.join(GOLDENS, rel)));
const PTH = golden('videocaption_tiny/checkpoint.pth');
const A: PthAnalysis = analysePth(PTH);
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}
/** The golden archive with `fragment` inserted into data.pkl right after PROTO (re-zipped, valid CRCs). */
function withFragment(fragment: Uint8Array): Uint8Array {
  const at = A.ops[1].pos;
  return withPickle(concat(A.pkl.subarray(0, at), fragment, A.pkl.subarray(at)));
}
function withPickle(pkl: Uint8Array, options: { deflate?: boolean } = {}): Uint8Array {
  return pthWithPickle(A, pkl, options);
}

/** Opens and reads every tensor; 'ok' or the error code. Throws (fails the test) on anything untyped. */
async function exercise(bytes: Uint8Array, label: string, verifyCrc = true): Promise<string> {
  try {
    const ck = await openCheckpointBytes(bytes, label, { verifyCrc });
    try {
      for (const t of ck.list()) await ck.read(t.name);
    } finally {
      await ck.close();
    }
    return 'ok';
  } catch (e) {
    if (e instanceof Mplug2Error) return e.code;
    throw new Error(`${label}: escaped as ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
  }
}

/** Opens and reads everything; the error (null when it all read) and the time it took. */
async function failure(bytes: Uint8Array): Promise<{ error: unknown; ms: number }> {
  const t = performance.now();
  try {
    const ck = await openCheckpointBytes(bytes);
    for (const x of ck.list()) await ck.read(x.name);
    await ck.close();
    return { error: null, ms: performance.now() - t };
  } catch (error) {
    return { error, ms: performance.now() - t };
  }
}

describe('checkpoint reader regressions found by fuzzing', () => {
  test('a long FLOAT literal is rejected in linear time (the pattern backtracked quadratically: 200k digits ≈ 2 min)', async () => {
    const { error, ms } = await failure(withFragment(latin1(`F${'1'.repeat(200_000)}x\n0`)));
    expect(error).toBeInstanceOf(CheckpointFormatError);
    expect((error as Error).message).toMatch(/invalid float literal/);
    expect(ms).toBeLessThan(2000);
    // valid FLOAT literals still parse
    for (const f of ['1.5', '-2.', '.5e-3', '1E10', 'inf', '-nan', '+3']) await expect(exercise(withFragment(latin1(`F${f}\n0`)), f)).resolves.toBe('ok');
  });

  test('a MEMOIZE flood stops at 1 Mi memo entries (16 Mi cost ~30 s and 800 MB from a 16 KB DEFLATEd record)', async () => {
    const n = (1 << 20) + 1;
    const flood = new Uint8Array(n + 2).fill(0x94);
    flood[0] = 0x4e; // NONE
    flood[n + 1] = 0x30; // POP
    const { error } = await failure(withFragment(flood));
    expect(error).toBeInstanceOf(CheckpointFormatError);
    expect((error as Error).message).toMatch(/memo exceeds 1048576 entries/);
  });

  test('a stride-0 broadcast view is materialised only up to 16 MiB (a few pickle bytes allocated and filled 1 GiB)', async () => {
    // visn_emb_norm.weight: size (64,) stride (1,) → size (2^20, 64) stride (0, 1): 256 MiB declared, 256 bytes stored
    const v = A.views[0];
    const le32 = (x: number) => Uint8Array.of(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24);
    const view = concat(Uint8Array.of(0x28, 0x4a), le32(1 << 20), Uint8Array.of(0x4b, 64, 0x74, 0x28, 0x4b, 0, 0x4b, 1, 0x74));
    const pkl = concat(A.pkl.subarray(0, A.ops[v.offset + 1].pos), view, A.pkl.subarray(A.ops[v.strideTuple].end));
    const ck = await openCheckpointBytes(withPickle(pkl));
    expect(ck.info('visn_emb_norm.weight').shape).toEqual([1 << 20, 64]);
    const peak0 = process.resourceUsage().maxRSS;
    await expect(ck.read('visn_emb_norm.weight')).rejects.toThrow(
      /268435456 bytes is above the 16777216-byte limit for a broadcast view of a 256-byte storage/,
    );
    expect((process.resourceUsage().maxRSS - peak0) / 1024).toBeLessThan(64);
    // a small broadcast still reads (every row the same 64 values)
    const small = concat(Uint8Array.of(0x28, 0x4b, 4, 0x4b, 64, 0x74, 0x28, 0x4b, 0, 0x4b, 1, 0x74));
    const ck2 = await openCheckpointBytes(withPickle(concat(A.pkl.subarray(0, A.ops[v.offset + 1].pos), small, A.pkl.subarray(A.ops[v.strideTuple].end))));
    const rows = (await ck2.read('visn_emb_norm.weight')) as Float32Array;
    const plain = (await (await openCheckpointBytes(PTH)).read('visn_emb_norm.weight')) as Float32Array;
    expect(Array.from(rows.subarray(192, 256))).toEqual(Array.from(plain));
  });

  test('a DEFLATE data.pkl may expand at most 100:1 beyond 1 MiB (an honest 500 KB bomb inflated 512 MiB of opcodes: ~10 s, 1 GB)', async () => {
    const n = 16 << 20;
    const bomb = new Uint8Array(n + A.pkl.length - 2);
    bomb.set(A.pkl.subarray(0, 2));
    for (let i = 2; i < n; i += 2) bomb.set([0x4e, 0x30], i); // NONE, POP: valid opcodes all the way
    bomb.set(A.pkl.subarray(2), n);
    const { error, ms } = await failure(withPickle(bomb, { deflate: true }));
    expect(error).toBeInstanceOf(CheckpointFormatError);
    expect((error as Error).message).toMatch(/a ratio above 100:1/);
    expect(ms).toBeLessThan(2000);
    // a real data.pkl compresses ~4:1 and still reads
    await expect(exercise(withPickle(A.pkl, { deflate: true }), 'deflated data.pkl')).resolves.toBe('ok');
  });
});

describe('seeded fuzz sample (the bench runs 10,000+ cases)', () => {
  const CASE_MS = 5000;

  test('hostile mutations of checkpoint.pth: typed outcomes, policy refusals, bounded time and memory', async () => {
    const outcomes: Record<string, Record<string, number>> = {};
    const peak0 = process.resourceUsage().maxRSS;
    let slowest = 0;
    let i = 0;
    for (const m of hostileMutations(PTH, 20251126, 90)) {
      const t = performance.now();
      const outcome = await exercise(m.bytes, m.label, i++ % 2 === 0);
      const ms = performance.now() - t;
      slowest = Math.max(slowest, ms);
      expect(ms, m.label).toBeLessThan(CASE_MS);
      if (m.expect) expect(outcome, m.label).toBe(m.expect);
      outcomes[m.kind] ??= {};
      outcomes[m.kind][outcome] = (outcomes[m.kind][outcome] ?? 0) + 1;
    }
    console.log('hostile sample', JSON.stringify(outcomes), `slowest ${slowest.toFixed(0)} ms`);
    expect(Object.keys(outcomes).sort()).toEqual([...HOSTILE_KINDS].sort());
    expect(outcomes.policy.UNSAFE_PICKLE).toBeGreaterThan(5);
    // the largest honest inputs are 16 MiB pickles; nothing may approach a declared size (GiBs)
    expect((process.resourceUsage().maxRSS - peak0) / 1024).toBeLessThan(512);
  });
});
