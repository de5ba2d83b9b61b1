import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError } from '@mplug2/core';
import { LocalBackend, type DecodedVideo } from '@mplug2/server';
import { Captioner, VideoQA } from '@mplug2/tasks';
import { loadVideo } from '@mplug2/vision-encoder';
import { SAMPLE_VIDEO, demoModel } from '../helpers/demo-model';
import { makeVideos } from '../helpers/videos';

describe('LocalBackend dynamic batching', () => {
  let qa: VideoQA;
  let cap: Captioner;
  let files: string[];
  let decoded: DecodedVideo[];
  const encoded: number[] = [];

  beforeAll(async () => {
    const model = await demoModel();
    [qa, cap] = await Promise.all([VideoQA.load(model, { threads: 1 }), Captioner.load(model, { threads: 1 })]);
    files = [SAMPLE_VIDEO, ...makeVideos(mkdtempSync(path.join(os.tmpdir(), 'mplug2-batching-')), ['blue', 'bars'], 1).map((v) => v.file)];
    decoded = await Promise.all(
      files.map(async (f) => ({
        sha256: createHash('sha256').update(readFileSync(f)).digest('hex'),
        pixels: (await loadVideo(f, { numFrames: qa.visual.frames, size: qa.visual.size })).pixelValues,
      })),
    );
    // Counts the videos each visual pass encodes (the real pass still runs).
    for (const task of [qa, cap]) {
      const encode = task.visual.encode.bind(task.visual);
      task.visual.encode = (videos, ...rest) => {
        encoded.push(Array.isArray(videos) ? videos.length : 1);
        return encode(videos, ...rest);
      };
    }
  });
  afterAll(async () => {
    await qa?.dispose();
    await cap?.dispose();
  });

  it('requests with equal options form one call up to maxBatch rows; a video several requests share is encoded once', async () => {
    const calls: { batcher: string; requests: number; rows: number }[] = [];
    const backend = new LocalBackend({ videoqa: qa, captioner: cap }, { maxBatch: 5, maxWaitMs: 5000, onReport: (r) => void calls.push(r) });
    const signal = new AbortController().signal;
    encoded.length = 0;
    // 5 rows fill the batch at once (no wait): videos 0, 1, 0 (shared), 2 questions about video 2
    const asks = [
      { video: decoded[0], questions: ['what is happening?'] },
      { video: decoded[1], questions: ['what color is it?'] },
      { video: decoded[0], questions: ['who is there?'] },
      { video: decoded[2], questions: ['is it raining?', 'what animal is it?'] },
    ];
    const got = await Promise.all(asks.map((a) => backend.ask(a, { signal })));
    expect(calls).toEqual([{ batcher: 'videoqa', requests: 4, rows: 5, seconds: expect.any(Number), aborted: false }]);
    expect(encoded).toEqual([3]);
    encoded.length = 0;
    for (const [i, a] of asks.entries()) {
      const want = await qa.ask(files[decoded.indexOf(a.video)], a.questions);
      expect(got[i].map((r) => [r.answer, r.ids, r.score])).toEqual(want.map((r) => [r.answer, r.ids, r.score]));
    }

    // different options never share a call; the maxWait timer runs a group that is not full
    calls.length = 0;
    const quick = new LocalBackend({ captioner: cap }, { maxBatch: 8, maxWaitMs: 30, onReport: (r) => void calls.push(r) });
    const caps = await Promise.all([
      quick.caption({ video: decoded[1] }, { signal }),
      quick.caption({ video: decoded[1], beamSize: 2 }, { signal }),
      quick.caption({ video: decoded[1] }, { signal }),
    ]);
    expect(calls.map((c) => c.requests).sort()).toEqual([1, 2]);
    expect(caps[0]).toEqual(caps[2]);
    expect(caps[1].ids).toEqual((await cap.caption(files[1], { beamSize: 2 }))[0].ids);
  });

  it('a request whose client leaves while queued is dropped (AbortError) and the others still run', async () => {
    const reports: { rows: number; requests: number }[] = [];
    const backend = new LocalBackend({ captioner: cap }, { maxBatch: 8, maxWaitMs: 200, onReport: (r) => void reports.push(r) });
    const gone = new AbortController();
    const stays = new AbortController();
    const a = backend.caption({ video: decoded[0] }, { signal: gone.signal });
    const b = backend.caption({ video: decoded[1] }, { signal: stays.signal });
    expect(backend.waiting).toBe(2);
    gone.abort();
    await expect(a).rejects.toBeInstanceOf(AbortError);
    expect(backend.waiting).toBe(1);
    expect((await b).ids).toEqual((await cap.caption(files[1]))[0].ids);
    expect(reports.map((r) => [r.requests, r.rows])).toEqual([
      [1, 0],
      [1, 1],
    ]);
  });
});
