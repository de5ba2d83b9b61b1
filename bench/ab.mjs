#!/usr/bin/env node
// Interleaved A/B timing of one module graph in two converted variants of the bench's cached model
// (e.g. fp32 vs int8): runs alternate A, B, A, B… so that load from other processes on a shared
// machine hits both alike; prints the fastest and median run of each and their ratio.
//
//   node bench/ab.mjs --a <model dir> --b <model dir> --module vision_encoder|universal|fusion|decoder_memory|decoder_step [--runs 3] [--frames N (vision)]
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    module: { type: 'string', default: 'vision_encoder' },
    runs: { type: 'string', default: '3' },
    frames: { type: 'string' },
  },
});
const FILES = {
  vision_encoder: 'vision_encoder.onnx',
  universal: 'universal.onnx',
  text_encoder: 'text_encoder.onnx',
  fusion: 'fusion.onnx',
  decoder_memory: 'decoder_memory.onnx',
  decoder_step: 'decoder_step.onnx',
};
const dims = JSON.parse(readFileSync(path.join(values.a, 'manifest.json'), 'utf8')).dims;
const v = dims.vision;
const t = dims.text;
const Nv = v.tokens;
const dh = t.hidden / t.heads;
let seed = 7;
const f32 = (shape) =>
  new ort.Tensor(
    'float32',
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 2),
    shape,
  );
const i64 = (shape, x = 1n) => new ort.Tensor('int64', new BigInt64Array(shape.reduce((a, b) => a * b, 1)).fill(x), shape);
function feeds(m) {
  if (m === 'vision_encoder') return { pixel_values: f32([1, 3, values.frames ? Number(values.frames) : v.frames, v.imageRes, v.imageRes]) };
  if (m === 'universal') return { video_states: f32([1, Nv, v.width]) };
  if (m === 'text_encoder') return { input_ids: i64([1, 16], 2000n), attention_mask: i64([1, 16]) };
  if (m === 'fusion') return { text_states: f32([1, 16, t.hidden]), text_mask: i64([1, 16]), image_embeds: f32([1, Nv, t.hidden]), image_mask: i64([1, Nv]) };
  if (m === 'decoder_memory') return { memory: f32([1, Nv + 16, t.hidden]) };
  const fe = { input_ids: i64([5, 1], 2000n), attention_mask: i64([5, 9]), memory_mask: i64([1, Nv + 16]) };
  for (let i = 0; i < t.decoderLayers; i++) {
    fe[`past_key_${i}`] = f32([5, t.heads, 8, dh]);
    fe[`past_value_${i}`] = f32([5, t.heads, 8, dh]);
    fe[`cross_key_${i}`] = f32([1, t.heads, Nv + 16, dh]);
    fe[`cross_value_${i}`] = f32([1, t.heads, Nv + 16, dh]);
  }
  return fe;
}
const opts = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: os.availableParallelism() };
const file = FILES[values.module];
const [A, B] = [await ort.InferenceSession.create(path.join(values.a, file), opts), await ort.InferenceSession.create(path.join(values.b, file), opts)];
const input = feeds(values.module);
await A.run(input);
await B.run(input);
const ta = [];
const tb = [];
for (let i = 0; i < Number(values.runs); i++)
  for (const [s, out] of [
    [A, ta],
    [B, tb],
  ]) {
    const t0 = performance.now();
    await s.run(input);
    out.push((performance.now() - t0) / 1000);
  }
const med = (x) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
const r = {
  module: values.module,
  a: path.basename(values.a),
  b: path.basename(values.b),
  a_min_s: Math.min(...ta),
  b_min_s: Math.min(...tb),
  a_median_s: med(ta),
  b_median_s: med(tb),
  load_average: os.loadavg()[0],
  ...(values.frames ? { frames: Number(values.frames) } : {}),
};
r.ratio_min = r.b_min_s / r.a_min_s;
r.ratio_median = r.b_median_s / r.a_median_s;
console.log(JSON.stringify(r));
