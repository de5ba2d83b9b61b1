import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidOptionError,
  MANIFEST_FILE,
  MANIFEST_HASH_FILE,
  ModelDirectory,
  Mplug2Error,
  RemoteModel,
  TensorTooLargeError,
  type Manifest,
  type ModelLoadProgress,
  type ModelSource,
} from '@mplug2/core';
import { convertCheckpoint, runParity, type ParityReport } from '@mplug2/converter';
import { runCli } from './helpers/cli';
import { MemoryCache } from './helpers/memory-cache';
import { serveStatic, type StaticServer } from './browser/server';
import { GOLDENS, type GoldenName } from './helpers/golden';

/**
 * Just above each golden's largest tensor (the patch embedding conv1), so that every module family is
 * split into several chunks.
 */
const LIMITS: Record<GoldenName, number> = { videoqa_tiny: 320 << 10, videocaption_tiny: 160 << 10 };
const NAMES: GoldenName[] = ['videoqa_tiny', 'videocaption_tiny'];
const tmp = (p: string) => mkdtempSync(path.join(tmpdir(), `mplug2-${p}-`));
const source = (name: GoldenName) => ({ checkpoint: path.join(GOLDENS, name, 'checkpoint.pth'), config: path.join(GOLDENS, name, 'config.json') });

const converted = new Map<GoldenName, Promise<string>>();
function chunkedModel(name: GoldenName): Promise<string> {
  let p = converted.get(name);
  if (!p) {
    const out = tmp(`${name}-chunked`);
    p = convertCheckpoint({ ...source(name), out, maxDataFileBytes: LIMITS[name] }).then(() => out);
    converted.set(name, p);
  }
  return p;
}

/** `text.2.weights` → `text.weights`. */
const familyOf = (file: string) => file.replace(/\.\d+(\.weights)$/, '$1');

/** External-data ranges of a graph's initializers (constants stored inline have none). */
function externalRanges(file: string): { location: string; offset: number; length: number }[] {
  const model = fromBinary(ModelProtoSchema, readFileSync(file));
  return model
    .graph!.initializer.filter((t) => t.externalData.length > 0)
    .map((t) => {
      const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
      return { location: kv.get('location')!, offset: Number(kv.get('offset') ?? 0), length: Number(kv.get('length')) };
    });
}

/** Parity at 1e-4 on every compared tensor, token ids exact. */
function expectParity(report: ParityReport): void {
  expect(report.missing).toEqual([]);
  for (const t of report.tensors) expect(t.maxAbsDiff, t.name).toBeLessThanOrEqual(/ids|lengths/.test(t.name) ? 0 : 1e-4);
  expect(report.ok, JSON.stringify(report.tensors.filter((t) => !t.ok))).toBe(true);
}

describe.each(NAMES)('%s converted with a small data-file limit', (name) => {
  it('splits every family into chunks under the limit; the manifest lists, sizes and hashes every chunk and the graphs point into them', async () => {
    const dir = await chunkedModel(name);
    const manifest: Manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST_FILE), 'utf8'));
    const dataFiles = readdirSync(dir).filter((f) => f.endsWith('.weights'));
    for (const f of dataFiles) expect(statSync(path.join(dir, f)).size, f).toBeLessThanOrEqual(LIMITS[name]);
    const families = new Set(dataFiles.map(familyOf));
    for (const family of families) expect(dataFiles.filter((f) => familyOf(f) === family).length, family).toBeGreaterThan(1);

    const onDisk = readdirSync(dir).filter((f) => f !== MANIFEST_FILE && f !== MANIFEST_HASH_FILE);
    expect(manifest.files.map((f) => f.path).sort()).toEqual(onDisk.sort());
    for (const f of manifest.files) {
      const bytes = readFileSync(path.join(dir, f.path));
      expect(f.bytes, f.path).toBe(bytes.byteLength);
      expect(f.sha256, f.path).toBe(createHash('sha256').update(bytes).digest('hex'));
    }

    const tensorsAt = new Map<string, number>(); // distinct tensor ranges over all graphs → bytes
    for (const entry of Object.values(manifest.modules))
      for (const g of Object.values(entry.graphs)) for (const r of externalRanges(path.join(dir, g))) tensorsAt.set(`${r.location}@${r.offset}`, r.length);
    for (const [m, entry] of Object.entries(manifest.modules)) {
      const referenced = new Set(Object.values(entry.graphs).flatMap((g) => externalRanges(path.join(dir, g)).map((r) => r.location)));
      expect(new Set(entry.data), m).toEqual(referenced);
      expect(new Set(entry.data.map(familyOf)).size, `${m} reads one family`).toBe(1);
      const inData = [...tensorsAt].filter(([k]) => entry.data.includes(k.split('@')[0]));
      expect(entry.parameterBytes, m).toBe(inData.reduce((s, [, n]) => s + n, 0));
    }
    // The text family is shared: both of its readers list chunks of text.weights.
    if (manifest.modules.text_encoder) expect(familyOf(manifest.modules.text_encoder.data[0])).toBe(familyOf(manifest.modules.universal!.data[0]));
  });

  it.each(['cpu', 'wasm'] as const)('passes parity in Node on %s', async (backend) => {
    const model = await ModelDirectory.open(await chunkedModel(name));
    expectParity(await runParity(model, path.join(GOLDENS, name, 'fixtures.safetensors'), { backend }));
  });
});

