#!/usr/bin/env node
// Throughput and latency of `mplug2 serve` (createServer, in this process, on a loopback port) for
// 1, 8 and 32 concurrent HTTP clients, against sequential library calls (VideoQA.ask on a file,
// one question per call) on the same model, videos and questions. Every request uploads a video
// (multipart) and asks one question; the server batches concurrent requests (--max-batch,
// --max-wait-ms). Answers from the server are checked against the library's.
//
//   npm run bench:serve -- [--size tiny|large] [--requests N] [--clients 1,8,32] [--route videoqa|caption]
//                          [--max-batch 8] [--max-wait-ms 10] [--threads N]
//
// Prints a table; the last line is one JSON object (with os.loadavg() before and after). Needs the packages built.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { benchModel } from './model.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SAMPLE = path.join(HERE, '../packages/cli/assets/sample.mp4');
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'tiny' },
    requests: { type: 'string' },
    clients: { type: 'string', default: '1,8,32' },
    route: { type: 'string', default: 'videoqa' },
    'max-batch': { type: 'string', default: '8' },
    'max-wait-ms': { type: 'string', default: '10' },
    threads: { type: 'string' },
  },
  strict: true,
});
if (!['tiny', 'large'].includes(values.size)) throw new Error(`--size must be tiny or large, got ${values.size}`);
if (!['videoqa', 'caption'].includes(values.route)) throw new Error(`--route must be videoqa or caption, got ${values.route}`);
const levels = values.clients.split(',').map(Number);
const requests = Number(values.requests ?? (values.size === 'large' ? 16 : 64));
const maxBatch = Number(values['max-batch']);
const maxWaitMs = Number(values['max-wait-ms']);
const load = values.threads ? { threads: Number(values.threads) } : {};

const { VideoQA, Captioner } = await import('@mplug2/tasks');
const { createServer } = await import('@mplug2/server');
const loadBefore = os.loadavg();
const { out: model } = await benchModel({ size: values.size });

// 8 different clips cut from the sample (other start times, some mirrored), 1 s each.
const dir = mkdtempSync(path.join(os.tmpdir(), 'mplug2-bench-serve-'));
const videos = Array.from({ length: 8 }, (_, i) => {
  const file = path.join(dir, `clip${i}.mp4`);
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-ss',
    String(i * 0.4),
    '-i',
    SAMPLE,
    '-t',
    '1',
    ...(i % 2 ? ['-vf', 'hflip'] : []),
    '-an',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    file,
  ]);
  return file;
});
const QUESTIONS = [
  'what is happening?',
  'what color is it?',
  'who is there?',
  'what is the man holding?',
  'where is this?',
  'how many people are there?',
  'is it day or night?',
  'what animal is it?',
];
const work = Array.from({ length: requests }, (_, i) => ({
  video: videos[i % videos.length],
  question: QUESTIONS[(i * 3 + Math.floor(i / 8)) % QUESTIONS.length],
}));
const keyOf = (r) => (values.route === 'videoqa' ? `${r.answer}|${r.ids.join()}` : `${r.caption}|${r.ids.join()}`);

function stats(latencies, wallS) {
  const s = [...latencies].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { requests_per_s: latencies.length / wallS, p50_s: q(0.5), p95_s: q(0.95), wall_s: wallS };
}

// Sequential library calls (the model loaded once; each call decodes, encodes and generates).
const task = values.route === 'videoqa' ? await VideoQA.load(model, load) : await Captioner.load(model, load);
const call = (w) => (values.route === 'videoqa' ? task.ask(w.video, w.question) : task.caption(w.video)).then((r) => r[0]);
await call(work[0]);
const expected = [];
const seqLat = [];
const t0 = performance.now();
for (const w of work) {
  const t = performance.now();
  expected.push(keyOf(await call(w)));
  seqLat.push((performance.now() - t) / 1000);
}
const sequential = stats(seqLat, (performance.now() - t0) / 1000);
await task.dispose();
// Rows are printed as they are measured: a run cut short still shows what it measured.
const f = (x) => x.toFixed(2).padStart(8);
console.log(
  `${values.size} model, ${values.route}, ${requests} requests (8 clips, one question each), server --max-batch ${maxBatch} --max-wait-ms ${maxWaitMs}, intra-op threads ${values.threads ?? 'default'}`,
);
console.log('                         req/s   p50 s   p95 s   vs sequential   requests/call   answers = library');
console.log(`sequential library   ${f(sequential.requests_per_s)}${f(sequential.p50_s)}${f(sequential.p95_s)}            1.00x`);

const app = createServer(model, { ...load, tasks: [values.route], maxBatch, maxWaitMs, maxQueue: 1024 });
await app.modelLoaded;
const base = await app.listen({ port: 0, host: '127.0.0.1' });
const bytes = new Map(videos.map((v) => [v, readFileSync(v)]));
async function post(w) {
  const form = new FormData();
  if (values.route === 'videoqa') form.append('question', w.question);
  form.append('video', new Blob([bytes.get(w.video)]), path.basename(w.video));
  const res = await fetch(`${base}/v1/${values.route}`, { method: 'POST', body: form });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()).results[0];
}
await post(work[0]);

const metricSum = async (name) =>
  (await (await fetch(`${base}/metrics`)).text())
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
const batchCounts = async () => [await metricSum('mplug2_batch_requests_sum'), await metricSum('mplug2_batch_requests_count')];
const rows = [];
for (const clients of levels) {
  const [req0, calls0] = await batchCounts();
  const lat = new Array(work.length);
  const got = new Array(work.length);
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < work.length; i = next++) {
        const s = performance.now();
        got[i] = keyOf(await post(work[i]));
        lat[i] = (performance.now() - s) / 1000;
      }
    }),
  );
  const wall = (performance.now() - t) / 1000;
  const [req1, calls1] = await batchCounts();
  const r = { clients, ...stats(lat, wall), mean_requests_per_call: (req1 - req0) / (calls1 - calls0), identical: got.every((g, i) => g === expected[i]) };
  rows.push(r);
  console.log(
    `server, ${String(r.clients).padStart(2)} clients    ${f(r.requests_per_s)}${f(r.p50_s)}${f(r.p95_s)}   ${(r.requests_per_s / sequential.requests_per_s).toFixed(2).padStart(12)}x   ${r.mean_requests_per_call.toFixed(2).padStart(13)}   ${r.identical}`,
  );
}
await app.close();
rmSync(dir, { recursive: true, force: true });
const loadAfter = os.loadavg();

console.log(
  `load average (1/5/15 min) before ${loadBefore.map((x) => x.toFixed(2)).join('/')}, after ${loadAfter.map((x) => x.toFixed(2)).join('/')} on ${os.availableParallelism()} cpus`,
);
console.log(
  JSON.stringify({
    size: values.size,
    route: values.route,
    requests,
    max_batch: maxBatch,
    max_wait_ms: maxWaitMs,
    threads: values.threads ?? null,
    sequential,
    server: rows,
    loadavg_before: loadBefore,
    loadavg_after: loadAfter,
    cpus: os.availableParallelism(),
  }),
);
