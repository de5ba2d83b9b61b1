#!/usr/bin/env node
// VideoQA in headless Chromium (the system Chromium via playwright-core, as the browser tests run it):
// the converted model served over local HTTP (Range, COOP/COEP: wasm threads) and loaded by
// RemoteModel, the sample video decoded by the browser, onnxruntime-web on wasm (or webgpu); the
// tab's peak memory is the renderer process's RSS sampled from /proc outside the page. Node runs the
// same weights in the same run (bench/run.mjs --task videoqa) for the ratio.
//
//   npm run bench:browser -- [--size tiny|large] [--dtype q4|int8|fp32] [--backend wasm|webgpu] [--repeat N] [--threads N] [--model DIR] [--json]
//
// The browser's first call is `cold_s`; `e2e_s` is the median of `--repeat` (default 2) calls after
// it. Prints a table and, with --json, as its last line
// {"browser": {"backend", "videoqa": {"e2e_s", ...}, "peak_memory_gb"}, "node": {"videoqa": {"e2e_s", ...}}}.
// A model the backend cannot hold is refused by the SDK before it is fetched: the typed error is
// reported (`browser.error`). Needs the packages built (`npm run build`).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadBrowserHarness } from './browser-harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'large' },
    dtype: { type: 'string', default: 'q4' },
    backend: { type: 'string', default: 'wasm' },
    repeat: { type: 'string', default: '2' },
    threads: { type: 'string' },
    model: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});
const threads = Number(values.threads ?? os.availableParallelism());
const QUESTION = 'what is the man doing?';
const { harness, cleanup } = await loadBrowserHarness('browser');

const load = [os.loadavg()[0]];
/** Node on the same weights (converted once by bench/run.mjs and cached), which also names the model directory. */
function nodeRun() {
  const args = [
    path.join(HERE, 'run.mjs'),
    '--task',
    'videoqa',
    '--size',
    values.size,
    '--dtype',
    values.dtype,
    '--repeat',
    '3',
    ...(values.model ? ['--model', values.model] : []),
  ];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop());
}
const node = nodeRun();
load.push(os.loadavg()[0]);

// ---- renderer memory, from outside the page ----
const cmdline = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
};
const rssBytes = (pid) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
};
/**
 * The renderer processes of the Chromium whose profile is `profile`: each names it on its command line
 * (zygote children rewrite their argv into one space-separated string, hence the substring tests).
 */
function renderers(profile) {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((p) => {
      const c = cmdline(p).join(' ');
      return c.includes('--type=renderer') && c.includes(`--user-data-dir=${profile} `);
    });
}

