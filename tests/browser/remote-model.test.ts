import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelIntegrityError, RemoteModel, type ModelLoadProgress } from '@mplug2/core';
import { goldenModel } from '../helpers/golden';
import { MemoryCache } from '../helpers/memory-cache';
import { serveStatic, type StaticServer } from './server';

/**
 * RemoteModel (the browser's ModelSource) in Node: global fetch + crypto.subtle, with an in-memory
 * stand-in for the Cache API. Served by the same Range + COOP/COEP server the browser tests use.
 */
let server: StaticServer;
let base: string;

beforeAll(async () => {
  const dir = await goldenModel('videoqa_tiny');
  server = await serveStatic({ mounts: { '/m/': dir.location } });
  base = `${server.url}/m/`;
});
afterAll(() => server?.close());

const dataRequests = () => server.requests.filter((r) => /\.(onnx|weights)$/.test(r.url));

describe('RemoteModel', () => {
  it('downloads with progress (bytes and files), verifies sha256, runs, and never fetches a cached file again', async () => {
    const cache = new MemoryCache();
    const events: ModelLoadProgress[] = [];
    const model = await RemoteModel.open(base, { cache, chunkBytes: 64 << 10, onProgress: (e) => events.push(e) });
    const before = dataRequests().length;
    await model.prefetch();
    const last = events.at(-1)!;
    expect(last.filesDone).toBe(last.filesTotal);
    expect(last.loadedBytes).toBe(last.totalBytes);
    expect(last.totalBytes).toBe(model.files().reduce((s, f) => s + f.bytes, 0));
    expect(events.some((e) => e.phase === 'download')).toBe(true);
    expect(dataRequests().length).toBeGreaterThan(before);
    expect(dataRequests().some((r) => r.status === 206)).toBe(true);
    const s = await model.session('universal', 'main', { backend: 'cpu' });
    expect(s.inputNames.length).toBeGreaterThan(0);
    await s.dispose();

    const n = dataRequests().length;
    const again = await RemoteModel.open(base, { cache, chunkBytes: 64 << 10 });
    await again.prefetch();
    (await again.session('fusion', 'main', { backend: 'cpu' })).dispose();
    expect(dataRequests().length).toBe(n);
  });

  it('resumes an interrupted download: chunks already cached are not fetched again', async () => {
    const cache = new MemoryCache();
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      if (/\.weights$/.test(String(input)) && ++calls > 3) throw new TypeError('network down');
      return fetch(input, init);
    };
    const start = server.requests.length;
    const model = await RemoteModel.open(base, { cache, chunkBytes: 32 << 10, fetch: flaky });
    await expect(model.prefetch()).rejects.toThrow(/network down.*loading again resumes/);
    const first = server.requests.slice(start).filter((r) => r.range && /\.weights$/.test(r.url));
    expect(first.length).toBe(3);
    const seen = new Set(first.map((r) => `${r.url} ${r.range}`));
    const resumed = await RemoteModel.open(base, { cache, chunkBytes: 32 << 10 });
    const n = server.requests.length;
    await resumed.prefetch();
    const refetched = server.requests.slice(n).filter((r) => r.range && seen.has(`${r.url} ${r.range}`) && /\.weights$/.test(r.url));
    expect(refetched).toEqual([]);
  });

  it('rejects a file whose sha256 does not match the manifest (and drops it from the cache)', async () => {
    const cache = new MemoryCache();
    const tamper: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!/\.onnx$/.test(String(input))) return res;
      const b = new Uint8Array(await res.arrayBuffer());
      b[b.length - 1] ^= 0xff;
      return new Response(b, { status: res.status, headers: res.headers });
    };
    const model = await RemoteModel.open(base, { cache, fetch: tamper });
    const err = await model.session('universal', 'main', { backend: 'cpu' }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect(err.message).toMatch(/sha256 .* does not match the manifest/);
    expect([...cache.entries.keys()].filter((k) => k.includes('.onnx'))).toEqual([]);
  });
});
