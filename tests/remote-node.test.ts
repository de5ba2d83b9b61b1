// Models at http(s) URLs in Node: the browser's RemoteModel downloader over a DiskCache, through openModel,
// the tasks' load(url) and the CLI. A real HTTP server on a loopback port serves a converted tiny model.
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, DiskCache, ModelIntegrityError, Mplug2Error, RemoteModel, openModel, type LoadProgressEvent } from '@mplug2/core';
import { VideoQA } from '@mplug2/tasks';
import { serveStatic, type StaticServer } from './browser/server';
import { runCli } from './helpers/cli';
import { SAMPLE_VIDEO, demoModel } from './helpers/demo-model';

const CHUNK = 1 << 20;
let dir: string;
let server: StaticServer;
let base: string;
let tampered: string;
/** Which weights file and chunk the server cuts off once (set by the resume test). */
let dropOnce: { url: string; range: string } | null = null;

beforeAll(async () => {
  dir = await demoModel();
  // Same manifest, one byte of the largest weights file flipped: same size, wrong sha256.
  tampered = mkdtempSync(path.join(tmpdir(), 'mplug2-tampered-'));
  cpSync(dir, tampered, { recursive: true });
  const weights = readdirSync(tampered).filter((f) => f.endsWith('.weights'));
  const biggest = weights.sort((a, b) => readFileSync(path.join(tampered, b)).length - readFileSync(path.join(tampered, a)).length)[0];
  const bytes = readFileSync(path.join(tampered, biggest));
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(path.join(tampered, biggest), bytes);
  server = await serveStatic({
    mounts: { '/model/': dir, '/tampered/': tampered },
    dropAfter: (r) => {
      if (!dropOnce || r.url !== dropOnce.url || r.range !== dropOnce.range) return undefined;
      dropOnce = null;
      return CHUNK >> 1;
    },
  });
  base = `${server.url}/model/`;
});
afterAll(() => server?.close());

const cacheDir = () => mkdtempSync(path.join(tmpdir(), 'mplug2-disk-cache-'));

describe('openModel(url) in Node', () => {
  it('opens a URL through RemoteModel with a DiskCache (MPLUG2_CACHE_DIR), a path through ModelDirectory', async () => {
    const saved = process.env.MPLUG2_CACHE_DIR;
    process.env.MPLUG2_CACHE_DIR = cacheDir();
    try {
      const remote = await openModel(base);
      expect(remote).toBeInstanceOf(RemoteModel);
      expect(remote.manifest.modelId).toBe((await openModel(dir)).manifest.modelId);
      await (remote as RemoteModel).prefetch(['fusion']);
      expect(readdirSync(path.join(process.env.MPLUG2_CACHE_DIR, 'entries')).length).toBeGreaterThan(0);
    } finally {
      if (saved === undefined) delete process.env.MPLUG2_CACHE_DIR;
      else process.env.MPLUG2_CACHE_DIR = saved;
    }
  });
});

describe('without a persistent cache (cache: false)', () => {
  it('sessions of one load share each download; the bytes are released after the load, so a later load downloads again', async () => {
    const model = await RemoteModel.open(base, { cache: false, verify: 'none' });
    const weights = () => server.requests.filter((r) => r.url.startsWith('/model/') && r.url.endsWith('.weights'));
    const files = new Set(model.files(['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder']).map((f) => `/model/${f.path}`));
    const dataFiles = [...files].filter((f) => f.endsWith('.weights'));
    expect(dataFiles.length).toBeGreaterThan(0);

    const before = weights().length;
    const qa = await VideoQA.load(model);
    const first = weights()
      .slice(before)
      .map((r) => r.url);
    await qa.dispose();
    // Each data file once, although the decoder's graphs (and any module's several graphs) share theirs.
    expect(first.sort()).toEqual([...dataFiles].sort());

    await new Promise((r) => setTimeout(r, 10));
    const again = await VideoQA.load(model);
    const second = weights()
      .slice(before + first.length)
      .map((r) => r.url);
    await again.dispose();
    // Released after the first load (not kept in the JS heap for the model's life): fetched again.
    expect(second.sort()).toEqual([...dataFiles].sort());
  });
});

