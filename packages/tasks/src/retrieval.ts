import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  GraphModule,
  InvalidOptionError,
  MissingTensorError,
  RETRIEVAL_HEAD_TENSORS,
  VideoDecodeError,
  controlledLoad,
  disposeDeviceTensors,
  downloadTensor,
  int64Tensor,
  manifestDims,
  mapLimit,
  sha256File,
  tensor,
  throwIfAborted,
  type ModelSource,
  type PortSpec,
  type Tensor,
} from '@mplug2/core';
import { itmHeadPorts, loadFusion } from '@mplug2/fusion';
import { Mplug2Tokenizer, loadTextEncoder, preCaption, textProjPorts } from '@mplug2/text-encoder';
import { visionProjPorts } from '@mplug2/universal';
import { loadVideo, type LoadedVideo } from '@mplug2/vision-encoder';
import {
  VisualPath,
  disposeVideoFeatures,
  moduleOptions,
  now,
  ones,
  openModelInput,
  type CallOptions,
  type ModelInput,
  type TaskLoadOptions,
  type Timings,
  type VideoFeatures,
  type VideoInput,
} from './common.js';
import { isHttpUrl, sha256Url, withDownloaded } from './remote-video.js';
import { compareHits, type IndexedVideo, type StoreHit, type VectorStore } from './store.js';

/** File extensions `collectVideos` picks up from a folder. */
export const MEDIA_EXTENSIONS = ['.mp4', '.mkv', '.webm', '.mov', '.avi', '.m4v', '.mpg', '.mpeg', '.gif', '.png', '.jpg', '.jpeg', '.webp', '.bmp'];

/**
 * ITC (+ ITM re-ranking) video–text retrieval following mPLUG v1's recipe (spec §11.3; mPLUG-2 has
 * no released retrieval code). Video embedding: `vision_proj` on token 0 of `image_embeds` (after
 * the universal layers and `visn_emb_norm`), L2-normalised. Text embedding: `text_proj` on the [CLS]
 * state of the text encoder in `norm` mode (all layers, as VideoQA encodes questions), L2-normalised.
 * ITM: the fusion encoder on (text, video), `itm_head` on the fused [CLS], P(match) = softmax[1].
 */
export class Retriever {
  private constructor(
    readonly model: ModelSource,
    readonly visual: VisualPath,
    readonly text: GraphModule,
    readonly fusion: GraphModule,
    readonly visionProj: GraphModule,
    readonly textProj: GraphModule,
    readonly itmHead: GraphModule,
    readonly tokenizer: Mplug2Tokenizer,
  ) {}

