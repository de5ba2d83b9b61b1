import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitLinearProbe, loadProbeHead, predictProbe, saveProbeHead } from '@mplug2/vision-encoder';
import { CLS_EMBEDDING, VideoEmbedder } from '@mplug2/vision-encoder';
import { runCli } from './helpers/cli';
import { demoModel } from './helpers/demo-model';
import { makeVideos } from './helpers/videos';
import { ROOT, installApp, packPackages } from './helpers/packed.mjs';

let model: string;
let tmp: string;
let videos: { file: string; label: string }[];
let csv: string;
let small: { file: string; label: string }[];

beforeAll(async () => {
  model = await demoModel();
  tmp = mkdtempSync(path.join(tmpdir(), 'mplug2-classify-'));
  // 6 videos of each of 4 clearly different contents; the CLI and the standalone example use 4 of each.
  videos = makeVideos(path.join(tmp, 'videos'), ['red', 'blue', 'bars', 'noise'], 6);
  small = videos.filter((v) => Number(/_(\d+)\.mp4$/.exec(v.file)![1]) < 4);
  csv = path.join(tmp, 'labels.csv');
  writeFileSync(csv, 'path,label\n' + small.map((v) => `${path.relative(tmp, v.file)},${v.label}`).join('\n') + '\n');
});

describe('vision-encoder embeddings', () => {
  it('token 0 of video_states, optionally every token; batch size does not change them', async () => {
    const e = await VideoEmbedder.load(model);
    const [a, b] = await e.embed([videos[0].file, videos[9].file], { tokens: 'all', batchSize: 2 });
    expect(a.embedding.length).toBe(64);
    expect(a.tokens!.shape).toEqual([1 + 4 * 16, 64]);
    expect(Array.from(a.tokens!.data.subarray(0, 64))).toEqual(Array.from(a.embedding));
    expect(a.frameIndices).toEqual([0, 2, 4, 6]);
    const [b1] = await e.embed([videos[9].file], { batchSize: 1 });
    for (let i = 0; i < 64; i++) expect(b1.embedding[i]).toBeCloseTo(b.embedding[i], 5);
    await e.dispose();
  });
});

describe('linear probe', () => {
  it('separates clearly different synthetic videos; the saved head reloads to identical predictions', async () => {
    const e = await VideoEmbedder.load(model);
    const emb = (
      await e.embed(
        videos.map((v) => v.file),
        { batchSize: 8 },
      )
    ).map((x) => x.embedding);
    // The same fit as VideoEmbedder.fitProbe, on the embeddings computed once.
    const head = fitLinearProbe(
      emb,
      videos.map((v) => v.label),
      { heldOut: 0.25, seed: 1, modelId: e.modelId, embedding: CLS_EMBEDDING },
    );
    expect(head.labels).toEqual(['bars', 'blue', 'noise', 'red']);
    expect(head.dims).toEqual({ input: 64, classes: 4 });
    expect(head.training.heldOutSize).toBe(8);
    expect(head.training.trainAccuracy).toBe(1);
    expect(head.training.heldOutAccuracy!).toBeGreaterThanOrEqual(0.875);
    const file = path.join(tmp, 'head.json');
    await saveProbeHead(file, head);
    const again = await loadProbeHead(file);
    expect(again).toEqual(head);
    const p1 = predictProbe(head, emb);
    expect(predictProbe(again, emb)).toEqual(p1);
    expect(p1.filter((p, i) => p.label === videos[i].label).length / videos.length).toBeGreaterThanOrEqual(0.9);
    // End to end through the embedder (decode + encode + head) on a few videos: the same predictions.
    const some = [0, 7, 14, 21];
    const p3 = await e.predict(
      again,
      some.map((i) => videos[i].file),
    );
    p3.forEach((p, j) => {
      expect(p.label).toBe(p1[some[j]].label);
      p.probs.forEach((q, k) => expect(q).toBeCloseTo(p1[some[j]].probs[k], 5));
    });
    // fitProbe = embed + fitLinearProbe.
    const four = [small[0], small[1], small[4], small[5]];
    const viaEmbedder = await e.fitProbe(
      four.map((v) => v.file),
      four.map((v) => v.label),
      { heldOut: 0, seed: 1 },
    );
    expect(viaEmbedder).toMatchObject({ modelId: e.modelId, embedding: CLS_EMBEDDING, labels: ['blue', 'red'] });
    await expect(e.predict({ ...again, modelId: 'other' }, [videos[0].file])).rejects.toThrow(/fitted on model other/);
    await e.dispose();
  });

  it('is deterministic and rejects malformed heads', async () => {
    const x = [
      [0, 1],
      [0, 2],
      [5, 1],
      [6, 0],
      [0, 1.5],
      [5.5, 1],
    ];
    const y = ['a', 'a', 'b', 'b', 'a', 'b'];
    const h1 = fitLinearProbe(x, y, { heldOut: 0.34, seed: 7 });
    const h2 = fitLinearProbe(x, y, { heldOut: 0.34, seed: 7 });
    expect(h1).toEqual(h2);
    expect(
      predictProbe(h1, [
        [0, 1],
        [6, 1],
      ]).map((p) => p.label),
    ).toEqual(['a', 'b']);
    const bad = path.join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...h1, weight: [1] }));
    await expect(loadProbeHead(bad)).rejects.toThrow(/do not match dims/);
  });
});

describe('mplug2 classify', () => {
  it('fit then predict through the CLI', async () => {
    const out = path.join(tmp, 'cli-head.json');
    const fit = await runCli(['classify', 'fit', model, '--labels', csv, '--out', out, '--json']);
    expect(fit.code, fit.err).toBe(0);
    expect(JSON.parse(fit.out).training.heldOutAccuracy).toBeGreaterThanOrEqual(0.75);
    const pred = await runCli(['classify', 'predict', model, '--head', out, videos[5].file, videos[23].file, '--json']);
    expect(pred.code, pred.err).toBe(0);
    const lines = pred.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.label)).toEqual([videos[5].label, videos[23].label]);
    const zs = await runCli(['classify', 'zeroshot', model, '--classes', 'red,blue,noise', videos[0].file, '--json']);
    expect(zs.code, zs.err).toBe(0);
    expect(JSON.parse(zs.out).probs).toHaveLength(3);
  });
});

describe('examples/classify-standalone from packed tarballs', () => {
  it('installs @mplug2/core + @mplug2/vision-encoder tarballs outside the monorepo and runs', async () => {
    // Needs the built packages (npx turbo run build; `npm test` builds first) and a reachable registry.
    const tarballs = packPackages(['core', 'vision-encoder']);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'examples/classify-standalone/package.json'), 'utf8'));
    // The example's own onnxruntime-node dependency stays (it is only an optional peer of @mplug2/core).
    expect(pkg.dependencies['onnxruntime-node']).toBeDefined();
    pkg.dependencies = { ...pkg.dependencies, ...tarballs };
    const app = installApp('mplug2-standalone', pkg, { 'index.mjs': readFileSync(path.join(ROOT, 'examples/classify-standalone/index.mjs'), 'utf8') });
    const out = execFileSync(process.execPath, ['index.mjs', model, csv, path.join(app, 'head.json')], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.labels).toEqual(['bars', 'blue', 'noise', 'red']);
    expect(r.heldOutAccuracy).toBeGreaterThanOrEqual(0.75);
    expect(r.predictions).toHaveLength(small.length);
  }, 240_000);
});
