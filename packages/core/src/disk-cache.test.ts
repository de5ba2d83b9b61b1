import { mkdtempSync, readdirSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiskCache, defaultCacheDir } from './disk-cache.js';

describe('DiskCache', () => {
  it('stores, matches and deletes entries as files, surviving a new instance', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-diskcache-'));
    const a = new DiskCache(dir);
    expect(await a.match('k1')).toBeUndefined();
    await a.put('k1', new Response(new Uint8Array([1, 2, 3])));
    const b = new DiskCache(dir);
    expect(new Uint8Array(await (await b.match('k1'))!.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    // No temporary files are left next to the entry.
    expect(readdirSync(path.join(dir, 'entries'))).toHaveLength(1);
    expect(await b.delete('k1')).toBe(true);
    expect(await b.delete('k1')).toBe(false);
    expect(await a.match('k1')).toBeUndefined();
  });

  it('defaults to MPLUG2_CACHE_DIR, else XDG_CACHE_HOME/mplug2, else ~/.cache/mplug2', () => {
    const saved = { c: process.env.MPLUG2_CACHE_DIR, x: process.env.XDG_CACHE_HOME };
    try {
      process.env.MPLUG2_CACHE_DIR = '/tmp/a';
      expect(defaultCacheDir()).toBe('/tmp/a');
      delete process.env.MPLUG2_CACHE_DIR;
      process.env.XDG_CACHE_HOME = '/tmp/x';
      expect(defaultCacheDir()).toBe('/tmp/x/mplug2');
      delete process.env.XDG_CACHE_HOME;
      expect(defaultCacheDir()).toBe(path.join(homedir(), '.cache', 'mplug2'));
    } finally {
      for (const [k, v] of [
        ['MPLUG2_CACHE_DIR', saved.c],
        ['XDG_CACHE_HOME', saved.x],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });
});