  /**
   * Loads a model converted with its retrieval heads (task `pretrain`, checkpoint with
   * `vision_proj`/`text_proj`/`itm_head`). Without them: `MissingTensorError` naming the tensors.
   */
  static async load(dir: ModelInput, options: TaskLoadOptions = {}): Promise<Retriever> {
    const what = 'loading Retriever';
    const model = await openModelInput(dir, options, what);
    if (!model.has('retrieval_heads'))
      throw new MissingTensorError(
        `${model.location} (converted from ${model.manifest.source.checkpoint}; retrieval needs a checkpoint with the ITC/ITM heads, converted with --task pretrain)`,
        [...RETRIEVAL_HEAD_TENSORS],
      );
    if (!model.has('text_encoder') || !model.has('fusion'))
      throw new InvalidOptionError('model', `${model.location} lacks the text encoder or fusion module retrieval needs`);
    return controlledLoad(model, ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'retrieval_heads'], what, options, (source) =>
      Retriever.build(model, source, options),
    );
  }

  private static async build(model: ModelSource, source: ModelSource, options: TaskLoadOptions): Promise<Retriever> {
    const dims = manifestDims(model.manifest);
    const embedDim = model.manifest.config.model_config.embed_dim ?? 256;
    const head = async (role: string, ports: { inputs: PortSpec[]; outputs: PortSpec[] }) =>
      new GraphModule(`retrieval_heads.${role}`, ports.inputs, ports.outputs, await source.session('retrieval_heads', role, options));
    // On webgpu text_states (→ text_proj, fusion) and the fusion outputs (→ itm_head; the others are
    // released unread) stay in GPU memory; the heads' outputs (embeddings, ITM scores) come to JS.
    const [visual, text, fusion, vp, tp, itm] = await Promise.all([
      VisualPath.load(source, options),
      loadTextEncoder(source, moduleOptions(options, ['text_states'])),
      loadFusion(source, moduleOptions(options, ['fusion_text', 'fusion_image', 'merged_states'])),
      head('vision_proj', visionProjPorts(dims, embedDim)),
      head('text_proj', textProjPorts(dims, embedDim)),
      head('itm', itmHeadPorts(dims)),
    ]);
    return new Retriever(model, visual, text, fusion, vp, tp, itm, Mplug2Tokenizer.fromVocab());
  }

  get modelId(): string {
    return this.model.manifest.modelId;
  }

  get embedDim(): number {
    return this.model.manifest.config.model_config.embed_dim ?? 256;
  }

  /** The checkpoint's ITC temperature (`temp`), used only to turn similarities into probabilities. */
  get temperature(): number {
    const t = (this.model.manifest.config.model_config as Record<string, unknown>).temp;
    return typeof t === 'number' && t > 0 ? t : 0.07;
  }

  /** Visual states (on the GPU on `webgpu`, see `VideoFeatures`) + L2-normalised ITC embeddings of a batch of videos (or images). */
  async encodeVideos(
    videos: VideoInput | readonly VideoInput[],
    timings: Timings = {},
    options: CallOptions = {},
  ): Promise<{ features: VideoFeatures; embeddings: Float32Array[] }> {
    throwIfAborted(options.signal, 'Retriever.encodeVideos');
    const features = await this.visual.encode(videos, timings);
    const t = now();
    const out = await Promise.resolve()
      .then(() => {
        throwIfAborted(options.signal, 'Retriever.encodeVideos');
        return this.visionProj.run({ image_embeds: features.imageEmbeds });
      })
      .catch((e: unknown) => {
        disposeVideoFeatures(features);
        throw e;
      });
    timings.vision_proj_s = (timings.vision_proj_s ?? 0) + (now() - t) / 1000;
    return { features, embeddings: rows(out.video_feat as Tensor<'float32'>) };
  }

  private encodeText(texts: readonly string[]): { ids: Tensor<'int64'>; mask: Tensor<'int64'> } {
    if (texts.length === 0) throw new InvalidOptionError('text', 'no text given');
    const maxLength = this.model.manifest.config.bert_config.max_position_embeddings;
    const enc = this.tokenizer.encodeBatch(
      texts.map((t) => preCaption(t)),
      { maxLength },
    );
    return { ids: int64Tensor(['batch', 'tokens'], enc.inputIds), mask: int64Tensor(['batch', 'tokens'], enc.attentionMask) };
  }

  /** Text states (`norm` mode; a `DeviceTensor` on `webgpu`) and L2-normalised ITC embeddings. */
  async encodeTexts(
    texts: readonly string[],
    timings: Timings = {},
    options: CallOptions = {},
  ): Promise<{ states: Tensor<'float32'>; mask: Tensor<'int64'>; ids: Tensor<'int64'>; embeddings: Float32Array[] }> {
    throwIfAborted(options.signal, 'Retriever.encodeTexts');
    const t = now();
    const { ids, mask } = this.encodeText(texts);
    const states = (await this.text.run({ input_ids: ids, attention_mask: mask })).text_states as Tensor<'float32'>;
    const out = await Promise.resolve()
      .then(() => {
        throwIfAborted(options.signal, 'Retriever.encodeTexts');
        return this.textProj.run({ text_states: states });
      })
      .catch((e: unknown) => {
        disposeDeviceTensors([states]);
        throw e;
      });
    timings.text_s = (timings.text_s ?? 0) + (now() - t) / 1000;
    return { states, mask, ids, embeddings: rows(out.text_feat as Tensor<'float32'>) };
  }

  /** Raw ITC similarity (cosine) of every text with every video: `[texts][videos]`. */
  static similarity(texts: readonly Float32Array[], videos: readonly Float32Array[]): number[][] {
    return texts.map((t) => videos.map((v) => dot(t, v)));
  }

  /** ITC probabilities over `videos` for one text: softmax(sim / temp). */
  itcProbabilities(sims: readonly number[]): number[] {
    const z = sims.map((s) => s / this.temperature);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  /**
   * ITM P(match) of one text with each of a batch of videos' visual states (`image_embeds`
   * `[n, video_tokens, hidden]`): the fusion encoder on (text, video), `itm_head` on the fused [CLS].
   */
  async itm(text: string, imageEmbeds: Tensor<'float32'>, timings: Timings = {}, options: CallOptions = {}): Promise<number[]> {
    return (await this.itmScores(text, imageEmbeds, timings, options)).map((s) => s.prob);
  }

  /** ITM P(match) and the class-1 logit (what mPLUG v1 adds to the ITC similarity) per video. */
  async itmScores(text: string, imageEmbeds: Tensor<'float32'>, timings: Timings = {}, options: CallOptions = {}): Promise<{ prob: number; logit: number }[]> {
    throwIfAborted(options.signal, 'Retriever.itmScores');
    const t0 = now();
    const n = imageEmbeds.shape[0];
    const enc = this.encodeText(Array.from({ length: n }, () => text));
    const states = (await this.text.run({ input_ids: enc.ids, attention_mask: enc.mask })).text_states as Tensor<'float32'>;
    if (options.signal?.aborted) disposeDeviceTensors([states]);
    throwIfAborted(options.signal, 'Retriever.itmScores');
    const fused = await this.fusion
      .run({ text_states: states, text_mask: enc.mask, image_embeds: imageEmbeds, image_mask: ones(n, imageEmbeds.shape[1]) })
      .finally(() => disposeDeviceTensors([states]));
    const out = await this.itmHead.run({ fusion_text: fused.fusion_text }).finally(() => disposeDeviceTensors(fused));
    const probs = out.itm_probs as Tensor<'float32'>;
    const logits = out.itm_logits as Tensor<'float32'>;
    timings.itm_s = (timings.itm_s ?? 0) + (now() - t0) / 1000;
    return Array.from({ length: n }, (_, i) => ({ prob: probs.data[i * 2 + 1], logit: logits.data[i * 2 + 1] }));
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async dispose(): Promise<void> {
    await this.visual.dispose();
    for (const m of [this.text, this.fusion, this.visionProj, this.textProj, this.itmHead]) await m.dispose();
  }
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function rows(t: Tensor<'float32'>): Float32Array[] {
  const [n, d] = t.shape;
  return Array.from({ length: n }, (_, i) => t.data.slice(i * d, (i + 1) * d));
}

/**
 * Expands videos, folders (recursively, media extensions) and list files (`.txt`/`.list`: one path
 * per line, relative to the list); http(s) URLs (inputs or list lines) are kept as they are.
 */
export async function collectVideos(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (MEDIA_EXTENSIONS.includes(path.extname(e.name).toLowerCase())) out.push(path.resolve(p));
    }
  };
  for (const input of inputs) {
    if (isHttpUrl(input)) {
      out.push(input);
      continue;
    }
    const s = await stat(input).catch(() => null);
    if (!s) throw new InvalidOptionError('videos', `${input} does not exist`);
    if (s.isDirectory()) await walk(input);
    else if (['.txt', '.list', '.lst'].includes(path.extname(input).toLowerCase())) {
      const base = path.dirname(input);
      for (const line of (await readFile(input, 'utf8')).split(/\r?\n/)) {
        const l = line.trim();
        if (l && !l.startsWith('#')) out.push(isHttpUrl(l) ? l : path.resolve(base, l));
      }
    } else out.push(path.resolve(input));
  }
  return [...new Set(out)];
}

