import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { RemoteModel, type RemoteModelOptions } from './browser/remote-model.js';
import { DiskCache } from './disk-cache.js';
import { ModelIntegrityError } from './errors.js';
import { parseManifest, type Manifest, type ModuleName } from './manifest.js';
import { MANIFEST_FILE, MANIFEST_HASH_FILE, resolveGraph, type ModelSource, type OpenModelOptions } from './model-source.js';
import { ModuleSession, type SessionOptions } from './runtime/session.js';

export { MANIFEST_FILE, MANIFEST_HASH_FILE, type ModelSource, type OpenModelOptions, type VerifyLevel } from './model-source.js';

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A converted model directory on disk: its manifest and sessions for its graphs. */
export class ModelDirectory implements ModelSource {
  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {}

  static async open(dir: string, options: OpenModelOptions = {}): Promise<ModelDirectory> {
    const verify = options.verify ?? 'graphs';
    const manifestPath = path.join(dir, MANIFEST_FILE);
    let raw: Buffer;
    try {
      raw = await readFile(manifestPath);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ModelIntegrityError(
        manifestPath,
        code === 'ENOENT' ? 'not found: is this a model directory written by `mplug2 convert`?' : `cannot read (${code})`,
      );
    }
    if (verify !== 'none') {
      const expected = (await readFile(path.join(dir, MANIFEST_HASH_FILE), 'utf8').catch(() => '')).trim();
      const actual = createHash('sha256').update(raw).digest('hex');
      if (expected !== actual)
        throw new ModelIntegrityError(
          manifestPath,
          expected ? 'sha256 does not match manifest.json.sha256 (the manifest was modified)' : `${MANIFEST_HASH_FILE} is missing`,
        );
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new ModelIntegrityError(manifestPath, `not valid JSON: ${(e as Error).message}`);
    }
    const manifest = parseManifest(json, manifestPath);
    if (verify !== 'none') {
      for (const f of manifest.files) {
        const file = path.join(dir, f.path);
        const s = await stat(file).catch(() => null);
        if (!s) throw new ModelIntegrityError(file, 'listed in the manifest but missing');
        if (s.size !== f.bytes) throw new ModelIntegrityError(file, `has ${s.size} bytes, the manifest says ${f.bytes} (truncated or replaced)`);
        if (verify === 'full' || f.path.endsWith('.onnx')) {
          const sum = await sha256File(file);
          if (sum !== f.sha256) throw new ModelIntegrityError(file, `sha256 ${sum} does not match the manifest (${f.sha256})`);
        }
      }
    }
    return new ModelDirectory(dir, manifest);
  }

  get location(): string {
    return this.dir;
  }

  has(module: ModuleName): boolean {
    return !!this.manifest.modules[module];
  }

  /** A session for one graph of one module. */
  async session(module: ModuleName, role: string, options: SessionOptions = {}): Promise<ModuleSession> {
    const { backend, ...entry } = await resolveGraph(this.manifest, this.dir, module, role, options.backend);
    // onnxruntime-web does not resolve external data next to the model by itself.
    const externalData = backend === 'wasm' ? entry.data.map((d) => ({ path: d, data: path.join(this.dir, d) })) : undefined;
    return ModuleSession.create(path.join(this.dir, entry.file), { ...options, backend, externalData, label: `${module}.${role}` });
  }
}

/**
 * Opens a converted model by location: an http(s) URL through `RemoteModel` (the browser's downloader:
 * Range chunks, sha256 checks, resume) with a `DiskCache` under `defaultCacheDir()` unless `options.cache`
 * says otherwise; anything else is a directory (`ModelDirectory`).
 */
export function openModel(location: string, options: RemoteModelOptions = {}): Promise<ModelSource> {
  if (/^https?:\/\//i.test(location)) return RemoteModel.open(location, { ...options, cache: options.cache ?? new DiskCache() });
  return ModelDirectory.open(location, options);
}
