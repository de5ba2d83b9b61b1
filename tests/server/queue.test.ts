import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueCoordinator } from '@mplug2/queue';
import { createServer, type Mplug2Server } from '@mplug2/server';
import { Captioner, Retriever, VideoQA, type QAResult } from '@mplug2/tasks';
import { SAMPLE_VIDEO, demoModel } from '../helpers/demo-model';
import { formData, metricValue, postForm, readEvents, type FormSpec } from '../helpers/http';
import { CliProcesses, until, type CliProcess } from '../helpers/processes';
import { RedisServer } from '../helpers/redis';
import { makeVideos } from '../helpers/videos';

type SseEvent = { event: string; data: any };

/** A streamed (SSE) POST; `onEvent` may return true to stop reading (the client then disconnects). */
async function postStream(base: string, route: string, spec: FormSpec, onEvent?: (e: SseEvent) => boolean | void, signal?: AbortSignal): Promise<SseEvent[]> {
  const res = await fetch(base + route, { method: 'POST', body: formData(spec), headers: { accept: 'text/event-stream' }, signal });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  return readEvents(res, onEvent);
}

/** Results without their timings (which differ from run to run). */
function untimed(result: SseEvent): unknown {
  return result.data.results.map(({ timings: _, ...r }: { timings: unknown }) => r);
}

/** Worker events (`--json` on stderr) about one job. */
function jobEvents(w: CliProcess, jobId: string): string[] {
  return w.events.filter((e) => e.jobId === jobId).map((e) => String(e.type));
}

/** Every job of a queue, in any state, and every Redis key naming `jobId`. */
async function leftovers(c: QueueCoordinator, jobId: string): Promise<{ jobs: Record<string, number>; keys: string[] }> {
  const jobs = await c.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed');
  const keys = await c.connection.client.keys(`*${jobId}*`);
  return { jobs, keys };
}

const NO_JOBS = { waiting: 0, delayed: 0, prioritized: 0, active: 0, completed: 0, failed: 0 };

/** Polls the async `probe` every 50 ms until it returns a truthy value. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Until `w` reports ready (the model loads on its first job). */
async function ready(w: CliProcess): Promise<void> {
  await until(
    'the worker to be ready',
    () => {
      if (w.child.exitCode !== null) throw new Error(`worker exited: ${w.stderr}`);
      return w.events.some((e) => e.type === 'ready');
    },
    120_000,
  );
}

/**
 * `createServer(model, { queue })` in front of a real `mplug2 worker` process (built CLI) on a real
 * redis-server: the HTTP front runs no model; answers (and streamed steps) equal the library's;
 * a client that leaves cancels its job.
 */
