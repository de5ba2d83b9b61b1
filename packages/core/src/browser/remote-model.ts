/**
 * A converted model served over HTTP(S): `fetch` + the Cache API, sha256 verification against the
 * manifest (SubtleCrypto), progress events, and resumable downloads (a file is fetched in Range
 * chunks and every finished chunk is cached, so an interrupted download resumes where it stopped
 * and a loaded model is never fetched again). Browser-safe; also works in Node ≥ 18 (global
 * `fetch` and `crypto.subtle`; no Cache API there unless one is passed).
 */
import { ModelIntegrityError, Mplug2Error } from '../errors.js';
import { parseManifest, type Manifest, type ModuleName } from '../manifest.js';
import { MANIFEST_FILE, MANIFEST_HASH_FILE, resolveGraph, type ModelSource, type OpenModelOptions } from '../model-source.js';
import { ModuleSession, type SessionOptions } from '../runtime/session.js';

/**
 * The largest single file onnxruntime-web can take: its wasm build is 32-bit (4 GiB address space for
 * the graph, the weights and the activations), and an external-data file is handed over as one
 * ArrayBuffer. The converter splits each module family's data into chunks of at most
 * `DEFAULT_MAX_DATA_FILE_BYTES` (1 GiB) by default; a module's session gets all its chunks.
 */
export const MAX_WEB_FILE_BYTES = 2 ** 31 - 1;

/** Default Range chunk: the unit of resumption and of cache entries. */
export const DEFAULT_CHUNK_BYTES = 16 << 20;

export interface ModelLoadProgress {
  /** Tells these events apart from session events in a task's load progress (`LoadProgressEvent`). */
  readonly stage: 'download';
  /** File inside the model (`vision.weights`, `decoder_step.onnx`, ...). */
  readonly file: string;
  /** `cached`: served from the cache; `download`: bytes arriving; `verified`: sha256 checked. */
  readonly phase: 'cached' | 'download' | 'verified';
  readonly fileBytes: number;
  readonly fileTotal: number;
  /** Over the files of the current `prefetch`/`session` call. */
  readonly loadedBytes: number;
  readonly totalBytes: number;
  readonly filesDone: number;
  readonly filesTotal: number;
}

/** The subset of the Cache API that is used (so tests and Node can pass their own). */
export interface CacheLike {
  match(request: string): Promise<Response | undefined>;
  put(request: string, response: Response): Promise<void>;
  delete(request: string): Promise<boolean>;
}

export interface RemoteModelOptions extends OpenModelOptions {
  /** `fetch` to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /**
   * Persistent cache: a Cache API bucket name (default `mplug2-models`), a cache object, or `false`:
   * no persistent copy; downloaded files are held in memory only while sessions are being created
   * (sessions loaded together share one download), then released — a later load downloads again.
   */
  readonly cache?: string | CacheLike | false;
  /** Range chunk size in bytes (default 16 MiB). */
  readonly chunkBytes?: number;
  readonly onProgress?: (event: ModelLoadProgress) => void;
  readonly signal?: AbortSignal;
}

interface FileInfo {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new Mplug2Error('NO_CRYPTO', 'crypto.subtle is not available (a secure context — https or localhost — is needed to verify model files)');
  return hex(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

function baseUrlOf(location: string): string {
  const here = (globalThis as { location?: { href?: string } }).location?.href;
  let u: URL;
  try {
    u = here ? new URL(location, here) : new URL(location);
  } catch {
    throw new Mplug2Error('MODEL_URL', `${location}: not a URL (in Node pass an absolute http(s) URL, or use ModelDirectory for a directory)`);
  }
  if (u.pathname.endsWith(`/${MANIFEST_FILE}`)) u.pathname = u.pathname.slice(0, -MANIFEST_FILE.length);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  u.search = '';
  u.hash = '';
  return u.href;
}

async function openCache(c: RemoteModelOptions['cache']): Promise<CacheLike | null> {
  if (c === false) return null;
  if (c && typeof c === 'object') return c;
  const storage = (globalThis as { caches?: { open(name: string): Promise<CacheLike> } }).caches;
  if (!storage) return null;
  try {
    return await storage.open(c ?? 'mplug2-models');
  } catch {
    return null; // e.g. an opaque origin or storage disabled: fall back to memory
  }
}

/** Reads a response body, reporting bytes as they arrive. */
async function readBody(res: Response, expected: number, onBytes: (n: number) => void): Promise<Uint8Array> {
  if (!res.body) {
    const b = new Uint8Array(await res.arrayBuffer());
    onBytes(b.length);
    return b;
  }
  const out = new Uint8Array(expected);
  let o = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (o + value.length > out.length) {
      await reader.cancel();
      throw new Mplug2Error('MODEL_DOWNLOAD', `${res.url}: the server sent more than the ${expected} bytes asked for`);
    }
    out.set(value, o);
    o += value.length;
    onBytes(value.length);
  }
  return o === out.length ? out : out.subarray(0, o);
}

/** A converted model at a URL (the directory holding `manifest.json`). */
export class RemoteModel implements ModelSource {
  private readonly memory = new Map<string, Promise<Uint8Array>>();
  /** Sessions being created; when none is left, the in-memory file bytes (`cache: false`) are released. */
  private creating = 0;
  private releaseTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    readonly baseUrl: string,
    readonly manifest: Manifest,
    private readonly options: RemoteModelOptions,
    private readonly cache: CacheLike | null,
  ) {}

