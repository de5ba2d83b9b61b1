#!/usr/bin/env node
// Chooses the 4-bit block scheme (`Q4_SCHEME` in @mplug2/core) by measurement:
//  1. weight error: relative RMS error of dequantized weights against the original, over every 2-D
//     `.weight` matrix of the golden checkpoints (the original implementation's weights), per block
//     size and with / without zero points;
//  2. speed: onnxruntime-node `MatMulNBits` on activations [M, K] × the large model's layer shapes
//     (FFN in / out, attention projection) per scheme and accuracy level, interleaved with the int8
//     `DynamicQuantizeMatMul` and the fp32 MatMul the other dtypes use (same process, same load).
//
//   node bench/q4-scheme.mjs [--m 4096] [--threads N] [--json]     (needs the packages built)
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KERNEL_SHAPES, kernelThroughput } from './kernel-graphs.mjs';

const { values } = parseArgs({
  options: {
    m: { type: 'string', default: '4096' },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
  },
});
const core = await import('@mplug2/core');
const onnx = await import('@mplug2/core/onnx');
const GOLDENS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/goldens');
const threads = values.threads ? Number(values.threads) : undefined;
const M = Number(values.m);
const load = [os.loadavg()[0]];

const SCHEMES = [16, 32, 64, 128].flatMap((blockSize) => [true, false].map((symmetric) => ({ blockSize, symmetric })));
const label = (s) => `b${s.blockSize}${s.symmetric ? ' sym' : ' zp'}`;

// 1. Weight error on the golden checkpoints.
const errors = Object.fromEntries(SCHEMES.map((s) => [label(s), { sq: 0, ref: 0 }]));
let int8 = { sq: 0, ref: 0 };
for (const golden of ['videoqa_tiny', 'videocaption_tiny']) {
  const ck = await core.openCheckpoint(path.join(GOLDENS, golden, 'checkpoint.pth'));
  for (const t of ck.list()) {
    if (t.shape.length !== 2 || !t.name.endsWith('.weight') || /embeddings|norm/i.test(t.name)) continue;
    const [N, K] = t.shape; // Linear (out, in) → the [K, N] the converter quantizes
    const w = onnx.transpose2d.apply(await ck.readFloat32(t.name), t.shape);
    let ref = 0;
    for (const v of w) ref += v * v;
    for (const s of SCHEMES) {
      const { q, scale, zeroPoint } = onnx.quantizeBlocks4(w, K, N, s);
      const d = onnx.dequantizeBlocks4(q, scale, zeroPoint, K, N, s);
      let sq = 0;
      for (let i = 0; i < w.length; i++) sq += (d[i] - w[i]) ** 2;
      errors[label(s)].sq += sq;
      errors[label(s)].ref += ref;
    }
    const { q, scale } = onnx.quantizeColumns(w, K, N);
    for (let i = 0; i < w.length; i++) int8.sq += (q[i] * scale[i % N] - w[i]) ** 2;
    int8.ref += ref;
  }
  await ck.close();
}
const relErr = Object.fromEntries([...Object.entries(errors), ['int8 per column', int8]].map(([k, e]) => [k, Math.sqrt(e.sq / e.ref)]));

// 2. Speed at the large layer shapes (the graphs bench/kernels.mjs also times in the browser).
const variants = [
  { name: 'fp32 MatMul', kind: 'fp32' },
  { name: 'int8 DynamicQuantizeMatMul', kind: 'int8' },
  ...[32, 64, 128].flatMap((blockSize) =>
    [true, false].map((symmetric) => ({ name: `q4 ${label({ blockSize, symmetric })} acc4`, kind: 'q4', blockSize, symmetric, accuracyLevel: 4 })),
  ),
  { name: 'q4 b32 zp acc0 (fp32 compute)', kind: 'q4', blockSize: 32, symmetric: false, accuracyLevel: 0 },
];
const best = await kernelThroughput(core, onnx, variants, { M, rounds: Number(values.rounds), threads });
load.push(os.loadavg()[0]);

console.log(`q4 scheme — relative RMS weight error over the golden checkpoints' Linear weights (int8 per column for scale):`);
for (const [k, e] of Object.entries(relErr)) console.log(`  ${k.padEnd(16)} ${(100 * e).toFixed(2)}%`);
console.log(
  `\nmatmul throughput, M=${M}, best layer shape of ${KERNEL_SHAPES.map((s) => s.join('→')).join(', ')} (GOP/s; load average ${load.map((l) => l.toFixed(1)).join(' → ')}):`,
);
for (const [k, g] of Object.entries(best)) console.log(`  ${k.padEnd(32)} ${g.toFixed(1)}`);
if (values.json) console.log(JSON.stringify({ relative_rms_error: relErr, gops: best, m: M, threads: threads ?? 'default', load_average: load }));
