import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Mplug2Server } from '@mplug2/server';
import { Captioner, Retriever, VideoQA, type QAResult } from '@mplug2/tasks';
import { SAMPLE_VIDEO, demoModel } from '../helpers/demo-model';
import { formData, postForm, readEvents } from '../helpers/http';
import { CliProcesses, until, type CliProcess } from '../helpers/processes';
import { RedisServer } from '../helpers/redis';
import { makeVideos } from '../helpers/videos';

/**
 * `createServer(model, { queue })` in front of a real `mplug2 worker` process (built CLI) on a real
 * redis-server: the HTTP front runs no model; answers equal the library's.
 */
describe('mplug2 serve --queue (HTTP front → Redis → mplug2 worker)', () => {
  let redis: RedisServer;
  const procs = new CliProcesses();
  let worker: CliProcess;
  let app: Mplug2Server;
  let base: string;
  let videos: string[];
  let model: string;

  beforeAll(async () => {
    model = await demoModel();
    redis = await RedisServer.start();
    videos = [SAMPLE_VIDEO, ...makeVideos(mkdtempSync(path.join(os.tmpdir(), 'mplug2-queue-videos-')), ['red', 'bars'], 1).map((v) => v.file)];
    // --concurrency 4: the jobs a worker holds at once share model calls
    worker = procs.start(['worker', model, '--queue', redis.url, '--queue-name', 'serve-test', '--concurrency', '4', '--json']);
    await until(
      'the worker to be ready',
      () => {
        if (worker.child.exitCode !== null) throw new Error(`worker exited: ${worker.stderr}`);
        return worker.events.some((e) => e.type === 'ready');
      },
      120_000,
    );
    app = createServer(model, { queue: { url: redis.url, queueName: 'serve-test' } });
    await app.modelLoaded;
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    procs.killAll();
    await redis?.stop();
  });

  it('8 concurrent VideoQA clients, a caption, a text embedding and a streamed request equal the library; a bad upload is a 400 before anything is queued', async () => {
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

      // Through the queue a streamed request gets no per-step events, only its result.
      const res = await fetch(`${base}/v1/caption`, { method: 'POST', body: formData({ video: videos[2] }), headers: { accept: 'text/event-stream' } });
      const events = await readEvents(res);
      expect(events.map((e) => e.event)).toEqual(['result']);
      expect(events[0].data.results[0].ids).toEqual((await cap.caption(videos[2]))[0].ids);
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
});
