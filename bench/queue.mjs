// Queue benchmark: what one job costs on the Redis queue (BullMQ) compared with the embedded run, on the
// tiny model, then an on-paper estimate of MSRVTT-QA on 1, 10 and 100 workers from measured per-video costs.
// usage: npx turbo run build && node bench/queue.mjs [--videos N] [--queue redis://host:port] [--json out.json]
//   Without --queue a redis-server (the Debian package; REDIS_SERVER overrides the path) is started on a
//   random loopback port without persistence and stopped at the end.
// Same items three ways, back to back: embedded indexVideos with batch 8 (the default) and batch 1 (one video
// per encoder call, as a job is), then the queue: a coordinator (indexVideosOnQueue) and 1 worker in this process.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { INDEX_KIND, QueueCoordinator, QueueWorker, indexProcessor, indexVideosOnQueue, jobId } from '@mplug2/queue';
import { convertCheckpoint, generateCheckpoint, tinyDemoConfig } from '@mplug2/converter';
import { MemoryVectorStore, Retriever, indexVideos } from '@mplug2/tasks';
import { writeSyntheticVideo } from '../tests/helpers/synthetic-video.mjs';

const { values } = parseArgs({ options: { videos: { type: 'string', default: '48' }, queue: { type: 'string' }, json: { type: 'string' } } });
const N = Number(values.videos);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mplug2-bench-queue-'));
const load0 = os.loadavg();

const config = tinyDemoConfig('pretrain');
const modelDir = path.join(tmp, 'model');
await generateCheckpoint(path.join(tmp, 'c.pth'), config, { seed: 5, withRetrievalHeads: true });
await convertCheckpoint({ checkpoint: path.join(tmp, 'c.pth'), config, out: modelDir, task: 'pretrain' });
const vdir = path.join(tmp, 'videos');
mkdirSync(vdir);
for (let i = 0; i < N; i++) writeSyntheticVideo(path.join(vdir, `v${String(i).padStart(4, '0')}.mp4`), `testsrc2=s=64x64:r=8,hue=h=${i % 360}`);
const files = readdirSync(vdir)
  .sort()
  .map((f) => path.join(vdir, f));

// A Redis for the run, unless one is given.
let redis = null;
let url = values.queue;
if (!url) {
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  redis = spawn(process.env.REDIS_SERVER ?? '/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', tmp], {
    stdio: 'ignore',
  });
  url = `redis://127.0.0.1:${port}`;
  process.on('exit', () => redis.kill('SIGKILL')); // also when the bench fails
}

const retriever = await Retriever.load(modelDir);
const timed = async (f) => {
  const t = performance.now();
  const r = await f();
  return { s: (performance.now() - t) / 1000, r };
};
// Warm-up (first-call allocations), not measured.
await indexVideos(retriever, new MemoryVectorStore(), files.slice(0, 2));
const embedded8 = await timed(() => indexVideos(retriever, new MemoryVectorStore(), files, { batchSize: 8 }));
const embedded1 = await timed(() => indexVideos(retriever, new MemoryVectorStore(), files, { batchSize: 1 }));

const worker = await QueueWorker.start(url, {
  queueName: 'bench',
  modelId: retriever.modelId,
  processors: { [INDEX_KIND]: indexProcessor(async () => retriever) },
});
const coordinator = await QueueCoordinator.connect(url, { queueName: 'bench', pollMs: 50 });
const queued = await timed(() => indexVideosOnQueue(coordinator, retriever.modelId, new MemoryVectorStore(), files));
await coordinator.close();
await worker.close();
// The queue alone: jobs whose processor does nothing (submit, fetch, lock, complete, collect, remove).
const EMPTY = 200;
const emptyWorker = await QueueWorker.start(url, { queueName: 'bench-empty', modelId: 'm', processors: { nothing: async () => 0 } });
const emptyCoordinator = await QueueCoordinator.connect(url, { queueName: 'bench-empty', pollMs: 50 });
const empty = await timed(() =>
  emptyCoordinator.run({
    kind: 'nothing',
    modelId: 'm',
    items: Array.from({ length: EMPTY }, (_, i) => ({ id: jobId('nothing', [String(i)]), data: i })),
    sink: async () => undefined,
  }),
);
await emptyCoordinator.close();
await emptyWorker.close();
await retriever.dispose();
const load1 = os.loadavg();
if (embedded8.r.indexed !== N || embedded1.r.indexed !== N || queued.r.indexed !== N) throw new Error('a run did not index every video');