export interface IndexOptions {
  /** Videos per encoder call and per store commit. Default 8. */
  readonly batchSize?: number;
  /** Also store `image_embeds` per video so ITM re-ranking needs no re-decoding (size: video_tokens·hidden·4 bytes per video). Default false. */
  readonly storeStates?: boolean;
  readonly onProgress?: (event: { done: number; total: number; skipped: number; failed: number; path?: string }) => void;
  /** Stop after this many committed batches (tests simulate a crash with it). */
  readonly maxBatches?: number;
  /** ffmpeg decodes run at once (each is a separate process). Default 4. */
  readonly decodeConcurrency?: number;
}

export interface IndexResult {
  /** Videos added by this run. */
  readonly indexed: number;
  /** Videos already in the store for this model with the same sha256. */
  readonly skipped: number;
  /** Videos whose content changed since they were indexed (their old rows were replaced). */
  readonly reindexed: number;
  /** Files that could not be decoded (not added; a re-run tries them again). */
  readonly failed: { path: string; error: string }[];
  readonly total: number;
  readonly seconds: number;
  readonly videosPerSecond: number;
}

/**
 * Indexes videos (and images, as 1-frame videos) into `store`: one ITC embedding per video plus
 * path (absolute), sha256, duration, frame indices and model id. Resumable: files already indexed
 * for this model with the same sha256 are skipped; each batch is one atomic `store.add`, so an
 * interruption loses at most the batch in flight. A file that cannot be decoded is reported in
 * `failed` and the run goes on.
 */
