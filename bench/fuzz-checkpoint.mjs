#!/usr/bin/env node
// Fuzzes the .pth reader (ZIP + restricted unpickler) and the safetensors reader with seeded mutations
// of the golden files, from three generators:
//   generic     `mutations` (@mplug2/testing): bit flips, byte/u32 overwrites, fills, cuts, deletions, duplications
//   structural  `structuralMutations` (@mplug2/testing): cuts at every structural boundary, lying ZIP
//               lengths, duplicated / overlapping entries, zip bombs, pickle cuts, forbidden globals,
//               injected opcodes, huge ints, deep nesting; safetensors header lies
//   hostile     `hostileMutations` (@mplug2/testing): policy refusals that must be
//               UnsafePickleError, rewritten tensor views (broadcasts, rank floods), memo/stack
//               floods and cycles, pathological literals, honest zip bombs, zip64 lies
// Every case must open and read all its tensors, or fail with a typed Mplug2Error, within a CPU-time bound
// and without memory growing with declared sizes. Cases run in a worker thread watched by this one, so
// a hang is reported (and the worker replaced) instead of stalling the run.
//
//   npm run bench:fuzz -- [--cases 10000] [--seed 1] [--time-bound-ms 5000] [--rss-bound-mb 256] [--json]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GOLDENS = path.join(HERE, '../fixtures/goldens');
const FILES = [
  'videoqa_tiny/checkpoint.pth',
  'videocaption_tiny/checkpoint.pth',
  'videoqa_tiny/fixtures.safetensors',
  'videocaption_tiny/fixtures.safetensors',
];
/** Share of the cases per file and, within a file, per generator. */
const PLAN = {
  'videoqa_tiny/checkpoint.pth': { share: 0.35, mix: { generic: 0.3, structural: 0.35, hostile: 0.35 } },
  'videocaption_tiny/checkpoint.pth': { share: 0.35, mix: { generic: 0.3, structural: 0.35, hostile: 0.35 } },
  'videoqa_tiny/fixtures.safetensors': { share: 0.15, mix: { generic: 0.5, structural: 0.5 } },
  'videocaption_tiny/fixtures.safetensors': { share: 0.15, mix: { generic: 0.5, structural: 0.5 } },
};

/** The case list: [file, generator, seed, count] blocks, in a fixed order. */
function blocks(total, seed) {
  const out = [];
  for (const [fi, file] of FILES.entries()) {
    const { share, mix } = PLAN[file];
    for (const [gi, [gen, frac]] of Object.entries(mix).entries())
      out.push({ file, gen, seed: seed * 1000 + fi * 10 + gi, count: Math.round(total * share * frac) });
  }
  return out;
}