const perVideo = (s) => (s / N) * 1000;
const overheadMs = perVideo(queued.s) - perVideo(embedded1.s);
const rows = [
  ['embedded, batch 8 (default)', embedded8.s, perVideo(embedded8.s)],
  ['embedded, batch 1', embedded1.s, perVideo(embedded1.s)],
  ['queue, 1 worker (1 video per job)', queued.s, perVideo(queued.s)],
];
console.log(`\nIndexing ${N} generated 1 s 64×64 videos, tiny model, one process (load ${load0[0].toFixed(1)} → ${load1[0].toFixed(1)})\n`);
console.log('| run | seconds | ms per video |\n| --- | --- | --- |');
for (const [name, s, ms] of rows) console.log(`| ${name} | ${s.toFixed(2)} | ${ms.toFixed(1)} |`);
const emptyMs = (empty.s / EMPTY) * 1000;
console.log(`\nqueue − embedded batch 1: ${overheadMs.toFixed(1)} ms per job (within this machine's load noise when small or negative)`);
console.log(`queue alone, ${EMPTY} jobs with an empty processor, 1 worker: ${emptyMs.toFixed(1)} ms per job`);

// On-paper estimate for MSRVTT-QA's test split from bench/RESULTS.md (released large configuration, fp32,
// 2-core CPU, batch 1): per video decode 0.53 + vision 19.13 + universal 1.33 s; per question text 0.08 +
// fusion 0.84 + decoder memory 1.34 + generation 0.72 s. Each worker is one such 2-core machine.
const MSRVTT = { videos: 2990, questions: 72821 };
const perVideoS = 0.53 + 19.13 + 1.33;
const perQuestionS = 0.08 + 0.84 + 1.34 + 0.72;
const jobS = perVideoS + (MSRVTT.questions / MSRVTT.videos) * perQuestionS + emptyMs / 1000;
const totalS = MSRVTT.videos * jobS;
const hours = (s) => `${(s / 3600).toFixed(1)} h`;
const estimate = [1, 10, 100].map((w) => ({ workers: w, seconds: Math.max(totalS / w, jobS) }));
console.log(
  `\nEstimate (not measured): MSRVTT-QA test, ${MSRVTT.videos} videos / ${MSRVTT.questions} questions, ${jobS.toFixed(1)} s per video job (${perVideoS.toFixed(2)} s video + ${(MSRVTT.questions / MSRVTT.videos).toFixed(1)} × ${perQuestionS.toFixed(2)} s questions)\n`,
);
console.log('| workers (2-core CPU each) | wall time |\n| --- | --- |');
for (const e of estimate) console.log(`| ${e.workers} | ${hours(e.seconds)} |`);

const result = {
  bench: 'queue',
  videos: N,
  embedded_batch8_s: embedded8.s,
  embedded_batch1_s: embedded1.s,
  queue_1worker_s: queued.s,
  queue_minus_embedded_ms_per_job: overheadMs,
  queue_empty_job_ms: emptyMs,
  msrvtt_estimate: { per_job_s: jobS, total_s: totalS, workers: estimate },
  loadavg: { start: load0, end: load1 },
  cpus: os.cpus().length,
};
if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 1) + '\n');
rmSync(tmp, { recursive: true, force: true });
console.log(JSON.stringify(result));
