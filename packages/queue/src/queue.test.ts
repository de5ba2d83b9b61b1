import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidOptionError } from '@mplug2/core';
import { RedisServer, freePort } from '../../../tests/helpers/redis';
import { QueueConnection, boundedRetry, parseQueueUrl, redact } from './connection.js';
import { QueueCoordinator } from './coordinator.js';
import { JobFailedError, QueueUnavailableError } from './errors.js';
import { decodeFloat32, encodeFloat32, jobId } from './jobs.js';
import { QueueWorker, permanentFailure, type JobProcessor, type WorkerOptions } from './worker.js';

describe('queue addresses', () => {
  it('parses redis:// and rediss:// with user, password and db; the display form masks the password', () => {
    const a = parseQueueUrl('redis://alice:p%40ss:w0rd@redis.example:6380/2');
    expect(a).toMatchObject({ host: 'redis.example', port: 6380, db: 2, username: 'alice', password: 'p@ss:w0rd', tls: false });
    expect(a.display).toBe('redis://alice:***@redis.example:6380/2');
    expect(parseQueueUrl('rediss://h')).toMatchObject({ host: 'h', port: 6379, db: 0, tls: true, username: undefined, password: undefined });
    expect(parseQueueUrl('redis://:only-pass@h').password).toBe('only-pass');
  });

  it('rejects other schemes, bad databases and non-URLs with InvalidOptionError, never echoing the password', () => {
    for (const bad of ['http://u:hunter2@h:1', 'redis://u:hunter2@h/x', 'not a url u:hunter2@']) {
      const e = (() => {
        try {
          parseQueueUrl(bad);
        } catch (err) {
          return err as Error;
        }
      })();
      expect(e).toBeInstanceOf(InvalidOptionError);
      expect(e!.message).toContain('--queue');
      expect(e!.message).not.toContain('hunter2');
    }
  });

  it('redact masks the password raw and URL-encoded', () => {
    expect(redact('a p@ss b p%40ss c', { password: 'p@ss' })).toBe('a *** b *** c');
    expect(redact('nothing', {})).toBe('nothing');
  });
});

