#!/usr/bin/env node
// Fuzzes the .pth and safetensors readers with seeded mutations of the golden files: every case must end
// in success or a typed Mplug2Error, within a time bound, without memory growing with declared sizes.
// Half the cases skip CRC verification so that mutated pickles reach the restricted unpickler.
//
//   npm run bench:fuzz -- [--cases 10000] [--seed 1] [--json]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Mplug2Error, mutations, openCheckpointBytes } from '@mplug2/core';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '10000' }, seed: { type: 'string', default: '1' }, json: { type: 'boolean', default: false } } });
const GOLDENS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/goldens');
const FILES = ['videoqa_tiny/checkpoint.pth', 'videocaption_tiny/checkpoint.pth', 'videoqa_tiny/fixtures.safetensors', 'videocaption_tiny/fixtures.safetensors'];
const TIME_BOUND_MS = 2000;
const RSS_BOUND_MB = 512;

const total = Number(values.cases);
const perFile = Math.ceil(total / FILES.length);
const outcomes = {};
const byKind = {};
const violations = [];
let maxMs = 0;
let cases = 0;
const rss0 = process.memoryUsage().rss;
let maxRssGrowthMb = 0;

process.on('unhandledRejection', (e) => violations.push({ label: 'unhandledRejection', error: String(e) }));

for (const [fi, rel] of FILES.entries()) {
  const bytes = new Uint8Array(readFileSync(path.join(GOLDENS, rel)));
  for (const m of mutations(bytes, Number(values.seed) * 1000 + fi, perFile)) {
    const kind = m.label.split(' ')[1]?.split('@')[0] ?? 'other';
    const t = performance.now();
    let outcome;
    try {
      // Every other case skips the CRC check so that corrupted pickles and headers reach the parsers.
      const ckpt = await openCheckpointBytes(m.bytes, rel, { verifyCrc: cases % 2 === 0 });
      try {
        for (const info of ckpt.list()) await ckpt.read(info.name);
      } finally {
        await ckpt.close();
      }
      outcome = 'ok';
    } catch (e) {
      if (e instanceof Mplug2Error) outcome = e.code;
      else {
        outcome = `UNTYPED ${e?.constructor?.name}`;
        violations.push({ file: rel, label: m.label, error: String(e?.message ?? e).slice(0, 200) });
      }
    }
    const ms = performance.now() - t;
    maxMs = Math.max(maxMs, ms);
    if (ms > TIME_BOUND_MS) violations.push({ file: rel, label: m.label, error: `took ${ms.toFixed(0)} ms` });
    const growth = (process.memoryUsage().rss - rss0) / 2 ** 20;
    maxRssGrowthMb = Math.max(maxRssGrowthMb, growth);
    if (growth > RSS_BOUND_MB) violations.push({ file: rel, label: m.label, error: `RSS grew by ${growth.toFixed(0)} MB` });
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    byKind[kind] ??= {};
    byKind[kind][outcome] = (byKind[kind][outcome] ?? 0) + 1;
    cases++;
  }
}

console.log(`checkpoint fuzz: ${cases} cases over ${FILES.length} golden files (seed ${values.seed})`);
console.log('outcome counts:');
for (const [k, n] of Object.entries(outcomes).sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(22)} ${n}`);
console.log('by mutation kind:');
for (const [k, o] of Object.entries(byKind)) console.log(`  ${k.padEnd(12)} ${Object.entries(o).map(([a, n]) => `${a} ${n}`).join(', ')}`);
console.log(`slowest case ${maxMs.toFixed(1)} ms (bound ${TIME_BOUND_MS}); max RSS growth ${maxRssGrowthMb.toFixed(0)} MB (bound ${RSS_BOUND_MB})`);
console.log(`violations: ${violations.length}`);
for (const v of violations.slice(0, 20)) console.log(`  ${JSON.stringify(v)}`);
if (values.json) console.log(JSON.stringify({ cases, outcomes, byKind, maxMs, maxRssGrowthMb, violations }));
process.exit(violations.length ? 1 : 0);
