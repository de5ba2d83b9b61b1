import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MissingTensorError } from '@mplug2/core';
import { convertCheckpoint, generateCheckpoint, mplug2TensorSpecs, syntheticSources, tinyDemoConfig, writeTorchCheckpoint } from '@mplug2/converter';
import { LanceVectorStore, MemoryVectorStore, Retriever, indexVideos, searchVideos, zeroShotClassify } from '@mplug2/tasks';
import { runCli } from './helpers/cli';
import { demoModel } from './helpers/demo-model';
import { loadVideo, type LoadedVideo } from '@mplug2/vision-encoder';
import { makeImage, makeVideos } from './helpers/videos';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

let model: string;
let tmp: string;
let files: string[];
let retriever: Retriever;
let decoded: LoadedVideo[];

beforeAll(async () => {
  model = await demoModel();
  tmp = mkdtempSync(path.join(tmpdir(), 'mplug2-retrieval-'));
  files = makeVideos(path.join(tmp, 'videos'), ['red', 'blue', 'bars', 'noise'], 3).map((v) => v.file);
  files.push(makeImage(path.join(tmp, 'videos', 'still.png')));
  retriever = await Retriever.load(model);
  // Decoded once for the brute-force reference (the index decodes the files itself).
  decoded = [];
  for (const f of files) decoded.push(await loadVideo(f, { numFrames: 4, size: 56 }));
});

describe('converter: retrieval heads', () => {
  it('a pretrain checkpoint with heads gets the retrieval_heads module and its temp', async () => {
    expect(retriever.model.manifest.modules.retrieval_heads?.graphs).toEqual({
      vision_proj: 'retrieval_heads_vision_proj.onnx',
      text_proj: 'retrieval_heads_text_proj.onnx',
      itm: 'retrieval_heads_itm.onnx',
    });
    expect(retriever.model.manifest.modules.retrieval_heads?.data).toEqual(['heads.weights']);
    expect(retriever.temperature).toBeCloseTo(0.07, 6);
    expect(retriever.embedDim).toBe(32);
  });

  it('retrieval on a model without the heads is a MissingTensorError naming them', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-noheads-'));
    const config = tinyDemoConfig('pretrain');
    await generateCheckpoint(path.join(dir, 'c.pth'), config, { seed: 3, withRetrievalHeads: false });
    const r = await convertCheckpoint({ checkpoint: path.join(dir, 'c.pth'), config, out: path.join(dir, 'm'), task: 'pretrain' });
    expect(r.manifest.modules.retrieval_heads).toBeUndefined();
    const err = await Retriever.load(path.join(dir, 'm')).catch((e) => e);
    expect(err).toBeInstanceOf(MissingTensorError);
    for (const t of ['vision_proj.weight', 'vision_proj.bias', 'text_proj.weight', 'text_proj.bias', 'itm_head.weight', 'itm_head.bias'])
      expect(err.message).toContain(t);
  });

  it('a checkpoint with only some heads fails conversion with a MissingTensorError naming the missing ones', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-someheads-'));
    const config = tinyDemoConfig('pretrain');
    const specs = mplug2TensorSpecs(config, { withRetrievalHeads: true }).filter((t) => !t.name.startsWith('itm_head.'));
    await writeTorchCheckpoint(path.join(dir, 'c.pth'), syntheticSources(specs, 4), { wrapper: 'model' });
    const err = await convertCheckpoint({ checkpoint: path.join(dir, 'c.pth'), config, out: path.join(dir, 'm'), task: 'pretrain' }).catch((e) => e);
    expect(err).toBeInstanceOf(MissingTensorError);
    expect(err.message).toContain('itm_head.weight');
    expect(err.message).toContain('itm_head.bias');
    expect(err.message).not.toContain('vision_proj.weight');
  });
});

describe('ITC embeddings', () => {
  it('are unit vectors of embed_dim; an image works as a 1-frame video; batching does not change them', async () => {
    const { embeddings, features } = await retriever.encodeVideos(decoded.slice(0, 3).concat(decoded.at(-1)!));
    for (const e of embeddings) {
      expect(e.length).toBe(32);
      expect(dot(e, e)).toBeCloseTo(1, 5);
    }
    expect(features.frameIndices.at(-1)).toEqual([0, 0, 0, 0]);
    const single = await retriever.encodeVideos(files[1]); // from the file path
    for (let i = 0; i < 32; i++) expect(single.embeddings[0][i]).toBeCloseTo(embeddings[1][i], 5);
    const t = await retriever.encodeTexts(['a red video', 'noise']);
    expect(dot(t.embeddings[0], t.embeddings[0])).toBeCloseTo(1, 5);
  });
});