describe('bounded reconnects', () => {
  it('delays grow from 100 ms, doubling, capped at 2 s; null (give up) once the waits sum to the budget', () => {
    const retry = boundedRetry(10_000);
    const delays: number[] = [];
    for (let t = 1; ; t++) {
      const d = retry(t);
      if (d === null) break;
      delays.push(d);
    }
    expect(delays.slice(0, 7)).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
    expect(delays.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(boundedRetry(0)(1)).toBeNull();
  });
});

describe('job ids and payloads', () => {
  it('are deterministic, differ when any part differs, and carry no ":" (BullMQ custom ids)', () => {
    const id = jobId('index', ['model-a', '/v/a.mp4', 'abc']);
    expect(id).toBe(jobId('index', ['model-a', '/v/a.mp4', 'abc']));
    expect(id).toMatch(/^index-[0-9a-f]{40}$/);
    expect(jobId('index', ['model-b', '/v/a.mp4', 'abc'])).not.toBe(id);
    expect(jobId('index', ['model-a', '/v/a.mp4', 'abd'])).not.toBe(id);
    expect(jobId('eval', ['model-a', '/v/a.mp4', 'abc'])).not.toBe(id);
    // Parts are not concatenated: ['a', 'b/c'] and ['a/b', 'c'] differ.
    expect(jobId('k', ['a', 'b/c'])).not.toBe(jobId('k', ['a/b', 'c']));
  });

  it('float32 payloads round-trip bit-exactly', () => {
    const v = new Float32Array([0, -0, 1.5, Math.PI, -1e-38, 3.4e38, Number.NaN]);
    const back = decodeFloat32(encodeFloat32(v.subarray(1)));
    expect(Array.from(new Uint32Array(back.buffer))).toEqual(Array.from(new Uint32Array(v.slice(1).buffer)));
  });
});

describe('unreachable or refusing Redis', () => {
  it('a port nobody listens on: QueueUnavailableError after the bounded retries, naming the masked URL', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const e = await QueueCoordinator.connect(`redis://u:hunter2@127.0.0.1:${port}`, { retryForMs: 600 }).catch((err) => err);
    expect(e).toBeInstanceOf(QueueUnavailableError);
    expect(e.code).toBe('QUEUE_UNAVAILABLE');
    expect(e.message).toContain(`redis://u:***@127.0.0.1:${port}`);
    expect(e.message).toContain('ECONNREFUSED');
    expect(e.message).not.toContain('hunter2');
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('a wrong password fails the same way, without the password', async () => {
    const redis = await RedisServer.start({ password: 'right-secret' });
    try {
      const ok = await QueueConnection.open(redis.url, { retryForMs: 500 });
      expect(await ok.client.ping()).toBe('PONG');
      await ok.close();
      const e = await QueueConnection.open(`redis://default:wrong-secret@127.0.0.1:${redis.port}`, { retryForMs: 500 }).catch((err) => err);
      expect(e).toBeInstanceOf(QueueUnavailableError);
      expect(e.message).toMatch(/WRONGPASS|invalid username-password/);
      expect(e.message).not.toContain('wrong-secret');
    } finally {
      await redis.stop();
    }
  });
});

describe('coordinator and workers on a real redis-server', () => {
  let redis: RedisServer;
  const workers: QueueWorker[] = [];
  const coordinators: QueueCoordinator[] = [];
  let queueSeq = 0;

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await Promise.all([...workers.map((w) => w.close()), ...coordinators.map((c) => c.close())]);
    await redis.stop();
  });

  const startWorker = async (queueName: string, processors: Record<string, JobProcessor>, options: Partial<WorkerOptions> = {}) => {
    const w = await QueueWorker.start(redis.url, {
      queueName,
      modelId: 'model-a',
      processors,
      concurrency: 2,
      lockDurationMs: 2000,
      stalledIntervalMs: 1000,
      ...options,
    });
    workers.push(w);
    return w;
  };
  const setup = async (
    processors: Record<string, JobProcessor>,
    options: { workers?: number; modelId?: string; attempts?: number; onEvent?: WorkerOptions['onEvent'] } = {},
  ) => {
    const queueName = `t${++queueSeq}`;
    for (let i = 0; i < (options.workers ?? 2); i++)
      await startWorker(queueName, processors, { modelId: options.modelId ?? 'model-a', onEvent: options.onEvent });
    const c = await QueueCoordinator.connect(redis.url, { queueName, attempts: options.attempts ?? 3, backoffMs: 50, pollMs: 50 });
    coordinators.push(c);
    return c;
  };

  it('every item is processed and written to the sink exactly once', async () => {
    const c = await setup({ square: async (d) => ({ y: (d as { x: number }).x ** 2 }) });
    const items = Array.from({ length: 40 }, (_, x) => ({ id: jobId('square', [String(x)]), data: { x } }));
    const written: { id: string; y: number }[] = [];
    const progress: number[] = [];
    const r = await c.run<{ x: number }, { y: number }>({
      kind: 'square',
      modelId: 'model-a',
      items,
      sink: async (rs) => void written.push(...rs.map((x) => ({ id: x.id, y: x.result.y }))),
      onProgress: (p) => progress.push(p.done),
    });
    expect(r.done).toBe(40);
    expect(r.failed).toEqual([]);
    expect(written.map((w) => w.id).sort()).toEqual(items.map((i) => i.id).sort());
    for (const i of items) expect(written.find((w) => w.id === i.id)!.y).toBe(i.data.x ** 2);
    expect(progress.at(-1)).toBe(40);
    // Finished jobs are removed once written.
    expect(await c.queue.getJobCountByTypes('completed', 'failed', 'waiting', 'active', 'delayed')).toBe(0);
  });

  it('retries with exponential backoff, then lists the item as failed with its last error; permanent failures are not retried', async () => {
    const calls = new Map<string, number>();
    const c = await setup(
      {
        flaky: async (d, job) => {
          const { x } = d as { x: number };
          calls.set(String(x), (calls.get(String(x)) ?? 0) + 1);
          if (x === 0 && job.attempt < 2) throw new Error(`transient ${job.attempt}`);
          if (x === 1) throw new Error(`always broken (attempt ${job.attempt})`);
          if (x === 2) throw permanentFailure('cannot decode');
          return { x };
        },
      },
      { workers: 1, attempts: 3 },
    );
    const items = [0, 1, 2, 3].map((x) => ({ id: jobId('flaky', [String(x)]), data: { x } }));
    const sunk: number[] = [];
    const r = await c.run<{ x: number }, { x: number }>({
      kind: 'flaky',
      modelId: 'model-a',
      items,
      sink: async (rs) => void sunk.push(...rs.map((x) => x.result.x)),
    });
    expect(sunk.sort()).toEqual([0, 3]);
    expect(r.failed.map((f) => [f.data.x, f.error]).sort()).toEqual([
      [1, 'always broken (attempt 3)'],
      [2, 'cannot decode'],
    ]);
    expect(Object.fromEntries(calls)).toEqual({ '0': 2, '1': 3, '2': 1, '3': 1 });
  });

  it('a resumed run removes the finished jobs of items already written, and adds nothing for them', async () => {
    const c = await setup({ square: async (d) => ({ y: (d as { x: number }).x ** 2 }) }, { workers: 1 });
    const items = [1, 2, 3].map((x) => ({ id: jobId('square', ['resume', String(x)]), data: { x } }));
    // A first coordinator that was killed after writing item 1 but before removing its job.
    await c.queue.add('square', { modelId: 'model-a', data: { x: 1 } }, { jobId: items[0].id });
    await expect.poll(() => c.queue.getJobState(items[0].id), { timeout: 10_000 }).toBe('completed');
    const written: number[] = [];
    const r = await c.run<{ x: number }, { y: number }>({
      kind: 'square',
      modelId: 'model-a',
      items: items.slice(1),
      alreadyDone: [items[0].id],
      sink: async (rs) => void written.push(...rs.map((x) => x.result.y)),
    });
    expect(r.done).toBe(2);
    expect(written.sort()).toEqual([4, 9]);
    expect(await c.queue.getJobState(items[0].id)).toBe('unknown');
  });

  it('a worker serving another model refuses the job with a clear error on it', async () => {
    const c = await setup({ square: async () => ({ y: 0 }) }, { workers: 1, modelId: 'model-b', attempts: 1 });
    const r = await c.run({ kind: 'square', modelId: 'model-a', items: [{ id: jobId('square', ['m']), data: { x: 1 } }], sink: async () => undefined });
    expect(r.done).toBe(0);
    expect(r.failed[0].error).toBe(
      `job ${jobId('square', ['m'])} needs model 'model-a' but this worker serves 'model-b'; start workers with the coordinator's model`,
    );
  });

  it('call: one job followed through the event stream; its progress values in order before its result; failures after the retries', async () => {
    const c = await setup(
      {
        count: async (d, job) => {
          const { n, fail } = d as { n: number; fail?: boolean };
          for (let i = 0; i < n; i++) void job.progress({ i });
          if (fail) throw new Error(`broken on attempt ${job.attempt}`);
          return { n };
        },
      },
      { workers: 1, attempts: 2 },
    );
    const seen: unknown[] = [];
    const result = await c.call<{ n: number }, { n: number }>({
      kind: 'count',
      modelId: 'model-a',
      id: jobId('count', ['a']),
      data: { n: 20 },
      onProgress: (v) => seen.push(v),
    });
    expect(result).toEqual({ n: 20 });
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => ({ i })));
    // Without a listener nothing is reported; the job is removed once its result is taken.
    expect(await c.call({ kind: 'count', modelId: 'model-a', id: jobId('count', ['b']), data: { n: 3 } })).toEqual({ n: 3 });
    await expect.poll(() => c.queue.getJobCountByTypes('completed', 'failed', 'waiting', 'active', 'delayed')).toBe(0);

    const failed = (await c
      .call({ kind: 'count', modelId: 'model-a', id: jobId('count', ['c']), data: { n: 1, fail: true } })
      .catch((e) => e)) as JobFailedError;
    expect(failed).toBeInstanceOf(JobFailedError);
    expect(failed.code).toBe('QUEUE_JOB_FAILED');
    expect(failed.reason).toBe('broken on attempt 2');
    await expect.poll(() => c.queue.getJobCountByTypes('completed', 'failed', 'waiting', 'active', 'delayed')).toBe(0);
  });

  it('call aborted while its job waits: rejects at once with AbortError; the job is removed and never runs', async () => {
    const c = await setup({}, { workers: 0 });
    const ran: string[] = [];
    const controller = new AbortController();
    const id = jobId('slow', ['waiting']);
    const call = c.call({ kind: 'slow', modelId: 'model-a', id, data: 1, signal: controller.signal });
    await expect.poll(() => c.queue.getJobState(id)).toBe('waiting');
    controller.abort('client gone');
    const e = (await call.catch((err) => err)) as AbortError;
    expect(e).toBeInstanceOf(AbortError);
    expect(e.message).toBe('slow was aborted: client gone');
    await expect.poll(() => c.queue.getJobState(id)).toBe('unknown');
    // A worker that starts now runs the next job only.
    await startWorker(c.queue.name, {
      slow: async (d, job) => {
        ran.push(job.id);
        return d;
      },
    });
    expect(await c.call({ kind: 'slow', modelId: 'model-a', id: jobId('slow', ['next']), data: 2 })).toBe(2);
    expect(ran).toEqual([jobId('slow', ['next'])]);
    // Aborted before the call: rejects without submitting.
    await expect(c.call({ kind: 'slow', modelId: 'model-a', id: jobId('slow', ['never']), data: 3, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortError,
    );
    expect(await c.queue.getJobState(jobId('slow', ['never']))).toBe('unknown');
  });

  it('call aborted while its job runs: the processor sees its signal abort; the job is cancelled, not retried, and removed', async () => {
    const events: { type: string; jobId: string }[] = [];
    const runs: { attempt: number; reason?: unknown }[] = [];
    const c = await setup(
      {
        endless: async (_d, job) => {
          const run: { attempt: number; reason?: unknown } = { attempt: job.attempt };
          runs.push(run);
          await job.progress('started');
          // Runs until cancelled, as a model call would for minutes.
          await new Promise<void>((_, reject) =>
            job.signal.addEventListener('abort', () => {
              run.reason = job.signal.reason;
              reject(new Error('stopped'));
            }),
          );
        },
      },
      { workers: 2, attempts: 3, onEvent: (e) => events.push(e) },
    );
    const controller = new AbortController();
    const id = jobId('endless', ['x']);
    const call = c.call({ kind: 'endless', modelId: 'model-a', id, data: null, signal: controller.signal, onProgress: () => controller.abort() });
    await expect(call).rejects.toBeInstanceOf(AbortError);
    await expect.poll(() => events.filter((e) => e.jobId === id).map((e) => e.type), { timeout: 10_000 }).toEqual(['active', 'cancelled']);
    expect(runs).toEqual([{ attempt: 1, reason: 'cancelled' }]);
    await expect.poll(() => c.queue.getJobState(id)).toBe('unknown');
    expect(await c.queue.getJobCountByTypes('completed', 'failed', 'waiting', 'active', 'delayed')).toBe(0);
    // Not retried later either.
    await new Promise((r) => setTimeout(r, 300));
    expect(runs).toHaveLength(1);
  });

  it('a kind no worker knows fails naming the kinds the worker processes', async () => {
    const c = await setup({ square: async () => ({ y: 0 }) }, { workers: 1, attempts: 1 });
    const r = await c.run({ kind: 'cube', modelId: 'model-a', items: [{ id: jobId('cube', ['1']), data: {} }], sink: async () => undefined });
    expect(r.failed[0].error).toContain("of kind 'cube', which this worker does not process (it processes: square)");
  });
});

