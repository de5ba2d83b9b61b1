import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type Job } from 'bullmq';
import { InvalidOptionError } from '@mplug2/core';
import { QueueConnection, redact, type ConnectOptions } from './connection.js';
import { DEFAULT_QUEUE_NAME, type JobEnvelope } from './jobs.js';

/** One unit of work: its deterministic id (see `jobId`) and the payload a worker's processor gets. */
export interface WorkItem<D> {
  readonly id: string;
  readonly data: D;
}

/** Results of finished jobs, handed to the sink in batches; a sink must be idempotent per item id. */
export type ResultSink<D, R> = (results: readonly { id: string; data: D; result: R }[]) => Promise<void>;

export interface QueueProgress {
  /** Queue-wide counts (all coordinators' jobs): waiting (incl. delayed retries), active. */
  readonly waiting: number;
  readonly active: number;
  /** This run's items: results written, failed for good, total. */
  readonly done: number;
  readonly failed: number;
  readonly total: number;
}

export interface CoordinatorOptions extends ConnectOptions {
  readonly queueName?: string;
  /** Tries per job before it is failed for good. Default 3. */
  readonly attempts?: number;
  /** First retry delay; doubles each retry (exponential backoff). Default 1000 ms. */
  readonly backoffMs?: number;
  /** How often finished jobs are collected. Default 250 ms. */
  readonly pollMs?: number;
}

export interface RunOptions<D, R> {
  readonly kind: string;
  readonly modelId: string;
  readonly items: readonly WorkItem<D>[];
  readonly sink: ResultSink<D, R>;
  readonly onProgress?: (p: QueueProgress) => void;
  /** Items whose results are already stored (resumed runs): their leftover jobs are removed. */
  readonly alreadyDone?: readonly string[];
}

export interface RunResult<D> {
  readonly done: number;
  readonly failed: { id: string; data: D; error: string }[];
  readonly seconds: number;
}

const PAGE = 500;
const RECONCILE_EVERY_MS = 3000;

/**
 * Submits one job per item and collects the results into a sink (the same store an embedded run
 * writes). Delivery is at least once; exactly-once results come from the sink writing each item id
 * once. A coordinator killed and started again re-attaches: job ids are deterministic, so
 * submitting again adds nothing that is still queued, and results finished meanwhile are collected.
 * Finished jobs are removed once their result is written (failed ones once reported), so a re-run
 * retries failures as the embedded run does.
 */
export class QueueCoordinator {
  private constructor(
    readonly connection: QueueConnection,
    readonly queue: Queue,
    private readonly options: Required<Pick<CoordinatorOptions, 'attempts' | 'backoffMs' | 'pollMs'>>,
  ) {}

  static async connect(url: string, options: CoordinatorOptions = {}): Promise<QueueCoordinator> {
    const attempts = options.attempts ?? 3;
    const backoffMs = options.backoffMs ?? 1000;
    const pollMs = options.pollMs ?? 250;
    if (!Number.isInteger(attempts) || attempts < 1) throw new InvalidOptionError('attempts', `must be an integer >= 1, got ${attempts}`);
    if (!(backoffMs >= 0)) throw new InvalidOptionError('backoffMs', `must be >= 0, got ${backoffMs}`);
    if (!(pollMs > 0)) throw new InvalidOptionError('pollMs', `must be > 0, got ${pollMs}`);
    const connection = await QueueConnection.open(url, options);
    const queue = new Queue(options.queueName ?? DEFAULT_QUEUE_NAME, { connection: connection.client });
    // Errors of BullMQ's connections surface through the watched connection; keep them off stderr.
    queue.on('error', () => undefined);
    return new QueueCoordinator(connection, queue, { attempts, backoffMs, pollMs });
  }

