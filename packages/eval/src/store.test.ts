import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EvalRunMismatchError } from './errors.js';
import { planEvaluation } from './plan.js';
import { EVAL_FILES, EvalStore } from './store.js';

// Plans only look for the files; the store never decodes them, so empty files stand in for videos.
function dataset() {
  const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-eval-store-'));
  const videos = path.join(dir, 'videos');
  mkdirSync(videos);
  for (const f of ['v1.mp4', 'v2.avi', 'tumblr_abc.gif']) writeFileSync(path.join(videos, f), '');
  const ann = path.join(dir, 'qa.jsonl');
  const lines = [
    { video_id: 'v1', question: 'what is it?', answer: 'dog' },
    { video_id: 'v2', question: 'who?', answer: 'man' },
    { video_id: 'tumblr_abc', question: 'what?', answer: 'cat' },
    { video_id: 'v1', question: 'where?', answer: 'park' },
    { video_id: 'gone', question: 'why?', answer: 'x' },
  ];
  writeFileSync(ann, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return { dir, videos, ann, out: path.join(dir, 'out') };
}

const HEADER = { model: 'm1:abc', options: { beamSize: null } };

describe('planEvaluation', () => {
  it('groups questions by video (first appearance), ids = line indices; resolves .mp4, .avi, TGIF .gif; lists missing videos', async () => {
    const d = dataset();
    const plan = await planEvaluation({ task: 'videoqa', annotations: d.ann, videos: d.videos });
    expect(plan.units.map((u) => [u.videoId, path.basename(u.videoPath), u.items.map((i) => (i as { questionId: number }).questionId)])).toEqual([
      ['v1', 'v1.mp4', [0, 3]],
      ['v2', 'v2.avi', [1]],
      ['tumblr_abc', 'tumblr_abc.gif', [2]],
    ]);
    expect(plan.missing).toEqual([
      { video_id: 'gone', reason: `no video file (tried ${path.join(d.videos, 'gone.mp4')}, ${path.join(d.videos, 'gone.avi')})` },
    ]);
    expect(plan.lines).toBe(5);
    expect(plan.annotationsSha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('EvalStore', () => {
  it('persists per video, is idempotent, and writes results sorted by question id with exact-match accuracy', async () => {
    const d = dataset();
    const plan = await planEvaluation({ task: 'videoqa', annotations: d.ann, videos: d.videos });
    const store = await EvalStore.open(d.out, plan, HEADER);
    store.put({ videoId: 'v2', ok: true, records: [{ question_id: 1, answer: 'man' }], videosEncoded: 1 });
    store.put({ videoId: 'v2', ok: true, records: [{ question_id: 1, answer: 'other' }], videosEncoded: 1 });
    store.put({
      videoId: 'v1',
      ok: true,
      records: [
        { question_id: 0, answer: 'dog' },
        { question_id: 3, answer: 'home' },
      ],
      videosEncoded: 1,
    });
    store.put({ videoId: 'tumblr_abc', ok: false, reason: 'cannot decode' });
    expect(readFileSync(path.join(d.out, EVAL_FILES.progress), 'utf8').trim().split('\n')).toHaveLength(3);
    const { results, summary } = await store.finish(2);
    expect(results).toEqual([
      { question_id: 0, answer: 'dog' },
      { question_id: 1, answer: 'man' },
      { question_id: 3, answer: 'home' },
    ]);
    expect(summary).toEqual({
      task: 'videoqa',
      n: 3,
      metrics: { accuracy: 2 / 3, correct: 2 },
      videos_encoded: 2,
      failed: [plan.missing[0], { video_id: 'tumblr_abc', reason: 'cannot decode' }],
    });
    expect(JSON.parse(readFileSync(path.join(d.out, EVAL_FILES.results), 'utf8'))).toEqual(results);
  });

  it('reopens a run: finished videos are skipped, a torn last line (crash mid-write) is dropped, failed videos are retried', async () => {
    const d = dataset();
    const plan = await planEvaluation({ task: 'videoqa', annotations: d.ann, videos: d.videos });
    const a = await EvalStore.open(d.out, plan, HEADER);
    a.put({
      videoId: 'v1',
      ok: true,
      records: [
        { question_id: 0, answer: 'dog' },
        { question_id: 3, answer: 'park' },
      ],
      videosEncoded: 1,
    });
    a.put({ videoId: 'tumblr_abc', ok: false, reason: 'cannot decode' });
    const progress = path.join(d.out, EVAL_FILES.progress);
    appendFileSync(progress, '{"videoId":"v2","records":[{"question_id":1,"ans');
    const b = await EvalStore.open(d.out, plan, HEADER);
    expect([b.has('v1'), b.has('v2'), b.has('tumblr_abc')]).toEqual([true, false, false]);
    expect(readFileSync(progress, 'utf8').endsWith('}\n')).toBe(true);
    b.put({ videoId: 'v2', ok: true, records: [{ question_id: 1, answer: 'man' }], videosEncoded: 1 });
    b.put({ videoId: 'tumblr_abc', ok: true, records: [{ question_id: 2, answer: 'cat' }], videosEncoded: 1 });
    const { summary } = await b.finish();
    expect(summary.metrics).toEqual({ accuracy: 1, correct: 4 });
    expect(summary.failed.map((f) => f.video_id)).toEqual(['gone']);
  });

  it('refuses another model, annotations or option with a typed error naming the field and --restart; restart empties the run', async () => {
    const d = dataset();
    const plan = await planEvaluation({ task: 'videoqa', annotations: d.ann, videos: d.videos });
    const a = await EvalStore.open(d.out, plan, HEADER);
    a.put({
      videoId: 'v1',
      ok: true,
      records: [
        { question_id: 0, answer: 'dog' },
        { question_id: 3, answer: 'park' },
      ],
      videosEncoded: 1,
    });
    const err = await EvalStore.open(d.out, plan, { model: 'm2:def', options: { beamSize: 3 } }).catch((e) => e);
    expect(err).toBeInstanceOf(EvalRunMismatchError);
    expect(err.code).toBe('EVAL_RUN_MISMATCH');
    expect(err.differences.map((x: { field: string }) => x.field)).toEqual(['model', 'options.beamSize']);
    expect(err.message).toContain('--restart');
    const fresh = await EvalStore.open(d.out, plan, { model: 'm2:def', options: { beamSize: 3 } }, { restart: true });
    expect(fresh.has('v1')).toBe(false);
  });

  it('a run with nothing evaluated has null metrics, never invented ones', async () => {
    const d = dataset();
    const plan = await planEvaluation({ task: 'videoqa', annotations: d.ann, videos: d.videos });
    const { summary } = await (await EvalStore.open(d.out, plan, HEADER)).finish();
    expect(summary.metrics).toBeNull();
    expect(summary.n).toBe(0);
  });
});
