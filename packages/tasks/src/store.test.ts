import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
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
