import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Captioner, Retriever, VideoQA, type CaptionResult, type QAResult } from '@mplug2/tasks';
import { createServer, type Mplug2Server, type ServerOptions, type ServerTasks } from '@mplug2/server';
import { SAMPLE_VIDEO, demoModel } from '../helpers/demo-model';
import { metricValue, postForm, readEvents, formData } from '../helpers/http';
import { makeVideos } from '../helpers/videos';

describe('mplug2 server (real HTTP server on a loopback port, tiny model)', () => {
  let tasks: ServerTasks & { videoqa: VideoQA; captioner: Captioner; retriever: Retriever };
  let videos: string[];
  const servers: Mplug2Server[] = [];

  async function start(options: ServerOptions = {}): Promise<{ app: Mplug2Server; base: string }> {
    const app = createServer(tasks, options);
    servers.push(app);
    await app.modelLoaded;
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    return { app, base };
  }

  beforeAll(async () => {
    const model = await demoModel();
    const [videoqa, captioner, retriever] = await Promise.all([
      VideoQA.load(model, { threads: 1 }),
      Captioner.load(model, { threads: 1 }),
      Retriever.load(model, { threads: 1 }),
    ]);
    tasks = { videoqa, captioner, retriever };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mplug2-server-test-'));
    videos = [SAMPLE_VIDEO, ...makeVideos(dir, ['red', 'bars', 'noise'], 1).map((v) => v.file)];
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await tasks?.videoqa.dispose();
    await tasks?.captioner.dispose();
    await tasks?.retriever.dispose();
  });

  it('health, OpenAPI (every route described), and the model loaded from a directory', async () => {
    const app = createServer(await demoModel(), { threads: 1, tasks: ['caption'] });
    servers.push(app);
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const early = await fetch(`${base}/health`);
    expect([200, 503]).toContain(early.status);
    await app.modelLoaded;
    const health = await (await fetch(`${base}/health`)).json();
    expect(health).toEqual({ status: 'ok', tasks: ['caption'], waiting: 0 });
    const qa = await postForm(base, '/v1/videoqa', { video: SAMPLE_VIDEO, fields: [['question', 'what?']] });
    expect(qa.status).toBe(404);
    expect(qa.json.error.code).toBe('NOT_SERVED');

    const doc = await (await fetch(`${base}/openapi.json`)).json();
    expect(doc.openapi).toBe('3.1.0');
    const routes = [...app.printRoutes({ commonPrefix: false }).matchAll(/(\/\S*) \(([^)]+)\)/g)].flatMap((m) =>
      m[2]
        .split(', ')
        .filter((x) => x !== 'HEAD')
        .map((method) => `${method.toLowerCase()} ${m[1]}`),
    );
    const described = Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) => Object.keys(ops).map((method) => `${method} ${p}`));
    expect(routes.length).toBeGreaterThanOrEqual(6);
    expect(described.sort()).toEqual(routes.sort());
  });

  it('32 concurrent clients (4 videos, 1-2 questions each, generate and rank) get the answers of sequential library calls; calls were batched', async () => {
    const { app, base } = await start({ maxBatch: 8, maxWaitMs: 50 });
    const questions = [
      'what is happening?',
      'what color is it?',
      'who is there?',
      'is it raining?',
      'what is the man holding?',
      'where is the dog?',
      'how many people?',
      'what animal is it?',
    ];
    const answers = ['a dog', 'a cat', 'red', 'blue', 'yes', 'no'];
    const clients = Array.from({ length: 32 }, (_, i) => ({
      video: videos[i % videos.length],
      questions: i % 3 === 0 ? [questions[i % 8], questions[(i + 3) % 8]] : [questions[i % 8]],
      answers: i % 4 === 1 ? answers : undefined,
    }));
    const want: QAResult[][] = [];
    for (const c of clients) want.push(await tasks.videoqa.ask(c.video, c.questions, { answers: c.answers }));

    const got = await Promise.all(
      clients.map((c) =>
        postForm(base, '/v1/videoqa', {
          video: c.video,
          fields: [...c.questions.map((q) => ['question', q] as const), ...(c.answers ?? []).map((a) => ['answers', a] as const)],
        }),
      ),
    );
    got.forEach((g, i) => {
      expect(g.status, JSON.stringify(g.json)).toBe(200);
      expect(g.json.results.length).toBe(clients[i].questions.length);
      g.json.results.forEach((r: QAResult, j: number) => {
        const w = want[i][j];
        expect(r.question).toBe(w.question);
        expect(r.answer, `client ${i} question ${j}`).toBe(w.answer);
        expect(r.ids).toEqual(w.ids);
        expect(r.score, `client ${i} question ${j}`).toBe(w.score);
        if (w.ranked) expect(r.ranked).toEqual(w.ranked);
      });
    });
    expect(new Set(want.flat().map((w) => w.answer)).size).toBeGreaterThan(1);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const calls = metricValue(metrics, 'mplug2_batch_requests_count', { task: 'videoqa' });
    expect(metricValue(metrics, 'mplug2_batch_requests_sum', { task: 'videoqa' })).toBe(32);
    expect(calls).toBeLessThan(32);
    expect(metricValue(metrics, 'mplug2_http_requests_total', { route: '/v1/videoqa', status: '200' })).toBe(32);
    expect(metricValue(metrics, 'mplug2_http_request_duration_seconds_count', { route: '/v1/videoqa' })).toBe(32);
    expect(metrics).toContain('mplug2_queue_depth 0');
    void app;
  }, 300_000);

  it('captions and embeddings (video, texts) equal the library', async () => {
    const { base } = await start({ maxBatch: 8, maxWaitMs: 100 });
    const order = [0, 1, 0, 2, 3, 0];
    const want: CaptionResult[] = [];
    for (const v of order) want.push((await tasks.captioner.caption(videos[v]))[0]);
    const got = await Promise.all(order.map((v) => postForm(base, '/v1/caption', { video: videos[v] })));
    got.forEach((g, i) => {
      expect(g.status).toBe(200);
      expect(g.json.results[0].caption).toBe(want[i].caption);
      expect(g.json.results[0].ids).toEqual(want[i].ids);
      expect(g.json.results[0].video).toBe(path.basename(videos[order[i]]));
    });

    const text = await postForm(base, '/v1/embed', {
      fields: [
        ['text', 'a dog runs'],
        ['text', 'a red screen'],
      ],
    });
    const wantText = await tasks.retriever.encodeTexts(['a dog runs', 'a red screen']);
    expect(text.json.kind).toBe('text');
    text.json.embeddings.forEach((e: number[], i: number) => e.forEach((x, k) => expect(Math.abs(x - wantText.embeddings[i][k])).toBeLessThan(1e-5)));
    const vid = await postForm(base, '/v1/embed', { video: videos[1] });
    const wantVid = await tasks.retriever.encodeVideos(videos[1]);
    expect(vid.json.embeddings[0].length).toBe(tasks.retriever.embedDim);
    vid.json.embeddings[0].forEach((x: number, k: number) => expect(Math.abs(x - wantVid.embeddings[0][k])).toBeLessThan(1e-5));
  }, 180_000);

  it('bad input: 400 with the typed error code on garbage, missing fields and bad options; nothing crashes', async () => {
    const { base } = await start();
    const garbage = await postForm(base, '/v1/videoqa', {
      video: { name: 'notes.mp4', bytes: new TextEncoder().encode('this is not a video at all') },
      fields: [['question', 'what?']],
    });
    expect(garbage.status).toBe(400);
    expect(garbage.json.error.code).toBe('VIDEO_DECODE');
    expect(garbage.json.error.message).toContain('notes.mp4');
    const noQuestion = await postForm(base, '/v1/videoqa', { video: SAMPLE_VIDEO });
    expect(noQuestion.status).toBe(400);
    expect(noQuestion.json.error.code).toBe('INVALID_OPTION');
    const badBeam = await postForm(base, '/v1/caption', { video: SAMPLE_VIDEO, fields: [['beam', 'many']] });
    expect(badBeam.status).toBe(400);
    expect(badBeam.json.error.message).toContain('beam');
    const notMultipart = await fetch(`${base}/v1/caption`, {
      method: 'POST',
      body: JSON.stringify({ video: 'x' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(notMultipart.status).toBe(400);
    expect((await notMultipart.json()).error.code).toBe('INVALID_OPTION');
    const ok = await postForm(base, '/v1/caption', { video: SAMPLE_VIDEO });
    expect(ok.status).toBe(200);
  });

  it('a decode past decodeTimeoutMs is a 503 naming the upload (overload, not a bad file); decodes are bounded and counted in /metrics', async () => {
    const { base } = await start({ decodeTimeoutMs: 1, decodeConcurrency: 1 });
    const slow = await postForm(base, '/v1/caption', { video: SAMPLE_VIDEO });
    expect(slow.status).toBe(503);
    expect(slow.json.error.code).toBe('VIDEO_DECODE');
    expect(slow.json.error.message).toMatch(/^sample\.mp4: ffprobe did not finish within the 1 ms timeout/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^mplug2_decodes\{state="running"\} 0$/m);
    expect(metrics).toMatch(/^mplug2_decodes\{state="waiting"\} 0$/m);
    expect(metricValue(metrics, 'mplug2_http_requests_total', { route: '/v1/caption', status: '503' })).toBe(1);
    // With the default budget the same upload is answered.
    const { base: other } = await start({ decodeConcurrency: 1 });
    expect((await postForm(other, '/v1/caption', { video: SAMPLE_VIDEO })).status).toBe(200);
    expect(() => createServer(tasks, { decodeConcurrency: 0 })).toThrow(/decodeConcurrency/);
    expect(() => createServer(tasks, { decodeTimeoutMs: -5 })).toThrow(/decodeTimeoutMs/);
  });

  it('413 for uploads over maxUpload: streamed ones stop at the limit, announced ones are refused unread', async () => {
    const { base } = await start({ maxUpload: 20_000 });
    const big = await postForm(base, '/v1/caption', { video: { name: 'big.mp4', bytes: new Uint8Array(200_000).fill(7) } });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('UPLOAD_TOO_LARGE');
    // Headers announce 50 MB; only a few bytes are ever sent: the answer must come without the body.
    const url = new URL(`${base}/v1/caption`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(50e6) },
        },
        (res) => resolve(res.statusCode ?? 0),
      );
      req.on('error', reject);
      req.write('--x\r\n');
    });
    expect(status).toBe(413);
    expect(statSync(videos[1]).size).toBeLessThan(20_000);
    expect((await postForm(base, '/v1/caption', { video: videos[1] })).status).toBe(200);
  });

  it('401 without the bearer token (health stays open); 200 with it', async () => {
    const { base } = await start({ token: 's3cret' });
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const denied = await postForm(base, '/v1/caption', { video: SAMPLE_VIDEO }, { authorization: 'Bearer wrong' });
    expect(denied.status).toBe(401);
    expect(denied.json.error.code).toBe('UNAUTHORIZED');
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
    expect((await postForm(base, '/v1/caption', { video: SAMPLE_VIDEO }, { authorization: 'Bearer s3cret' })).status).toBe(200);
  });

  it('SSE: best hypothesis per step, then the result the JSON route gives', async () => {
    const { base } = await start();
    const fields = [
      ['question', 'what is happening?'],
      ['question', 'who is there?'],
      ['min_length', '5'],
      ['max_length', '5'],
    ] as const;
    const json = await postForm(base, '/v1/videoqa', { video: videos[1], fields });
    const res = await fetch(`${base}/v1/videoqa`, { method: 'POST', body: formData({ video: videos[1], fields }), headers: { accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = await readEvents(res);
    const steps = events.filter((e) => e.event === 'step');
    // 2 questions × steps 0..3 (step 4 retires them: the final result)
    expect(steps.map((s) => `${s.data.index}:${s.data.step}`).sort()).toEqual(['0:0', '0:1', '0:2', '0:3', '1:0', '1:1', '1:2', '1:3']);
    for (const s of steps) expect(s.data.ids.length).toBe(s.data.step + 2);
    const last = events.at(-1)!;
    expect(last.event).toBe('result');
    expect(last.data.results.map((r: QAResult) => r.ids)).toEqual(json.json.results.map((r: QAResult) => r.ids));

    const cap = await fetch(`${base}/v1/caption`, { method: 'POST', body: formData({ video: videos[2] }), headers: { accept: 'text/event-stream' } });
    const capEvents = await readEvents(cap);
    expect(capEvents.at(-1)!.event).toBe('result');
    expect(capEvents.at(-1)!.data.results[0].caption).toBe((await tasks.captioner.caption(videos[2]))[0].caption);
    expect(capEvents.filter((e) => e.event === 'step').length).toBeGreaterThan(0);
    // every request counted once: 1 JSON + 1 streamed videoqa, 1 streamed caption
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(metrics, 'mplug2_http_requests_total', { route: '/v1/videoqa', status: '200' })).toBe(2);
    expect(metricValue(metrics, 'mplug2_http_requests_total', { route: '/v1/caption', status: '200' })).toBe(1);
  });

  it('a client that disconnects mid-generation aborts its call; the server answers the next request', async () => {
    const { base } = await start();
    const before = metricValue(await (await fetch(`${base}/metrics`)).text(), 'mplug2_aborted_total', { task: 'caption', where: 'running' });
    const controller = new AbortController();
    const res = await fetch(`${base}/v1/caption`, {
      method: 'POST',
      body: formData({
        video: videos[0],
        fields: [
          ['min_length', '60'],
          ['max_length', '60'],
        ],
      }),
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    const seen = await readEvents(res, (e) => e.event === 'step');
    expect(seen[0].event).toBe('step');
    controller.abort();
    let aborted = before;
    for (let i = 0; i < 100 && aborted === before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      aborted = metricValue(await (await fetch(`${base}/metrics`)).text(), 'mplug2_aborted_total', { task: 'caption', where: 'running' });
    }
    expect(aborted).toBe(before + 1);
    expect(metricValue(await (await fetch(`${base}/metrics`)).text(), 'mplug2_http_requests_total', { route: '/v1/caption', status: '499' })).toBe(1);
    const after = await postForm(base, '/v1/caption', { video: videos[0] });
    expect(after.status).toBe(200);
    expect(after.json.results[0].caption).toBe((await tasks.captioner.caption(videos[0]))[0].caption);
  });

  it('429 with Retry-After beyond maxQueue waiting requests; the admitted ones are answered', async () => {
    const { base } = await start({ maxQueue: 1, maxBatch: 1, maxWaitMs: 0 });
    const long = [
      ['min_length', '40'],
      ['max_length', '40'],
    ] as const;
    // 1: running (its first step has streamed); 2: waiting (fills the queue of 1); 3: refused
    const first = await fetch(`${base}/v1/caption`, {
      method: 'POST',
      body: formData({ video: videos[0], fields: long }),
      headers: { accept: 'text/event-stream' },
    });
    const firstEvents: { event: string }[] = [];
    const firstDone = readEvents(first, (e) => void firstEvents.push(e));
    while (firstEvents.length === 0) await new Promise((r) => setTimeout(r, 20));
    const second = postForm(base, '/v1/caption', { video: videos[1] });
    let waiting = 0;
    while (waiting === 0) waiting = (await (await fetch(`${base}/health`)).json()).waiting;
    const third = await postForm(base, '/v1/caption', { video: videos[2] });
    expect(third.status).toBe(429);
    expect(third.json.error.code).toBe('QUEUE_FULL');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await second).status).toBe(200);
    await firstDone;
    expect(firstEvents.at(-1)!.event).toBe('result');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(metrics, 'mplug2_http_requests_total', { route: '/v1/caption', status: '429' })).toBe(1);
  });

  it('uploads are removed: every server upload dir is empty after its requests', async () => {
    expect(servers.length).toBeGreaterThan(0);
    for (const s of servers) expect(readdirSync(s.uploadDir)).toEqual([]);
    const last = servers.pop()!;
    await last.close();
    expect(existsSync(last.uploadDir)).toBe(false);
  });
});
