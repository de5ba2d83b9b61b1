import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { InvalidOptionError } from '@mplug2/core';
import { QueueConnection, redact, type ConnectOptions } from './connection.js';
import { ModelMismatchError, UnknownJobKindError, type QueueUnavailableError } from './errors.js';
import { DEFAULT_QUEUE_NAME, type JobEnvelope } from './jobs.js';

/** Computes one job's result (JSON-serialisable) from its payload. */
export type JobProcessor = (data: unknown, job: { id: string; attempt: number }) => Promise<unknown>;

export interface WorkerOptions extends ConnectOptions {
  readonly queueName?: string;
  /** `manifest.modelId` this worker serves; jobs for another model fail with `ModelMismatchError`. */
  readonly modelId: string;
  /** Processor per job kind. */
  readonly processors: Readonly<Record<string, JobProcessor>>;
  /** Jobs processed at once. Default 1. */
  readonly concurrency?: number;
  /**
   * How long a job stays owned by this worker without a lock renewal (renewed every half of it).
   * A worker that dies mid-job loses its job to another worker after at most this long plus
   * `stalledIntervalMs`. Default 30 000 ms.
   */
  readonly lockDurationMs?: number;
  /** How often workers look for jobs whose lock expired (stalled). Default 30 000 ms. */
  readonly stalledIntervalMs?: number;
  /** Times a job may be taken back from a dead worker before it is failed. Default 2. */
  readonly maxStalledCount?: number;
  readonly onEvent?: (e: { type: 'completed' | 'failed' | 'active'; jobId: string; kind: string; error?: string }) => void;
}

/** A job failure that retrying cannot fix (an undecodable file): failed at once, without retries. */
export function permanentFailure(message: string): Error {
  return new UnrecoverableError(message);
}

/**
 * Processes jobs of the registered kinds until `close()`: `close()` lets the jobs in flight finish
 * (SIGTERM handling in the CLI calls it). `failure` resolves if Redis is lost for longer than the
 * connection's retry budget; the caller should then exit non-zero.
 */
export class QueueWorker {
  private constructor(
    readonly connection: QueueConnection,
    readonly worker: Worker,
  ) {}

  static async start(url: string, options: WorkerOptions): Promise<QueueWorker> {
    const concurrency = options.concurrency ?? 1;
    const lockDuration = options.lockDurationMs ?? 30_000;
    const stalledInterval = options.stalledIntervalMs ?? 30_000;
    const maxStalledCount = options.maxStalledCount ?? 2;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidOptionError('concurrency', `must be an integer >= 1, got ${concurrency}`);
    if (!Number.isInteger(lockDuration) || lockDuration < 100) throw new InvalidOptionError('lockDurationMs', `must be an integer >= 100, got ${lockDuration}`);
    if (!Number.isInteger(stalledInterval) || stalledInterval < 100)
      throw new InvalidOptionError('stalledIntervalMs', `must be an integer >= 100, got ${stalledInterval}`);
    if (!Number.isInteger(maxStalledCount) || maxStalledCount < 0)
      throw new InvalidOptionError('maxStalledCount', `must be an integer >= 0, got ${maxStalledCount}`);
    const kinds = Object.keys(options.processors);
    const connection = await QueueConnection.open(url, options);
    const processor = async (job: Job) => {
      const envelope = job.data as JobEnvelope;
      const id = job.id ?? '?';
      const run = options.processors[job.name];
      if (!run) throw new UnknownJobKindError(id, job.name, kinds);
      if (envelope?.modelId !== options.modelId) throw new ModelMismatchError(id, String(envelope?.modelId), options.modelId);
      return run(envelope.data, { id, attempt: job.attemptsMade + 1 });
    };
    const worker = new Worker(options.queueName ?? DEFAULT_QUEUE_NAME, processor, {
      connection: connection.client,
      concurrency,
      lockDuration,
      stalledInterval,
      maxStalledCount,
      // After a dropped connection the fetch loop waits this long before trying again (BullMQ: 15 s).
      runRetryDelay: 1000,
      autorun: true,
    });
    worker.on('error', () => undefined); // connection trouble is retried; giving up shows in `failure`
    worker.on('active', (job) => options.onEvent?.({ type: 'active', jobId: job.id ?? '?', kind: job.name }));
    worker.on('completed', (job) => options.onEvent?.({ type: 'completed', jobId: job.id ?? '?', kind: job.name }));
    worker.on('failed', (job, err) =>
      options.onEvent?.({ type: 'failed', jobId: job?.id ?? '?', kind: job?.name ?? '?', error: redact(err.message, connection.address) }),
    );
    await worker.waitUntilReady();
    return new QueueWorker(connection, worker);
  }

  get failure(): Promise<QueueUnavailableError> {
    return this.connection.failure;
  }

  /** Stops taking jobs, waits for the ones in flight, closes the connections. */
  async close(): Promise<void> {
    await this.worker.close().catch(() => undefined);
    await this.connection.close();
  }
}
