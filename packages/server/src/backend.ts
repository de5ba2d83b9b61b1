import { InvalidOptionError, disposeDeviceTensors, type Backend, type ModelSource, type Tensor } from '@mplug2/core';
import {
  Captioner,
  Retriever,
  VideoQA,
  disposeVideoFeatures,
  openModelInput,
  type CaptionResult,
  type ModelInput,
  type QAResult,
  type VideoFeatures,
} from '@mplug2/tasks';
import type { BeamStepEvent } from '@mplug2/decoder';
import { BatchScheduler, Batcher, type BatchEntry, type BatchReport } from './batcher.js';

/** A decoded upload (pixel values `[3, frames, size, size]`); `sha256` of the uploaded bytes identifies equal videos across requests. */
export interface DecodedVideo {
  readonly sha256: string;
  readonly pixels: Tensor<'float32'>;
}

/** The generation options a request may set (requests share a call only when these are equal). */
export interface GenerateParams {
  readonly beamSize?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
}

export interface AskRequest extends GenerateParams {
  readonly video: DecodedVideo;
  readonly questions: readonly string[];
  /** Rank these answers instead of generating. */
  readonly answers?: readonly string[];
  readonly k?: number;
}

export interface CaptionRequest extends GenerateParams {
  readonly video: DecodedVideo;
}

export type EmbedRequest = { readonly video: DecodedVideo; readonly texts?: undefined } | { readonly texts: readonly string[]; readonly video?: undefined };

export interface EmbedResult {
  readonly kind: 'video' | 'text';
  readonly embeddings: number[][];
}

/** The best hypothesis of one question (`index` within its request) after a decoding step. */
export interface StepUpdate {
  readonly index: number;
  readonly step: number;
  readonly text: string;
  readonly ids: readonly number[];
  readonly score: number;
}

export interface CallContext {
  /** The client went away: drop (and, if it was the call's last client, stop) the work. */
  readonly signal: AbortSignal;
  /** Called when the request leaves the queue and its model call starts. */
  readonly onStart?: () => void;
  /** Streaming: the best hypothesis per question and decoding step. */
  readonly onStep?: (update: StepUpdate) => void;
}

export type TaskName = 'videoqa' | 'caption' | 'embed';

/**
 * What the HTTP front needs from whatever runs the model: in this process (`LocalBackend`, with
 * dynamic batching) or elsewhere (a queue's workers).
 */
export interface InferenceBackend {
  /** Tasks this backend serves. */
  readonly tasks: readonly TaskName[];
  /** Frames and size uploads are decoded to. */
  readonly input: { readonly frames: number; readonly size: number };
  /** Requests waiting for a model call. */
  readonly waiting: number;
  ask(request: AskRequest, ctx: CallContext): Promise<QAResult[]>;
  caption(request: CaptionRequest, ctx: CallContext): Promise<CaptionResult>;
  embed(request: EmbedRequest, ctx: CallContext): Promise<EmbedResult>;
  close(): Promise<void>;
}

/** Tasks already loaded by the caller (any subset). */
export interface ServerTasks {
  readonly videoqa?: VideoQA;
  readonly captioner?: Captioner;
  readonly retriever?: Retriever;
}

export interface LocalBackendOptions {
  /** Most questions / videos / texts per model call. Default 8. */
  readonly maxBatch?: number;
  /** Longest wait for more requests before a call runs anyway. Default 10 ms. */
  readonly maxWaitMs?: number;
  /** Every finished model call and every request that left the queue aborted. */
  readonly onReport?: (r: BatchReport) => void;
}

export interface LoadBackendOptions extends LocalBackendOptions {
  readonly backend?: Backend | 'auto';
  readonly threads?: number;
  /** Tasks to load; default every task the model has the modules for. */
  readonly tasks?: readonly TaskName[];
}

/** Tasks the model's modules support. */
export function supportedTasks(model: ModelSource): TaskName[] {
  const out: TaskName[] = [];
  if (model.has('text_encoder') && model.has('fusion') && model.has('decoder')) out.push('videoqa');
  if (model.has('decoder')) out.push('caption');
  if (model.has('retrieval_heads') && model.has('text_encoder') && model.has('fusion')) out.push('embed');
  return out;
}

/** Unique videos of a call (by sha256) and, per row, the index of its video. */
function uniqueVideos(videos: readonly DecodedVideo[]): { unique: Tensor<'float32'>[]; rows: number[] } {
  const index = new Map<string, number>();
  const unique: Tensor<'float32'>[] = [];
  const rows = videos.map((v) => {
    let i = index.get(v.sha256);
    if (i === undefined) {
      index.set(v.sha256, (i = unique.length));
      unique.push(v.pixels);
    }
    return i;
  });
  return { unique, rows };
}

