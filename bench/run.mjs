#!/usr/bin/env node
// End-to-end benchmark of VideoQA, captioning and answer ranking on CPU (onnxruntime-node), at the
// tiny demo size or the released large size, from a generated random-weight checkpoint converted by
// the real converter. Each task runs in its own child process so its peak RSS is its own.
//
//   npm run bench -- --size tiny|large [--dtype fp32|int8|fp16|all] [--repeat N] [--primitive] [--threads N] [--json]
//
// Each task's pipeline runs `--repeat` times in one process (sessions loaded once); the table
// shows the fastest run (least disturbed by other processes on the machine: the 1-minute load
// average before and after each task is recorded) and the JSON keeps every run's end-to-end time.
// `--dtype all` (the default) runs fp32 then int8; shares of peak are against the matmul of the same
// dtype. Prints a table per dtype and the issue-7 targets; with --json the last line is one JSON
// object (for several dtypes: `{dtype, ...fp32 result, by_dtype: {fp32, int8}}`). Needs the packages built.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CACHE, benchModel } from './model-cache.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SAMPLE = path.join(HERE, '../packages/cli/assets/sample.mp4');
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'tiny' },
    dtype: { type: 'string', default: 'all' },
    repeat: { type: 'string' },
    primitive: { type: 'boolean', default: false },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
    task: { type: 'string' },
    answers: { type: 'string', default: '1000' },
  },
  strict: true,
});
if (!['tiny', 'large'].includes(values.size)) throw new Error(`--size must be tiny or large, got ${values.size}`);
const DTYPES = values.dtype === 'all' ? ['fp32', 'int8'] : [values.dtype];
for (const d of DTYPES) if (!['fp32', 'int8', 'fp16'].includes(d)) throw new Error(`--dtype must be fp32, int8, fp16 or all, got ${d}`);
const repeat = values.repeat ? Number(values.repeat) : values.size === 'large' ? 2 : 3;
const threads = values.threads ? Number(values.threads) : os.availableParallelism();

const core = await import('@mplug2/core');

/** Converted model for this size (bench/model-cache.mjs: generated and converted once, then reused). */
function modelDir(dtype) {
  return benchModel({ size: values.size, dtype, primitive: values.primitive });
}

// ---------------------------------------------------------------------------------------------
// FLOP counts (multiply-adds ×2) per stage, from the model dims (reference spec §13).

function flops(d, lq, generatedRows) {
  const v = d.vision;
  const t = d.text;
  const L = v.patchesPerFrame;
  const C = v.width;
  const D = t.hidden;
  const F = t.intermediate;
  const T = v.frames;
  const Nv = v.tokens;
  const Q = t.numLatents;
  const vision = T * L * 3 * v.patch ** 2 * C + T * v.layers * (12 * (L + 1) * C * C + 2 * (L + 1) ** 2 * C + 2 * L * C * C);
  const layer = (n, m) => 4 * n * D * D + 2 * n * n * D + 2 * n * D * F + (m ? 2 * n * D * D + 2 * m * D * D + 2 * n * m * D : 0);
  const universal = (t.uniLayers - 1) * layer(Q, Nv) + layer(Nv, Q);
  const text = t.encoderLayers * layer(lq, 0);
  const fusion = t.fusionLayers * layer(lq, Nv);
  const memory = (S) => t.decoderLayers * 2 * S * D * D;
  const step = (S, past) => t.decoderLayers * (4 * D * D + 2 * D * D + 2 * D * F + 2 * past * D + 2 * S * D) + D * D + D * t.vocab;
  const generation = (S) => generatedRows.reduce((s, r) => s + r.rows * step(S, r.past), 0);
  return { vision: 2 * vision, universal: 2 * universal, text: 2 * text, fusion: 2 * fusion, memory: (S) => 2 * memory(S), generation: (S) => 2 * generation(S) };
}

/**
 * Achieved matmul throughput of onnxruntime on this machine, measured the way the models multiply:
 * activations `[M, K]` times a constant weight `[K, N]` (an initializer, which onnxruntime pre-packs
 * at load, as it does every model weight). `fp32`: MatMul; `int8`: the dynamically quantized
 * matmul the int8 models use (int8 weight, per-column scales, activations quantized per call).
 * The best of the layer shapes of the large model (FFN in/out, attention projections) counts.
 */