describe('RemoteModel with chunked data files', () => {
  let server: StaticServer;
  let base: string;
  beforeAll(async () => {
    server = await serveStatic({ mounts: { '/m/': await chunkedModel('videoqa_tiny') } });
    base = `${server.url}/m/`;
  });
  afterAll(() => server?.close());

  it('fetches, verifies and caches every chunk with progress over bytes and files, then matches the reference', async () => {
    const cache = new MemoryCache();
    const events: ModelLoadProgress[] = [];
    const model = await RemoteModel.open(base, { cache, chunkBytes: 16 << 10, onProgress: (e) => events.push(e) });
    await model.prefetch();
    const chunks = model.manifest.files.filter((f) => f.path.endsWith('.weights'));
    const last = events.at(-1)!;
    expect(last.filesTotal).toBe(model.files().length);
    expect(last.filesDone).toBe(last.filesTotal);
    expect(last.loadedBytes).toBe(last.totalBytes);
    for (const c of chunks)
      expect(
        events.some((e) => e.file === c.path && e.phase === 'verified'),
        c.path,
      ).toBe(true);

    const requests = server.requests.length;
    const again: ModelSource = await RemoteModel.open(base, { cache, chunkBytes: 16 << 10 });
    expectParity(await runParity(again, path.join(GOLDENS, 'videoqa_tiny', 'fixtures.safetensors'), { backend: 'cpu' }));
    expect(server.requests.slice(requests).filter((r) => /\.(onnx|weights)$/.test(r.url))).toEqual([]);
  });

  it('refuses a data file over the onnxruntime-web limit and says how to re-convert', async () => {
    // A model converted before chunking: one data file over 2 GiB (only its manifest entry is needed).
    const oversized: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith(MANIFEST_FILE)) return res;
      const manifest: Manifest = await res.json();
      manifest.files.find((f) => f.path === 'vision.weights')!.bytes = 3 * 2 ** 30;
      return new Response(JSON.stringify(manifest));
    };
    const model = await RemoteModel.open(base, { fetch: oversized, cache: false, verify: 'none' });
    const error = (() => {
      try {
        model.files(['vision_encoder']);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(Mplug2Error);
    expect(error).toMatchObject({ code: 'MODEL_TOO_LARGE' });
    expect((error as Error).message).toMatch(/vision\.weights: 3221225472 bytes.*--max-file-bytes/);
  });
});

describe('data-file size limit errors', () => {
  it('names the tensor that does not fit and its size, before writing any data file', async () => {
    const out = tmp('too-small');
    const error = await convertCheckpoint({ ...source('videoqa_tiny'), out, maxDataFileBytes: 4096 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TensorTooLargeError);
    const { tensor, bytes, limit } = error as TensorTooLargeError;
    expect(limit).toBe(4096);
    expect(bytes).toBeGreaterThan(4096);
    expect((error as Error).message).toContain(`tensor ${tensor} is ${bytes} bytes, more than the 4096-byte data-file limit`);
    expect(readdirSync(out)).toEqual([]);
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects maxDataFileBytes %s naming the option', async (maxDataFileBytes) => {
    const error = await convertCheckpoint({ ...source('videoqa_tiny'), out: tmp('bad-option'), maxDataFileBytes }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error).toMatchObject({ option: 'maxDataFileBytes' });
  });
});

describe('mplug2 convert --max-file-bytes', () => {
  const args = (out: string) => ['convert', source('videocaption_tiny').checkpoint, '--config', source('videocaption_tiny').config, '--out', out, '--json'];

  it('accepts a K/M/G suffix and splits the data files', async () => {
    const { code, out } = await runCli([...args(tmp('cli-chunked')), '--max-file-bytes', '160K']);
    expect(code).toBe(0);
    const files: { path: string; bytes: number }[] = JSON.parse(out).files;
    const data = files.filter((f) => f.path.endsWith('.weights'));
    expect(data.some((f) => /\.1\.weights$/.test(f.path))).toBe(true);
    for (const f of data) expect(f.bytes, f.path).toBeLessThanOrEqual(160 * 1024);
  });

  it.each(['lots', '0', '12 MB', '1T'])('rejects --max-file-bytes %s naming the option (exit 2)', async (value) => {
    const { code, err } = await runCli([...args(tmp('cli-bad')), '--max-file-bytes', value]);
    expect(code).toBe(2);
    expect(err).toContain("option '--max-file-bytes'");
  });
});