/** The mutation kind of a case, from its label (`#i kind@…`, `#i kind:…`, `#i kind=…`). */
function kindOf(gen, m) {
  if (m.kind) return m.kind;
  return m.label.replace(/^#\d+ /, '').split(/[@:=\s]/)[0] || 'other';
}

// ---------------------------------------------------------------------------------------------
// Worker: generates the cases deterministically, runs them from `start`, reports each one.

async function worker({ total, seed, start }) {
  const { Mplug2Error, openCheckpointBytes } = await import('@mplug2/core');
  const { hostileMutations, mutations, structuralMutations } = await import('@mplug2/testing');
  const generators = { generic: mutations, structural: structuralMutations, hostile: hostileMutations };
  const send = (msg) => parentPort.postMessage(msg);
  let index = 0;
  for (const b of blocks(total, seed)) {
    if (index + b.count <= start) {
      index += b.count;
      continue;
    }
    const bytes = new Uint8Array(readFileSync(path.join(GOLDENS, b.file)));
    for (const m of generators[b.gen](bytes, b.seed, b.count)) {
      const i = index++;
      if (i < start) continue;
      const kind = kindOf(b.gen, m);
      send({ type: 'start', i, file: b.file, gen: b.gen, kind, label: m.label });
      const rss0 = process.memoryUsage().rss;
      const peak0 = process.resourceUsage().maxRSS * 1024;
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      let outcome;
      let detail = '';
      try {
        // Every other case skips the CRC check, so corrupted tensor bytes are read through.
        const ckpt = await openCheckpointBytes(m.bytes, b.file, { verifyCrc: i % 2 === 0 });
        try {
          for (const info of ckpt.list()) await ckpt.read(info.name);
        } finally {
          await ckpt.close();
        }
        outcome = 'ok';
      } catch (e) {
        if (e instanceof Mplug2Error) outcome = e.code;
        else {
          outcome = `UNTYPED ${e?.constructor?.name ?? typeof e}`;
          detail = String(e?.message ?? e).slice(0, 200);
        }
      }
      const ms = performance.now() - t;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      const rssGrowth = process.memoryUsage().rss - rss0;
      const peakGrowth = process.resourceUsage().maxRSS * 1024 - peak0;
      send({ type: 'done', i, outcome, expect: m.expect, detail, ms, cpuMs, rssGrowth, peakGrowth, inputBytes: m.bytes.length });
    }
  }
  send({ type: 'end' });
}

if (!isMainThread) {
  process.on('unhandledRejection', (e) => parentPort.postMessage({ type: 'unhandledRejection', error: String(e?.stack ?? e).slice(0, 300) }));
  await worker(workerData);
} else {
  const { values } = parseArgs({
    options: {
      cases: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      'time-bound-ms': { type: 'string', default: '5000' },
      'rss-bound-mb': { type: 'string', default: '256' },
      'hang-ms': { type: 'string', default: '60000' },
      json: { type: 'boolean', default: false },
    },
  });
  const total = Number(values.cases);
  const seed = Number(values.seed);
  const timeBound = Number(values['time-bound-ms']);
  const rssBound = Number(values['rss-bound-mb']) * 2 ** 20;
  const hangMs = Number(values['hang-ms']);
  const planned = blocks(total, seed).reduce((n, b) => n + b.count, 0);

  const outcomes = {};
  const byKind = {};
  const violations = [];
  let cases = 0;
  let maxMs = 0;
  let maxMsCase = '';
  let maxWallMs = 0;
  let maxMem = 0;
  let maxMemCase = '';
  const t0 = performance.now();
  const rssStart = process.memoryUsage().rss;

  const count = (gen, file, kind, outcome) => {
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    const fmt = file.endsWith('.pth') ? 'pth' : 'safetensors';
    const key = `${fmt} ${gen} ${kind}`;
    byKind[key] ??= {};
    byKind[key][outcome] = (byKind[key][outcome] ?? 0) + 1;
  };

  /** Runs the worker from case `start`; resolves with the next case to run (planned when finished). */
  const runFrom = (start) =>
    new Promise((resolve) => {
      const w = new Worker(fileURLToPath(import.meta.url), { workerData: { total, seed, start } });
      let current = null;
      let timer = null;
      const stop = (next) => {
        clearTimeout(timer);
        w.removeAllListeners();
        w.terminate().finally(() => resolve(next));
      };
      w.on('message', (msg) => {
        if (msg.type === 'start') {
          current = msg;
          clearTimeout(timer);
          timer = setTimeout(() => {
            violations.push({ ...current, error: `no result after ${hangMs} ms: hang (worker terminated)` });
            count(current.gen, current.file, current.kind, 'HANG');
            cases++;
            stop(current.i + 1);
          }, hangMs);
        } else if (msg.type === 'done') {
          clearTimeout(timer);
          const c = current;
          cases++;
          let outcome = msg.outcome;
          if (msg.expect && outcome !== msg.expect) {
            violations.push({ file: c.file, label: c.label, error: `expected ${msg.expect}, got ${outcome}` });
            outcome = `UNEXPECTED ${outcome}`;
          }
          if (outcome.startsWith('UNTYPED')) violations.push({ file: c.file, label: c.label, error: `${outcome}: ${msg.detail}` });
          count(c.gen, c.file, c.kind, outcome);
          // CPU time is the bound (wall time also counts other processes on a shared machine); both are printed.
          if (msg.cpuMs > maxMs) [maxMs, maxMsCase] = [msg.cpuMs, `${c.file} ${c.gen} ${c.label}`];
          maxWallMs = Math.max(maxWallMs, msg.ms);
          const mem = Math.max(msg.rssGrowth, msg.peakGrowth);
          if (mem > maxMem) [maxMem, maxMemCase] = [mem, `${c.file} ${c.gen} ${c.label}`];
          if (msg.cpuMs > timeBound) violations.push({ file: c.file, label: c.label, error: `took ${msg.cpuMs.toFixed(0)} ms of CPU (bound ${timeBound})` });
          if (mem > rssBound)
            violations.push({ file: c.file, label: c.label, error: `RSS grew by ${(mem / 2 ** 20).toFixed(0)} MB (bound ${rssBound / 2 ** 20})` });
          if (cases % 1000 === 0) process.stderr.write(`${cases}/${planned} cases, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
        } else if (msg.type === 'unhandledRejection') {
          violations.push({ label: current?.label, error: `unhandled rejection: ${msg.error}` });
        } else if (msg.type === 'end') stop(planned);
      });
      w.on('error', (e) => {
        violations.push({ file: current?.file, label: current?.label, error: `worker crashed: ${String(e?.stack ?? e).slice(0, 300)}` });
        if (current) count(current.gen, current.file, current.kind, 'CRASH');
        cases++;
        stop(current ? current.i + 1 : planned);
      });
      w.on('exit', (code) => {
        violations.push({ label: current?.label, error: `worker exited (${code}) before the end` });
        stop(current ? current.i + 1 : planned);
      });
    });

  for (let next = 0; next < planned; ) next = await runFrom(next);
  const seconds = (performance.now() - t0) / 1000;

  console.log(`checkpoint fuzz: ${cases} cases over ${FILES.length} golden files (seed ${seed}) in ${seconds.toFixed(0)} s`);
  console.log('outcome counts:');
  for (const [k, n] of Object.entries(outcomes).sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(24)} ${n}`);
  console.log('by format, generator and mutation kind:');
  for (const [k, o] of Object.entries(byKind).sort())
    console.log(
      `  ${k.padEnd(36)} ${Object.entries(o)
        .map(([a, n]) => `${a} ${n}`)
        .join(', ')}`,
    );
  console.log(`slowest case: ${maxMs.toFixed(0)} ms CPU (bound ${timeBound}): ${maxMsCase.slice(0, 140)}; longest wall time ${maxWallMs.toFixed(0)} ms`);
  console.log(`largest RSS growth in one case: ${(maxMem / 2 ** 20).toFixed(0)} MB (bound ${rssBound / 2 ** 20}): ${maxMemCase.slice(0, 140)}`);
  console.log(`process RSS growth over the whole run: ${((process.memoryUsage().rss - rssStart) / 2 ** 20).toFixed(0)} MB`);
  console.log(`violations (untyped errors, policy misses, hangs, crashes, unhandled rejections, bounds): ${violations.length}`);
  for (const v of violations.slice(0, 30)) console.log(`  ${JSON.stringify(v).slice(0, 300)}`);
  if (values.json)
    console.log(
      JSON.stringify({ cases, seconds, outcomes, byKind, maxCpuMs: maxMs, maxWallMs, maxMsCase, maxRssGrowthMb: maxMem / 2 ** 20, maxMemCase, violations }),
    );
  process.exit(violations.length ? 1 : 0);
}
