// Retrieval benchmark: index short generated videos, then time text queries, ITC only and ITC + ITM
// re-ranking, once with the ITM visual states recomputed at query time (default) and once stored.
// usage: npx turbo run build && node bench/retrieval.mjs [--size tiny|large] [--videos N] [--queries N] [--rerank K] [--batch B] [--json out.json]
//   tiny (default): 200 videos, 10 queries, re-rank top-16; large: 6 videos, 2 queries, re-rank top-4
//   (a 6 GB random-weight checkpoint with the heads is generated and converted once, in MPLUG2_BENCH_CACHE
//   or ~/.cache/mplug2-bench).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { convertCheckpoint, fullSizeConfig, generateCheckpoint, tinyDemoConfig } from '@mplug2/converter';
import { LanceVectorStore, Retriever, indexVideos, searchVideos } from '@mplug2/tasks';
import { writeSyntheticVideo } from '../tests/helpers/synthetic-video.mjs';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'tiny' },
    videos: { type: 'string' },
    queries: { type: 'string' },
    rerank: { type: 'string' },
    batch: { type: 'string' },
    json: { type: 'string' },
  },
});
const large = values.size === 'large';
if (!['tiny', 'large'].includes(values.size)) throw new Error(`--size must be tiny or large, got ${values.size}`);
const N = Number(values.videos ?? (large ? 6 : 200));
const Q = Number(values.queries ?? (large ? 2 : 10));
const R = Number(values.rerank ?? (large ? 4 : 16));
const B = Number(values.batch ?? (large ? 2 : 8));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mplug2-bench-retrieval-'));
const load0 = os.loadavg();

// Model: generated with the retrieval heads and converted (the large one once, cached).
const config = large ? fullSizeConfig('pretrain') : tinyDemoConfig('pretrain');
let modelDir = path.join(tmp, 'model');
if (large) {
  const cache = process.env.MPLUG2_BENCH_CACHE ?? path.join(os.homedir(), '.cache', 'mplug2-bench');
  mkdirSync(cache, { recursive: true });
  const ckpt = path.join(cache, 'large-retrieval.pth');
  modelDir = path.join(cache, 'large-retrieval-model');
  if (!existsSync(ckpt)) await generateCheckpoint(ckpt, config, { seed: 5, withRetrievalHeads: true });
  if (!existsSync(path.join(modelDir, 'manifest.json'))) {
    rmSync(`${modelDir}.tmp`, { recursive: true, force: true });
    await convertCheckpoint({ checkpoint: ckpt, config, out: `${modelDir}.tmp`, task: 'pretrain' });
    renameSync(`${modelDir}.tmp`, modelDir);
  }
} else {
  await generateCheckpoint(path.join(tmp, 'c.pth'), config, { seed: 5, withRetrievalHeads: true });
  await convertCheckpoint({ checkpoint: path.join(tmp, 'c.pth'), config, out: modelDir, task: 'pretrain' });
}

// N distinct 1 s 64×64 videos from lavfi sources (colours, test patterns, noise, fractals).
const vdir = path.join(tmp, 'videos');
mkdirSync(vdir);
const sources = [
  (i) => `color=c=0x${(((i * 2654435761) >>> 8) & 0xffffff).toString(16).padStart(6, '0')}:s=64x64:r=8`,
  (i) => `testsrc2=s=64x64:r=8,hue=h=${i % 360}`,
  (i) => `color=c=gray:s=64x64:r=8,noise=alls=${20 + (i % 80)}:allf=t+u:all_seed=${i + 1}`,
  (i) => `mandelbrot=s=64x64:r=8:start_scale=${(1 + (i % 50) / 10).toFixed(2)}`,
];
const tGen = performance.now();
for (let i = 0; i < N; i++) writeSyntheticVideo(path.join(vdir, `v${String(i).padStart(4, '0')}.mp4`), sources[i % sources.length](i));
const genS = (performance.now() - tGen) / 1000;
const files = readdirSync(vdir)
  .sort()
  .map((f) => path.join(vdir, f));

