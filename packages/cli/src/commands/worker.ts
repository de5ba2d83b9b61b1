import { openModel } from '@mplug2/core';
// @mplug2/queue and @mplug2/server are imported by this command's run: other commands start without them.
import type { JobProcessor } from '@mplug2/queue';
import { Captioner, Retriever, VideoQA } from '@mplug2/tasks';
import { intOption, requirePositional, type Command } from '../cli.js';
import { QUEUE_CONNECTION_OPTIONS, queueConnection } from './queue-options.js';
import { backendOption } from './shared.js';

export const workerCommand: Command = {
  name: 'worker',
  summary:
    'process queued jobs (`index … --queue`, `eval run … --queue`, `serve … --queue`) for one model until SIGTERM/SIGINT (the jobs in flight finish first); run any number, on any machine that sees the same files',
  usage:
    'mplug2 worker <model-dir> --queue redis://[user:password@]host:port [--concurrency 1] [--queue-name mplug2] [--lock-ms 30000] [--stalled-ms 30000] [--max-stalled 2] [--reconnect-ms 60000] [--backend cpu|wasm|webgpu] [--json]',
  options: {
    ...QUEUE_CONNECTION_OPTIONS,
    concurrency: { type: 'string' },
    'lock-ms': { type: 'string' },
    'stalled-ms': { type: 'string' },
    'max-stalled': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(this, positionals, 0, 'model-dir');
    const { url, queueName, retryForMs } = await queueConnection(values);
    const [{ EVAL_KIND, INDEX_KIND, QueueWorker, evalProcessor, indexProcessor }, { serveProcessors }] = await Promise.all([
      import('@mplug2/queue'),
      import('@mplug2/server'),
    ]);
    const backend = backendOption(values);
    const modelId = (await openModel(dir)).manifest.modelId;
    // Each task loads on its first job, once, and serves every job of its kind after that.
    let retriever: Promise<Retriever> | undefined;
    let videoQA: Promise<VideoQA> | undefined;
    let captioner: Promise<Captioner> | undefined;
    const concurrency = intOption(values, 'concurrency', 1) as number;
    const loadVideoQA = () => (videoQA ??= VideoQA.load(dir, { backend }));
    const loadCaptioner = () => (captioner ??= Captioner.load(dir, { backend }));
    const loadRetriever = () => (retriever ??= Retriever.load(dir, { backend }));
    const processors: Record<string, JobProcessor> = {
      // `mplug2 serve --queue`: the jobs in flight at once (--concurrency) share model calls.
      ...serveProcessors({ videoqa: loadVideoQA, captioner: loadCaptioner, retriever: loadRetriever }, { maxBatch: concurrency, maxWaitMs: 5 }),
      [INDEX_KIND]: indexProcessor(loadRetriever),
      [EVAL_KIND]: evalProcessor((task) => (task === 'videoqa' ? loadVideoQA() : loadCaptioner())),
    };
    const log = (event: Record<string, unknown>, line: string) =>
      ctx.stderr.write(values.json ? JSON.stringify({ time: new Date().toISOString(), ...event }) + '\n' : `mplug2 worker: ${line}\n`);
    const worker = await QueueWorker.start(url, {
      queueName,
      modelId,
      processors,
      retryForMs,
      concurrency,
      lockDurationMs: intOption(values, 'lock-ms', 30_000),
      stalledIntervalMs: intOption(values, 'stalled-ms', 30_000),
      maxStalledCount: intOption(values, 'max-stalled', 2, 0),
      onEvent: (e) => log({ ...e }, `${e.type} ${e.jobId}${e.error ? `: ${e.error}` : ''}`),
    });
    log(
      { type: 'ready', queue: worker.connection.address.display, queueName, modelId, pid: process.pid },
      `ready on ${worker.connection.address.display} (queue ${queueName}, model ${modelId}, pid ${process.pid})`,
    );
    const stop = new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    try {
      const outcome = await Promise.race([stop, worker.failure]);
      if (typeof outcome !== 'string') throw outcome;
      log({ type: 'stopping', signal: outcome }, `${outcome}: finishing the jobs in flight`);
      return 0;
    } finally {
      await worker.close();
      for (const task of [retriever, videoQA, captioner]) if (task) await (await task.catch(() => null))?.dispose();
    }
  },
};
