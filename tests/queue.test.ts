import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LanceVectorStore, MemoryVectorStore, Retriever, collectVideos, indexVideos, type StoreHit } from '@mplug2/tasks';
import { runCli } from './helpers/cli';
import { demoModel } from './helpers/demo-model';
import { serveStatic } from './browser/server';
import { CliProcesses, completedJobs as completed, exitCode, firstActive, startWorkers, stopWorkers, until } from './helpers/processes';
import { RedisServer, freePort } from './helpers/redis';
import { makeVideos } from './helpers/videos';

/**
 * `mplug2 index --queue` (coordinator) and `mplug2 worker` as separate processes (the built CLI) on
 * a real redis-server with AOF persistence. Each scenario breaks something mid-run — a worker
 * SIGKILLed while it holds a job, the coordinator SIGKILLed and started again, Redis restarted —
 * and the LanceDB table must then equal the embedded run's, every video exactly once.
 */
const VIDEOS = 12;
// Generous per-test limits: on a quiet 2-core machine each scenario takes 10-25 s; shared machines are slower.
const SCENARIO_MS = 150_000;

let model: string;
let tmp: string;
let videoDir: string;
let redis: RedisServer;
let reference: Map<string, StoreHit>;
let modelId: string;
const procs = new CliProcesses();
let queueSeq = 0;

const coordinatorArgs = (queueName: string, db: string) => [
  'index',
  model,
  videoDir,
  '--db',
  db,
  '--queue',
  redis.url,
  '--queue-name',
  queueName,
  '--backoff-ms',
  '200',
  '--json',
];
const start = (args: string[]) => procs.start(args);
const workers = (queueName: string, n: number) => startWorkers(procs, model, redis.url, queueName, n);

/** The table's rows for the model, and its row count (which must equal the number of distinct paths). */
async function table(db: string): Promise<{ rows: Map<string, StoreHit>; count: number; paths: string[] }> {
  const store = await LanceVectorStore.open(db);
  try {
    const hits = await store.search(modelId, new Float32Array(32), 10_000);
    return { rows: new Map(hits.map((h) => [h.path, h])), count: await store.count(), paths: hits.map((h) => h.path) };
  } finally {
    await store.close();
  }
}

/** Same videos, same sha256, durations, frame indices and bit-identical embeddings as the embedded run; each once. */
async function expectEqualsEmbedded(db: string): Promise<void> {
  const t = await table(db);
  expect(t.count).toBe(VIDEOS);
  expect(new Set(t.paths).size).toBe(VIDEOS);
  expect([...t.rows.keys()].sort()).toEqual([...reference.keys()].sort());
  for (const [p, ref] of reference) {
    const row = t.rows.get(p)!;
    expect({ sha256: row.sha256, duration: row.duration, frameIndices: row.frameIndices }).toEqual({
      sha256: ref.sha256,
      duration: ref.duration,
      frameIndices: ref.frameIndices,
    });
    expect(Array.from(row.embedding)).toEqual(Array.from(ref.embedding));
  }
}

beforeAll(async () => {
  model = await demoModel();
  tmp = mkdtempSync(path.join(tmpdir(), 'mplug2-queue-'));
  videoDir = path.join(tmp, 'videos');
  // 2 s videos: a job lasts long enough to be caught active.
  makeVideos(videoDir, ['red', 'blue', 'bars', 'noise'], VIDEOS / 4, 2);
  redis = await RedisServer.start({ persistent: true });
  const retriever = await Retriever.load(model);
  modelId = retriever.modelId;
  const store = new MemoryVectorStore();
  const r = await indexVideos(retriever, store, await collectVideos([videoDir]));
  expect(r.indexed).toBe(VIDEOS);
  reference = new Map((await store.search(modelId, new Float32Array(32), 100)).map((h) => [h.path, h]));
  await retriever.dispose();
});