const retriever = await Retriever.load(modelDir);
const dirSize = (d) =>
  readdirSync(d, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((s, e) => s + statSync(path.join(e.parentPath ?? e.path, e.name)).size, 0);
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function run(storeStates) {
  const db = path.join(tmp, storeStates ? 'db-states' : 'db');
  const store = await LanceVectorStore.open(db);
  const idx = await indexVideos(retriever, store, files, { batchSize: B, storeStates });
  const queries = Array.from({ length: Q }, (_, i) => ['a red video', 'colourful test pattern', 'static noise', 'a fractal zoom', 'a person dancing'][i % 5]);
  await searchVideos(retriever, store, queries[0], { k: 10, rerank: 0 }); // warm-up
  const lat = { itc: [], rerank: [], rerankOnly: [] };
  for (const q of queries) {
    let t = performance.now();
    await searchVideos(retriever, store, q, { k: 10, rerank: 0 });
    lat.itc.push(performance.now() - t);
    t = performance.now();
    const r = await searchVideos(retriever, store, q, { k: 10, rerank: R });
    lat.rerank.push(performance.now() - t);
    lat.rerankOnly.push(r.timings.rerank_s * 1000);
  }
  await store.close();
  return {
    storeStates,
    indexSeconds: idx.seconds,
    videosPerSecond: idx.videosPerSecond,
    dbBytes: dirSize(db),
    dbBytesPerVideo: dirSize(db) / N,
    itcMs: med(lat.itc),
    itcRerankMs: med(lat.rerank),
    rerankMsPerCandidate: med(lat.rerankOnly) / Math.min(R, N),
  };
}

const results = [await run(false), await run(true)];
await retriever.dispose();
const m = config.model_config;
const videoTokens = 1 + m.model_num_frames * (m.image_res / 14) ** 2;
const report = {
  size: values.size,
  videos: N,
  queries: Q,
  rerank: R,
  batch: B,
  generateVideosSeconds: genS,
  node: process.version,
  cpus: os.cpus().length,
  cpu: os.cpus()[0]?.model,
  loadAverage: { start: load0.map((v) => +v.toFixed(1)), end: os.loadavg().map((v) => +v.toFixed(1)) },
  dims: { videoTokens, hidden: config.bert_config.hidden_size, embedDim: retriever.embedDim },
  statesBytesPerVideo: videoTokens * config.bert_config.hidden_size * 4,
  largeModelStatesBytesPerVideo: (1 + 16 * 256) * 1024 * 4,
  results,
};
console.log(
  `\nretrieval bench (${values.size} model, ${N} videos of 1 s 64×64, ${Q} queries, rerank top-${R}, ${report.cpus} CPUs, load ${report.loadAverage.start[0]} → ${report.loadAverage.end[0]})\n`,
);
console.log('| ITM visual states | index videos/s | db size (per video) | ITC query (median) | ITC + rerank (median) | rerank per candidate |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of results)
  console.log(
    `| ${r.storeStates ? 'stored' : 'recomputed'} | ${r.videosPerSecond.toFixed(2)} | ${(r.dbBytes / 1e6).toFixed(2)} MB (${(r.dbBytesPerVideo / 1e3).toFixed(1)} kB) | ${r.itcMs.toFixed(1)} ms | ${r.itcRerankMs.toFixed(1)} ms | ${r.rerankMsPerCandidate.toFixed(1)} ms |`,
  );
console.log(
  `\nstored states: ${(report.statesBytesPerVideo / 1e3).toFixed(1)} kB per video here; ${(report.largeModelStatesBytesPerVideo / 1e6).toFixed(1)} MB at the released large size (4097 tokens × 1024 × fp32).`,
);
console.log(JSON.stringify(report));
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
rmSync(tmp, { recursive: true, force: true });
