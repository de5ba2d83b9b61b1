#!/usr/bin/env node
// Throughput of one loaded VideoQA model / Captioner serving 32 calls concurrently vs one after another
// (tiny model), and a check that both give identical answers.
//
//   npm run bench:concurrency -- [--calls 32] [--json]
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Captioner, VideoQA, convertCheckpoint, generateCheckpoint, tinyDemoConfig } from '@mplug2/tasks';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '32' }, json: { type: 'boolean', default: false } } });
const n = Number(values.calls);
const dir = mkdtempSync(path.join(os.tmpdir(), 'mplug2-concurrency-'));
const config = tinyDemoConfig('pretrain');
await generateCheckpoint(path.join(dir, 'c.pth'), config, { seed: 3 });
await convertCheckpoint({ checkpoint: path.join(dir, 'c.pth'), config, out: path.join(dir, 'm'), task: 'pretrain' });
const qa = await VideoQA.load(path.join(dir, 'm'));
const video = await qa.encodeVideo(path.join(path.dirname(fileURLToPath(import.meta.url)), '../packages/cli/assets/sample.mp4'));
const questions = Array.from({ length: n }, (_, i) => `what is the person number ${i} doing?`);
let t = performance.now();
const seq = [];
for (const q of questions) seq.push((await qa.ask(video, q))[0]);
const sequential_s = (performance.now() - t) / 1000;
t = performance.now();
const con = await Promise.all(questions.map((q) => qa.ask(video, q).then((r) => r[0])));
const concurrent_s = (performance.now() - t) / 1000;
t = performance.now();
const batched = await qa.ask(video, questions);
const batched_s = (performance.now() - t) / 1000;
const identical = con.every((r, i) => r.ids.join() === seq[i].ids.join()) && batched.every((r, i) => r.ids.join() === seq[i].ids.join());
await qa.dispose();

// captioning: the same 32 calls on 8 different (encoded) videos with varied beam sizes
const cap = await Captioner.load(path.join(dir, 'm'));
const { tensor } = await import('@mplug2/core');
const videos = await Promise.all(Array.from({ length: 8 }, (_, v) => {
  const data = new Float32Array(3 * 4 * 56 * 56).map((_, i) => Math.sin(i * (0.001 + v * 0.37) + v) * 1.5);
  return cap.encodeVideo(tensor('float32', ['channels', 'frames', 'height', 'width'], [3, 4, 56, 56], data));
}));
const capCalls = Array.from({ length: n }, (_, i) => ({ video: videos[i % 8], options: { beamSize: 1 + (i % 3), maxLength: 8 } }));
t = performance.now();
const capSeq = [];
for (const c of capCalls) capSeq.push((await cap.caption(c.video, c.options))[0]);
const caption_sequential_s = (performance.now() - t) / 1000;
t = performance.now();
const capCon = await Promise.all(capCalls.map((c) => cap.caption(c.video, c.options).then((r) => r[0])));
const caption_concurrent_s = (performance.now() - t) / 1000;
const captionIdentical = capCon.every((r, i) => r.ids.join() === capSeq[i].ids.join() && r.score === capSeq[i].score);
await cap.dispose();
console.log(`${n} captions on one loaded model (tiny): sequential ${caption_sequential_s.toFixed(2)} s (${(n / caption_sequential_s).toFixed(1)}/s), concurrent ${caption_concurrent_s.toFixed(2)} s (${(n / caption_concurrent_s).toFixed(1)}/s); identical captions: ${captionIdentical}`);
console.log(`${n} questions on one loaded model (tiny): sequential ${sequential_s.toFixed(2)} s (${(n / sequential_s).toFixed(1)}/s), concurrent ${concurrent_s.toFixed(2)} s (${(n / concurrent_s).toFixed(1)}/s), one batched call ${batched_s.toFixed(2)} s (${(n / batched_s).toFixed(1)}/s); identical answers: ${identical}`);
if (values.json) console.log(JSON.stringify({ calls: n, sequential_s, concurrent_s, batched_s, identical, caption_sequential_s, caption_concurrent_s, captionIdentical }));
process.exit(identical && captionIdentical ? 0 : 1);
