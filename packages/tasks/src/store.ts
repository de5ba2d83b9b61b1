import { Mplug2Error } from '@mplug2/core';

/** One indexed video. */
export interface IndexedVideo {
  readonly path: string;
  readonly sha256: string;
  /** Seconds (0 when unknown, e.g. images). */
  readonly duration: number;
  readonly frameIndices: readonly number[];
  /** L2-normalised ITC embedding (`embed_dim`). */
  readonly embedding: Float32Array;
  /** `manifest.modelId` of the model that computed the embedding. */
  readonly modelId: string;
  /** Optional cached `image_embeds` (`video_tokens·hidden` floats) for ITM without re-decoding. */
  readonly states?: Float32Array | null;
}

export interface StoreHit extends Omit<IndexedVideo, 'states'> {
  /** Dot product of the query with `embedding` (= cosine: both are unit vectors). */
  readonly score: number;
}

/**
 * What the corpus index needs from a vector store. Each `add` must be atomic (all rows or none),
 * which makes indexing resumable: a crash loses at most the batch being added.
 */
export interface VectorStore {
  /** `path → sha256` of every row for `modelId`. */
  indexed(modelId: string): Promise<Map<string, string>>;
  add(rows: readonly IndexedVideo[]): Promise<void>;
  /** Removes the rows of these paths for `modelId` (re-indexing changed files). */
  remove(modelId: string, paths: readonly string[]): Promise<void>;
  /** Exact (brute-force) top-k by dot product among the rows of `modelId`, best first (without the stored states). */
  search(modelId: string, query: Float32Array, k: number): Promise<StoreHit[]>;
  /** The stored ITM visual states of these paths (only rows indexed with `storeStates`). */
  states(modelId: string, paths: readonly string[]): Promise<Map<string, Float32Array>>;
  count(modelId?: string): Promise<number>;
  close(): Promise<void>;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Stable order: score descending, then path (ties never depend on storage order). */
export function compareHits(a: { score: number; path: string }, b: { score: number; path: string }): number {
  return b.score - a.score || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}

/** An in-memory store (tests, browsers, small throw-away corpora). */
export class MemoryVectorStore implements VectorStore {
  readonly rows: IndexedVideo[] = [];
  async indexed(modelId: string): Promise<Map<string, string>> {
    return new Map(this.rows.filter((r) => r.modelId === modelId).map((r) => [r.path, r.sha256]));
  }
  async add(rows: readonly IndexedVideo[]): Promise<void> {
    this.rows.push(...rows);
  }
  async remove(modelId: string, paths: readonly string[]): Promise<void> {
    const drop = new Set(paths);
    for (let i = this.rows.length - 1; i >= 0; i--) if (this.rows[i].modelId === modelId && drop.has(this.rows[i].path)) this.rows.splice(i, 1);
  }
  async search(modelId: string, query: Float32Array, k: number): Promise<StoreHit[]> {
    return this.rows
      .filter((r) => r.modelId === modelId)
      .map(({ states: _states, ...r }) => ({ ...r, score: dot(query, r.embedding) }))
      .sort(compareHits)
      .slice(0, k);
  }
  async states(modelId: string, paths: readonly string[]): Promise<Map<string, Float32Array>> {
    const want = new Set(paths);
    return new Map(this.rows.filter((r) => r.modelId === modelId && want.has(r.path) && r.states?.length).map((r) => [r.path, r.states!]));
  }
  async count(modelId?: string): Promise<number> {
    return modelId === undefined ? this.rows.length : this.rows.filter((r) => r.modelId === modelId).length;
  }
  /** For `await using`: the same as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {}
}

const TABLE = 'videos';

function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** LanceDB's error for a table listed in the database whose dataset has no committed version. */
function isUncommittedTable(e: unknown): boolean {
  return /was not found/i.test(String((e as Error)?.message ?? e));
}

type LanceConnection = Awaited<ReturnType<typeof import('@lancedb/lancedb').connect>>;
type LanceTable = Awaited<ReturnType<LanceConnection['openTable']>>;

/**
 * LanceDB (embedded, on-disk) store: one table `videos`; every `add` is one Lance commit (atomic).
 * Search is a flat (exact) scan with the `dot` distance — no ANN index is built, so results are
 * exactly the brute-force ranking; the scores are recomputed from the stored vectors in float64.
 */
export class LanceVectorStore implements VectorStore {
  private constructor(
    readonly uri: string,
    private readonly db: LanceConnection,
    private table: LanceTable | null,
  ) {}