export async function indexVideos(retriever: Retriever, store: VectorStore, files: readonly string[], options: IndexOptions = {}): Promise<IndexResult> {
  const t0 = now();
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidOptionError('batchSize', `must be an integer >= 1, got ${batchSize}`);
  if (options.decodeConcurrency !== undefined && (!Number.isInteger(options.decodeConcurrency) || options.decodeConcurrency < 1))
    throw new InvalidOptionError('decodeConcurrency', `must be an integer >= 1, got ${options.decodeConcurrency}`);
  const modelId = retriever.modelId;
  const plan = await planIndex(store, modelId, files);
  const { todo, changed } = plan;
  const skipped = plan.skipped.length;
  if (changed.length) await store.remove(modelId, changed);
  const failed: { path: string; error: string }[] = [];
  let done = 0;
  let batches = 0;
  options.onProgress?.({ done: 0, total: todo.length, skipped, failed: 0 });
  for (let s = 0; s < todo.length; s += batchSize) {
    if (options.maxBatches !== undefined && batches >= options.maxBatches) break;
    const embedded = await embedVideos(retriever, todo.slice(s, s + batchSize), options);
    failed.push(...embedded.failed);
    if (embedded.rows.length) {
      await store.add(embedded.rows);
      batches++;
      done += embedded.rows.length;
    }
    options.onProgress?.({
      done: done + failed.length,
      total: todo.length,
      skipped,
      failed: failed.length,
      path: todo[Math.min(s + batchSize, todo.length) - 1].path,
    });
  }
  const seconds = (now() - t0) / 1000;
  return { indexed: done, skipped, reindexed: changed.length, failed, total: plan.total, seconds, videosPerSecond: done / Math.max(seconds, 1e-9) };
}

/** A file to index and the sha256 of its content. */
export interface IndexItem {
  readonly path: string;
  readonly sha256: string;
}

/**
 * What indexing `files` for `modelId` has to do (the resume logic of `indexVideos`, also used by
 * the queue coordinator): files new or changed since indexed (`todo`), files already indexed with
 * the same sha256 (`skipped`), and the paths whose old rows must be removed first (`changed`).
 */