describe('rediss:// (TLS) with a password', () => {
  it('a coordinator and a worker run over TLS; without trusting the certificate the connection is refused', async () => {
    const redis = await RedisServer.start({ tls: true, password: 'tls-secret' });
    const closers: { close(): Promise<void> }[] = [];
    try {
      expect(redis.url).toMatch(/^rediss:\/\/default:tls-secret@localhost:/);
      const tls = { ca: readFileSync(redis.caFile) };
      const worker = await QueueWorker.start(redis.url, { queueName: 'tls', modelId: 'm', processors: { double: async (d) => 2 * (d as number) }, tls });
      closers.push(worker);
      const c = await QueueCoordinator.connect(redis.url, { queueName: 'tls', pollMs: 50, tls });
      closers.push(c);
      const got: number[] = [];
      const r = await c.run<number, number>({
        kind: 'double',
        modelId: 'm',
        items: [1, 2, 3].map((x) => ({ id: jobId('double', [String(x)]), data: x })),
        sink: async (rs) => void got.push(...rs.map((x) => x.result)),
      });
      expect(r.done).toBe(3);
      expect(got.sort()).toEqual([2, 4, 6]);
      const e = await QueueConnection.open(redis.url, { retryForMs: 300 }).catch((err) => err);
      expect(e).toBeInstanceOf(QueueUnavailableError);
      expect(e.message).toMatch(/certificate/i);
      expect(e.message).not.toContain('tls-secret');
    } finally {
      for (const c of closers) await c.close();
      await redis.stop();
    }
  });
});

