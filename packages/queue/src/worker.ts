import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { InvalidOptionError } from '@mplug2/core';
import { QueueConnection, redact, type ConnectOptions } from './connection.js';
import { ModelMismatchError, UnknownJobKindError, type QueueUnavailableError } from './errors.js';
import { DEFAULT_QUEUE_NAME, cancelChannel, type JobEnvelope } from './jobs.js';

/** What a processor gets besides its payload. */
export interface JobContext {
  readonly id: string;
  /** 1 on the first try. */
  readonly attempt: number;
  /**
   * Aborted when the job is cancelled (the `QueueCoordinator.call` that submitted it was aborted,
   * or `QueueWorker.cancel`): the processor should stop and reject. A cancelled job fails at once,
   * without retries, and is removed from the queue.
   */
  readonly signal: AbortSignal;
  /**
   * Reports a progress value (JSON-serialisable) to whoever follows the job
   * (`QueueCoordinator.call`'s `onProgress`), in call order. Resolves once published; never
   * rejects (a job removed meanwhile drops it). The job completes only after every value reported
   * before its processor resolved is published, so a follower sees all of them before the result.
   */
  progress(value: unknown): Promise<void>;
}

/** Computes one job's result (JSON-serialisable) from its payload. */
export type JobProcessor = (data: unknown, job: JobContext) => Promise<unknown>;

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
  /** `cancelled`: the job was cancelled while this worker ran it (its processor aborted; the job is removed). */
  readonly onEvent?: (e: { type: 'completed' | 'failed' | 'active' | 'cancelled'; jobId: string; kind: string; error?: string }) => void;
}

/** How long a cancellation is remembered for a job this worker has not started yet (it may be starting). */
const CANCEL_MEMORY_MS = 60_000;

/** The jobs running in a worker (the controllers of their signals), and cancellations of jobs not running there (yet). */
class Cancellations {
  private readonly running = new Map<string, AbortController>();
  private readonly early = new Map<string, number>();

  cancel(id: string, reason: unknown): boolean {
    const now = Date.now();
    for (const [k, at] of this.early) if (now - at > CANCEL_MEMORY_MS) this.early.delete(k);
    const controller = this.running.get(id);
    if (controller) {
      controller.abort(reason);
      return true;
    }
    this.early.set(id, now);
    return false;
  }

  started(id: string, controller: AbortController): void {
    this.running.set(id, controller);
    // A cancellation may have arrived while the job was being handed to this worker.
    if (this.early.delete(id)) controller.abort('cancelled');
  }

  ended(id: string, controller: AbortController): void {
    if (this.running.get(id) === controller) this.running.delete(id);
  }
}

/** The failure of a cancelled job: unrecoverable (BullMQ does not retry it). */
class JobCancelledError extends UnrecoverableError {
  constructor(id: string, reason: unknown) {
    super(`job ${id} cancelled${reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : ''}`);
  }
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
    private readonly subscriber: Redis,
    private readonly cancels: Cancellations,
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
    const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
    const connection = await QueueConnection.open(url, options);
    const cancels = new Cancellations();
    // Cancellations arrive on a pub/sub channel (a subscribed connection can do nothing else),
    // subscribed before any job is taken; ioredis subscribes again after a reconnect, and a submitter
    // repeats the message until the job is gone.
    const subscriber = connection.client.duplicate();
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, id: string) => cancels.cancel(id, 'cancelled'));
    try {
      await subscriber.subscribe(cancelChannel(queueName));
    } catch (e) {
      subscriber.disconnect();
      await connection.close();
      throw e;
    }
    // Three parameters: BullMQ passes its own abort signal (`Worker.cancelJob`) only to processors declaring it.
    const processor = async (job: Job, _token?: string, bullSignal?: AbortSignal) => {
      const envelope = job.data as JobEnvelope;
      const id = job.id ?? '?';
      const run = options.processors[job.name];
      if (!run) throw new UnknownJobKindError(id, job.name, kinds);
      if (envelope?.modelId !== options.modelId) throw new ModelMismatchError(id, String(envelope?.modelId), options.modelId);
      const controller = new AbortController();
      const onBullAbort = () => controller.abort(bullSignal?.reason);
      bullSignal?.addEventListener('abort', onBullAbort, { once: true });
      cancels.started(id, controller);
      let published: Promise<void> = Promise.resolve();
      const ctx: JobContext = {
        id,
        attempt: job.attemptsMade + 1,
        signal: controller.signal,
        progress: (value) => (published = published.then(() => job.updateProgress(value as object).catch(() => undefined))),
      };
      try {
        if (controller.signal.aborted) throw new JobCancelledError(id, controller.signal.reason);
        const result = await run(envelope.data, ctx);
        await published;
        // Cancelled after the work ended: nobody wants the result.
        if (controller.signal.aborted) throw new JobCancelledError(id, controller.signal.reason);
        return result;
      } catch (e) {
        if (controller.signal.aborted && !(e instanceof JobCancelledError)) throw new JobCancelledError(id, controller.signal.reason);
        throw e;
      } finally {
        bullSignal?.removeEventListener('abort', onBullAbort);
        cancels.ended(id, controller);
      }
    };
    const worker = new Worker(queueName, processor, {
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
    worker.on('failed', (job, err) => {
      if (job && err instanceof JobCancelledError) {
        // Nobody waits for a cancelled job's outcome: remove it (its submitter removes it too), then report.
        void job
          .remove()
          .catch(() => undefined)
          .then(() => options.onEvent?.({ type: 'cancelled', jobId: job.id ?? '?', kind: job.name }));
        return;
      }
      options.onEvent?.({ type: 'failed', jobId: job?.id ?? '?', kind: job?.name ?? '?', error: redact(err.message, connection.address) });
    });
    try {
      await worker.waitUntilReady();
    } catch (e) {
      await worker.close().catch(() => undefined);
      subscriber.disconnect();
      await connection.close();
      throw e;
    }
    return new QueueWorker(connection, worker, subscriber, cancels);
  }

  get failure(): Promise<QueueUnavailableError> {
    return this.connection.failure;
  }

  /**
   * Aborts job `jobId` if this worker runs it (its processor's `signal`); otherwise remembers the
   * cancellation for a minute, in case the job is being handed to this worker. True if it ran here.
   */
  cancel(jobId: string, reason: unknown = 'cancelled'): boolean {
    return this.cancels.cancel(jobId, reason);
  }

  /** Stops taking jobs, waits for the ones in flight, closes the connections. */
  async close(): Promise<void> {
    await this.worker.close().catch(() => undefined);
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    await this.connection.close();
  }
}