export async function planIndex(
  store: VectorStore,
  modelId: string,
  files: readonly string[],
): Promise<{ todo: IndexItem[]; skipped: IndexItem[]; changed: string[]; total: number }> {
  const unique = [...new Set(files.map((f) => (isHttpUrl(f) ? f : path.resolve(f))))];
  const existing = await store.indexed(modelId);
  const todo: IndexItem[] = [];
  const skipped: IndexItem[] = [];
  const changed: string[] = [];
  for (const f of unique) {
    // A URL that cannot be fetched is refused like a file that does not exist.
    const sha256 = isHttpUrl(f) ? await sha256Url(f).catch((e: Error) => Promise.reject(new InvalidOptionError('videos', e.message))) : await sha256File(f);
    const prev = existing.get(f);
    if (prev === sha256) skipped.push({ path: f, sha256 });
    else {
      if (prev !== undefined) changed.push(f);
      todo.push({ path: f, sha256 });
    }
  }
  return { todo, skipped, changed, total: unique.length };
}

/**
 * The index rows of a batch of files (one encoder call): decoded (`decodeConcurrency` ffmpeg
 * processes at once), encoded, one row per decodable file; files that cannot be decoded are
 * returned in `failed`. The same rows whether computed by `indexVideos` or a queue worker.
 */
export async function embedVideos(
  retriever: Retriever,
  items: readonly IndexItem[],
  options: Pick<IndexOptions, 'storeStates' | 'decodeConcurrency'> = {},
): Promise<{ rows: IndexedVideo[]; failed: { path: string; error: string }[] }> {
  const decodeConcurrency = options.decodeConcurrency ?? 4;
  if (!Number.isInteger(decodeConcurrency) || decodeConcurrency < 1)
    throw new InvalidOptionError('decodeConcurrency', `must be an integer >= 1, got ${decodeConcurrency}`);
  const cfg = retriever.model.manifest.config.model_config;
  const modelId = retriever.modelId;
  // Decode once: the probe that sampling needs also gives the duration.
  type Decoded = IndexItem & { video?: LoadedVideo; error?: string };
  const decoded = await mapLimit(items, decodeConcurrency, async (item): Promise<Decoded> => {
    try {
      const load = (file: string) => loadVideo(file, { numFrames: cfg.model_num_frames, size: cfg.image_res });
      return { ...item, video: isHttpUrl(item.path) ? await withDownloaded(item.path, item.sha256, load) : await load(item.path) };
    } catch (e) {
      if (!(e instanceof VideoDecodeError)) throw e;
      return { ...item, error: e.message };
    }
  });
  const failed: { path: string; error: string }[] = [];
  const batch: (IndexItem & { video: LoadedVideo })[] = [];
  for (const d of decoded) {
    if (d.video) batch.push({ path: d.path, sha256: d.sha256, video: d.video });
    else failed.push({ path: d.path, error: d.error ?? 'decode failed' });
  }
  if (!batch.length) return { rows: [], failed };
  const { features, embeddings } = await retriever.encodeVideos(batch.map((b) => b.video));
  const [, n, h] = features.imageEmbeds.shape;
  // Stored states are read back from the GPU once per batch (only then).
  const states = options.storeStates ? (await downloadTensor(features.imageEmbeds)).data : null;
  disposeVideoFeatures(features);
  const rows = batch.map((b, i) => ({
    path: b.path,
    sha256: b.sha256,
    duration: b.video.info.durationS || 0,
    frameIndices: b.video.frameIndices,
    embedding: embeddings[i],
    modelId,
    states: states ? states.slice(i * n * h, (i + 1) * n * h) : null,
  }));
  return { rows, failed };
}

