import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { AbortError, InvalidOptionError } from '@mplug2/core';
import { QueueConnection, redact, type ConnectOptions } from './connection.js';
import { JobFailedError } from './errors.js';
import { DEFAULT_QUEUE_NAME, cancelChannel, type JobEnvelope } from './jobs.js';

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
  /** How often `run` collects finished jobs; also the retry interval while Redis is away. Default 250 ms. */
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

export interface CallOptions<D> {
  readonly kind: string;
  readonly modelId: string;
  /** The job's id (see `jobId`); a call whose job already exists follows that job. */
  readonly id: string;
  readonly data: D;
  /**
   * Aborting it cancels the job and rejects the call at once with `AbortError`: a job not running
   * yet is removed (it never runs); a running one is aborted on its worker (its processor's
   * `JobContext.signal`), fails without retries and is removed.
   */
  readonly signal?: AbortSignal;
  /** Each value the job's processor reports with `JobContext.progress`, in order (a retried job's attempts each report theirs). */
  readonly onProgress?: (value: unknown) => void;
}

const PAGE = 500;
const RECONCILE_EVERY_MS = 3000;
/** How long a cancelled job that keeps running (its processor ignores the signal) is waited for, to remove it. */
const CANCEL_FOR_MS = 5 * 60_000;
/** Finished jobs of calls are removed when their result is taken; these ages (s) bound what a submitter that died leaves behind. */
const KEEP_FINISHED_S = 3600;

interface Follower {
  progress(value: unknown): void;
  completed(result: unknown): void;
  failed(reason: string): void;
}

/**
 * The queue's event stream (BullMQ's `QueueEvents`: one blocking XREAD connection per coordinator),
 * dispatched to the calls by job id. A stream, unlike pub/sub, is read from a position: a reader
 * that reconnects continues where it stopped, and a job's progress events come before its
 * completion, in the order its worker wrote them.
 */
class JobEvents {
  private readonly followers = new Map<string, Set<Follower>>();

  private constructor(readonly events: QueueEvents) {
    events.on('progress', (a) => this.each(a.jobId, (f) => f.progress(a.data)));
    events.on('completed', (a) => this.each(a.jobId, (f) => f.completed(a.returnvalue)));
    events.on('failed', (a) => this.each(a.jobId, (f) => f.failed(a.failedReason)));
  }

  static async open(queue: Queue, client: Redis): Promise<JobEvents> {
    // Read from the stream's current last entry, not from '$' (which BullMQ resolves at each XREAD
    // until the first event arrives): no event of a job added from now on can fall in between.
    const [last] = await client.xrevrange(queue.keys.events, '+', '-', 'COUNT', 1);
    const events = new QueueEvents(queue.name, { connection: client, lastEventId: last?.[0] ?? '0-0' });
    events.on('error', () => undefined); // the blocking connection retries; giving up shows in the coordinator's connection
    await events.waitUntilReady();
    return new JobEvents(events);
  }

  private each(id: string, f: (follower: Follower) => void): void {
    const set = this.followers.get(id);
    if (set) for (const follower of [...set]) f(follower);
  }

  /** Routes job `id`'s events to `follower` until the returned function is called. */
  follow(id: string, follower: Follower): () => void {
    let set = this.followers.get(id);
    if (!set) this.followers.set(id, (set = new Set()));
    set.add(follower);
    return () => {
      set.delete(follower);
      if (set.size === 0 && this.followers.get(id) === set) this.followers.delete(id);
    };
  }

  close(): Promise<void> {
    return this.events.close().catch(() => undefined);
  }
}

/**
 * Submits one job per item and collects the results into a sink (the same store an embedded run
 * writes). Delivery is at least once; exactly-once results come from the sink writing each item id
 * once. A coordinator killed and started again re-attaches: job ids are deterministic, so
 * submitting again adds nothing that is still queued, and results finished meanwhile are collected.
 * Finished jobs are removed once their result is written (failed ones once reported), so a re-run
 * retries failures as the embedded run does.
 */
export class QueueCoordinator {
  private events: Promise<JobEvents> | undefined;
  /** Calls in flight: each one's way to reject (the connection was lost, the coordinator closed). */
  private readonly calls = new Set<(e: unknown) => void>();
  /** Cancellations in flight (`close()` lets each finish its current round). */
  private readonly cancels = new Set<Promise<void>>();
  private closing = false;

