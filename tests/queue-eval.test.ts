import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli';
import { demoModel } from './helpers/demo-model';
import { CliProcesses, completedJobs, exitCode, firstActive, startWorkers, stopWorkers, until } from './helpers/processes';
import { RedisServer } from './helpers/redis';
import { makeVideos } from './helpers/videos';

/**
 * `mplug2 eval run … --queue` (coordinator) and `mplug2 worker` processes on a real redis-server:
 * the `--out` folder they fill must equal the embedded run's — `results.json` and `metrics.json`
 * byte for byte, every question exactly once — after a worker is SIGKILLed mid-job, after the
 * coordinator is killed and restarted, and across a Redis restart.
 */
const QUESTIONS = ['what is in the video?', 'what colour is it?', 'is someone cooking?'];
// Generous per-test limits: on a quiet 2-core machine each scenario takes 15-40 s; shared machines are slower.
const SCENARIO_MS = 150_000;

let model: string;
let tmp: string;
let videos: string;
let qa: string;
let captions: string;
let redis: RedisServer;
let ids: string[];
const procs = new CliProcesses();
let queueSeq = 0;
const reference: Record<'videoqa' | 'caption', { code: number; results: string; metrics: string; run: string }> = {} as never;

const files = (out: string) => ({
  results: readFileSync(path.join(out, 'results.json'), 'utf8'),
  metrics: readFileSync(path.join(out, 'metrics.json'), 'utf8'),
  run: readFileSync(path.join(out, 'run.json'), 'utf8'),
});

const evalArgs = (task: 'videoqa' | 'caption', out: string) => [
  'eval',
  'run',
  model,
  '--task',
  task,
  '--annotations',
  task === 'videoqa' ? qa : captions,
  '--videos',
  videos,
  '--out',
  out,
];

beforeAll(async () => {
  model = await demoModel();
  tmp = mkdtempSync(path.join(tmpdir(), 'mplug2-queue-eval-'));
  videos = path.join(tmp, 'videos');
  ids = makeVideos(videos, ['red', 'bars', 'noise'], 2, 2).map((v) => path.basename(v.file, '.mp4'));
  writeFileSync(path.join(videos, 'broken.mp4'), 'this is not a video');
  // Questions interleaved across videos (ids are line indices), a video with no file and an undecodable one.
  const lines: string[] = [];
  for (const [q, question] of QUESTIONS.entries()) for (const id of ids) lines.push(JSON.stringify({ video_id: id, question, answer: q % 2 ? 'red' : 'yes' }));
  lines.splice(5, 0, JSON.stringify({ video_id: 'video9999', question: 'what?', answer: 'yes' }));
  lines.push(JSON.stringify({ video_id: 'broken', question: 'what is it?', answer: 'no' }));
  qa = path.join(tmp, 'qa.jsonl');
  writeFileSync(qa, lines.join('\n') + '\n');
  captions = path.join(tmp, 'captions.jsonl');
  writeFileSync(
    captions,
    ids.map((id) => JSON.stringify({ video_id: id, golden_caption: [`a ${id.split('_')[0]} screen`, 'a synthetic test pattern'] })).join('\n') + '\n',
  );
  for (const task of ['videoqa', 'caption'] as const) {
    const out = path.join(tmp, `embedded-${task}`);
    const r = await runCli([...evalArgs(task, out), '--json']);
    reference[task] = { code: r.code, ...files(out) };
  }
  redis = await RedisServer.start({ persistent: true });
}, 300_000);

afterAll(async () => {
  procs.killAll();
  await redis?.stop();
});

/** Same files as the embedded run; every question of a found, decodable video exactly once. */
function expectEqualsEmbedded(task: 'videoqa' | 'caption', out: string): void {
  const got = files(out);
  expect(got.results).toBe(reference[task].results);
  expect(got.metrics).toBe(reference[task].metrics);
  expect(got.run).toBe(reference[task].run);
  if (task === 'videoqa') {
    const questionIds = (JSON.parse(got.results) as { question_id: number }[]).map((r) => r.question_id);
    const annotated = readFileSync(qa, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).video_id as string);
    expect(questionIds).toEqual(annotated.flatMap((v, i) => (ids.includes(v) ? [i] : [])));
  }
}

describe('eval on the queue: coordinator + 3 worker processes on a real redis-server', () => {
  it('the embedded reference lists the missing and the undecodable video (so the queue run must too)', () => {
    expect(reference.videoqa.code).toBe(1);
    expect(JSON.parse(reference.videoqa.metrics).failed.map((f: { video_id: string }) => f.video_id)).toEqual(['video9999', 'broken']);
    expect(JSON.parse(reference.videoqa.results)).toHaveLength(ids.length * QUESTIONS.length);
  });

  it(
    'videoqa: a worker SIGKILLed while it holds a video; results.json and metrics.json equal the embedded run',
    async () => {
      const q = `eval-kill-worker-${++queueSeq}`;
      const out = path.join(tmp, q);
      const ws = await startWorkers(procs, model, redis.url, q, 3);
      try {
        const coordinator = procs.start([...evalArgs('videoqa', out), '--queue', redis.url, '--queue-name', q, '--backoff-ms', '200', '--json']);
        const { worker: victim, job } = await until('a job to become active', () => firstActive(ws));
        victim.child.kill('SIGKILL');
        expect(await exitCode(coordinator, 1)).toBe(1); // as the embedded run: a missing and an undecodable video
        expect(victim.events.some((e) => e.type === 'completed' && e.jobId === job)).toBe(false);
        expect(completedJobs(ws.filter((w) => w !== victim))).toContain(job);
        expectEqualsEmbedded('videoqa', out);
      } finally {
        await stopWorkers(ws);
      }
    },
    SCENARIO_MS,
  );

  it(
    'caption: the coordinator SIGKILLed and started again finishes the same run; equal to the embedded run',
    async () => {
      const q = `eval-kill-coordinator-${++queueSeq}`;
      const out = path.join(tmp, q);
      const ws = await startWorkers(procs, model, redis.url, q, 3);
      try {
        const args = [...evalArgs('caption', out), '--queue', redis.url, '--queue-name', q, '--json'];
        const first = procs.start(args);
        await until('some jobs to complete', () => completedJobs(ws).length >= 2);
        first.child.kill('SIGKILL');
        await first.exited;
        expect(new Set(completedJobs(ws)).size).toBeLessThan(ids.length);
        const second = procs.start(args);
        expect(await exitCode(second, reference.caption.code)).toBe(reference.caption.code);
        // Each video was captioned once across both coordinators (the second re-attached to the queued jobs).
        expect(completedJobs(ws).length).toBe(ids.length);
        expectEqualsEmbedded('caption', out);
      } finally {
        await stopWorkers(ws);
      }
    },
    SCENARIO_MS,
  );

  it(
    'caption: Redis restarted mid-run (AOF); equal to the embedded run',
    async () => {
      const q = `eval-restart-redis-${++queueSeq}`;
      const out = path.join(tmp, q);
      const ws = await startWorkers(procs, model, redis.url, q, 3);
      try {
        const coordinator = procs.start([...evalArgs('caption', out), '--queue', redis.url, '--queue-name', q, '--json']);
        await until('some jobs to complete', () => completedJobs(ws).length >= 2);
        expect(new Set(completedJobs(ws)).size).toBeLessThan(ids.length);
        await redis.restart(500);
        expect(await exitCode(coordinator, reference.caption.code)).toBe(reference.caption.code);
        expectEqualsEmbedded('caption', out);
      } finally {
        await stopWorkers(ws);
      }
    },
    SCENARIO_MS,
  );
});