export interface SearchOptions {
  /** Results returned. Default 10. */
  readonly k?: number;
  /** ITC candidates re-ranked with ITM (paper/ALBEF: k_test = 128); 0 = ITC only. Default: config k_test ?? 128. */
  readonly rerank?: number;
  /**
   * What is added to the ITC similarity of a re-ranked candidate: `'probability'` (default) = ITM
   * P(match) in [0, 1]; `'logit'` = the ITM class-1 logit, as mPLUG v1's evaluation code does.
   */
  readonly itmScore?: 'probability' | 'logit';
}

export interface SearchHit {
  readonly rank: number;
  readonly path: string;
  /** ITC cosine similarity. */
  readonly itc: number;
  /** ITM P(match) (re-ranked candidates only). */
  readonly itm: number | null;
  /** ITM class-1 logit (re-ranked candidates only). */
  readonly itmLogit: number | null;
  /** Ranking score: `itc + itm` (or `itc + itmLogit`, see `itmScore`) for re-ranked candidates (§11.3), else `itc` (ranked after them). */
  readonly score: number;
  readonly duration: number;
  readonly frameIndices: readonly number[];
  readonly sha256: string;
}

export interface SearchResult {
  readonly query: string;
  readonly hits: SearchHit[];
  readonly timings: Timings;
  /** Candidates that could not be re-ranked (file gone or changed since indexing). */
  readonly warnings: string[];
}

/**
 * Text → videos. ITC top-`max(k, rerank)` by exact dot product; the top `rerank` of them get their
 * ITM P(match) (stored visual states when indexed with `storeStates`, else the videos are
 * re-encoded), final score `itm + itc`; re-ranked candidates come first, the rest keep ITC order.
 */
