import {
  InvalidOptionError,
  Pipeline,
  openModel,
  tensor,
  type ModelSource,
  type OpenModelOptions,
  type PipelineModule,
  type SessionOptions,
  type Tensor,
} from '@mplug2/core';
import { loadUniversal } from '@mplug2/universal';
import { loadVideo, loadVisionEncoder, stackVideos, type LoadedVideo } from '@mplug2/vision-encoder';

export interface TaskLoadOptions extends SessionOptions, OpenModelOptions {}

/** A model given to a task: a location (a directory in Node, a URL in a browser) or an open `ModelSource`. */
export type ModelInput = string | ModelSource;

/** Opens `model` when it is a location (`ModelDirectory` in Node, `RemoteModel` in a browser). */
export async function openModelInput(model: ModelInput, options: OpenModelOptions = {}): Promise<ModelSource> {
  return typeof model === 'string' ? openModel(model, options) : model;
}

/** A video as a task accepts it: a file path (decoded with ffmpeg), a decoded video, or pixel values `[3,T,H,W]` / `[B,3,T,H,W]`. */
export type VideoInput = string | LoadedVideo | Tensor<'float32'>;

/** Visual states of a batch of videos, computed once and reusable for any number of questions. */
export interface VideoFeatures {
  readonly imageEmbeds: Tensor<'float32'>;
  readonly imageMask: Tensor<'int64'>;
  readonly videoStates: Tensor<'float32'>;
  /** Per video: source frame indices when decoded from a file. */
  readonly frameIndices: (number[] | null)[];
}

export type Timings = Record<string, number>;

/** Progress of a task call: `decode` counts videos, `encode` the visual pass, `generate` decoding steps. */
export type ProgressListener = (event: { stage: 'decode' | 'encode' | 'generate'; done: number; total: number }) => void;

export function isVideoFeatures(v: unknown): v is VideoFeatures {
  return typeof v === 'object' && v !== null && 'imageEmbeds' in v;
}

export function now(): number {
  return performance.now();
}

export function ones(batch: number, n: number): Tensor<'int64'> {
  return tensor('int64', ['batch', 'video_tokens'], [batch, n], new BigInt64Array(batch * n).fill(1n));
}

/** Repeats rows of a `[B, ...]` tensor: row i of the result is row `rows[i]`. */
export function selectRows<T extends Tensor>(t: T, rows: readonly number[]): T {
  const size = t.data.length / t.shape[0];
  const Ctor = t.data.constructor as new (n: number) => T['data'];
  const data = new Ctor(rows.length * size);
  rows.forEach((r, i) => (data as unknown as Float32Array).set((t.data as Float32Array).subarray(r * size, (r + 1) * size), i * size));
  return tensor(t.dtype, t.dims, [rows.length, ...t.shape.slice(1)], data as never) as T;
}

/**
 * The visual half every task shares: vision encoder → universal layers, composed with the
 * composer (ports are checked when the task is loaded, before anything runs).
 */
export class VisualPath {
  private constructor(
    readonly model: ModelSource,
    readonly pipeline: Pipeline,
    private readonly modules: PipelineModule[],
  ) {}

  static async load(model: ModelSource, options: SessionOptions): Promise<VisualPath> {
    const [vision, universal] = await Promise.all([loadVisionEncoder(model, options), loadUniversal(model, options)]);
    const pipeline = Pipeline.compose({
      modules: { vision, universal },
      inputs: { pixel_values: vision.inputs[0] },
      connections: [
        ['input.pixel_values', 'vision.pixel_values'],
        ['vision.video_states', 'universal.video_states'],
      ],
    });
    return new VisualPath(model, pipeline, [vision, universal]);
  }

  get frames(): number {
    return this.model.manifest.config.model_config.model_num_frames;
  }

  get size(): number {
    return this.model.manifest.config.model_config.image_res;
  }

  /** Decodes (if needed) and encodes a batch of videos. */
  async encode(videos: VideoInput | readonly VideoInput[], timings: Timings = {}, onProgress?: ProgressListener): Promise<VideoFeatures> {
    const list = Array.isArray(videos) ? (videos as VideoInput[]) : [videos as VideoInput];
    if (list.length === 0) throw new InvalidOptionError('video', 'no video given');
    let t = now();
    const pixels: Tensor<'float32'>[] = [];
    const frameIndices: (number[] | null)[] = [];
    for (const [i, v] of list.entries()) {
      onProgress?.({ stage: 'decode', done: i, total: list.length });
      if (typeof v === 'string') {
        const loaded = await loadVideo(v, { numFrames: this.frames, size: this.size });
        pixels.push(loaded.pixelValues);
        frameIndices.push(loaded.frameIndices);
      } else if ('pixelValues' in v) {
        pixels.push(v.pixelValues);
        frameIndices.push(v.frameIndices);
      } else if (v.shape.length === 4) {
        pixels.push(v);
        frameIndices.push(null);
      } else if (v.shape.length === 5) {
        const size = v.data.length / v.shape[0];
        for (let b = 0; b < v.shape[0]; b++) {
          pixels.push(tensor('float32', v.dims.slice(1), v.shape.slice(1), v.data.subarray(b * size, (b + 1) * size)));
          frameIndices.push(null);
        }
      } else {
        throw new InvalidOptionError('video', `pixel values must be [3, frames, H, W] or [batch, 3, frames, H, W], got [${v.shape}]`);
      }
    }
    const batch = stackVideos(pixels);
    timings.decode_s = (timings.decode_s ?? 0) + (now() - t) / 1000;
    onProgress?.({ stage: 'decode', done: list.length, total: list.length });
    onProgress?.({ stage: 'encode', done: 0, total: 1 });
    t = now();
    const out = await this.pipeline.run({ pixel_values: batch });
    timings.vision_universal_s = (timings.vision_universal_s ?? 0) + (now() - t) / 1000;
    onProgress?.({ stage: 'encode', done: 1, total: 1 });
    const imageEmbeds = out['universal.image_embeds'] as Tensor<'float32'>;
    return {
      imageEmbeds,
      videoStates: out['vision.video_states'] as Tensor<'float32'>,
      imageMask: ones(imageEmbeds.shape[0], imageEmbeds.shape[1]),
      frameIndices,
    };
  }

  async dispose(): Promise<void> {
    for (const m of this.modules) await m.dispose();
  }
}