afterAll(async () => {
  // Whatever failed: no child process or redis-server outlives the file.
  procs.killAll();
  await redis?.stop();
});

describe('index on the queue: coordinator + 3 worker processes on a real redis-server', () => {
  it(
    'a worker SIGKILLed while it holds a job: another takes the job over (stalled-job recovery); table equals the embedded run',
    async () => {
      const q = `kill-worker-${++queueSeq}`;
      const db = path.join(tmp, `${q}.lance`);
      const ws = await workers(q, 3);
      const coordinator = start(coordinatorArgs(q, db));
      try {
        // Kill the first worker that reports a job active (BullMQ moved it to active under its lock).
        const { worker: victim, job } = await until('a job to become active', () => firstActive(ws));
        victim.child.kill('SIGKILL');
        expect(await exitCode(coordinator, 0)).toBe(0);
        const out = JSON.parse(coordinator.stdout);
        expect(out).toMatchObject({ indexed: VIDEOS, skipped: 0, failed: [], total: VIDEOS, rows: VIDEOS });
        // The killed worker never finished it; a survivor did.
        expect(victim.events.some((e) => e.type === 'completed' && e.jobId === job)).toBe(false);
        expect(completed(ws.filter((w) => w !== victim))).toContain(job);
        await expectEqualsEmbedded(db);
      } finally {
        await stopWorkers(ws);
      }
    },
    SCENARIO_MS,
  );

  it(
    'the coordinator SIGKILLed mid-run and started again re-attaches and finishes; table equals the embedded run',
    async () => {
      const q = `kill-coordinator-${++queueSeq}`;
      const db = path.join(tmp, `${q}.lance`);
      const ws = await workers(q, 3);
      try {
        const first = start(coordinatorArgs(q, db));
        await until('some jobs to complete', () => completed(ws).length >= 2);
        first.child.kill('SIGKILL');
        await first.exited;
        const beforeRestart = completed(ws).length;
        expect(beforeRestart).toBeLessThan(VIDEOS);
        const second = start(coordinatorArgs(q, db));
        expect(await exitCode(second, 0)).toBe(0);
        const out = JSON.parse(second.stdout);
        // Rows the first coordinator wrote are skipped; everything else is collected (the jobs queued
        // before the kill are the same jobs: deterministic ids), none written twice.
        expect(out.indexed + out.skipped).toBe(VIDEOS);
        expect(out.failed).toEqual([]);
        expect(out.rows).toBe(VIDEOS);
        // No job was submitted twice: every video was processed exactly once across both coordinators.
        expect(completed(ws).length).toBe(VIDEOS);
        expect(new Set(completed(ws)).size).toBe(VIDEOS);
        await expectEqualsEmbedded(db);
      } finally {
        await stopWorkers(ws);
      }
    },
    SCENARIO_MS,
  );

  it(
    'Redis restarted mid-run (AOF persistence): workers and coordinator reconnect; table equals the embedded run',
    async () => {
      const q = `restart-redis-${++queueSeq}`;
      const db = path.join(tmp, `${q}.lance`);
      const ws = await workers(q, 3);
      try {
        const coordinator = start(coordinatorArgs(q, db));
        await until('some jobs to complete', () => completed(ws).length >= 2);
        expect(new Set(completed(ws)).size).toBeLessThan(VIDEOS);
        await redis.restart(500);
        expect(await exitCode(coordinator, 0)).toBe(0);
        expect(JSON.parse(coordinator.stdout)).toMatchObject({ indexed: VIDEOS, failed: [], rows: VIDEOS });
        await expectEqualsEmbedded(db);
        // The workers survived the restart: they are still running and stop cleanly on SIGTERM.
        for (const w of ws) expect(w.child.exitCode).toBeNull();
        await stopWorkers(ws);
        for (const w of ws) expect(await exitCode(w, 0)).toBe(0);
      } finally {
        await stopWorkers(ws);
      }
    },
    SCENARIO_MS,
  );

  it(
    'SIGTERM lets the job in flight finish before the worker exits',
    async () => {
      const q = `sigterm-${++queueSeq}`;
      const db = path.join(tmp, `${q}.lance`);
      const [w] = await workers(q, 1);
      const coordinator = start(coordinatorArgs(q, db));
      try {
        const e = await until('a job to become active', () => w.events.find((x) => x.type === 'active'));
        w.child.kill('SIGTERM');
        expect(await exitCode(w, 0)).toBe(0);
        const after = w.events.slice(w.events.indexOf(e));
        expect(after.some((x) => x.type === 'completed' && x.jobId === e.jobId)).toBe(true);
        expect(after.some((x) => x.type === 'stopping')).toBe(true);
        // It took no job after the one in flight.
        expect(w.events.filter((x) => x.type === 'active').length).toBe(w.events.filter((x) => x.type === 'completed').length);
        const [w2] = await workers(q, 1);
        expect(await exitCode(coordinator, 0)).toBe(0);
        await stopWorkers([w2]);
        await expectEqualsEmbedded(db);
      } finally {
        await stopWorkers([w]);
      }
    },
    SCENARIO_MS,
  );
});

