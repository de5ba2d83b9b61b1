#!/usr/bin/env node
// Per-op profile of one converted module graph with onnxruntime's built-in profiler
// (`enableProfiling`), on the bench's cached model (run `npm run bench -- --size large` once first).
//
//   node bench/profile.mjs --size large --module vision_encoder|universal|decoder_memory|decoder_step|text_encoder|fusion [--dtype fp32] [--top 25]
//
// Prints wall time of one warm run and the time per op type and the heaviest nodes, from
// onnxruntime's own trace (written to a temporary file and deleted).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'large' },
    dtype: { type: 'string', default: 'fp32' },
    module: { type: 'string', default: 'vision_encoder' },
    top: { type: 'string', default: '25' },
    threads: { type: 'string' },
    frames: { type: 'string' },
  },
});
const CACHE = process.env.MPLUG2_BENCH_CACHE ?? path.join(os.homedir(), '.cache', 'mplug2-bench');
const dir = path.join(CACHE, `${values.size}-${values.dtype}`);
const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const dims = manifest.dims;
const threads = values.threads ? Number(values.threads) : os.availableParallelism();
const file = {
  vision_encoder: 'vision_encoder.onnx',
  universal: 'universal.onnx',
  text_encoder: 'text_encoder.onnx',
  fusion: 'fusion.onnx',
  decoder_memory: 'decoder_memory.onnx',
  decoder_step: 'decoder_step.onnx',
}[values.module];
if (!file) throw new Error(`unknown --module ${values.module}`);

const rand = (n) => {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) * 2;
  }
  return a;
};
const f32 = (shape) => new ort.Tensor('float32', rand(shape.reduce((a, b) => a * b, 1)), shape);
const i64 = (shape, v = 1n) => new ort.Tensor('int64', new BigInt64Array(shape.reduce((a, b) => a * b, 1)).fill(v), shape);

const v = dims.vision;
const t = dims.text;
const T = values.frames ? Number(values.frames) : v.frames;
const Nv = 1 + T * v.patchesPerFrame;
const Lq = 16;
const dh = t.hidden / t.heads;
function feeds() {
  switch (values.module) {
    case 'vision_encoder':
      return { pixel_values: f32([1, 3, T, v.imageRes, v.imageRes]) };
    case 'universal':
      return { video_states: f32([1, Nv, v.width]) };
    case 'text_encoder':
      return { input_ids: i64([1, Lq], 2000n), attention_mask: i64([1, Lq]) };
    case 'fusion':
      return { text_states: f32([1, Lq, t.hidden]), text_mask: i64([1, Lq]), image_embeds: f32([1, Nv, t.hidden]), image_mask: i64([1, Nv]) };
    case 'decoder_memory':
      return { memory: f32([1, Nv + Lq, t.encoderWidth]) };
    case 'decoder_step': {
      const rows = 5;
      const past = 8;
      const S = Nv + Lq;
      const fe = { input_ids: i64([rows, 1], 2000n), attention_mask: i64([rows, past + 1]), memory_mask: i64([1, S]) };
      for (let i = 0; i < t.decoderLayers; i++) {
        fe[`past_key_${i}`] = f32([rows, t.heads, past, dh]);
        fe[`past_value_${i}`] = f32([rows, t.heads, past, dh]);
        fe[`cross_key_${i}`] = f32([1, t.heads, S, dh]);
        fe[`cross_value_${i}`] = f32([1, t.heads, S, dh]);
      }
      return fe;
    }
  }
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mplug2-profile-'));
const session = await ort.InferenceSession.create(path.join(dir, file), {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  intraOpNumThreads: threads,
  enableProfiling: true,
  profileFilePrefix: path.join(tmp, 'trace'),
});
const input = feeds();
await session.run(input); // warm-up (also profiled; excluded below by run index)
const t0 = performance.now();
await session.run(input);
const wall = (performance.now() - t0) / 1000;
session.endProfiling();
await session.release();
const traceFile = readdirSync(tmp).find((f) => f.endsWith('.json'));
const events = JSON.parse(readFileSync(path.join(tmp, traceFile), 'utf8'));
rmSync(tmp, { recursive: true, force: true });

// Node events of the second (timed) run only.
const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
const last = runs[runs.length - 1];
const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && (!last || e.ts >= last.ts));
const byType = new Map();
for (const e of nodes) {
  const k = e.args.op_name;
  const r = byType.get(k) ?? { us: 0, n: 0 };
  r.us += e.dur;
  r.n++;
  byType.set(k, r);
}
const total = nodes.reduce((s, e) => s + e.dur, 0);
console.log(`${values.module} (${values.size}, ${values.dtype}, ${threads} threads): wall ${wall.toFixed(3)} s, kernel sum ${(total / 1e6).toFixed(3)} s`);
console.log('op type                         total s   share   count');
for (const [k, r] of [...byType].sort((a, b) => b[1].us - a[1].us))
  console.log(`${k.padEnd(30)}  ${(r.us / 1e6).toFixed(3).padStart(7)}  ${((100 * r.us) / total).toFixed(1).padStart(5)}%  ${String(r.n).padStart(6)}`);
const top = Number(values.top);
console.log(`\nheaviest ${top} nodes`);
for (const e of [...nodes].sort((a, b) => b.dur - a.dur).slice(0, top))
  console.log(
    `${(e.dur / 1e3).toFixed(1).padStart(9)} ms  ${e.args.op_name.padEnd(22)} ${e.name.replace(/_kernel_time$/, '')}  out=${JSON.stringify(e.args.output_type_shape?.map((o) => Object.values(o)[0]))}`,
  );