/** Features with one row per entry of `rows` (rows of `features`); the identity returns `features`. */
async function featureRows(task: VideoQA | Captioner, features: VideoFeatures, rows: readonly number[]): Promise<VideoFeatures> {
  if (features.imageEmbeds.shape[0] === 1 && task instanceof VideoQA) return features;
  const imageEmbeds = await task.visual.selectRows(features.imageEmbeds, rows);
  if (imageEmbeds === features.imageEmbeds) return features;
  return {
    imageEmbeds,
    imageMask: await task.visual.selectRows(features.imageMask, rows),
    videoStates: await task.visual.selectRows(features.videoStates, rows),
    frameIndices: rows.map((r) => features.frameIndices[r]),
  };
}

/** Streams the per-sample step events of a call to the entries the samples belong to. */
function stepRouter(
  offsets: readonly number[],
  entries: readonly BatchEntry<{ onStep?: (u: StepUpdate) => void }>[],
  decode: (ids: readonly number[]) => string,
) {
  if (!entries.some((e) => e.input.onStep)) return undefined;
  return (event: BeamStepEvent) => {
    entries.forEach((e, i) => {
      const onStep = e.input.onStep;
      if (!onStep || e.signal.aborted) return;
      for (let s = offsets[i]; s < offsets[i + 1]; s++) {
        const sample = event.samples[s];
        // A retired sample's best hypothesis no longer changes: its last word is the final result.
        if (!sample.done) onStep({ index: s - offsets[i], step: event.step, text: decode(sample.bestIds), ids: [...sample.bestIds], score: sample.bestScore });
      }
    });
  };
}

function offsetsOf(sizes: readonly number[]): number[] {
  const out = [0];
  for (const s of sizes) out.push(out[out.length - 1] + s);
  return out;
}

type Streamed<T> = T & { readonly onStep?: (u: StepUpdate) => void };

/**
 * Runs the tasks in this process with dynamic batching: concurrent requests with equal options
 * share one model call (up to `maxBatch` rows, after at most `maxWaitMs`), and a video uploaded by
 * several requests of a call is encoded once. Calls run one at a time.
 */
export class LocalBackend implements InferenceBackend {
  readonly tasks: TaskName[];
  readonly input: { frames: number; size: number };
  private readonly scheduler: BatchScheduler;
  private readonly qa?: Batcher<Streamed<AskRequest>, QAResult[]>;
  private readonly cap?: Batcher<Streamed<CaptionRequest>, CaptionResult>;
  private readonly emb?: Batcher<EmbedRequest, EmbedResult>;