describe('videos over http(s)', () => {
  it(
    'URLs indexed on the queue: the same rows as the embedded index of the same URLs and of the files; a 404 is refused up front',
    async () => {
      const server = await serveStatic({ mounts: { '/v/': videoDir } });
      const q = `urls-${++queueSeq}`;
      const ws = await workers(q, 2);
      try {
        const names = [...reference.keys()]
          .sort()
          .slice(0, 4)
          .map((p) => path.basename(p));
        const list = path.join(tmp, 'urls.txt');
        writeFileSync(list, names.map((n) => `${server.url}/v/${n}`).join('\n') + '\n');
        const db = path.join(tmp, `${q}.lance`);
        const c = start(['index', model, list, '--db', db, '--queue', redis.url, '--queue-name', q, '--json']);
        expect(await exitCode(c, 0)).toBe(0);
        expect(JSON.parse(c.stdout)).toMatchObject({ indexed: 4, failed: [], rows: 4 });
        const embedded = await runCli(['index', model, list, '--db', path.join(tmp, `${q}-embedded.lance`), '--json']);
        expect(embedded.code, embedded.err).toBe(0);
        const [queued, local] = [await table(db), await table(path.join(tmp, `${q}-embedded.lance`))];
        expect(queued.count).toBe(4);
        expect([...queued.rows.keys()].sort()).toEqual(names.map((n) => `${server.url}/v/${n}`));
        for (const [url, row] of queued.rows) {
          const { score: _a, ...same } = row;
          const { score: _b, ...other } = local.rows.get(url)!;
          expect(same).toEqual(other);
          const file = reference.get(path.join(videoDir, path.basename(url)))!;
          expect({ sha256: row.sha256, embedding: Array.from(row.embedding) }).toEqual({ sha256: file.sha256, embedding: Array.from(file.embedding) });
        }
        // Re-ranking recomputes ITM states from the URL (downloaded again, sha256 checked).
        const search = await runCli(['search', model, '--db', db, '--text', 'a red screen', '--k', '4', '--rerank', '2', '--json']);
        expect(search.code, search.err).toBe(0);
        const found = JSON.parse(search.out);
        expect(found.warnings).toEqual([]);
        expect(found.hits.filter((h: { itm: number | null }) => h.itm !== null)).toHaveLength(2);
        const missing = await runCli(['index', model, `${server.url}/v/nope.mp4`, '--db', db, '--queue', redis.url, '--queue-name', q]);
        expect(missing.code).toBe(2);
        expect(missing.err).toContain(`${server.url}/v/nope.mp4: cannot be fetched: HTTP 404`);
      } finally {
        await stopWorkers(ws);
        await server.close();
      }
    },
    SCENARIO_MS,
  );
});