// Page bundle, server (model and video mounted) and Chromium, as the browser tests open them.
const tp = await harness.openTestPage({ '/model/': node.model_dir + '/', '/video/': path.join(ROOT, 'packages/cli/assets') + '/' }, 'bench/browser-page');
// The tab is the largest renderer (Chromium also keeps a spare one); all renderers together are kept too.
let peak = 0;
let peakAll = 0;
let samples = 0;
// The tab's peak per phase (loading, then each call), split at the page's `[bench]` marks: where the memory goes.
let phase = 'load';
const phasePeaks = { load: 0 };
const sampler = setInterval(() => {
  const rss = renderers(tp.browser.profile).map(rssBytes);
  samples++;
  peak = Math.max(peak, ...rss);
  phasePeaks[phase] = Math.max(phasePeaks[phase] ?? 0, ...rss);
  peakAll = Math.max(
    peakAll,
    rss.reduce((s, x) => s + x, 0),
  );
}, 200);
let result;
try {
  tp.page.on('console', (m) => {
    const mark = /^\[bench\] .*; phase (.+)$/.exec(m.text());
    if (mark) phase = mark[1];
  });
  tp.page.setDefaultTimeout(0);
  result = await tp.page.evaluate((req) => globalThis.mplug2Bench.videoqa(req), {
    modelUrl: `${tp.server.url}/model/`,
    videoUrl: `${tp.server.url}/video/sample.mp4`,
    question: QUESTION,
    backend: values.backend,
    threads,
    repeat: Number(values.repeat),
  });
} finally {
  clearInterval(sampler);
  await tp.close();
  cleanup();
}
load.push(os.loadavg()[0]);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const warm = result.runs?.slice(1) ?? [];
const browserOut = {
  backend: values.backend,
  threads,
  cross_origin_isolated: result.crossOriginIsolated,
  ...(result.error
    ? { error: result.error }
    : {
        load_s: result.load_s,
        videoqa: {
          e2e_s: warm.length ? median(warm.map((r) => r.e2e_s)) : result.runs[0].e2e_s,
          cold_s: result.runs[0].e2e_s,
          runs_s: result.runs.map((r) => r.e2e_s),
          stages_s: (warm.find((r) => r.e2e_s === median(warm.map((w) => w.e2e_s))) ?? result.runs[0]).timings,
          answer: result.runs[0].answer,
        },
      }),
  peak_memory_gb: peak / 2 ** 30,
  peak_memory_by_phase_gb: Object.fromEntries(Object.entries(phasePeaks).map(([k, v]) => [k, v / 2 ** 30])),
  // From inside the page: onnxruntime-web's wasm heap and V8's JS heap, peaks per phase.
  heap_peaks_by_phase_gb: result.heapPeaks,
  all_renderers_peak_gb: peakAll / 2 ** 30,
  memory_samples: samples,
};
const summary = {
  size: values.size,
  dtype: values.dtype,
  browser: browserOut,
  node: {
    videoqa: {
      e2e_s: node.e2e_s,
      cold_s: node.cold_s,
      load_s: node.load_s,
      stages_s: node.stages_s,
      peak_rss_gb: node.peak_rss_gb,
      answer: node.result.answer,
    },
  },
  browser_over_node: browserOut.videoqa ? browserOut.videoqa.e2e_s / node.e2e_s : null,
  load_average: load,
};

console.log(
  `\nmPLUG-2 VideoQA in headless Chromium — size ${values.size}, ${values.dtype} weights, ${values.backend} (${threads} threads, cross-origin isolated: ${result.crossOriginIsolated}), sample video; seconds`,
);
if (result.error) console.log(`browser: refused — ${result.error.code ?? result.error.name}: ${result.error.message}`);
else {
  console.log(
    `browser: load ${result.load_s.toFixed(1)}, calls ${result.runs.map((r) => r.e2e_s.toFixed(1)).join(' / ')} (first = cold), warm median ${browserOut.videoqa.e2e_s.toFixed(2)}; answer "${browserOut.videoqa.answer}"`,
  );
  console.log(
    `browser stages: ${Object.entries(browserOut.videoqa.stages_s)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ')}`,
  );
}
console.log(
  `tab peak memory (renderer RSS, ${samples} samples): ${browserOut.peak_memory_gb.toFixed(2)} GB (all renderers ${browserOut.all_renderers_peak_gb.toFixed(2)} GB); by phase: ${Object.entries(
    browserOut.peak_memory_by_phase_gb,
  )
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')}`,
);
console.log(
  `node: load ${node.load_s.toFixed(1)}, cold ${node.cold_s.toFixed(2)}, warm median ${node.e2e_s.toFixed(2)}, peak RSS ${node.peak_rss_gb.toFixed(2)} GB; answer "${node.result.answer}"`,
);
if (result.heapPeaks)
  console.log(
    `inside the tab, peaks by phase: ${Object.entries(result.heapPeaks)
      .map(([k, v]) => `${k}: wasm heap ${v.wasm_heap_gb.toFixed(2)}, JS heap ${v.js_heap_gb.toFixed(2)}`)
      .join('; ')} (GB)`,
  );
if (summary.browser_over_node)
  console.log(`browser / node: ${summary.browser_over_node.toFixed(2)}× (target ≤ 2.5×); tab peak ${browserOut.peak_memory_gb.toFixed(2)} GB (target ≤ 3 GB)`);
console.log(`load average: ${load.map((l) => l.toFixed(1)).join(' → ')}`);
if (values.json) console.log(JSON.stringify(summary));