  constructor(
    readonly loaded: ServerTasks,
    options: LocalBackendOptions = {},
    private readonly owned = false,
  ) {
    const maxBatch = options.maxBatch ?? 8;
    const maxWaitMs = options.maxWaitMs ?? 10;
    this.scheduler = new BatchScheduler(options.onReport);
    const { videoqa, captioner, retriever } = loaded;
    const visual = (videoqa ?? captioner ?? retriever)?.visual;
    if (!visual) throw new InvalidOptionError('tasks', 'LocalBackend needs at least one loaded task (videoqa, captioner or retriever)');
    this.input = { frames: visual.frames, size: visual.size };
    this.tasks = [...(videoqa ? ['videoqa' as const] : []), ...(captioner ? ['caption' as const] : []), ...(retriever ? ['embed' as const] : [])];
    const genKey = (r: GenerateParams) => `${r.beamSize ?? ''}/${r.minLength ?? ''}/${r.maxLength ?? ''}`;
    if (videoqa)
      this.qa = new Batcher<Streamed<AskRequest>, QAResult[]>('videoqa', this.scheduler, {
        maxBatch,
        maxWaitMs,
        keyOf: (r) => `${genKey(r)}/${r.k ?? ''}/${r.answers ? JSON.stringify(r.answers) : ''}`,
        sizeOf: (r) => r.questions.length,
        run: async (entries, signal) => {
          const first = entries[0].input;
          const offsets = offsetsOf(entries.map((e) => e.input.questions.length));
          const { unique, rows } = uniqueVideos(entries.flatMap((e) => e.input.questions.map(() => e.input.video)));
          const encoded = await videoqa.encodeVideo(unique);
          try {
            const features = await featureRows(videoqa, encoded, rows);
            try {
              const results = await videoqa.ask(
                features,
                entries.flatMap((e) => e.input.questions),
                {
                  beamSize: first.beamSize,
                  minLength: first.minLength,
                  maxLength: first.maxLength,
                  answers: first.answers,
                  k: first.k,
                  signal,
                  onStep: stepRouter(offsets, entries, (ids) => videoqa.tokenizer.decode([...ids])),
                },
              );
              return entries.map((_, i) => results.slice(offsets[i], offsets[i + 1]));
            } finally {
              if (features !== encoded) disposeVideoFeatures(features);
            }
          } finally {
            disposeVideoFeatures(encoded);
          }
        },
      });
    if (captioner) {
      const prompt = captioner.model.manifest.config.model_config.prompt ?? '';
      this.cap = new Batcher<Streamed<CaptionRequest>, CaptionResult>('caption', this.scheduler, {
        maxBatch,
        maxWaitMs,
        keyOf: genKey,
        sizeOf: () => 1,
        run: async (entries, signal) => {
          const first = entries[0].input;
          const { unique, rows } = uniqueVideos(entries.map((e) => e.input.video));
          const encoded = await captioner.encodeVideo(unique);
          try {
            const features = await featureRows(captioner, encoded, rows);
            try {
              return await captioner.caption(features, {
                beamSize: first.beamSize,
                minLength: first.minLength,
                maxLength: first.maxLength,
                signal,
                onStep: stepRouter(offsetsOf(entries.map(() => 1)), entries, (ids) => captioner.tokenizer.decodeCaption([...ids], prompt)),
              });
            } finally {
              if (features !== encoded) disposeVideoFeatures(features);
            }
          } finally {
            disposeVideoFeatures(encoded);
          }
        },
      });
    }
    if (retriever)
      this.emb = new Batcher<EmbedRequest, EmbedResult>('embed', this.scheduler, {
        maxBatch,
        maxWaitMs,
        keyOf: (r) => (r.video ? 'video' : 'text'),
        sizeOf: (r) => (r.video ? 1 : r.texts.length),
        run: async (entries, signal): Promise<EmbedResult[]> => {
          const toArrays = (rows: Float32Array[]) => rows.map((r) => Array.from(r));
          if (entries[0].input.video) {
            const { unique, rows } = uniqueVideos(entries.map((e) => e.input.video as DecodedVideo));
            const { features, embeddings } = await retriever.encodeVideos(unique, {}, { signal });
            disposeVideoFeatures(features);
            return rows.map((r) => ({ kind: 'video' as const, embeddings: toArrays([embeddings[r]]) }));
          }
          const offsets = offsetsOf(entries.map((e) => e.input.texts?.length ?? 0));
          const out = await retriever.encodeTexts(
            entries.flatMap((e) => e.input.texts ?? []),
            {},
            { signal },
          );
          disposeDeviceTensors([out.states]);
          return entries.map((_, i) => ({ kind: 'text' as const, embeddings: toArrays(out.embeddings.slice(offsets[i], offsets[i + 1])) }));
        },
      });
  }

  /** Loads the tasks of `model` (the ones it supports, or `options.tasks`); they are disposed by `close()`. */
  static async load(model: ModelInput, options: LoadBackendOptions = {}): Promise<LocalBackend> {
    const source = await openModelInput(model);
    const supported = supportedTasks(source);
    const wanted = options.tasks ?? supported;
    const load = { backend: options.backend, threads: options.threads };
    const [videoqa, captioner, retriever] = await Promise.all([
      wanted.includes('videoqa') ? VideoQA.load(source, load) : undefined,
      wanted.includes('caption') ? Captioner.load(source, load) : undefined,
      wanted.includes('embed') ? Retriever.load(source, load) : undefined,
    ]);
    return new LocalBackend({ videoqa, captioner, retriever }, options, true);
  }

  get waiting(): number {
    return this.scheduler.waiting;
  }

  private need<B>(b: B | undefined, task: TaskName): B {
    if (!b) throw new InvalidOptionError('task', `'${task}' is not loaded in this backend (loaded: ${this.tasks.join(', ')})`);
    return b;
  }

  ask(request: AskRequest, ctx: CallContext): Promise<QAResult[]> {
    return this.need(this.qa, 'videoqa').submit({ ...request, onStep: ctx.onStep }, ctx.signal, ctx.onStart);
  }

  caption(request: CaptionRequest, ctx: CallContext): Promise<CaptionResult> {
    return this.need(this.cap, 'caption').submit({ ...request, onStep: ctx.onStep }, ctx.signal, ctx.onStart);
  }

  embed(request: EmbedRequest, ctx: CallContext): Promise<EmbedResult> {
    return this.need(this.emb, 'embed').submit(request, ctx.signal, ctx.onStart);
  }

  async close(): Promise<void> {
    this.scheduler.stop();
    if (!this.owned) return;
    const { videoqa, captioner, retriever } = this.loaded;
    await videoqa?.dispose();
    await captioner?.dispose();
    await retriever?.dispose();
  }
}