async function matmulPeak(dtype, m) {
  const shapes = m >= 4096 ? [[1024, 4096], [4096, 1024], [1024, 1024]] : [[256, 1024], [1024, 256]];
  let peak = 0;
  for (const [k, n] of shapes) {
    const g = new core.GraphBuilder('matmul');
    const a = g.input('a', 'float32', [m, k]);
    const w = Float32Array.from({ length: k * n }, (_, i) => (((i * 7919) % 1000) - 500) / 1000);
    const bytes = (v) => ({ kind: 'inline', bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) });
    const y =
      dtype === 'int8'
        ? (() => {
            const { q, scale } = core.quantizeColumns(w, k, n);
            return g.op('DynamicQuantizeMatMul', [a, g.initializer('w', 'int8', [k, n], bytes(q)), g.initializer('s', 'float32', [n], bytes(scale))], {}, 'com.microsoft');
          })()
        : g.op('MatMul', [a, g.initializer('w', 'float32', [k, n], bytes(w))]);
    g.output(y, 'c', 'float32', [m, n]);
    const s = await core.ModuleSession.create(g.toBytes(), { threads });
    const x = core.tensor('float32', ['r', 'c'], [m, k], Float32Array.from({ length: m * k }, (_, i) => ((i * 7919) % 1000) / 1000));
    await s.run({ a: x });
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await s.run({ a: x });
      peak = Math.max(peak, (2 * m * k * n) / ((performance.now() - t) / 1000) / 1e9);
    }
    await s.dispose();
  }
  return peak;
}

const TASK_MODULES = {
  videoqa: ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder'],
  rank: ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder'],
  caption: ['vision_encoder', 'universal', 'decoder'],
};

const timed = async (f) => {
  const t = performance.now();
  const r = await f();
  return [r, (performance.now() - t) / 1000];
};

// ---------------------------------------------------------------------------------------------
// One task, in this process (a child of the driver).