export async function searchVideos(retriever: Retriever, store: VectorStore, query: string, options: SearchOptions = {}): Promise<SearchResult> {
  const timings: Timings = {};
  const t0 = now();
  const k = options.k ?? 10;
  const rerank = options.rerank ?? retriever.model.manifest.config.model_config.k_test ?? 128;
  if (!Number.isInteger(k) || k < 1) throw new InvalidOptionError('k', `must be an integer >= 1, got ${k}`);
  if (!Number.isInteger(rerank) || rerank < 0) throw new InvalidOptionError('rerank', `must be an integer >= 0, got ${rerank}`);
  const itmScore = options.itmScore ?? 'probability';
  if (itmScore !== 'probability' && itmScore !== 'logit')
    throw new InvalidOptionError('itmScore', `must be 'probability' or 'logit', got '${String(itmScore)}'`);
  const { states, embeddings } = await retriever.encodeTexts([query], timings);
  disposeDeviceTensors([states]);
  let t = now();
  const candidates = await store.search(retriever.modelId, embeddings[0], Math.max(k, rerank));
  timings.itc_search_s = (now() - t) / 1000;
  const top = candidates.slice(0, rerank);
  const itm = new Map<string, { prob: number; logit: number }>();
  const warnings: string[] = [];
  if (top.length) {
    t = now();
    const dims = manifestDims(retriever.model.manifest);
    const batch = 8;
    // Stored states, fetched one batch at a time (16.8 MB per video at the large size).
    const without: StoreHit[] = [];
    for (let s = 0; s < top.length; s += batch) {
      const part = top.slice(s, s + batch);
      const stored = await store.states(
        retriever.modelId,
        part.map((c) => c.path),
      );
      const have = part.filter((c) => stored.has(c.path));
      without.push(...part.filter((c) => !stored.has(c.path)));
      if (!have.length) continue;
      const n = stored.get(have[0].path)!.length / dims.text.hidden;
      const data = new Float32Array(have.length * n * dims.text.hidden);
      have.forEach((c, i) => data.set(stored.get(c.path)!, i * n * dims.text.hidden));
      const scores = await retriever.itmScores(
        query,
        tensor('float32', ['batch', 'video_tokens', 'hidden'], [have.length, n, dims.text.hidden], data),
        timings,
      );
      have.forEach((c, i) => itm.set(c.path, scores[i]));
    }
    // Recompute: decode the candidates again; one that is gone or changed since indexing keeps its
    // ITC score only (no ITM) and is reported in `warnings`.
    const cfg = retriever.model.manifest.config.model_config;
    for (let s = 0; s < without.length; s += batch) {
      const loaded = await mapLimit(without.slice(s, s + batch), 4, async (c): Promise<{ c: StoreHit; video?: LoadedVideo; warning?: string }> => {
        try {
          const load = (file: string) => loadVideo(file, { numFrames: cfg.model_num_frames, size: cfg.image_res });
          if (isHttpUrl(c.path)) return { c, video: await withDownloaded(c.path, c.sha256, load) };
          if ((await sha256File(c.path)) !== c.sha256)
            return { c, warning: `${c.path}: changed since it was indexed (sha256 differs); not re-ranked (run mplug2 index again)` };
          return { c, video: await load(c.path) };
        } catch (e) {
          if (!(e instanceof VideoDecodeError) && typeof (e as NodeJS.ErrnoException).errno !== 'number') throw e; // decode or file-system error
          return { c, warning: `${c.path}: cannot be decoded for re-ranking (${(e as Error).message}); not re-ranked` };
        }
      });
      const part: { c: StoreHit; video: LoadedVideo }[] = [];
      for (const l of loaded) {
        if (l.video) part.push({ c: l.c, video: l.video });
        else warnings.push(l.warning ?? `${l.c.path}: not re-ranked`);
      }
      if (!part.length) continue;
      const { features } = await retriever.encodeVideos(
        part.map((p) => p.video),
        timings,
      );
      const scores = await retriever.itmScores(query, features.imageEmbeds, timings).finally(() => disposeVideoFeatures(features));
      part.forEach((p, i) => itm.set(p.c.path, scores[i]));
    }
    timings.rerank_s = (now() - t) / 1000;
  }
  const scored = candidates.map((c) => {
    const m = itm.get(c.path);
    const add = m === undefined ? 0 : itmScore === 'logit' ? m.logit : m.prob;
    return { c, itm: m?.prob ?? null, itmLogit: m?.logit ?? null, score: c.score + add, reranked: m !== undefined };
  });
  scored.sort((a, b) => Number(b.reranked) - Number(a.reranked) || compareHits({ score: a.score, path: a.c.path }, { score: b.score, path: b.c.path }));
  timings.total_s = (now() - t0) / 1000;
  return {
    query,
    timings,
    warnings,
    hits: scored.slice(0, k).map((s, i) => ({
      rank: i + 1,
      path: s.c.path,
      itc: s.c.score,
      itm: s.itm,
      itmLogit: s.itmLogit,
      score: s.score,
      duration: s.c.duration,
      frameIndices: s.c.frameIndices,
      sha256: s.c.sha256,
    })),
  };
}

/** Zero-shot classification with ITC: similarity of each video to "a video of {label}" prompts. */
export async function zeroShotClassify(
  retriever: Retriever,
  videos: VideoInput | readonly VideoInput[],
  labels: readonly string[],
  options: { template?: string } = {},
): Promise<{ label: string; probs: { label: string; prob: number; similarity: number }[] }[]> {
  if (labels.length < 2) throw new InvalidOptionError('labels', 'need at least 2 labels');
  const template = options.template ?? 'a video of {label}';
  if (!template.includes('{label}')) throw new InvalidOptionError('template', `must contain {label}, got '${template}'`);
  const text = await retriever.encodeTexts(labels.map((l) => template.replaceAll('{label}', l)));
  disposeDeviceTensors([text.states]);
  const { features, embeddings } = await retriever.encodeVideos(videos);
  disposeVideoFeatures(features);
  return embeddings.map((v) => {
    const sims = text.embeddings.map((t) => dot(t, v));
    const probs = retriever.itcProbabilities(sims);
    const ranked = labels.map((label, i) => ({ label, prob: probs[i], similarity: sims[i] })).sort((a, b) => b.prob - a.prob);
    return { label: ranked[0].label, probs: ranked };
  });
}