  static async open(uri: string): Promise<LanceVectorStore> {
    let lancedb: typeof import('@lancedb/lancedb');
    try {
      lancedb = await import('@lancedb/lancedb');
    } catch (e) {
      throw new Mplug2Error(
        'STORE_UNAVAILABLE',
        `@lancedb/lancedb could not be loaded (an optional peer dependency of @mplug2/tasks: \`npm install @lancedb/lancedb@0.31.0\`; or its native binary is missing for this platform): ${(e as Error).message}`,
      );
    }
    const db = await lancedb.connect(uri);
    if (!(await db.tableNames()).includes(TABLE)) return new LanceVectorStore(uri, db, null);
    try {
      return new LanceVectorStore(uri, db, await db.openTable(TABLE));
    } catch (e) {
      if (!isUncommittedTable(e)) throw new Mplug2Error('STORE_UNREADABLE', `${uri}: table '${TABLE}' cannot be opened: ${(e as Error).message}`);
      // The table is listed but has no committed version: its creation (the first `add`) is under
      // way in another process, or its writer was killed during it. Either way it holds no row yet:
      // this store reads as empty, and its first `add` creates the table. Nothing is dropped — a
      // reader (`mplug2 search` beside a running index) must not destroy a writer's table.
      return new LanceVectorStore(uri, db, null);
    }
  }

  async indexed(modelId: string): Promise<Map<string, string>> {
    if (!this.table) return new Map();
    const rows = await this.table
      .query()
      .where(`modelId = ${sqlString(modelId)}`)
      .select(['path', 'sha256'])
      .toArray();
    return new Map(rows.map((r) => [String(r.path), String(r.sha256)]));
  }

  async add(rows: readonly IndexedVideo[]): Promise<void> {
    if (rows.length === 0) return;
    const data = rows.map((r) => ({
      path: r.path,
      sha256: r.sha256,
      duration: r.duration,
      frameIndices: [...r.frameIndices],
      vector: Array.from(r.embedding),
      modelId: r.modelId,
      states: r.states ? Buffer.from(r.states.buffer, r.states.byteOffset, r.states.byteLength) : Buffer.alloc(0),
    }));
    if (this.table) {
      await this.table.add(data);
      return;
    }
    try {
      this.table = await this.db.createTable(TABLE, data);
    } catch (e) {
      // Another process created the table since this store was opened: add to it.
      if (!/already exists/i.test(String((e as Error)?.message ?? e))) throw e;
      this.table = await this.db.openTable(TABLE);
      await this.table.add(data);
    }
  }

  async remove(modelId: string, paths: readonly string[]): Promise<void> {
    if (!this.table || paths.length === 0) return;
    await this.table.delete(`modelId = ${sqlString(modelId)} AND path IN (${paths.map(sqlString).join(', ')})`);
  }

  async search(modelId: string, query: Float32Array, k: number): Promise<StoreHit[]> {
    if (!this.table) return [];
    const rows = await this.table
      .vectorSearch(Array.from(query))
      .distanceType('dot')
      .where(`modelId = ${sqlString(modelId)}`)
      .select(['path', 'sha256', 'duration', 'frameIndices', 'vector', 'modelId', '_distance']) // not the (large) states
      .limit(k + Math.max(16, k))
      .toArray();
    return rows
      .map((r) => {
        const embedding = Float32Array.from(r.vector as ArrayLike<number>);
        return {
          path: String(r.path),
          sha256: String(r.sha256),
          duration: Number(r.duration),
          frameIndices: Array.from(r.frameIndices as ArrayLike<number>, Number),
          embedding,
          modelId: String(r.modelId),
          score: dot(query, embedding),
        };
      })
      .sort(compareHits)
      .slice(0, k);
  }

  async states(modelId: string, paths: readonly string[]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    if (!this.table || paths.length === 0) return out;
    const rows = await this.table
      .query()
      .where(`modelId = ${sqlString(modelId)} AND path IN (${paths.map(sqlString).join(', ')})`)
      .select(['path', 'states'])
      .toArray();
    for (const r of rows) {
      const bytes = r.states as Uint8Array | null;
      if (bytes && bytes.byteLength) out.set(String(r.path), new Float32Array(bytes.slice().buffer));
    }
    return out;
  }

  async count(modelId?: string): Promise<number> {
    if (!this.table) return 0;
    return this.table.countRows(modelId === undefined ? undefined : `modelId = ${sqlString(modelId)}`);
  }

  /** For `await using`: the same as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    this.table?.close();
    this.db.close();
  }
}