describe('mplug2 serve --queue (HTTP front → Redis → mplug2 worker)', () => {
  let redis: RedisServer;
  const procs = new CliProcesses();
  let worker: CliProcess;
  let app: Mplug2Server;
  let base: string;
  let videos: string[];
  let model: string;
  let inspect: QueueCoordinator;
  const servers: Mplug2Server[] = [];

  beforeAll(async () => {
    model = await demoModel();
    redis = await RedisServer.start();
    videos = [SAMPLE_VIDEO, ...makeVideos(mkdtempSync(path.join(os.tmpdir(), 'mplug2-queue-videos-')), ['red', 'bars'], 1).map((v) => v.file)];
    // --concurrency 4: the jobs a worker holds at once share model calls
    worker = procs.start(['worker', model, '--queue', redis.url, '--queue-name', 'serve-test', '--concurrency', '4', '--json']);
    await ready(worker);
    app = createServer(model, { queue: { url: redis.url, queueName: 'serve-test' } });
    servers.push(app);
    await app.modelLoaded;
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    // Only to look into the queue (it submits nothing).
    inspect = await QueueCoordinator.connect(redis.url, { queueName: 'serve-test' });
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await inspect?.close();
    procs.killAll();
    await redis?.stop();
  });

  it('8 concurrent VideoQA clients, a caption and a text embedding equal the library; a bad upload is a 400 before anything is queued', async () => {
    const health = await (await fetch(`${base}/health`)).json();
    expect(health.tasks).toEqual(['videoqa', 'caption', 'embed']);
    const clients = Array.from({ length: 8 }, (_, i) => ({
      video: videos[i % videos.length],
      questions: i % 2 ? ['what is happening?', 'who is there?'] : ['what color is it?'],
    }));
    const got = await Promise.all(
      clients.map((c) => postForm(base, '/v1/videoqa', { video: c.video, fields: c.questions.map((q) => ['question', q] as const) })),
    );

    const qa = await VideoQA.load(model, { threads: 1 });
    const cap = await Captioner.load(model, { threads: 1 });
    const ret = await Retriever.load(model, { threads: 1 });
    try {
      for (const [i, c] of clients.entries()) {
        expect(got[i].status, JSON.stringify(got[i].json)).toBe(200);
        const want = await qa.ask(c.video, c.questions);
        expect(got[i].json.results.map((r: QAResult) => [r.answer, r.ids, r.score])).toEqual(want.map((r) => [r.answer, r.ids, r.score]));
      }
      const caption = await postForm(base, '/v1/caption', { video: videos[1] });
      const wantCaption = (await cap.caption(videos[1]))[0];
      expect(caption.json.results[0].caption).toBe(wantCaption.caption);
      expect(caption.json.results[0].ids).toEqual(wantCaption.ids);

      const text = await postForm(base, '/v1/embed', { fields: [['text', 'a dog']] });
      const wantText = (await ret.encodeTexts(['a dog'])).embeddings[0];
      text.json.embeddings[0].forEach((x: number, k: number) => expect(Math.abs(x - wantText[k])).toBeLessThan(1e-5));
    } finally {
      await qa.dispose();
      await cap.dispose();
      await ret.dispose();
    }

    const jobsBefore = worker.events.filter((e) => e.type === 'active').length;
    const bad = await postForm(base, '/v1/caption', { video: { name: 'junk.mp4', bytes: new Uint8Array(1000).fill(3) } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('VIDEO_DECODE');
    expect(worker.events.filter((e) => e.type === 'active').length).toBe(jobsBefore);
    expect(worker.events.filter((e) => e.type === 'completed').length).toBe(jobsBefore);
  }, 300_000);

  it('streamed /v1/videoqa and /v1/caption through the queue: the step events of the local backend, in order, then the result the JSON route gives', async () => {
    const qa = await VideoQA.load(model, { threads: 1 });
    const cap = await Captioner.load(model, { threads: 1 });
    const local = createServer({ videoqa: qa, captioner: cap });
    servers.push(local);
    try {
      await local.modelLoaded;
      const localBase = await local.listen({ port: 0, host: '127.0.0.1' });
      const progressBefore = (await inspect.connection.client.xrange(inspect.queue.keys.events, '-', '+')).filter((e) => e[1][1] === 'progress').length;

      const askForm: FormSpec = {
        video: videos[1],
        fields: [
          ['question', 'what is happening?'],
          ['question', 'who is there?'],
          ['min_length', '5'],
          ['max_length', '5'],
        ],
      };
      const json = await postForm(base, '/v1/videoqa', askForm);
      expect(json.status).toBe(200);
      const events = await postStream(base, '/v1/videoqa', askForm);
      const steps = events.filter((e) => e.event === 'step');
      // 2 questions × steps 0..3 (step 4 retires them: the final result), step by step
      expect(steps.map((s) => `${s.data.index}:${s.data.step}`)).toEqual(['0:0', '1:0', '0:1', '1:1', '0:2', '1:2', '0:3', '1:3']);
      for (const s of steps) expect(s.data.ids.length).toBe(s.data.step + 2);
      expect(events.at(-1)!.event).toBe('result');
      expect(events.filter((e) => e.event === 'result')).toHaveLength(1);
      expect(untimed(events.at(-1)!)).toEqual(json.json.results.map(({ timings: _, ...r }: { timings: unknown }) => r));
      // The same StepUpdates (index, step, text, ids, score) and result as the local backend's stream.
      const localEvents = await postStream(localBase, '/v1/videoqa', askForm);
      expect(steps).toEqual(localEvents.filter((e) => e.event === 'step'));
      expect(untimed(events.at(-1)!)).toEqual(untimed(localEvents.at(-1)!));

      const capEvents = await postStream(base, '/v1/caption', { video: videos[2] });
      const capSteps = capEvents.filter((e) => e.event === 'step');
      expect(capSteps.length).toBeGreaterThan(0);
      expect(capSteps.map((s) => s.data.step)).toEqual(capSteps.map((_, k) => k));
      expect(capEvents.at(-1)!.event).toBe('result');
      const wantCaption = (await cap.caption(videos[2]))[0];
      expect(capEvents.at(-1)!.data.results[0].caption).toBe(wantCaption.caption);
      expect(capEvents.at(-1)!.data.results[0].ids).toEqual(wantCaption.ids);
      const localCap = await postStream(localBase, '/v1/caption', { video: videos[2] });
      expect(capSteps).toEqual(localCap.filter((e) => e.event === 'step'));
      expect(untimed(capEvents.at(-1)!)).toEqual(untimed(localCap.at(-1)!));

      // Only the streamed requests published progress: the JSON one above, and this one, none.
      const progress = (await inspect.connection.client.xrange(inspect.queue.keys.events, '-', '+')).filter((e) => e[1][1] === 'progress').length;
      expect((await postForm(base, '/v1/caption', { video: videos[2] })).status).toBe(200);
      const progressAfter = (await inspect.connection.client.xrange(inspect.queue.keys.events, '-', '+')).filter((e) => e[1][1] === 'progress').length;
      expect(progress - progressBefore).toBe(4 + capSteps.length); // one progress value per decoding step
      expect(progressAfter).toBe(progress);
      // Finished jobs are removed once their result is taken.
      await eventually('the finished jobs to be removed', async () => Object.values(await inspect.queue.getJobCounts()).every((n) => n === 0));
    } finally {
      await local.close();
      servers.splice(servers.indexOf(local), 1);
      await qa.dispose();
      await cap.dispose();
    }
  }, 180_000);

  it('a client that disconnects while its job runs: the job is aborted on the worker (cancelled, not retried, not completed), nothing is left in the queue, the server answers the next request', async () => {
    const activeBefore = worker.events.filter((e) => e.type === 'active').length;
    const controller = new AbortController();
    const seen = await postStream(
      base,
      '/v1/caption',
      {
        video: videos[0],
        // the longest generation the tiny model allows, with a wide beam: it runs on long after the abort arrives
        fields: [
          ['min_length', '64'],
          ['max_length', '64'],
          ['beam', '16'],
        ],
      },
      (e) => e.event === 'step',
      controller.signal,
    );
    // Its first step streamed: the job runs on the worker.
    expect(seen.map((e) => e.event)).toEqual(['step']);
    const id = String(await until('the worker to log the job active', () => worker.events.filter((e) => e.type === 'active')[activeBefore]?.jobId));
    controller.abort();

    await until('the worker to report the job cancelled', () => jobEvents(worker, id).includes('cancelled'), 30_000);
    expect(jobEvents(worker, id)).toEqual(['active', 'cancelled']);
    await eventually(
      'the front to count the request as 499',
      async () => metricValue(await (await fetch(`${base}/metrics`)).text(), 'mplug2_http_requests_total', { route: '/v1/caption', status: '499' }) === 1,
    );
    expect(await inspect.queue.getJob(id)).toBeUndefined();
    expect(await leftovers(inspect, id)).toEqual({ jobs: NO_JOBS, keys: [] });

    const after = await postForm(base, '/v1/caption', { video: videos[0] });
    expect(after.status).toBe(200);
    const cap = await Captioner.load(model, { threads: 1 });
    try {
      expect(after.json.results[0].caption).toBe((await cap.caption(videos[0]))[0].caption);
    } finally {
      await cap.dispose();
    }
    // Never retried: the cancelled job never became active again; the worker ran only the next request since.
    expect(jobEvents(worker, id)).toEqual(['active', 'cancelled']);
    expect(worker.events.filter((e) => e.type === 'active')).toHaveLength(activeBefore + 2);
  }, 120_000);

  it('a client that disconnects while its job waits (no worker has started yet): the job is removed and never runs; a worker started afterwards runs only the next request', async () => {
    const queueName = 'serve-idle';
    const front = createServer(model, { queue: { url: redis.url, queueName } });
    servers.push(front);
    const look = await QueueCoordinator.connect(redis.url, { queueName });
    try {
      await front.modelLoaded;
      const frontBase = await front.listen({ port: 0, host: '127.0.0.1' });
      // B waits in the queue (nobody takes it); its client leaves.
      const controller = new AbortController();
      const b = fetch(`${frontBase}/v1/videoqa`, {
        method: 'POST',
        body: formData({ video: videos[1], fields: [['question', 'what is it?']] }),
        headers: { accept: 'text/event-stream' },
        signal: controller.signal,
      }).then((res) => readEvents(res));
      const bId = await eventually('B to wait in the queue', async () => (await look.queue.getJobs(['waiting']))[0]?.id);
      controller.abort();
      await expect(b).rejects.toThrow();
      await eventually("B's job to be removed", async () => (await look.queue.getJob(bId)) === undefined);
      expect(await leftovers(look, bId)).toEqual({ jobs: NO_JOBS, keys: [] });
      await eventually(
        'the front to count B as 499',
        async () =>
          metricValue(await (await fetch(`${frontBase}/metrics`)).text(), 'mplug2_http_requests_total', { route: '/v1/videoqa', status: '499' }) === 1,
      );

      // A worker starts: it runs the next request C, never B.
      const late = procs.start(['worker', model, '--queue', redis.url, '--queue-name', queueName, '--json']);
      await ready(late);
      const c = await postForm(frontBase, '/v1/videoqa', { video: videos[1], fields: [['question', 'what is it?']] });
      expect(c.status).toBe(200);
      expect(c.json.results[0].answer.length).toBeGreaterThan(0);
      const ran = late.events.filter((e) => e.type === 'active').map((e) => String(e.jobId));
      expect(ran).toHaveLength(1);
      expect(ran).not.toContain(bId);
      expect(jobEvents(late, bId)).toEqual([]);
      // (the worker logs its event after the front may already have the result)
      await until('the worker to log C completed', () => late.events.some((e) => e.type === 'completed'));
      expect(late.events.filter((e) => e.type === 'completed').map((e) => String(e.jobId))).toEqual(ran);
      await eventually('the finished job to be removed', async () => Object.values(await look.queue.getJobCounts()).every((n) => n === 0));
      expect(await leftovers(look, bId)).toEqual({ jobs: NO_JOBS, keys: [] });
    } finally {
      await front.close();
      servers.splice(servers.indexOf(front), 1);
      await look.close();
    }
  }, 120_000);
});
