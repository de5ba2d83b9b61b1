#!/usr/bin/env node
// Deviation of the reduced-precision options (int8 and q4 weights, fp16 weights, fp16 compute) and of the
// fused/primitive op paths from the original PyTorch model, on the golden fixtures (tiny models with
// real reference outputs): max |diff| per module boundary and agreement of the beam-search ids.
//
//   node bench/deviation.mjs [--dtype fp32|fp16|int8|q4] [--backend cpu|wasm|webgpu|cuda] [--json]
//   (needs the packages built; --dtype keeps the variants with those weights, e.g. fp16 = fp16
//   weights and fp16 compute; fp16 compute on webgpu needs shader-f16)
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { json: { type: 'boolean', default: false }, dtype: { type: 'string' }, backend: { type: 'string', default: 'cpu' } },
});
const { convertCheckpoint, runParity } = await import('@mplug2/converter');
const { ModelDirectory } = await import('@mplug2/core');
const GOLDENS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/goldens');
const VARIANTS = [
  { name: 'fp32 fused', dtype: 'fp32', fusedAttention: true },
  { name: 'fp32 primitive', dtype: 'fp32', fusedAttention: false },
  { name: 'fp16 weights', dtype: 'fp16', fusedAttention: true },
  { name: 'fp16 compute', dtype: 'fp16', compute: 'fp16', fusedAttention: true },
  { name: 'int8 weights', dtype: 'int8', fusedAttention: true },
  { name: 'q4 weights', dtype: 'q4', fusedAttention: true },
].filter((v) => !values.dtype || v.dtype === values.dtype);
const out = {};
for (const golden of ['videoqa_tiny', 'videocaption_tiny']) {
  for (const v of VARIANTS) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `mplug2-dev-${golden}-`));
    try {
      await convertCheckpoint({
        checkpoint: path.join(GOLDENS, golden, 'checkpoint.pth'),
        config: path.join(GOLDENS, golden, 'config.json'),
        out: dir,
        dtype: v.dtype,
        compute: v.compute,
        fusedAttention: v.fusedAttention,
      });
      const report = await runParity(await ModelDirectory.open(dir), path.join(GOLDENS, golden, 'fixtures.safetensors'), { backend: values.backend });
      const floats = report.tensors.filter((t) => t.tolerance > 0);
      const ids = report.tensors.filter((t) => t.tolerance === 0 && /^beam/.test(t.name));
      out[`${golden} / ${v.name}`] = {
        max_abs_diff: Object.fromEntries(floats.map((t) => [t.name, t.maxAbsDiff])),
        beam_ids_agree: Object.fromEntries(ids.map((t) => [t.name, t.maxAbsDiff === 0])),
        parity_ok: report.ok,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
for (const [k, r] of Object.entries(out)) {
  console.log(`\n${k} (${values.backend}): parity (≤1e-4, ids exact) ${r.parity_ok ? 'PASS' : 'FAIL'}`);
  for (const [b, d] of Object.entries(r.max_abs_diff)) console.log(`  ${b.padEnd(28)} max|diff| ${d.toExponential(2)}`);
  console.log(
    `  beam ids agree: ${Object.entries(r.beam_ids_agree)
      .map(([b, a]) => `${b}=${a ? 'yes' : 'NO'}`)
      .join(', ')}`,
  );
}
if (values.json) console.log(JSON.stringify(out));
