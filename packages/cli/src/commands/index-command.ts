import path from 'node:path';
import { InvalidOptionError, openModel } from '@mplug2/core';
import { LanceVectorStore, Retriever, collectVideos, indexVideos, type IndexResult } from '@mplug2/tasks';
import { intOption, progressBar, requirePositional, type Command } from '../cli.js';
import { QUEUE_COORDINATOR_OPTIONS, QUEUE_COORDINATOR_USAGE, connectCoordinator, queueConnection, queueProgress } from './queue-options.js';
import { backendOption } from './shared.js';

export const indexCommand: Command = {
  name: 'index',
  summary:
    'index videos (files, folders, list files) for text search: ITC embeddings in a LanceDB database; resumable (a re-run skips what is indexed); exit 1 if some files fail to decode',
  usage: `mplug2 index <model-dir> <videos|folder|list.txt>... --db <path> [--batch 8] [--store-states] [--backend auto|cpu|wasm|webgpu|cuda] [--json] ${QUEUE_COORDINATOR_USAGE}`,
  options: {
    db: { type: 'string' },
    batch: { type: 'string' },
    'store-states': { type: 'boolean' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
    ...QUEUE_COORDINATOR_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(this, positionals, 0, 'model-dir');
    requirePositional(this, positionals, 1, 'videos');
    const db = values.db as string | undefined;
    if (!db) throw new InvalidOptionError('--db', `is required (usage: ${this.usage})`);
    const files = await collectVideos(positionals.slice(1));
    if (files.length === 0) throw new InvalidOptionError('videos', 'no video or image files found');
    if (values.queue !== undefined) {
      // Coordinator: the model's id is all it needs; workers (`mplug2 worker`) load the model.
      await queueConnection(values);
      const modelId = (await openModel(dir, { verify: 'none' })).manifest.modelId;
      const store = await LanceVectorStore.open(db);
      const coordinator = await connectCoordinator(values).catch(async (e) => {
        await store.close();
        throw e;
      });
      try {
        const { indexVideosOnQueue } = await import('@mplug2/queue');
        const r = await indexVideosOnQueue(coordinator, modelId, store, files, {
          storeStates: !!values['store-states'],
          onProgress: queueProgress(ctx, 'indexing'),
        });
        return report(r, modelId, await store.count(modelId));
      } finally {
        await coordinator.close();
        await store.close();
      }
    }
    // The store first: without @lancedb/lancedb (an optional peer) this fails before the model is loaded.
    const store = await LanceVectorStore.open(db);
    const retriever = await Retriever.load(dir, { backend: backendOption(values) }).catch(async (e) => {
      await store.close();
      throw e;
    });
    const bar = progressBar(ctx.stderr, 'indexing');
    try {
      const r = await indexVideos(retriever, store, files, {
        batchSize: intOption(values, 'batch', 8),
        storeStates: !!values['store-states'],
        onProgress: (e) => e.total > 0 && bar(e.done, e.total, e.path ? path.basename(e.path) : undefined),
      });
      return report(r, retriever.modelId, await store.count(retriever.modelId));
    } finally {
      await store.close();
      await retriever.dispose();
    }

    function report(r: IndexResult, modelId: string, count: number): number {
      for (const f of r.failed) ctx.stderr.write(`mplug2: skipped ${f.error}\n`);
      if (values.json) ctx.stdout.write(JSON.stringify({ db, modelId, ...r, rows: count }) + '\n');
      else
        ctx.stdout.write(
          `indexed ${r.indexed} (skipped ${r.skipped} already indexed${r.reindexed ? `, ${r.reindexed} changed files re-indexed` : ''}${r.failed.length ? `, ${r.failed.length} failed to decode` : ''}) in ${r.seconds.toFixed(1)} s (${r.videosPerSecond.toFixed(1)} videos/s); ${count} videos in ${db}\n`,
        );
      // Files that could not be decoded are not in the index: exit 1 so scripts notice (a re-run retries them).
      return r.failed.length ? 1 : 0;
    }
  },
};
