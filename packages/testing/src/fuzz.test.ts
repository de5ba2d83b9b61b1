/**
 * Seeded mutation fuzzing of the golden files: every mutated file must open and read fully, or
 * fail with a Mplug2Error subclass. Anything else (RangeError, TypeError, a hang) fails the test.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { Mplug2Error, openCheckpointBytes } from '@mplug2/core';
import { mutations, zipLayout } from './fuzz.js';
import { buildZip, type ZipInput } from './test-utils.js';

const golden = (p: string) => new Uint8Array(readFileSync(fileURLToPath(new URL(`../../../fixtures/goldens/${p}`, import.meta.url))));

/** Opens and reads every tensor; returns 'ok' or the error class name. Throws on anything not a Mplug2Error. */
async function exercise(bytes: Uint8Array, label: string, verifyCrc = true): Promise<string> {
  try {
    const ck = await openCheckpointBytes(bytes, label, { verifyCrc });
    for (const t of ck.list()) {
      const a = await ck.readFloat32(t.name);
      if (a.length !== t.shape.reduce((x, y) => x * y, 1)) throw new Error(`${label}: ${t.name} has ${a.length} elements`);
    }
    await ck.close();
    return 'ok';
  } catch (e) {
    if (e instanceof Mplug2Error) return e.name;
    throw new Error(`${label}: escaped as ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
  }
}

function tally(outcomes: string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) t[o] = (t[o] ?? 0) + 1;
  return t;
}

describe('mutations()', () => {
  test('is deterministic, leaves the input alone, and yields count cases', () => {
    const input = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    const copy = input.slice();
    const a = [...mutations(input, 42, 50)];
    const b = [...mutations(input, 42, 50)];
    const c = [...mutations(input, 43, 50)];
    expect(a).toHaveLength(50);
    expect(a.map((m) => m.label)).toEqual(b.map((m) => m.label));
    expect(a.every((m, i) => m.bytes.length === b[i].bytes.length && m.bytes.every((x, j) => x === b[i].bytes[j]))).toBe(true);
    expect(a.map((m) => m.label)).not.toEqual(c.map((m) => m.label));
    expect(input).toEqual(copy);
    expect(a.filter((m) => m.bytes.length === input.length && m.bytes.every((x, j) => x === input[j])).length).toBeLessThan(5);
  });
});

describe('fuzz (seeded)', () => {
  test('300 mutations of the golden checkpoint.pth', async () => {
    const bytes = golden('videocaption_tiny/checkpoint.pth');
    const outcomes: string[] = [];
    let i = 0;
    // Half the cases skip the storage CRC check, so that damaged tensor bytes are read through.
    for (const m of mutations(bytes, 20240601, 300)) outcomes.push(await exercise(m.bytes, m.label, i++ % 2 === 0));
    const t = tally(outcomes);
    console.log('checkpoint.pth fuzz outcomes', t);
    // Both outcomes occur: the mutations are not all fatal, and not all harmless.
    expect(t.ok ?? 0).toBeGreaterThan(10);
    expect(t.CheckpointFormatError ?? 0).toBeGreaterThan(50);
    expect(Object.keys(t).every((k) => ['ok', 'CheckpointFormatError', 'UnsafePickleError'].includes(k))).toBe(true);
  });

  test('200 mutations of data.pkl, re-zipped with valid CRCs (reaches the unpickler)', async () => {
    const src = golden('videocaption_tiny/checkpoint.pth');
    const layout = zipLayout(src)!;
    const entries: ZipInput[] = [];
    // torch.save stores every entry uncompressed (method 0): the payload is the entry.
    for (const e of layout.entries) entries.push({ name: new TextDecoder().decode(e.name), data: src.slice(e.data, e.data + e.csize), crc: e.crc, align: 64 });
    const pkl = entries[0];
    expect(pkl.name).toBe('checkpoint/data.pkl');
    const outcomes: string[] = [];
    for (const m of mutations(pkl.data, 7, 200)) {
      const bytes = buildZip([{ ...pkl, data: m.bytes, crc: undefined }, ...entries.slice(1)]).bytes;
      outcomes.push(await exercise(bytes, `data.pkl ${m.label}`));
    }
    const t = tally(outcomes);
    console.log('data.pkl fuzz outcomes', t);
    expect(t.ok ?? 0).toBeGreaterThan(5);
    expect((t.CheckpointFormatError ?? 0) + (t.UnsafePickleError ?? 0)).toBeGreaterThan(50);
  });

  test('200 mutations of fixtures.safetensors', async () => {
    const bytes = golden('videocaption_tiny/fixtures.safetensors');
    const outcomes: string[] = [];
    for (const m of mutations(bytes, 99, 200)) outcomes.push(await exercise(m.bytes, `safetensors ${m.label}`));
    const t = tally(outcomes);
    console.log('safetensors fuzz outcomes', t);
    expect(t.ok ?? 0).toBeGreaterThan(10);
    expect(t.CheckpointFormatError ?? 0).toBeGreaterThan(20);
  });
});
