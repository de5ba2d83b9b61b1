import { sha256File } from '@mplug2/core';
import { embedVideos, isHttpUrl, planIndex, type IndexItem, type IndexResult, type IndexedVideo, type Retriever, type VectorStore } from '@mplug2/tasks';
import type { QueueCoordinator, QueueProgress } from './coordinator.js';
import { decodeFloat32, encodeFloat32, jobId } from './jobs.js';
import { permanentFailure, type JobProcessor } from './worker.js';

/** Job kind of one video's corpus-index row. */
export const INDEX_KIND = 'index';

export interface IndexJobData extends IndexItem {
  readonly storeStates: boolean;
}

/** One index row without what the job already names (path, sha256, model id); floats as base64. */
export interface IndexJobResult {
  readonly duration: number;
  readonly frameIndices: readonly number[];
  readonly embedding: string;
  readonly states: string | null;
}

/** Same model, file, content and options → same job. */
export function indexJobId(modelId: string, item: IndexItem, storeStates: boolean): string {
  return jobId(INDEX_KIND, [modelId, item.path, item.sha256, storeStates ? 'with-states' : 'embedding-only']);
}

/**
 * Worker side: computes one video's index row with `embedVideos` (the function the embedded
 * `indexVideos` uses). The file must have the content the coordinator hashed (workers on other
 * machines must see the same files); a file that cannot be decoded fails at once (no retries).
 */
export function indexProcessor(retriever: () => Promise<Retriever>): JobProcessor {
  return async (raw) => {
    const data = raw as IndexJobData;
    // A URL is downloaded and checked against the sha256 by embedVideos; a file is checked here.
    const sha256 = isHttpUrl(data.path) ? data.sha256 : await sha256File(data.path);
    if (sha256 !== data.sha256)
      throw new Error(
        `${data.path}: content differs from what the coordinator indexed (sha256 ${sha256.slice(0, 12)}… here, ${data.sha256.slice(0, 12)}… there); workers must see the same files`,
      );
    const { rows, failed } = await embedVideos(await retriever(), [{ path: data.path, sha256: data.sha256 }], {
      storeStates: data.storeStates,
      decodeConcurrency: 1,
    });
    // Undecodable content fails for good; a URL that could not be fetched (network, HTTP 5xx) is retried.
    if (failed.length)
      throw isHttpUrl(data.path) && failed[0].error.includes('cannot be fetched') ? new Error(failed[0].error) : permanentFailure(failed[0].error);
    const row = rows[0];
    return {
      duration: row.duration,
      frameIndices: [...row.frameIndices],
      embedding: encodeFloat32(row.embedding),
      states: row.states ? encodeFloat32(row.states) : null,
    } satisfies IndexJobResult;
  };
}

export interface QueueIndexOptions {
  readonly storeStates?: boolean;
  readonly onProgress?: (p: QueueProgress & { skipped: number }) => void;
}

/**
 * Coordinator side of `indexVideos`: the same plan (resume by path + sha256 + model id, changed
 * files re-indexed), one job per video, rows written to `store` as results arrive (one `add` per
 * collected batch, each item id once), the same `IndexResult`.
 */
export async function indexVideosOnQueue(
  coordinator: QueueCoordinator,
  modelId: string,
  store: VectorStore,
  files: readonly string[],
  options: QueueIndexOptions = {},
): Promise<IndexResult> {
  const t0 = performance.now();
  const storeStates = !!options.storeStates;
  const plan = await planIndex(store, modelId, files);
  if (plan.changed.length) await store.remove(modelId, plan.changed);
  const written = new Set<string>();
  const r = await coordinator.run<IndexJobData, IndexJobResult>({
    kind: INDEX_KIND,
    modelId,
    items: plan.todo.map((item) => ({ id: indexJobId(modelId, item, storeStates), data: { ...item, storeStates } })),
    alreadyDone: plan.skipped.map((item) => indexJobId(modelId, item, storeStates)),
    sink: async (results) => {
      const rows: IndexedVideo[] = [];
      const ids: string[] = [];
      for (const { id, data, result } of results) {
        if (written.has(id)) continue;
        ids.push(id);
        rows.push({
          path: data.path,
          sha256: data.sha256,
          duration: result.duration,
          frameIndices: result.frameIndices,
          embedding: decodeFloat32(result.embedding),
          modelId,
          states: result.states ? decodeFloat32(result.states) : null,
        });
      }
      await store.add(rows);
      for (const id of ids) written.add(id);
    },
    onProgress: options.onProgress && ((p) => options.onProgress!({ ...p, skipped: plan.skipped.length })),
  });
  const seconds = (performance.now() - t0) / 1000;
  return {
    indexed: r.done,
    skipped: plan.skipped.length,
    reindexed: plan.changed.length,
    failed: r.failed.map((f) => ({ path: f.data.path, error: f.error })),
    total: plan.total,
    seconds,
    videosPerSecond: r.done / Math.max(seconds, 1e-9),
  };
}