async function runTask(task, dtype) {
  const { out } = await modelDir(dtype);
  const { loadVideo, loadVisionEncoder } = await import('@mplug2/vision-encoder');
  const { loadUniversal } = await import('@mplug2/universal');
  const { loadTextEncoder, Mplug2Tokenizer } = await import('@mplug2/text-encoder');
  const { loadFusion } = await import('@mplug2/fusion');
  const { TextDecoder, beamSearch, rankAnswers } = await import('@mplug2/decoder');
  const model = await core.ModelDirectory.open(out, { verify: 'none' });
  const d = core.manifestDims(model.manifest);
  const opts = { threads };
  const load0 = os.loadavg()[0];
  // The machine may be shared: a peak measured now as well; the table uses the highest one seen.
  const taskPeak = await matmulPeak(dtype, values.size === 'large' ? 4096 : 1024);
  const [[vision, universal, decoder], load_s] = await timed(() => Promise.all([loadVisionEncoder(model, opts), loadUniversal(model, opts), TextDecoder.load(model, opts)]));
  const tok = Mplug2Tokenizer.fromVocab();
  const ones = (n) => core.tensor('int64', ['batch', 'n'], [1, n], new BigInt64Array(n).fill(1n));

  /** One end-to-end pipeline run; sessions stay loaded between runs (the text side is loaded per run, as a task does). */
  async function once() {
    const stages = {};
    const [video, decode_s] = await timed(() => loadVideo(SAMPLE, { numFrames: d.vision.frames, size: d.vision.imageRes }));
    stages.decode_preprocess = decode_s;
    const pixels = core.tensor('float32', ['batch', 'channels', 'frames', 'height', 'width'], [1, ...video.pixelValues.shape], video.pixelValues.data);
    const [{ video_states }, vision_s] = await timed(() => vision.run({ pixel_values: pixels }));
    stages.vision = vision_s;
    const [{ image_embeds }, universal_s] = await timed(() => universal.run({ video_states }));
    stages.universal = universal_s;
    const Nv = image_embeds.shape[1];
    let memoryStates = image_embeds;
    let memoryMask = ones(Nv);
    let lq = 0;
    if (task !== 'caption') {
      const [text, fusion] = await Promise.all([loadTextEncoder(model, opts), loadFusion(model, opts)]);
      const q = tok.encodeQuestions(['what is the man in the red shirt doing with the guitar on the stage?']);
      lq = q.inputIds[0].length;
      const ids = core.int64Tensor(['batch', 'tokens'], q.inputIds);
      const mask = core.int64Tensor(['batch', 'tokens'], q.attentionMask);
      const [{ text_states }, text_s] = await timed(() => text.run({ input_ids: ids, attention_mask: mask }));
      stages.text = text_s;
      const [f, fusion_s] = await timed(() => fusion.run({ text_states, text_mask: mask, image_embeds, image_mask: ones(Nv) }));
      stages.fusion = fusion_s;
      memoryStates = f.merged_states;
      memoryMask = f.merged_mask;
      await Promise.all([text.dispose(), fusion.dispose()]);
    }
    const S = memoryStates.shape[1];
    const [memory, memory_s] = await timed(() => decoder.encodeMemory(memoryStates, memoryMask));
    stages.decoder_memory = memory_s;
    const perStep = [];
    const rows = [];
    let tokens = 0;
    let result;
    if (task === 'rank') {
      const n = Number(values.answers);
      const vocabWords = Array.from({ length: n }, (_, i) => `${tok.idToToken(2000 + ((i * 37) % 20000))} ${tok.idToToken(3000 + ((i * 101) % 20000))}`);
      const a = tok.encodeAnswers(vocabWords);
      const k = Math.min(128, n);
      const [r, rank_s] = await timed(() => rankAnswers(decoder, memory, a.inputIds, a.attentionMask, k));
      stages.rank = rank_s;
      result = { answer: vocabWords[r.results[0].ids[0]], k, answers: n };
      // Work done: the shared [CLS] decode, then per candidate its columns 1 … last non-pad − 1
      // (each column's logits score the next token; padding is not counted).
      rows.push({ rows: 1, past: 0 });
      for (const c of r.results[0].candidates) {
        const ids = a.inputIds[c];
        let last = ids.length - 1;
        while (last > 0 && ids[last] === 0) last--;
        for (let p = 1; p < last; p++) rows.push({ rows: 1, past: p });
      }
    } else {
      const minLength = task === 'caption' ? 4 : 1;
      const maxLength = task === 'caption' ? 20 : 10;
      let last = performance.now();
      const [search, gen_s] = await timed(() =>
        beamSearch(decoder, memory, {
          beamSize: 5,
          minLength,
          maxLength,
          onStep: ({ step }) => {
            const now = performance.now();
            perStep.push({ step, ms: now - last });
            last = now;
            rows.push({ rows: step === 0 ? 1 : 5, past: step });
            tokens += step === 0 ? 1 : 5;
          },
        }),
      );
      stages.generation = gen_s;
      result = { ids: search[0].hypotheses[0].ids, text: tok.decode(search[0].hypotheses[0].ids) };
    }
    const e2e = Object.values(stages).reduce((a, b) => a + b, 0);
    return { stages, e2e, perStep, rows, tokens, lq, S, result, memory };
  }

  const runs = [];
  let memory;
  let firstRunRss;
  for (let i = 0; i < repeat; i++) {
    const r = await once();
    memory = r.memory;
    delete r.memory;
    runs.push(r);
    if (i === 0) firstRunRss = process.resourceUsage().maxRSS / 1024 ** 2;
  }
  const best = runs.reduce((a, b) => (b.e2e < a.e2e ? b : a));
  const { stages, perStep, rows, tokens, lq, S, result } = best;

  // Decoder cost of one cached step (5 rows) against the prefix length: flat with a KV cache.
  const stepVsPrefix = {};
  if (task === 'videoqa') {
    for (const past of [1, 8, 32, 64, 128].filter((p) => p < d.text.maxPositions)) {
      const R = 5;
      const idsOf = (n) => core.tensor('int64', ['rows', 'tokens'], [R, n], new BigInt64Array(R * n).fill(2000n));
      const maskOf = (n) => core.tensor('int64', ['rows', 'total_tokens'], [R, n], new BigInt64Array(R * n).fill(1n));
      const { cache } = await decoder.forward(memory, idsOf(past), maskOf(past));
      let bestMs = Infinity;
      for (let i = 0; i < 3; i++) {
        const [, s] = await timed(() => decoder.forward(memory, idsOf(1), maskOf(past + 1), cache));
        bestMs = Math.min(bestMs, s * 1000);
      }
      stepVsPrefix[past] = Math.round(bestMs * 10) / 10;
    }
  }

  const f = flops(d, lq, rows);
  const flopOf = { vision: f.vision, universal: f.universal, text: f.text, fusion: f.fusion, decoder_memory: f.memory(S), generation: f.generation(S), rank: f.generation(S) };
  const gflops = Object.fromEntries(Object.entries(stages).filter(([k]) => flopOf[k]).map(([k, s]) => [k, flopOf[k] / s / 1e9]));
  await Promise.all([vision.dispose(), universal.dispose(), decoder.dispose()]);
  return {
    task,
    dtype,
    e2e_s: best.e2e,
    runs_e2e_s: runs.map((r) => r.e2e),
    stages_s: stages,
    gflops_per_s: gflops,
    gflop: Object.fromEntries(Object.keys(stages).filter((k) => flopOf[k]).map((k) => [k, flopOf[k] / 1e9])),
    load_s,
    tokens_per_s: tokens && stages.generation ? tokens / stages.generation : undefined,
    decoder_step_ms: perStep.map((p) => Math.round(p.ms * 10) / 10),
    decoder_step_ms_vs_prefix: Object.keys(stepVsPrefix).length ? stepVsPrefix : undefined,
    // Peak RSS of loading the sessions and one end-to-end run (what one task call costs); later
    // repeats and the prefix sweep can only raise the process maximum, reported separately.
    peak_rss_gb: firstRunRss,
    peak_rss_all_runs_gb: process.resourceUsage().maxRSS / 1024 ** 2,
    // weights this task touched: each data file once (the text encoder and universal layers share one)
    weight_bytes: [...new Set(TASK_MODULES[task].flatMap((m) => model.manifest.modules[m]?.data ?? []))].reduce((s, f) => s + (model.manifest.files.find((x) => x.path === f)?.bytes ?? 0), 0),
    load_average: [load0, os.loadavg()[0]],
    matmul_peak_gflops: taskPeak,
    result,
  };
}