describe('a Redis without persistence restarted mid-run', () => {
  it('the coordinator finds its jobs gone and submits them again; every item once', async () => {
    const redis = await RedisServer.start();
    const closers: { close(): Promise<void> }[] = [];
    try {
      const c = await QueueCoordinator.connect(redis.url, { queueName: 'lost', pollMs: 50 });
      closers.push(c);
      const items = Array.from({ length: 5 }, (_, x) => ({ id: jobId('inc', [String(x)]), data: x }));
      const got: number[] = [];
      const run = c.run<number, number>({ kind: 'inc', modelId: 'm', items, sink: async (rs) => void got.push(...rs.map((x) => x.result)) });
      // No worker yet: the jobs wait in Redis, then vanish with it.
      await expect.poll(() => c.queue.getWaitingCount(), { timeout: 10_000 }).toBe(5);
      await redis.restart();
      await expect.poll(() => c.queue.getWaitingCount().catch(() => -1), { timeout: 10_000 }).toBe(0);
      closers.push(await QueueWorker.start(redis.url, { queueName: 'lost', modelId: 'm', processors: { inc: async (d) => (d as number) + 1 } }));
      const r = await run;
      expect(r.done).toBe(5);
      expect(got.sort()).toEqual([1, 2, 3, 4, 5]);
    } finally {
      for (const c of closers) await c.close();
      await redis.stop();
    }
  }, 60_000);

  it('a call whose job vanished with Redis submits it again and gets its result', async () => {
    const redis = await RedisServer.start();
    const closers: { close(): Promise<void> }[] = [];
    try {
      const c = await QueueCoordinator.connect(redis.url, { queueName: 'lost-call', pollMs: 50 });
      closers.push(c);
      const id = jobId('inc', ['call']);
      const call = c.call<number, number>({ kind: 'inc', modelId: 'm', id, data: 41 });
      await expect.poll(() => c.queue.getJobState(id), { timeout: 10_000 }).toBe('waiting');
      await redis.restart();
      closers.push(await QueueWorker.start(redis.url, { queueName: 'lost-call', modelId: 'm', processors: { inc: async (d) => (d as number) + 1 } }));
      expect(await call).toBe(42);
    } finally {
      for (const c of closers) await c.close();
      await redis.stop();
    }
  }, 60_000);
});