describe('resumable download to disk', () => {
  it('a connection dropped mid-file fails with MODEL_DOWNLOAD; a new process re-requests only the chunks it lacks', async () => {
    const cache = cacheDir();
    const first = await RemoteModel.open(base, { cache: new DiskCache(cache), chunkBytes: CHUNK });
    const file = first
      .files()
      .filter((f) => f.path.endsWith('.weights'))
      .sort((a, b) => b.bytes - a.bytes)[0];
    const chunks = Math.ceil(file.bytes / CHUNK);
    expect(chunks).toBeGreaterThan(3);
    const url = `/model/${file.path}`;
    dropOnce = { url, range: `bytes=${2 * CHUNK}-${3 * CHUNK - 1}` };
    const start = server.requests.length;
    const err = await first.prefetch().catch((e) => e);
    expect(err).toBeInstanceOf(Mplug2Error);
    expect(err.code).toBe('MODEL_DOWNLOAD');
    expect(err.message).toMatch(/broke off.*loading again resumes/);
    const run1 = server.requests.slice(start).filter((r) => r.url === url);
    // Chunks 0 and 1 arrived whole; chunk 2 was cut off.
    expect(run1.map((r) => [r.range, r.status])).toEqual([
      [`bytes=0-${CHUNK - 1}`, 206],
      [`bytes=${CHUNK}-${2 * CHUNK - 1}`, 206],
      [`bytes=${2 * CHUNK}-${3 * CHUNK - 1}`, -1],
    ]);

    // A new DiskCache on the same directory, as a new process would have.
    const again = await RemoteModel.open(base, { cache: new DiskCache(cache), chunkBytes: CHUNK });
    const n = server.requests.length;
    await again.prefetch();
    const run2 = server.requests
      .slice(n)
      .filter((r) => r.url === url)
      .map((r) => r.range);
    expect(run2).toEqual(Array.from({ length: chunks - 2 }, (_, i) => `bytes=${(i + 2) * CHUNK}-${Math.min(file.bytes, (i + 3) * CHUNK) - 1}`));

    // And once complete, nothing is fetched again.
    const third = await RemoteModel.open(base, { cache: new DiskCache(cache), chunkBytes: CHUNK });
    const m = server.requests.length;
    await third.prefetch();
    expect(server.requests.slice(m).filter((r) => /\.(onnx|weights)$/.test(r.url))).toEqual([]);
  });

  it('a corrupted file is a ModelIntegrityError and its chunks are dropped from the disk cache', async () => {
    const cache = cacheDir();
    const model = await RemoteModel.open(`${server.url}/tampered/`, { cache: new DiskCache(cache), chunkBytes: CHUNK });
    const err = await model.prefetch().catch((e) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect(err.message).toMatch(/\/tampered\/.*\.weights: sha256 [0-9a-f]{64} does not match the manifest/);
    // Only complete, verified files remain: every entry left belongs to a file that passed.
    const again = await RemoteModel.open(`${server.url}/tampered/`, { cache: new DiskCache(cache), chunkBytes: CHUNK });
    await expect(again.prefetch()).rejects.toBeInstanceOf(ModelIntegrityError);
  });
});

describe('tasks and CLI load models from URLs', () => {
  it('VideoQA.load(url) answers exactly as the local directory, reporting download and session progress', async () => {
    const saved = process.env.MPLUG2_CACHE_DIR;
    process.env.MPLUG2_CACHE_DIR = cacheDir();
    try {
      const events: LoadProgressEvent[] = [];
      const remote = await VideoQA.load(base, { onProgress: (e) => events.push(e) });
      const local = await VideoQA.load(dir);
      try {
        const [a] = await remote.ask(SAMPLE_VIDEO, 'what is in the video?');
        const [b] = await local.ask(SAMPLE_VIDEO, 'what is in the video?');
        expect(a.ids).toEqual(b.ids);
        expect(a.answer).toBe(b.answer);
        expect(a.score).toBe(b.score);
      } finally {
        await remote.dispose();
        await local.dispose();
      }
      const downloads = events.filter((e) => e.stage === 'download');
      expect(downloads.some((e) => e.phase === 'download')).toBe(true);
      const sessions = events.filter((e) => e.stage === 'session');
      expect(sessions.length).toBeGreaterThanOrEqual(6);
      expect(sessions.at(-1)!.done).toBe(sessions.at(-1)!.total);
      expect(sessions.map((e) => e.done)).toEqual(sessions.map((_, i) => Math.min(i + 1, sessions.at(-1)!.done)));

      // Second load: every file comes from the disk cache.
      const n = server.requests.length;
      const cached: LoadProgressEvent[] = [];
      await (await VideoQA.load(base, { onProgress: (e) => cached.push(e) })).dispose();
      expect(server.requests.slice(n).filter((r) => /\.(onnx|weights)$/.test(r.url))).toEqual([]);
      expect(cached.some((e) => e.stage === 'download' && e.phase === 'cached')).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.MPLUG2_CACHE_DIR;
      else process.env.MPLUG2_CACHE_DIR = saved;
    }
  });

  it('aborting a load mid-download rejects with AbortError; the next load resumes from the disk cache', async () => {
    const saved = process.env.MPLUG2_CACHE_DIR;
    process.env.MPLUG2_CACHE_DIR = cacheDir();
    try {
      const ctl = new AbortController();
      let downloaded = 0;
      const err = await VideoQA.load(base, {
        signal: ctl.signal,
        onProgress: (e) => {
          if (e.stage === 'download' && e.phase === 'verified' && ++downloaded === 2) ctl.abort(new Error('user closed the tab'));
        },
      }).catch((e) => e);
      expect(err).toBeInstanceOf(AbortError);
      expect(err.message).toBe('loading VideoQA was aborted: user closed the tab');
      const n = server.requests.length;
      const qa = await VideoQA.load(base);
      await qa.dispose();
      const refetched = server.requests.slice(n).filter((r) => /\.(onnx|weights)$/.test(r.url)).length;
      const all = (await openModel(dir)).manifest.files.filter((f) => /\.(onnx|weights)$/.test(f.path)).length;
      expect(refetched).toBeGreaterThan(0);
      expect(refetched).toBeLessThan(all);
    } finally {
      if (saved === undefined) delete process.env.MPLUG2_CACHE_DIR;
      else process.env.MPLUG2_CACHE_DIR = saved;
    }
  });

  it('mplug2 qa takes a model URL and prints what it prints for the directory', async () => {
    const saved = process.env.MPLUG2_CACHE_DIR;
    process.env.MPLUG2_CACHE_DIR = cacheDir();
    try {
      const args = (m: string) => ['qa', m, SAMPLE_VIDEO, '--question', 'what is in the video?', '--json'];
      const strip = (out: string) =>
        out
          .trim()
          .split('\n')
          .map((l) => ({ ...JSON.parse(l), timings: undefined }));
      const remote = await runCli(args(base));
      const local = await runCli(args(dir));
      expect(remote.code).toBe(0);
      expect(strip(remote.out)).toEqual(strip(local.out));
    } finally {
      if (saved === undefined) delete process.env.MPLUG2_CACHE_DIR;
      else process.env.MPLUG2_CACHE_DIR = saved;
    }
  });
});
