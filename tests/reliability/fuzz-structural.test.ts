/**
 * Structure-aware fuzzing (a small seeded slice of `npm run bench:fuzz`): every kind of `structuralMutations`
 * on the golden `.pth` and safetensors files ends in success or a typed Mplug2Error, quickly. The byte-level
 * `mutations` are covered by packages/testing/src/fuzz.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Mplug2Error, openCheckpointBytes } from '@mplug2/core';
import { STRUCTURAL_KINDS, deflateBomb, structuralMutations } from '@mplug2/testing';
import { describe, expect, it } from 'vitest';

const golden = (rel: string) => new Uint8Array(readFileSync(path.resolve(__dirname, '../../fixtures/goldens', rel)));

async function run(file: string, count: number): Promise<{ byKind: Record<string, Record<string, number>>; maxMs: number }> {
  const bytes = golden(file);
  const byKind: Record<string, Record<string, number>> = {};
  let maxMs = 0;
  let i = 0;
  for (const m of structuralMutations(bytes, 5, count)) {
    const kind = m.label.split(' ')[1].split(/[@:=]/)[0];
    const t = performance.now();
    let outcome = 'ok';
    try {
      const ck = await openCheckpointBytes(m.bytes, file, { verifyCrc: i++ % 2 === 0 });
      for (const info of ck.list()) await ck.read(info.name);
      await ck.close();
    } catch (e) {
      if (!(e instanceof Mplug2Error)) throw new Error(`${file} ${m.label}: escaped as ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
      outcome = e.code;
    }
    maxMs = Math.max(maxMs, performance.now() - t);
    byKind[kind] ??= {};
    byKind[kind][outcome] = (byKind[kind][outcome] ?? 0) + 1;
  }
  return { byKind, maxMs };
}

describe('structure-aware checkpoint fuzz', () => {
  it('deflateBomb inflates to the size asked for', async () => {
    const { inflateRawSync } = await import('node:zlib');
    const bomb = deflateBomb(1 << 20);
    expect(bomb.length).toBeLessThan(8 << 10);
    const out = inflateRawSync(bomb);
    expect(out.length).toBeGreaterThanOrEqual(1 << 20);
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it('every .pth kind: typed outcomes; hostile globals and callables are UnsafePickleError', async () => {
    const { byKind, maxMs } = await run('videocaption_tiny/checkpoint.pth', 120);
    expect(Object.keys(byKind).sort()).toEqual([...STRUCTURAL_KINDS.pth].sort());
    for (const k of ['cut', 'dupentry', 'overlap', 'pklcut']) expect(Object.keys(byKind[k]), k).toEqual(['CHECKPOINT_FORMAT']);
    // a bomb in an entry the reader never inflates (checkpoint/version) is harmless; every other one is refused
    expect(byKind.bomb.CHECKPOINT_FORMAT).toBeGreaterThanOrEqual(byKind.bomb.ok ?? 0);
    expect(byKind.global.UNSAFE_PICKLE).toBeGreaterThan(5);
    expect(byKind.inject.UNSAFE_PICKLE).toBeGreaterThan(5);
    expect(maxMs).toBeLessThan(2000);
  });

  it('every safetensors kind: typed outcomes', async () => {
    const { byKind, maxMs } = await run('videocaption_tiny/fixtures.safetensors', 140);
    expect(Object.keys(byKind).sort()).toEqual([...STRUCTURAL_KINDS.safetensors].sort());
    expect(Object.keys(byKind.cut)).toEqual(['CHECKPOINT_FORMAT']);
    expect(byKind.nest.CHECKPOINT_FORMAT ?? 0).toBeGreaterThan(0);
    expect(maxMs).toBeLessThan(2000);
  });
});
