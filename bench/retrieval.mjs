// Retrieval benchmark at tiny size: index a few hundred short generated videos, then time queries.
// usage: npx turbo run build && node bench/retrieval.mjs [--videos 200] [--queries 10] [--rerank 16] [--json out.json]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LanceVectorStore, Retriever, convertCheckpoint, generateCheckpoint, indexVideos, searchVideos, tinyDemoConfig } from '@mplug2/tasks';

const { values } = parseArgs({ options: { videos: { type: 'string', default: '200' }, queries: { type: 'string', default: '10' }, rerank: { type: 'string', default: '16' }, batch: { type: 'string', default: '8' }, json: { type: 'string' } } });
const N = Number(values.videos);
const Q = Number(values.queries);
const R = Number(values.rerank);
const tmp = mkdtempSync(path.join(tmpdir(), 'mplug2-bench-retrieval-'));

const config = tinyDemoConfig('pretrain');
await generateCheckpoint(path.join(tmp, 'c.pth'), config, { seed: 5, withRetrievalHeads: true });
await convertCheckpoint({ checkpoint: path.join(tmp, 'c.pth'), config, out: path.join(tmp, 'model'), task: 'pretrain' });

// N distinct 1 s 64×64 videos from lavfi sources (colours, test patterns, noise, motion).
const vdir = path.join(tmp, 'videos');
mkdirSync(vdir);
const sources = [
  (i) => `color=c=0x${((i * 2654435761) >>> 8 & 0xffffff).toString(16).padStart(6, '0')}:s=64x64:r=8`,
  (i) => `testsrc2=s=64x64:r=8,hue=h=${i % 360}`,
  (i) => `color=c=gray:s=64x64:r=8,noise=alls=${20 + (i % 80)}:allf=t+u:all_seed=${i + 1}`,
  (i) => `mandelbrot=s=64x64:r=8:start_scale=${(1 + (i % 50) / 10).toFixed(2)}`,
];
const tGen = performance.now();
for (let i = 0; i < N; i++)
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', sources[i % sources.length](i), '-t', '1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', path.join(vdir, `v${String(i).padStart(4, '0')}.mp4`)]);
const genS = (performance.now() - tGen) / 1000;
const files = readdirSync(vdir).sort().map((f) => path.join(vdir, f));

const retriever = await Retriever.load(path.join(tmp, 'model'));
const dirSize = (d) => readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((s, e) => s + statSync(path.join(e.parentPath ?? e.path, e.name)).size, 0);

async function run(storeStates) {
  const db = path.join(tmp, storeStates ? 'db-states' : 'db');
  const store = await LanceVectorStore.open(db);
  const idx = await indexVideos(retriever, store, files, { batchSize: Number(values.batch), storeStates });
  const queries = Array.from({ length: Q }, (_, i) => ['a red video', 'colourful test pattern', 'static noise', 'a fractal zoom', 'a person dancing'][i % 5]);
  await searchVideos(retriever, store, queries[0], { k: 10, rerank: 0 }); // warm-up
  const lat = { itc: [], rerank: [] };
  for (const q of queries) {
    let t = performance.now();
    await searchVideos(retriever, store, q, { k: 10, rerank: 0 });
    lat.itc.push(performance.now() - t);
    t = performance.now();
    await searchVideos(retriever, store, q, { k: 10, rerank: R });
    lat.rerank.push(performance.now() - t);
  }
  await store.close();
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { storeStates, indexSeconds: idx.seconds, videosPerSecond: idx.videosPerSecond, dbBytes: dirSize(db), itcMs: med(lat.itc), itcRerankMs: med(lat.rerank) };
}

const results = [await run(false), await run(true)];
await retriever.dispose();
const dims = { videoTokens: 1 + config.model_config.model_num_frames * (config.model_config.image_res / 14) ** 2, hidden: config.bert_config.hidden_size };
const report = { videos: N, queries: Q, rerank: R, batch: Number(values.batch), generateVideosSeconds: genS, node: process.version, cpus: (await import('node:os')).cpus().length, dims, results,
  largeModelStatesBytesPerVideo: (1 + 16 * 256) * 1024 * 4 };
console.log(`\nretrieval bench (tiny model, ${N} videos of 1 s 64×64, ${Q} queries, rerank top-${R}, CPU)\n`);
console.log('| visual states | index videos/s | db size | ITC query (median) | ITC + rerank (median) |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of results)
  console.log(`| ${r.storeStates ? 'stored' : 'recomputed'} | ${r.videosPerSecond.toFixed(1)} | ${(r.dbBytes / 1e6).toFixed(2)} MB | ${r.itcMs.toFixed(1)} ms | ${r.itcRerankMs.toFixed(1)} ms |`);
console.log(`\nstored states at the released large size would be ${(report.largeModelStatesBytesPerVideo / 1e6).toFixed(1)} MB per video (4097 tokens × 1024 × fp32).`);
console.log(JSON.stringify(report));
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
