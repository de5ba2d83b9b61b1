import {
  InvalidOptionError,
  abortable,
  controlledLoad,
  openModel,
  tensor,
  type GraphModule,
  type LoadControlOptions,
  type ModelSource,
  type OpenModelOptions,
  type SessionOptions,
  type Tensor,
} from '@mplug2/core';
import { fitLinearProbe, predictProbe, type FitProbeOptions, type ProbeHead, type ProbePrediction } from './linear-probe.js';
import { loadVisionEncoder } from './module.js';
import { stackVideos } from './video/index.js';
import { loadVideo, type LoadedVideo } from './video/load.js';
import { mapLimit } from '@mplug2/core';

/** A video for the embedder: a file path (video or image, decoded with ffmpeg), a decoded video, or pixel values `[3,T,H,W]`. */
export type EmbedInput = string | LoadedVideo | Tensor<'float32'>;

/** What the embedding is: the pooled video [CLS] (token 0 of `video_states`: frame CLS tokens averaged over time, after ln_post). */
export const CLS_EMBEDDING = 'vision_encoder.video_states[:,0]';

export interface VideoEmbedding {
  /** `vision_width` values: token 0 of `video_states`. */
  readonly embedding: Float32Array;
  /** Source frame indices when decoded from a file. */
  readonly frameIndices: number[] | null;
  /** Duration in seconds when decoded from a file. */
  readonly duration: number | null;
  /** With `tokens: 'all'`: every token `[video_tokens, vision_width]`. */
  readonly tokens?: Tensor<'float32'>;
}

export interface EmbedOptions {
  /** `'cls'` (default): token 0 only; `'all'`: also every token of `video_states`. */
  readonly tokens?: 'cls' | 'all';
  /** Videos per encoder call. Default 4. */
  readonly batchSize?: number;
  /** Files decoded at once (each decode is an ffmpeg process). Default 4. */
  readonly decodeConcurrency?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Video → embedding with the vision encoder alone (no text or universal modules needed):
 * classification features for a linear probe or any downstream use.
 */
export class VideoEmbedder {
  private constructor(
    readonly model: ModelSource,
    readonly encoder: GraphModule,
  ) {}

  /**
   * `dir`: a model directory or http(s) URL (Node), or any open `ModelSource`. `options.signal` cancels the
   * load (AbortError); `options.onProgress` reports downloads and the session.
   */
  static async load(dir: string | ModelSource, options: SessionOptions & OpenModelOptions & LoadControlOptions = {}): Promise<VideoEmbedder> {
    const what = 'loading VideoEmbedder';
    const model = typeof dir === 'string' ? await abortable(openModel(dir, options), options.signal, what) : dir;
    return controlledLoad(model, ['vision_encoder'], what, options, async (source) => new VideoEmbedder(model, await loadVisionEncoder(source, options)));
  }

  get modelId(): string {
    return this.model.manifest.modelId;
  }

  get width(): number {
    return this.model.manifest.config.model_config.vision_width;
  }

  private async decode(v: EmbedInput): Promise<{ pixels: Tensor<'float32'>; frameIndices: number[] | null; duration: number | null }> {
    const cfg = this.model.manifest.config.model_config;
    if (typeof v === 'string') {
      const l = await loadVideo(v, { numFrames: cfg.model_num_frames, size: cfg.image_res });
      return { pixels: l.pixelValues, frameIndices: l.frameIndices, duration: l.info.durationS };
    }
    if ('pixelValues' in v) return { pixels: v.pixelValues, frameIndices: v.frameIndices, duration: v.info.durationS };
    if (v.shape.length !== 4) throw new InvalidOptionError('video', `pixel values must be [3, frames, H, W], got [${v.shape}]`);
    return { pixels: v, frameIndices: null, duration: null };
  }

  /** Embeds videos in batches; one result per input, in order. */
  async embed(videos: readonly EmbedInput[], options: EmbedOptions = {}): Promise<VideoEmbedding[]> {
    const batchSize = options.batchSize ?? 4;
    const decodeConcurrency = options.decodeConcurrency ?? 4;
    if (!Number.isInteger(decodeConcurrency) || decodeConcurrency < 1)
      throw new InvalidOptionError('decodeConcurrency', `must be an integer >= 1, got ${decodeConcurrency}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new InvalidOptionError('batchSize', `must be an integer >= 1, got ${batchSize}`);
    const out: VideoEmbedding[] = [];
    for (let s = 0; s < videos.length; s += batchSize) {
      const decoded = await mapLimit(videos.slice(s, s + batchSize), decodeConcurrency, (v) => this.decode(v));
      const res = await this.encoder.run({ pixel_values: stackVideos(decoded.map((d) => d.pixels)) });
      const states = res.video_states as Tensor<'float32'>;
      const [, n, c] = states.shape;
      decoded.forEach((d, b) => {
        const all = states.data.subarray(b * n * c, (b + 1) * n * c);
        out.push({
          embedding: all.slice(0, c),
          frameIndices: d.frameIndices,
          duration: d.duration,
          ...(options.tokens === 'all' ? { tokens: tensor('float32', ['video_tokens', 'vision_width'], [n, c], all.slice()) } : {}),
        });
      });
      options.onProgress?.(Math.min(s + batchSize, videos.length), videos.length);
    }
    return out;
  }

  /** Fits a linear probe on labelled videos (embeddings = token 0 of `video_states`). */
  async fitProbe(
    videos: readonly EmbedInput[],
    labels: readonly string[],
    options: FitProbeOptions & Pick<EmbedOptions, 'batchSize' | 'decodeConcurrency' | 'onProgress'> = {},
  ): Promise<ProbeHead> {
    const emb = await this.embed(videos, options);
    return fitLinearProbe(
      emb.map((e) => e.embedding),
      labels,
      { ...options, modelId: this.modelId, embedding: CLS_EMBEDDING },
    );
  }

  /** Predicts labels with a fitted head; the head must come from this model. */
  async predict(
    head: ProbeHead,
    videos: readonly EmbedInput[],
    options: Pick<EmbedOptions, 'batchSize' | 'decodeConcurrency' | 'onProgress'> & { allowOtherModel?: boolean } = {},
  ): Promise<ProbePrediction[]> {
    if (head.modelId !== this.modelId && !options.allowOtherModel)
      throw new InvalidOptionError('head', `was fitted on model ${head.modelId}, this model is ${this.modelId}`);
    if (head.embedding !== CLS_EMBEDDING)
      throw new InvalidOptionError('head', `was fitted on '${head.embedding}' embeddings, this embedder gives '${CLS_EMBEDDING}'`);
    const emb = await this.embed(videos, options);
    return predictProbe(
      head,
      emb.map((e) => e.embedding),
    );
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  dispose(): Promise<void> {
    return this.encoder.dispose();
  }
}