describe('corpus index and search (LanceDB)', () => {
  it('search returns exactly the brute-force ITC ranking; re-ranking changes the order only through ITM', async () => {
    const store = await LanceVectorStore.open(path.join(tmp, 'db-rank'));
    const r = await indexVideos(retriever, store, files, { batchSize: 4 });
    expect(r.indexed).toBe(files.length);
    expect(await store.count(retriever.modelId)).toBe(files.length);
    // Brute force over independently computed embeddings.
    const { embeddings } = await retriever.encodeVideos(decoded);
    const query = 'a man is playing a red guitar';
    const q = (await retriever.encodeTexts([query])).embeddings[0];
    const brute = files.map((f, i) => ({ path: f, score: dot(q, embeddings[i]) })).sort((a, b) => b.score - a.score || (a.path < b.path ? -1 : 1));
    const itcOnly = await searchVideos(retriever, store, query, { k: files.length, rerank: 0 });
    expect(itcOnly.hits.map((h) => h.itm)).toEqual(files.map(() => null));
    expect(itcOnly.hits.map((h) => h.itc)).toEqual(itcOnly.hits.map((h) => h.score));
    itcOnly.hits.forEach((h, i) => expect(h.itc).toBeCloseTo(brute[i].score, 5));
    // Identical contents may tie; compare the ranking of distinct scores.
    const key = (hs: { path: string; score: number }[]) => hs.map((h) => h.score.toFixed(5));
    expect(key(itcOnly.hits)).toEqual(key(brute));
    expect(new Set(itcOnly.hits.map((h) => h.path)).size).toBe(files.length);

    const R = 6;
    const reranked = await searchVideos(retriever, store, query, { k: files.length, rerank: R });
    const top = reranked.hits.slice(0, R);
    // The re-ranked set is the ITC top-R; their order is by itc + itm; the rest keep the ITC order.
    expect(new Set(top.map((h) => h.path))).toEqual(new Set(itcOnly.hits.slice(0, R).map((h) => h.path)));
    for (const h of top) {
      expect(h.itm).not.toBeNull();
      expect(h.itm!).toBeGreaterThanOrEqual(0);
      expect(h.itm!).toBeLessThanOrEqual(1);
      expect(h.score).toBeCloseTo(h.itc + h.itm!, 10);
      expect(h.itc).toBe(itcOnly.hits.find((x) => x.path === h.path)!.itc);
    }
    const scores = top.map((h) => h.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(reranked.hits.slice(R).map((h) => h.path)).toEqual(itcOnly.hits.slice(R).map((h) => h.path));
    expect(reranked.hits.slice(R).every((h) => h.itm === null)).toBe(true);
    // ITM scores are those of the fusion + itm_head on the pair.
    const direct = await retriever.itm(query, (await retriever.encodeVideos(decoded[files.indexOf(top[0].path)])).features.imageEmbeds);
    expect(top[0].itm!).toBeCloseTo(direct[0], 5);
    await store.close();
  });

  it('stored visual states give the same ITM scores as recomputing them', async () => {
    const store = await LanceVectorStore.open(path.join(tmp, 'db-states'));
    await indexVideos(retriever, store, files.slice(0, 6), { batchSize: 3, storeStates: true });
    const rows = await store.search(retriever.modelId, new Float32Array(32), 100);
    expect(rows.some((r) => 'states' in r)).toBe(false); // search does not read the (large) states
    const states = await store.states(
      retriever.modelId,
      rows.map((r) => r.path),
    );
    expect([...states.values()].map((v) => v.length)).toEqual(rows.map(() => (1 + 4 * 16) * 64));
    const a = await searchVideos(retriever, store, 'blue sky', { k: 6, rerank: 6 });
    // The same rows without states: re-ranking decodes and encodes the videos again.
    const plain = new MemoryVectorStore();
    await plain.add(rows.map(({ score: _s, ...r }) => r));
    expect(
      (
        await plain.states(
          retriever.modelId,
          rows.map((r) => r.path),
        )
      ).size,
    ).toBe(0);
    const b = await searchVideos(retriever, plain, 'blue sky', { k: 6, rerank: 6 });
    expect(a.hits.map((h) => h.path)).toEqual(b.hits.map((h) => h.path));
    a.hits.forEach((h, i) => expect(h.itm!).toBeCloseTo(b.hits[i].itm!, 5));
    expect(a.timings.rerank_s).toBeLessThan(b.timings.rerank_s);
    // mPLUG v1 adds the ITM class-1 logit instead of the probability.
    const c = await searchVideos(retriever, store, 'blue sky', { k: 6, rerank: 6, itmScore: 'logit' });
    for (const h of c.hits) {
      const same = a.hits.find((x) => x.path === h.path)!;
      expect(h.itmLogit).toBeCloseTo(same.itmLogit!, 6);
      expect(h.score).toBeCloseTo(h.itc + h.itmLogit!, 10);
    }
    expect([...c.hits.map((h) => h.score)].sort((x, y) => y - x)).toEqual(c.hits.map((h) => h.score));
    await store.close();
  });

  it('an interrupted index resumes without duplicates or losses', async () => {
    const db = path.join(tmp, 'db-resume');
    let store = await LanceVectorStore.open(db);
    const first = await indexVideos(retriever, store, files, { batchSize: 4, maxBatches: 2 }); // "crash" after 2 commits
    expect(first.indexed).toBe(8);
    await store.close();
    store = await LanceVectorStore.open(db);
    expect(await store.count()).toBe(8);
    const second = await indexVideos(retriever, store, files, { batchSize: 4 });
    expect(second.skipped).toBe(8);
    expect(second.indexed).toBe(files.length - 8);
    const third = await indexVideos(retriever, store, files, { batchSize: 4 });
    expect(third).toMatchObject({ indexed: 0, skipped: files.length });
    const paths = (await store.search(retriever.modelId, new Float32Array(32), 1000)).map((h) => h.path);
    expect(paths.length).toBe(files.length);
    expect(new Set(paths)).toEqual(new Set(files));
    await store.close();
  });

  it('a SIGKILLed `mplug2 index` process loses no committed batch and resumes to the full set', async () => {
    const db = path.join(tmp, 'db-kill');
    const bin = path.resolve(__dirname, '../packages/cli/dist/bin.js');
    const child = spawn(process.execPath, [bin, 'index', model, path.join(tmp, 'videos'), '--db', db, '--batch', '2'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Kill as soon as at least one batch is committed.
    for (let i = 0; i < 400; i++) {
      const s = await LanceVectorStore.open(db).catch(() => null);
      const n = s ? await s.count().catch(() => 0) : 0;
      await s?.close();
      if (n > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGKILL');
    await exited;
    const store = await LanceVectorStore.open(db);
    const committed = await store.count();
    expect(committed).toBeGreaterThan(0);
    expect(committed % 2 === 0 || committed === files.length).toBe(true);
    await store.close();
    const { code, out, err } = await runCli(['index', model, path.join(tmp, 'videos'), '--db', db, '--batch', '2', '--json']);
    expect(code, err).toBe(0);
    const r = JSON.parse(out);
    expect(r.skipped).toBe(committed);
    expect(r.indexed).toBe(files.length - committed);
    expect(r.rows).toBe(files.length);
  });
});

describe('CLI index + search, zero-shot', () => {
  it('mplug2 index / search --json give ranked videos with ITC and ITM scores; undecodable and changed files are reported', async () => {
    const { copyFileSync, mkdirSync, writeFileSync } = await import('node:fs');
    const extra = path.join(tmp, 'extra');
    mkdirSync(extra);
    const changed = path.join(extra, 'changed.mp4');
    copyFileSync(files[0], changed);
    writeFileSync(path.join(extra, 'broken.mp4'), 'not a video');
    const list = path.join(tmp, 'list.txt');
    writeFileSync(list, [...files.slice(0, 4), changed, path.join(extra, 'broken.mp4')].map((f) => path.relative(tmp, f)).join('\n') + '\n');
    const db = path.join(tmp, 'db-cli');
    const idx = await runCli(['index', model, list, '--db', db, '--json']);
    expect(idx.code).toBe(1); // one file could not be decoded; the others are indexed
    expect(idx.err).toContain('broken.mp4');
    const r = JSON.parse(idx.out);
    expect(r).toMatchObject({ indexed: 5, rows: 5, modelId: retriever.modelId, total: 6 });
    expect(r.failed.map((f: { path: string }) => path.basename(f.path))).toEqual(['broken.mp4']);
    const s = await runCli(['search', model, '--db', db, '--text', 'a red square', '--k', '3', '--rerank', '2', '--json']);
    expect(s.code, s.err).toBe(0);
    const res = JSON.parse(s.out);
    expect(res.hits).toHaveLength(3);
    expect(res.hits[0]).toHaveProperty('itc');
    expect(res.hits[0].itm).not.toBeNull();
    expect(res.hits[2].itm).toBeNull();
    const human = await runCli(['search', model, '--db', db, '--text', 'a red square', '--k', '2']);
    expect(human.out.trim().split('\n')).toHaveLength(2);
    // A file changed after indexing is not re-ranked with content the index does not describe.
    copyFileSync(files[5], changed);
    const w = await runCli(['search', model, '--db', db, '--text', 'a red square', '--k', '5', '--rerank', '5', '--json']);
    expect(w.code, w.err).toBe(0);
    const wr = JSON.parse(w.out);
    expect(wr.warnings).toHaveLength(1);
    expect(wr.warnings[0]).toContain('changed since it was indexed');
    expect(wr.hits.find((h: { path: string }) => h.path === changed).itm).toBeNull();
    expect(wr.hits.filter((h: { itm: number | null }) => h.itm !== null)).toHaveLength(4);
  });

  it('zero-shot classification via ITC gives a distribution over the prompts', async () => {
    const [r] = await zeroShotClassify(retriever, files[0], ['red', 'blue', 'noise']);
    expect(r.probs.map((p) => p.label).sort()).toEqual(['blue', 'noise', 'red']);
    expect(r.probs.reduce((s, p) => s + p.prob, 0)).toBeCloseTo(1, 6);
    expect(r.label).toBe(r.probs[0].label);
  });
});