describe('rediss:// from the CLI', () => {
  it(
    'coordinator and worker over TLS with a password (CA via NODE_EXTRA_CA_CERTS); the password is never printed',
    async () => {
      const tlsRedis = await RedisServer.start({ tls: true, password: 'cli-tls-secret' });
      const env = { NODE_EXTRA_CA_CERTS: tlsRedis.caFile };
      try {
        const list = path.join(tmp, 'two.txt');
        writeFileSync(list, reference.size ? [...reference.keys()].slice(0, 2).join('\n') + '\n' : '');
        const db = path.join(tmp, 'tls.lance');
        const w = procs.start(['worker', model, '--queue', tlsRedis.url, '--json'], env);
        const ready = await until(
          'the TLS worker to be ready',
          () => w.events.find((e) => e.type === 'ready') ?? (w.child.exitCode !== null && Promise.reject(new Error(w.stderr))),
        );
        expect(ready.queue).toBe(`rediss://default:***@localhost:${tlsRedis.port}`);
        const c = procs.start(['index', model, list, '--db', db, '--queue', tlsRedis.url, '--json'], env);
        expect(await exitCode(c, 0)).toBe(0);
        expect(JSON.parse(c.stdout)).toMatchObject({ indexed: 2, rows: 2 });
        await stopWorkers([w]);
        expect(w.stderr + c.stderr + c.stdout).not.toContain('cli-tls-secret');
      } finally {
        await tlsRedis.stop();
      }
    },
    SCENARIO_MS,
  );
});

describe('queue errors from the CLI', () => {
  it(
    'Redis gone for good mid-run: worker and coordinator exit 1 with QUEUE_UNAVAILABLE once --reconnect-ms is spent',
    async () => {
      const lost = await RedisServer.start();
      try {
        const q = `lost-${++queueSeq}`;
        const [w] = await startWorkers(procs, model, lost.url, q, 1, ['--reconnect-ms', '1500']);
        const c = start([
          'index',
          model,
          videoDir,
          '--db',
          path.join(tmp, `${q}.lance`),
          '--queue',
          lost.url,
          '--queue-name',
          q,
          '--reconnect-ms',
          '1500',
          '--json',
        ]);
        await until('a job to complete', () => completed([w]).length >= 1);
        await lost.stop();
        expect(await exitCode(c, 1)).toBe(1);
        expect(await exitCode(w, 1)).toBe(1);
        for (const p of [c, w]) expect(p.stderr).toContain(`queue redis://127.0.0.1:${lost.port}: Redis unreachable after retrying`);
      } finally {
        await lost.stop();
      }
    },
    SCENARIO_MS,
  );

  it('Redis unreachable: a clear QUEUE_UNAVAILABLE error after bounded retries, password never printed', async () => {
    const port = await freePort();
    const url = `redis://indexer:sup3r-secret@127.0.0.1:${port}`;
    for (const args of [
      ['index', model, videoDir, '--db', path.join(tmp, 'unreachable.lance'), '--queue', url, '--reconnect-ms', '300'],
      ['worker', model, '--queue', url, '--reconnect-ms', '300'],
    ]) {
      const { code, out, err } = await runCli(args);
      expect(code).toBe(1);
      expect(err).toContain(`queue redis://indexer:***@127.0.0.1:${port}: Redis unreachable`);
      expect(out + err).not.toContain('sup3r-secret');
    }
  });

  it('bad queue options are usage errors naming the option', async () => {
    const bad = await runCli(['index', model, videoDir, '--db', path.join(tmp, 'x.lance'), '--queue', 'http://u:pw1234@h']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("option '--queue'");
    expect(bad.err).not.toContain('pw1234');
    const noQueue = await runCli(['worker', model]);
    expect(noQueue.code).toBe(2);
    expect(noQueue.err).toContain("option '--queue': is required");
  });
});
