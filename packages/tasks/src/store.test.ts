import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Mplug2Error } from '@mplug2/core';
import { LanceVectorStore, MemoryVectorStore, type IndexedVideo } from './store.js';

function unit(seed: number, d = 8): Float32Array {
  const v = Float32Array.from({ length: d }, (_, i) => Math.sin(seed * 13.7 + i * 1.3));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const rows: IndexedVideo[] = Array.from({ length: 40 }, (_, i) => ({
  path: `/v/${i}.mp4`,
  sha256: `s${i}`,
  duration: i,
  frameIndices: [0, i],
  embedding: unit(i),
  modelId: i < 35 ? 'm1' : 'm2',
}));

describe('vector stores', () => {
  it('LanceDB and the memory store return the same exact top-k, filtered by model id', async () => {
    const lance = await LanceVectorStore.open(path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-store-')), 'db'));
    const mem = new MemoryVectorStore();
    for (let s = 0; s < rows.length; s += 10) {
      await lance.add(rows.slice(s, s + 10));
      await mem.add(rows.slice(s, s + 10));
    }
    expect(await lance.count()).toBe(40);
    expect(await lance.count('m1')).toBe(35);
    for (const q of [unit(100), unit(7), unit(-3)]) {
      const a = await lance.search('m1', q, 12);
      const b = await mem.search('m1', q, 12);
      expect(a.map((h) => h.path)).toEqual(b.map((h) => h.path));
      a.forEach((h, i) => expect(h.score).toBeCloseTo(b[i].score, 12));
      expect(a.every((h) => h.modelId === 'm1')).toBe(true);
    }
    expect((await lance.indexed('m2')).size).toBe(5);
    // States: only for rows added with them; search never returns them.
    const withStates = { ...rows[0], path: '/v/s.mp4', states: Float32Array.from([1.5, -2, 3.25]) };
    await lance.add([withStates]);
    await mem.add([withStates]);
    for (const s of [lance, mem]) {
      const got = await s.states('m1', ['/v/s.mp4', '/v/2.mp4', '/v/none.mp4']);
      expect([...got.keys()]).toEqual(['/v/s.mp4']);
      expect(Array.from(got.get('/v/s.mp4')!)).toEqual([1.5, -2, 3.25]);
      expect((await s.search('m1', unit(0), 3)).some((h) => 'states' in h)).toBe(false);
      expect((await s.states('m2', ['/v/s.mp4'])).size).toBe(0);
    }
    await lance.remove('m1', ['/v/s.mp4']);
    await lance.remove('m1', ['/v/1.mp4', "/v/it's.mp4"]);
    expect(await lance.count('m1')).toBe(34);
    await lance.close();
  });
});

describe('LanceVectorStore.open after a writer was killed', () => {
  // A process SIGKILLed while its first `add` created the table leaves the table listed in the
  // database with no committed version; these are the three states such kills left (measured by
  // killing `createTable` at 0.5 ms steps): data files only, data and transaction files, nothing.
  const interrupted: Record<string, string[]> = {
    'data files only': ['_versions', '_transactions'],
    'data and transaction files': ['_versions'],
    'no table directory': [''],
  };
  for (const [state, removed] of Object.entries(interrupted))
    it(`a table whose creation was interrupted (${state}) opens as empty, and the next add creates it`, async () => {
      const db = path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-store-')), 'db');
      const first = await LanceVectorStore.open(db);
      await first.add(rows.slice(0, 3));
      await first.close();
      for (const dir of removed) rmSync(path.join(db, 'videos.lance', dir), { recursive: true, force: true });
      const store = await LanceVectorStore.open(db);
      expect(await store.count()).toBe(0);
      expect((await store.indexed('m1')).size).toBe(0);
      await store.add(rows.slice(3, 5));
      await store.close();
      const again = await LanceVectorStore.open(db);
      expect([...(await again.indexed('m1')).keys()].sort()).toEqual(['/v/3.mp4', '/v/4.mp4']);
      await again.close();
    });

  it('a store opened before another process created the table adds to that table', async () => {
    const db = path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-store-')), 'db');
    const early = await LanceVectorStore.open(db); // no table yet
    const other = await LanceVectorStore.open(db);
    await other.add(rows.slice(0, 2)); // creates it
    await other.close();
    await early.add(rows.slice(2, 4)); // would create it too: joins it instead
    expect(await early.count()).toBe(4);
    await early.close();
  });

  it('a table LanceDB cannot read is a STORE_UNREADABLE error naming the database, not an empty index', async () => {
    const db = path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-store-')), 'db');
    const store = await LanceVectorStore.open(db);
    await store.add(rows.slice(0, 3));
    await store.close();
    const versions = path.join(db, 'videos.lance', '_versions');
    for (const f of readdirSync(versions)) if (f.endsWith('.manifest')) writeFileSync(path.join(versions, f), 'not a manifest');
    const error = await LanceVectorStore.open(db).then(
      () => null,
      (e: Mplug2Error) => e,
    );
    expect(error).toBeInstanceOf(Mplug2Error);
    expect(error!.code).toBe('STORE_UNREADABLE');
    expect(error!.message).toContain(db);
  });
});