  async run<D, R>(run: RunOptions<D, R>): Promise<RunResult<D>> {
    const t0 = performance.now();
    const pending = new Map(run.items.map((i) => [i.id, i]));
    const stale = new Set((run.alreadyDone ?? []).filter((id) => !pending.has(id)));
    const failed: RunResult<D>['failed'] = [];
    const total = pending.size;
    let done = 0;
    const jobOptions = (id: string) => ({
      jobId: id,
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs },
      removeOnComplete: false,
      removeOnFail: false,
    });
    const submit = async (items: readonly WorkItem<D>[]) => {
      for (let s = 0; s < items.length; s += PAGE)
        await this.queue.addBulk(
          items
            .slice(s, s + PAGE)
            .map((i) => ({ name: run.kind, data: { modelId: run.modelId, data: i.data } satisfies JobEnvelope<D>, opts: jobOptions(i.id) })),
        );
    };
    // Finished jobs of items whose results were already written (a coordinator killed between
    // writing and removing) are left over: removed now, and whenever one shows up later.
    const removeStale = async (ids: readonly string[]) => {
      for (const id of ids) if (stale.has(id)) await this.queue.remove(id).catch(() => 0);
    };
    if (stale.size) await this.guard(async () => removeStale(await this.queue.getRanges(['completed', 'failed'], 0, -1)));
    await this.guard(() => submit([...pending.values()]));
    let lastReconcile = performance.now();
    while (pending.size > 0) {
      const progressed = await this.guard(async () => {
        let moved = 0;
        for (const state of ['completed', 'failed'] as const) {
          const ids = await this.queue.getRanges([state], 0, -1);
          const ours = ids.filter((id) => pending.has(id));
          await removeStale(ids);
          for (let s = 0; s < ours.length; s += PAGE) {
            const jobs = (await Promise.all(ours.slice(s, s + PAGE).map((id) => this.queue.getJob(id)))).filter((j): j is Job => !!j);
            if (state === 'completed') {
              const batch = jobs.map((j) => ({ id: j.id!, data: pending.get(j.id!)!.data, result: j.returnvalue as R }));
              await run.sink(batch);
              done += batch.length;
            } else
              for (const j of jobs)
                failed.push({ id: j.id!, data: pending.get(j.id!)!.data, error: redact(j.failedReason || 'failed', this.connection.address) });
            for (const j of jobs) pending.delete(j.id!);
            moved += jobs.length;
            await Promise.all(jobs.map((j) => this.queue.remove(j.id!).catch(() => 0)));
          }
        }
        const counts = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
        const waiting = counts.waiting + counts.delayed + counts.prioritized;
        run.onProgress?.({ waiting, active: counts.active, done, failed: failed.length, total });
        // Nothing queued or running, yet items outstanding: their jobs are gone (a Redis without
        // persistence restarted, someone removed them). Submit those again.
        if (!moved && pending.size && waiting + counts.active === 0 && performance.now() - lastReconcile > RECONCILE_EVERY_MS) {
          lastReconcile = performance.now();
          const lost: WorkItem<D>[] = [];
          for (const item of pending.values()) if ((await this.queue.getJobState(item.id)) === 'unknown') lost.push(item);
          await submit(lost);
        }
        return moved > 0;
      });
      if (pending.size && !progressed) await sleep(this.options.pollMs);
    }
    return { done, failed, seconds: (performance.now() - t0) / 1000 };
  }

  /**
   * Runs one round of queue calls; while Redis is down (restarting) the calls wait or fail and the
   * round is retried, until the connection is given up (then `QueueUnavailableError`).
   */
  private async guard<T>(round: () => Promise<T>): Promise<T | false> {
    for (;;) {
      const failure = this.connection.failed;
      if (failure) throw failure;
      try {
        return await Promise.race([round(), this.connection.failure.then((e) => Promise.reject(e))]);
      } catch (e) {
        if (this.connection.failed) throw this.connection.failed;
        if (!isConnectionError(e)) throw e;
        await sleep(this.options.pollMs);
      }
    }
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => undefined);
    await this.connection.close();
  }
}

/** Errors from a dropped/restarting Redis (retried), as opposed to bugs or sink failures (thrown). */
function isConnectionError(e: unknown): boolean {
  const m = String((e as Error)?.message ?? e);
  return /Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|LOADING|READONLY|Stream isn't writeable|socket|MISCONF/i.test(m);
}
