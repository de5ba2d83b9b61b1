#!/usr/bin/env node
// Throughput of one loaded model serving N calls (default 32) one after another, all at once
// (Promise.all on the same VideoQA / Captioner), and as one batched call. Concurrent calls must equal
// the sequential ones exactly; the batched call is compared by ids (other kernel shapes may change
// the scores' last bits). Model: the tiny demo configuration with the full BERT vocabulary
// (generated and converted once per run); video: the bundled sample, decoded once.
//
//   npm run bench:concurrency -- [--calls 32] [--threads N] [--json]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { tensor } from '@mplug2/core';
import { convertCheckpoint, generateCheckpoint, tinyDemoConfig } from '@mplug2/converter';
import { Captioner, VideoQA } from '@mplug2/tasks';
import { loadVideo } from '@mplug2/vision-encoder';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '32' }, threads: { type: 'string' }, json: { type: 'boolean', default: false } } });
const n = Number(values.calls);
const load = values.threads ? { threads: Number(values.threads) } : {};
const dir = mkdtempSync(path.join(os.tmpdir(), 'mplug2-concurrency-'));
const config = tinyDemoConfig('pretrain');
await generateCheckpoint(path.join(dir, 'c.pth'), config, { seed: 3 });
await convertCheckpoint({ checkpoint: path.join(dir, 'c.pth'), config, out: path.join(dir, 'm'), task: 'pretrain' });
const model = path.join(dir, 'm');
const sample = path.join(path.dirname(fileURLToPath(import.meta.url)), '../packages/cli/assets/sample.mp4');
const { pixelValues } = await loadVideo(sample, { numFrames: config.model_config.model_num_frames, size: config.model_config.image_res });

const same = (a, b) => a.length === b.length && a.every((r, i) => r.ids.join() === b[i].ids.join() && r.score === b[i].score);
// A batched call runs other kernel shapes, so scores may differ in the last bits: ids are compared, scores measured.
const batchDiff = (bat, seq) => ({
  batchedIds: bat.every((r, i) => r.ids.join() === seq[i].ids.join()),
  batchedMaxScoreDiff: Math.max(...bat.map((r, i) => Math.abs(r.score - seq[i].score))),
});
const time = async (f) => {
  const t = performance.now();
  const r = await f();
  return [r, (performance.now() - t) / 1000];
};

const rows = [];
{
  const qa = await VideoQA.load(model, load);
  const video = await qa.encodeVideo(pixelValues);
  const questions = Array.from({ length: n }, (_, i) => `what is the person number ${i} doing?`);
  await qa.ask(video, 'warm up');
  const [seq, seqS] = await time(async () => {
    const out = [];
    for (const q of questions) out.push((await qa.ask(video, q))[0]);
    return out;
  });
  const [con, conS] = await time(() => Promise.all(questions.map((q) => qa.ask(video, q).then((r) => r[0]))));
  const [bat, batS] = await time(() => qa.ask(video, questions));
  rows.push({
    task: `VideoQA (${n} questions, beam ${config.model_config.beam_size})`,
    sequential_s: seqS,
    concurrent_s: conS,
    batched_s: batS,
    identical: same(con, seq),
    ...batchDiff(bat, seq),
  });
  await qa.dispose();
}
{
  const cap = await Captioner.load(model, load);
  // n different inputs: the sample video with its frames rolled by i pixels
  const [c, t, h, w] = pixelValues.shape;
  const videos = Array.from({ length: n }, (_, i) => {
    const d = new Float32Array(pixelValues.data.length);
    for (let k = 0; k < d.length; k++) d[k] = pixelValues.data[(k + i) % d.length];
    return tensor('float32', pixelValues.dims, pixelValues.shape, d);
  });
  const features = await Promise.all(videos.map((v) => cap.encodeVideo(v)));
  await cap.caption(features[0]);
  const [seq, seqS] = await time(async () => {
    const out = [];
    for (const f of features) out.push((await cap.caption(f))[0]);
    return out;
  });
  const [con, conS] = await time(() => Promise.all(features.map((f) => cap.caption(f).then((r) => r[0]))));
  const batch = await cap.encodeVideo(videos);
  const [bat, batS] = await time(() => cap.caption(batch));
  rows.push({
    task: `captioning (${n} videos ${c}x${t}x${h}x${w}, beam ${config.model_config.beam_size})`,
    sequential_s: seqS,
    concurrent_s: conS,
    batched_s: batS,
    identical: same(con, seq),
    ...batchDiff(bat, seq),
  });
  await cap.dispose();
}
rmSync(dir, { recursive: true, force: true });

console.log(`one loaded model (tiny demo config, full vocabulary), ${n} calls, intra-op threads: ${values.threads ?? 'onnxruntime default'}`);
console.log(
  'task                                              sequential          concurrent          one batched call    concurrent = sequential  batched ids (max score diff)',
);
const cell = (s) => `${s.toFixed(2)} s (${(n / s).toFixed(1)}/s)`.padEnd(20);
for (const r of rows)
  console.log(
    `${r.task.padEnd(50)}${cell(r.sequential_s)}${cell(r.concurrent_s)}${cell(r.batched_s)}${String(r.identical).padEnd(25)}${r.batchedIds ? 'same' : 'DIFFER'} (${r.batchedMaxScoreDiff.toExponential(1)})`,
  );
if (values.json) console.log(JSON.stringify({ calls: n, threads: values.threads ?? null, rows }));
process.exit(rows.every((r) => r.identical) ? 0 : 1);