  /** Fetches and verifies the manifest (from the network, else from the cache when offline). */
  static async open(location: string, options: RemoteModelOptions = {}): Promise<RemoteModel> {
    const baseUrl = baseUrlOf(location);
    const cache = await openCache(options.cache);
    const f = options.fetch ?? globalThis.fetch.bind(globalThis);
    const manifestUrl = baseUrl + MANIFEST_FILE;
    const getSmall = async (url: string, required: boolean): Promise<Uint8Array | null> => {
      try {
        const res = await f(url, { signal: options.signal, cache: 'no-cache' });
        if (res.ok) {
          const bytes = new Uint8Array(await res.arrayBuffer());
          await cache?.put(url, new Response(bytes as Uint8Array<ArrayBuffer>)).catch(() => {});
          return bytes;
        }
        if (res.status === 404 && !required) return null;
        throw new ModelIntegrityError(url, `HTTP ${res.status} ${res.statusText}`);
      } catch (e) {
        if (options.signal?.aborted) throw e;
        const hit = await cache?.match(url);
        if (hit) return new Uint8Array(await hit.arrayBuffer());
        if (e instanceof Mplug2Error) throw e;
        throw new ModelIntegrityError(url, `cannot fetch (${(e as Error).message}) and it is not cached`);
      }
    };
    const raw = (await getSmall(manifestUrl, true))!;
    if ((options.verify ?? 'graphs') !== 'none') {
      const expected = new TextDecoder().decode((await getSmall(baseUrl + MANIFEST_HASH_FILE, false)) ?? new Uint8Array()).trim();
      const actual = await sha256(raw);
      if (expected !== actual)
        throw new ModelIntegrityError(
          manifestUrl,
          expected ? 'sha256 does not match manifest.json.sha256 (the manifest was modified)' : `${MANIFEST_HASH_FILE} is missing`,
        );
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(raw));
    } catch (e) {
      throw new ModelIntegrityError(manifestUrl, `not valid JSON: ${(e as Error).message}`);
    }
    return new RemoteModel(baseUrl, parseManifest(json, manifestUrl), options, cache);
  }

  get location(): string {
    return this.baseUrl;
  }

  has(module: ModuleName): boolean {
    return !!this.manifest.modules[module];
  }

  /** Files (graphs and data) the given modules need; all modules by default. */
  files(modules: readonly ModuleName[] = Object.keys(this.manifest.modules) as ModuleName[]): FileInfo[] {
    const names = new Set<string>();
    for (const m of modules) {
      const e = this.manifest.modules[m];
      if (!e) continue;
      // Both graph forms: they are small next to the weights, and which one runs depends on the backend.
      [...Object.values(e.graphs), ...Object.values(e.portableGraphs ?? {}), ...e.data].forEach((f) => names.add(f));
    }
    return [...names].map((n) => this.fileInfo(n));
  }

  /**
   * Downloads (or finds in the cache) and verifies every file of `modules`, reporting progress over
   * all of them. Optional: `session` fetches what it needs by itself. With `cache: false` the bytes
   * are held in memory until the sessions of the next load have been created.
   */
  async prefetch(modules?: readonly ModuleName[]): Promise<void> {
    await this.load(this.files(modules), false);
  }

  /** A session for one graph of one module: graph and weights come from the cache or the network. */
  async session(module: ModuleName, role: string, options: SessionOptions = {}): Promise<ModuleSession> {
    this.creating++;
    clearTimeout(this.releaseTimer);
    try {
      const { backend, ...entry } = await resolveGraph(this.manifest, this.baseUrl, module, role, options.backend);
      const infos = [entry.file, ...entry.data].map((p) => this.fileInfo(p));
      const [graph, ...data] = await this.load(infos, true);
      return await ModuleSession.create(graph, {
        ...options,
        backend,
        externalData: entry.data.map((path, i) => ({ path, data: data[i] })),
        label: options.label ?? `${module}.${role}`,
      });
    } finally {
      // onnxruntime has copied the weights into its own memory: without a persistent cache the bytes
      // would otherwise stay in the JS heap for the model's life (most of a tab's memory at the large
      // size). Released a task turn after the last creation, so the sessions of one load (created one
      // after another, or together) still share each download.
      if (--this.creating === 0 && this.memory.size) this.releaseTimer = setTimeout(() => this.creating === 0 && this.memory.clear(), 0);
    }
  }

  /** Deletes this model's files from the persistent cache. */
  async clearCache(): Promise<void> {
    this.memory.clear();
    if (!this.cache) return;
    for (const f of this.manifest.files) {
      await this.cache.delete(this.key(f, 'verified'));
      const chunks = Math.max(1, Math.ceil(f.bytes / this.chunkBytes));
      for (let i = 0; i < chunks; i++) await this.cache.delete(this.key(f, `chunk${i}`));
    }
  }

  private get chunkBytes(): number {
    return this.options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  }

  private fileInfo(path: string): FileInfo {
    const f = this.manifest.files.find((x) => x.path === path);
    if (!f) throw new ModelIntegrityError(this.baseUrl + path, 'referenced by a module but not listed in the manifest');
    if (f.bytes > MAX_WEB_FILE_BYTES)
      throw new Mplug2Error(
        'MODEL_TOO_LARGE',
        `${this.baseUrl + path}: ${f.bytes} bytes; onnxruntime-web (32-bit wasm) takes at most ${MAX_WEB_FILE_BYTES} bytes per file — re-convert the model with \`mplug2 convert --max-file-bytes 1G\` (splits data files into chunks) or use onnxruntime-node`,
      );
    return f;
  }

  /** Cache key of one file part; the sha256 in it makes entries content-addressed. */
  private key(f: FileInfo, part: string): string {
    return `${this.baseUrl}${f.path}?mplug2-sha256=${f.sha256}&part=${part}`;
  }

  private async load(files: readonly FileInfo[], keep: boolean): Promise<Uint8Array[]> {
    const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
    let loadedBytes = 0;
    let filesDone = 0;
    const out: Uint8Array[] = [];
    for (const f of files) {
      let fileBytes = 0;
      const report = (phase: ModelLoadProgress['phase'], n: number) => {
        fileBytes += n;
        loadedBytes += n;
        this.options.onProgress?.({
          stage: 'download',
          file: f.path,
          phase,
          fileBytes,
          fileTotal: f.bytes,
          loadedBytes,
          totalBytes,
          filesDone,
          filesTotal: files.length,
        });
      };
      const bytes = await this.fileBytes(f, report);
      filesDone++;
      this.options.onProgress?.({
        stage: 'download',
        file: f.path,
        phase: 'verified',
        fileBytes: f.bytes,
        fileTotal: f.bytes,
        loadedBytes,
        totalBytes,
        filesDone,
        filesTotal: files.length,
      });
      out.push(keep ? bytes : new Uint8Array());
    }
    return out;
  }

  private fileBytes(f: FileInfo, report: (phase: ModelLoadProgress['phase'], n: number) => void): Promise<Uint8Array> {
    // Without a persistent cache the bytes stay in memory (one copy per file, shared by sessions).
    if (!this.cache) {
      let p = this.memory.get(f.path);
      if (!p) {
        p = this.fetchVerified(f, report);
        this.memory.set(f.path, p);
        p.catch(() => this.memory.delete(f.path));
      } else {
        void p.then(
          (b) => report('cached', b.length),
          () => {},
        );
      }
      return p;
    }
    return this.fetchVerified(f, report);
  }

  private async fetchVerified(f: FileInfo, report: (phase: ModelLoadProgress['phase'], n: number) => void): Promise<Uint8Array> {
    const verifyLevel = this.options.verify ?? 'graphs';
    const isGraph = f.path.endsWith('.onnx');
    const wasVerified = !!(await this.cache?.match(this.key(f, 'verified')));
    const bytes = await this.assemble(f, report);
    if (bytes.length !== f.bytes) {
      await this.dropChunks(f);
      throw new ModelIntegrityError(this.baseUrl + f.path, `has ${bytes.length} bytes, the manifest says ${f.bytes} (truncated or replaced)`);
    }
    const mustHash = verifyLevel === 'full' || (verifyLevel === 'graphs' && (isGraph || !wasVerified));
    if (mustHash) {
      const sum = await sha256(bytes);
      if (sum !== f.sha256) {
        await this.dropChunks(f);
        throw new ModelIntegrityError(this.baseUrl + f.path, `sha256 ${sum} does not match the manifest (${f.sha256}); the cached copy was removed`);
      }
    }
    if (!wasVerified && mustHash) await this.cache?.put(this.key(f, 'verified'), new Response('ok')).catch(() => {});
    return bytes;
  }

  private async dropChunks(f: FileInfo): Promise<void> {
    if (!this.cache) return;
    await this.cache.delete(this.key(f, 'verified'));
    const n = Math.max(1, Math.ceil(f.bytes / this.chunkBytes));
    for (let i = 0; i < n; i++) await this.cache.delete(this.key(f, `chunk${i}`));
  }

  /** A body cut off mid-way (connection dropped) is a MODEL_DOWNLOAD error; the chunks cached before it are kept. */
  private async receive(url: string, body: Promise<Uint8Array>): Promise<Uint8Array> {
    try {
      return await body;
    } catch (e) {
      if (this.options.signal?.aborted || e instanceof Mplug2Error) throw e;
      throw new Mplug2Error(
        'MODEL_DOWNLOAD',
        `${url}: the download broke off (${(e as Error).message}); what was downloaded so far is cached, loading again resumes`,
        { cause: e },
      );
    }
  }

  /** Cached chunks are reused; missing ones are fetched with Range requests and cached one by one. */
  private async assemble(f: FileInfo, report: (phase: ModelLoadProgress['phase'], n: number) => void): Promise<Uint8Array> {
    const url = this.baseUrl + f.path;
    const fetchFn = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    const out = new Uint8Array(f.bytes);
    const size = this.chunkBytes;
    const n = Math.max(1, Math.ceil(f.bytes / size));
    for (let i = 0; i < n; i++) {
      const start = i * size;
      const end = Math.min(f.bytes, start + size);
      const key = this.key(f, `chunk${i}`);
      const hit = await this.cache?.match(key);
      if (hit) {
        const b = new Uint8Array(await hit.arrayBuffer());
        if (b.length === end - start) {
          out.set(b, start);
          report('cached', b.length);
          continue;
        }
      }
      const whole = n === 1;
      let res: Response;
      try {
        res = await fetchFn(url, { signal: this.options.signal, ...(whole ? {} : { headers: { Range: `bytes=${start}-${end - 1}` } }) });
      } catch (e) {
        if (this.options.signal?.aborted) throw e;
        throw new Mplug2Error('MODEL_DOWNLOAD', `${url}: ${(e as Error).message} (what was downloaded so far is cached; loading again resumes)`, { cause: e });
      }
      if (!res.ok) throw new Mplug2Error('MODEL_DOWNLOAD', `${url}: HTTP ${res.status} ${res.statusText}`);
      if (!whole && res.status === 200) {
        // The server ignores Range: take the whole body once and cache it chunk by chunk.
        const all = await this.receive(
          url,
          readBody(res, f.bytes, (k) => report('download', k)),
        );
        if (all.length !== f.bytes) return all;
        for (let j = i; j < n; j++) {
          const part = all.subarray(j * size, Math.min(f.bytes, (j + 1) * size));
          await this.cache?.put(this.key(f, `chunk${j}`), new Response(part.slice() as Uint8Array<ArrayBuffer>)).catch(() => {});
        }
        out.set(all.subarray(start), start);
        return out;
      }
      const part = await this.receive(
        url,
        readBody(res, end - start, (k) => report('download', k)),
      );
      if (part.length !== end - start) return out.subarray(0, start + part.length);
      out.set(part, start);
      await this.cache?.put(key, new Response(part as Uint8Array<ArrayBuffer>)).catch(() => {});
    }
    return out;
  }
}