  private constructor(
    readonly connection: QueueConnection,
    readonly queue: Queue,
    private readonly options: Required<Pick<CoordinatorOptions, 'attempts' | 'backoffMs' | 'pollMs'>>,
  ) {
    void connection.failure.then((e) => {
      for (const fail of [...this.calls]) fail(e);
    });
  }

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
    const submit = async (items: readonly WorkItem<D>[]) => {
      for (let s = 0; s < items.length; s += PAGE)
        await this.queue.addBulk(
          items
            .slice(s, s + PAGE)
            .map((i) => ({ name: run.kind, data: { modelId: run.modelId, data: i.data } satisfies JobEnvelope<D>, opts: this.jobOptions(i.id, false) })),
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
   * Submits one job and follows it through the queue's event stream (no polling): resolves with its
   * result, reports its progress (`onProgress`) as the worker writes it, rejects with
   * `JobFailedError` when it failed for good, with `AbortError` at once when `signal` aborts (the job
   * is then cancelled, see `CallOptions.signal`), with `QueueUnavailableError` when Redis is lost
   * for good. The job is removed once its outcome is taken. Every few seconds the job's state is
   * also read, so an event lost with a restarted Redis delays the result at most that long, and a
   * job lost with it (no persistence) is submitted again.
   */
  call<D, R>(o: CallOptions<D>): Promise<R> {
    const { kind, id, signal } = o;
    if (signal?.aborted) return Promise.reject(new AbortError(kind, signal.reason));
    const envelope: JobEnvelope<D> = { modelId: o.modelId, data: o.data };
    const options = this.jobOptions(id, { age: KEEP_FINISHED_S });
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      let added: Promise<unknown> | undefined;
      let unfollow = () => undefined as void;
      let timer: ReturnType<typeof setInterval> | undefined;
      const settle = (outcome: () => void): boolean => {
        if (settled) return false;
        settled = true;
        unfollow();
        clearInterval(timer);
        signal?.removeEventListener('abort', onAbort);
        this.calls.delete(fail);
        outcome();
        return true;
      };
      // The outcome is taken: the job has nothing more to give (another call on the same id gets it from its event too).
      const finished = (outcome: () => void) => {
        if (settle(outcome)) void this.queue.remove(id).catch(() => 0);
      };
      const follower: Follower = {
        progress: (value) => {
          if (!settled) o.onProgress?.(value);
        },
        completed: (result) => finished(() => resolve(result as R)),
        failed: (reason) => finished(() => reject(new JobFailedError(kind, id, redact(reason || 'failed', this.connection.address)))),
      };
      const onAbort = () => {
        if (settle(() => reject(new AbortError(kind, signal?.reason)))) this.cancel(id, added);
      };
      const fail = (e: unknown) => void settle(() => reject(e));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.calls.add(fail);
      let checking = false;
      const reconcile = async () => {
        if (checking || settled) return;
        checking = true;
        try {
          const state = await this.queue.getJobState(id);
          if (settled) return;
          if (state === 'unknown') await this.queue.add(kind, envelope, options);
          else if (state === 'completed' || state === 'failed') {
            const job = await this.queue.getJob(id);
            if (job && state === 'completed') follower.completed(job.returnvalue);
            else if (job) follower.failed(job.failedReason);
          }
        } catch {
          // Redis is away: the next round tries again (or the lost connection rejects the call).
        } finally {
          checking = false;
        }
      };
      void (async () => {
        if (this.closing) throw new Error('the queue coordinator is closed');
        const events = await (this.events ??= JobEvents.open(this.queue, this.connection.client).catch((e: unknown) => {
          this.events = undefined; // the next call tries again
          throw e;
        }));
        if (settled) return;
        // Followed before it exists: no event of the job can be missed.
        unfollow = events.follow(id, follower);
        added = this.guard(() => this.queue.add(kind, envelope, options));
        await added;
        if (!settled) timer = setInterval(() => void reconcile(), RECONCILE_EVERY_MS);
      })().catch(fail);
    });
  }

  /**
   * Cancels job `id` (once `added` settled): removed if it is not running, so it never runs;
   * otherwise its workers are told (on the queue's cancel channel) until it is gone — repeated, as
   * a worker may be just taking the job, or reconnecting its subscription.
   */
  private cancel(id: string, added: Promise<unknown> | undefined): void {
    const done = (async () => {
      await added?.catch(() => undefined);
      const until = performance.now() + CANCEL_FOR_MS;
      for (let wait = 50; !this.closing && !this.connection.failed && performance.now() < until; wait = Math.min(2 * wait, 1000)) {
        // 1: removed (waiting, delayed, finished, or already gone); 0: locked by the worker running it.
        const removed = await this.queue.remove(id).catch(() => -1);
        if (removed === 1) return;
        if (removed === 0) await this.connection.client.publish(cancelChannel(this.queue.name), id).catch(() => 0);
        await sleep(wait);
      }
    })();
    this.cancels.add(done);
    void done.finally(() => this.cancels.delete(done));
  }

  /**
   * A job's options: its deterministic id, retries with exponential backoff, and when BullMQ removes
   * it once finished (`false`: never, the coordinator removes it after taking its outcome).
   */
  private jobOptions(id: string, removeFinished: false | { age: number }) {
    return {
      jobId: id,
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs },
      removeOnComplete: removeFinished,
      removeOnFail: removeFinished,
    };
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
    this.closing = true;
    await Promise.all([...this.cancels]);
    for (const fail of [...this.calls]) fail(new Error('the queue coordinator was closed'));
    await (await this.events?.catch(() => undefined))?.close();
    await this.queue.close().catch(() => undefined);
    await this.connection.close();
  }
}

/** Errors from a dropped/restarting Redis (retried), as opposed to bugs or sink failures (thrown). */
function isConnectionError(e: unknown): boolean {
  const m = String((e as Error)?.message ?? e);
  return /Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|LOADING|READONLY|Stream isn't writeable|socket|MISCONF/i.test(m);
}
