#!/usr/bin/env node
// The matrix products the models run, timed on both sides of the browser/Node comparison: the same
// one-op graphs (bench/kernel-graphs.mjs: activations [M, K] × a constant weight at the large
// model's layer shapes; fp32 MatMul, int8 DynamicQuantizeMatMul, 4-bit MatMulNBits) on
// onnxruntime-node (cpu) in this process and on onnxruntime-web (wasm, threads, cross-origin
// isolated) in headless Chromium. The per-kernel ratio bounds what `bench:browser` can reach: a
// model whose time is its matmuls cannot be faster in the tab, relative to Node, than its kernels.
//
//   node bench/kernels.mjs [--m 4096] [--threads N] [--rounds 3] [--browser-backend wasm|webgpu] [--json]     (needs the packages built)
import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadBrowserHarness } from './browser-harness.mjs';
import { kernelThroughput } from './kernel-graphs.mjs';

const { values } = parseArgs({
  options: {
    m: { type: 'string', default: '4096' },
    threads: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'browser-backend': { type: 'string', default: 'wasm' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});
const M = Number(values.m);
const threads = Number(values.threads ?? os.availableParallelism());
const rounds = Number(values.rounds);
const VARIANTS = [
  { name: 'fp32 MatMul', kind: 'fp32' },
  { name: 'int8 DynamicQuantizeMatMul', kind: 'int8' },
  { name: 'q4 b32 zp, accuracy 4', kind: 'q4', blockSize: 32, symmetric: false, accuracyLevel: 4 },
  { name: 'q4 b32 zp, accuracy 0', kind: 'q4', blockSize: 32, symmetric: false, accuracyLevel: 0 },
];

const load = [os.loadavg()[0]];
const core = await import('@mplug2/core');
const onnx = await import('@mplug2/core/onnx');
const node = await kernelThroughput(core, onnx, VARIANTS, { M, rounds, backend: 'cpu', threads });
load.push(os.loadavg()[0]);

const { harness, cleanup } = await loadBrowserHarness('kernels');
let browser;
try {
  const tp = await harness.openTestPage({}, 'bench/browser-page');
  try {
    tp.page.setDefaultTimeout(0);
    browser = await tp.page.evaluate((req) => globalThis.mplug2Bench.kernels(req), {
      variants: VARIANTS,
      M,
      rounds,
      backend: values['browser-backend'],
      threads,
    });
  } finally {
    await tp.close();
  }
} finally {
  cleanup();
}
load.push(os.loadavg()[0]);
if (browser.error) throw new Error(`browser: ${browser.error.code ?? browser.error.name}: ${browser.error.message}`);

console.log(
  `\nmatmul kernels, M=${M}, best of ${rounds} rounds over the large layer shapes; GOP/s (2·M·K·N per second); ${threads} threads; load average ${load.map((l) => l.toFixed(1)).join(' → ')}`,
);
console.log(`| kernel | Node (cpu) | Chromium (${values['browser-backend']}) | Node / Chromium |`);
console.log('| --- | --- | --- | --- |');
for (const v of VARIANTS)
  console.log(`| ${v.name} | ${node[v.name].toFixed(1)} | ${browser.gops[v.name].toFixed(1)} | ${(node[v.name] / browser.gops[v.name]).toFixed(2)}× |`);
if (values.json)
  console.log(
    JSON.stringify({
      m: M,
      threads,
      browser_backend: values['browser-backend'],
      node: node,
      browser: browser.gops,
      cross_origin_isolated: browser.crossOriginIsolated,
      load_average: load,
    }),
  );