// ---------------------------------------------------------------------------------------------

if (values.task) {
  console.log(JSON.stringify(await runTask(values.task, values.dtype)));
  process.exit(0);
}

const byDtype = {};
for (const dtype of DTYPES) {
  const { info } = await modelDir(dtype);
  let peak = await matmulPeak(dtype, values.size === 'large' ? 4096 : 1024);
  const results = {};
  for (const task of ['videoqa', 'caption', 'rank']) {
    const out = execFileSync(
      process.execPath,
      [fileURLToPath(import.meta.url), '--task', task, '--size', values.size, '--dtype', dtype, '--threads', String(threads), '--answers', values.answers, '--repeat', String(repeat), ...(values.primitive ? ['--primitive'] : [])],
      { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    results[task] = JSON.parse(out.trim().split('\n').pop());
    peak = Math.max(peak, results[task].matmul_peak_gflops);
  }
  // Shares of peak against the highest peak measured so far (contention only lowers a measurement).
  for (const r of Object.values(results)) r.share_of_peak = Object.fromEntries(Object.entries(r.gflops_per_s).map(([k, g]) => [k, g / peak]));
  byDtype[dtype] = {
    size: values.size,
    dtype,
    fused: !values.primitive,
    threads,
    repeat,
    matmul_peak_gflops: peak,
    model: info,
    videoqa: results.videoqa,
    caption: results.caption,
    rank: results.rank,
    peak_rss_gb: Math.max(...Object.values(results).map((r) => r.peak_rss_gb)),
  };

  const rowsOut = [];
  for (const [task, r] of Object.entries(results)) {
    for (const [stage, s] of Object.entries(r.stages_s)) {
      const g = r.gflops_per_s[stage];
      rowsOut.push([task, stage, s.toFixed(3), g ? g.toFixed(1) : '', g ? `${((100 * g) / peak).toFixed(0)}%` : '']);
    }
    rowsOut.push([task, 'END TO END', r.e2e_s.toFixed(3), '', '', `${r.peak_rss_gb.toFixed(2)} GB (${(r.peak_rss_gb / (r.weight_bytes / 2 ** 30)).toFixed(2)}× weights)`, r.runs_e2e_s.map((x) => x.toFixed(1)).join(' / '), r.load_average.map((x) => x.toFixed(1)).join(' → ')]);
  }
  const header = ['task', 'stage', 'seconds', 'GFLOP/s', 'of peak', 'peak RSS', 'all runs (s)', 'load avg'];
  const widths = header.map((h, i) => Math.max(h.length, ...rowsOut.map((r) => (r[i] ?? '').length)));
  const fmt = (r) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ');
  const peakOp = dtype === 'int8' ? 'int8 DynamicQuantizeMatMul' : 'fp32 MatMul';
  console.log(`\nmPLUG-2 CPU benchmark — size ${values.size}, ${dtype} weights, ${values.primitive ? 'primitive ops' : 'fused ops'}, ${threads} threads, best of ${repeat} runs, matmul peak ${peak.toFixed(1)} GFLOP/s (onnxruntime ${peakOp}, constant weight)`);
  if (info.generate_s || info.convert_s) console.log(`model: generated in ${info.generate_s?.toFixed(1) ?? '-'} s, converted in ${info.convert_s?.toFixed(1) ?? '-'} s, converter peak RSS ${info.convert_peak_rss_gb?.toFixed(2) ?? '-'} GB (cached in ${CACHE})`);
  console.log(fmt(header));
  for (const r of rowsOut) console.log(fmt(r));
  for (const t of ['videoqa', 'caption']) console.log(`${t}: decoder ms per beam step (prefix length 1, 2, ...): ${results[t].decoder_step_ms.join(' ')}; tokens/s ${results[t].tokens_per_s?.toFixed(1)}`);
  const sv = results.videoqa.decoder_step_ms_vs_prefix;
  if (sv) console.log(`decoder cached step, 5 rows, ms vs prefix length: ${Object.entries(sv).map(([p, ms]) => `${p}: ${ms}`).join(', ')}`);
}
if (DTYPES.length > 1) {
  const [a, b] = DTYPES;
  console.log(`\n${b} / ${a} time: videoqa ${(byDtype[b].videoqa.e2e_s / byDtype[a].videoqa.e2e_s).toFixed(2)}, caption ${(byDtype[b].caption.e2e_s / byDtype[a].caption.e2e_s).toFixed(2)}, rank ${(byDtype[b].rank.e2e_s / byDtype[a].rank.e2e_s).toFixed(2)}`);
}
// Issue 7 targets (large size; fp32 unless stated), checked against the fastest runs.
const targets = {};
if (values.size === 'large') {
  const f = byDtype.fp32 ?? byDtype[DTYPES[0]];
  const check = (name, value, limit, le = true) => (targets[name] = { value, limit, met: le ? value <= limit : value >= limit });
  check('videoqa_e2e_s', f.videoqa.e2e_s, 27);
  check('caption_e2e_s', f.caption.e2e_s, 31);
  check('rank_e2e_s', f.rank.e2e_s, 24);
  check('vision_share_of_peak', f.videoqa.share_of_peak.vision, 0.7, false);
  check('universal_share_of_peak', f.videoqa.share_of_peak.universal, 0.5, false);
  check('generation_share_of_videoqa', f.videoqa.stages_s.generation / f.videoqa.e2e_s, 0.1);
  for (const t of ['videoqa', 'caption', 'rank']) check(`${t}_peak_rss_over_weights`, f[t].peak_rss_gb / (f[t].weight_bytes / 2 ** 30), 1.2);
  if (byDtype.fp32 && byDtype.int8) for (const t of ['videoqa', 'caption', 'rank']) check(`${t}_int8_over_fp32_time`, byDtype.int8[t].e2e_s / byDtype.fp32[t].e2e_s, 0.5);
  if (f.model.convert_s) check('convert_s', f.model.convert_s, 60);
  console.log('\ntargets (issue 7):');
  for (const [k, t] of Object.entries(targets)) console.log(`  ${k.padEnd(34)} ${t.value.toFixed(3).padStart(9)}  ${t.met ? 'met' : 'MISSED'} (limit ${t.limit})`);
}
const summary = { ...(DTYPES.length === 1 ? byDtype[DTYPES[0]] : { ...byDtype[DTYPES[0]], by_dtype: byDtype }), targets };
if (values.json) console.log(JSON.stringify(summary));
