import {
  DeviceRowGather,
  InvalidOptionError,
  Pipeline,
  abortable,
  disposeDeviceTensors,
  isDeviceTensor,
  openModel,
  tensor,
  type Mplug2Config,
  type LoadControlOptions,
  type LoadProgressEvent,
  type ModelSource,
  type OpenModelOptions,
  type PipelineModule,
  type SessionOptions,
  type Tensor,
} from '@mplug2/core';
import type { BeamSearchOptions } from '@mplug2/decoder';
import { loadUniversal } from '@mplug2/universal';
import { loadVideo, loadVisionEncoder, stackVideos, type LoadedVideo } from '@mplug2/vision-encoder';

export interface TaskLoadOptions extends Omit<SessionOptions, 'deviceOutputs'>, OpenModelOptions, LoadControlOptions {
  /**
   * Load progress: `download` events (bytes and files, for a model at a URL; `cached` for files already
   * in the cache) and one `session` event per onnxruntime session created (`done` of `total`).
   */
  readonly onProgress?: (event: LoadProgressEvent) => void;
  /**
   * `webgpu` only (other backends have no device memory): keep module outputs that only feed other
   * modules in GPU memory — vision `video_states` → universal, `image_embeds` → fusion / decoder
   * memory, `text_states` → fusion, `merged_states` → decoder memory — and `VideoFeatures` as
   * `DeviceTensor`s. Default true; false downloads every module output to JS (e.g. to inspect them).
   */
  readonly keepOnDevice?: boolean;
}

/**
 * Session options for one module of a task: `deviceOutputs` are the outputs that stay in GPU memory
 * on `webgpu`; left out, the module decides (`TextDecoderModule` keeps its cache there). With
 * `keepOnDevice: false` every output is downloaded (`[]`, which also turns off the decoder's GPU cache).
 */
export function moduleOptions(options: TaskLoadOptions, deviceOutputs?: readonly string[]): SessionOptions {
  return { ...options, deviceOutputs: options.keepOnDevice === false ? [] : deviceOutputs };
}

/** A model given to a task: a location (a directory in Node, a URL in a browser) or an open `ModelSource`. */
export type ModelInput = string | ModelSource;

/**
 * Opens `model` when it is a location: a directory (`ModelDirectory`) or, in Node and in a browser, an
 * http(s) URL (`RemoteModel`; Node caches it on disk). `what` names the load in an `AbortError`.
 */
export async function openModelInput(model: ModelInput, options: TaskLoadOptions = {}, what = 'loading the model'): Promise<ModelSource> {
  return typeof model === 'string' ? abortable(openModel(model, options), options.signal, what) : model;
}

/** A video as a task accepts it: a file path (decoded with ffmpeg), a decoded video, or pixel values `[3,T,H,W]` / `[B,3,T,H,W]`. */
export type VideoInput = string | LoadedVideo | Tensor<'float32'>;

/**
 * Visual states of a batch of videos, computed once and reusable for any number of questions. On
 * `webgpu` (unless `keepOnDevice: false`) `imageEmbeds` and `videoStates` are `DeviceTensor`s: they
 * stay in GPU memory, so reusing them costs no upload. Read them with `downloadTensor`; release them
 * with `disposeVideoFeatures` when done (they are also released with the task and when collected).
 */
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

/** Releases the GPU memory of features held on the device (a no-op for JS tensors). */
export function disposeVideoFeatures(features: VideoFeatures): void {
  disposeDeviceTensors([features.imageEmbeds, features.videoStates]);
}

/** Options of a task call that can be cancelled. */
export interface CallOptions {
  /**
   * Cancels the call: it rejects with `AbortError` (code `ABORTED`) at the next stage boundary or
   * decoding step, after releasing what the call allocated (decoder memory, cache, GPU tensors).
   */
  readonly signal?: AbortSignal;
}

/** Generation options `VideoQA.ask` and `Captioner.caption` share. */
export interface GenerationOptions extends CallOptions, Partial<Pick<BeamSearchOptions, 'beamSize' | 'minLength' | 'maxLength' | 'onStep'>> {
  /** Stage progress (decode, encode, generate), e.g. for progress bars. */
  readonly onProgress?: ProgressListener;
}

/**
 * Beam-search options of a task call: the caller's, else the model config's, else the task's
 * defaults; every step is reported as `generate` progress (of `maxLength` steps) and to `onStep`.
 */
export function beamSearchOptions(
  config: Mplug2Config['model_config'],
  options: GenerationOptions,
  defaults: { readonly minLength: number; readonly maxLength: number },
): BeamSearchOptions {
  const maxLength = options.maxLength ?? config.max_length ?? defaults.maxLength;
  return {
    beamSize: options.beamSize ?? config.beam_size,
    minLength: options.minLength ?? config.min_length ?? defaults.minLength,
    maxLength,
    numReturn: 1,
    signal: options.signal,
    onStep: (e) => {
      options.onProgress?.({ stage: 'generate', done: e.step + 1, total: maxLength });
      return options.onStep?.(e);
    },
  };
}

export function now(): number {
  return performance.now();
}

export function ones(batch: number, n: number): Tensor<'int64'> {
  return tensor('int64', ['batch', 'video_tokens'], [batch, n], new BigInt64Array(batch * n).fill(1n));
}

/** Repeats rows of a JS `[B, ...]` tensor: row i of the result is row `rows[i]`. */
export function selectRows<T extends Tensor>(t: T, rows: readonly number[]): T {
  const size = t.data.length / t.shape[0];
  const Ctor = t.data.constructor as new (n: number) => T['data'];
  const data = new Ctor(rows.length * size);
  rows.forEach((r, i) => (data as unknown as Float32Array).set((t.data as Float32Array).subarray(r * size, (r + 1) * size), i * size));
  return tensor(t.dtype, t.dims, [rows.length, ...t.shape.slice(1)], data as never) as T;
}

/** GPU row selection of single device tensors: one `DeviceRowGather` per dtype and rank, created on first use. */
class DeviceRows {
  private readonly gathers = new Map<string, Promise<DeviceRowGather>>();

  async select<T extends Tensor>(t: T, rows: readonly number[]): Promise<T> {
    const key = `${t.dtype}:${t.shape.length}`;
    let g = this.gathers.get(key);
    if (!g) {
      g = DeviceRowGather.create('select_rows', [{ name: 'x', dtype: t.dtype, rank: t.shape.length }]);
      this.gathers.set(key, g);
      g.catch(() => this.gathers.delete(key));
    }
    return (await (await g).select({ x: t }, rows)).x as T;
  }

  async dispose(): Promise<void> {
    for (const g of this.gathers.values()) await (await g.catch(() => null))?.dispose();
    this.gathers.clear();
  }
}

/**
 * The visual half every task shares: vision encoder → universal layers, composed with the
 * composer (ports are checked when the task is loaded, before anything runs). On `webgpu`
 * `video_states` and `image_embeds` stay in GPU memory (see `TaskLoadOptions.keepOnDevice`).
 */
export class VisualPath {
  private readonly gather = new DeviceRows();

  private constructor(
    readonly model: ModelSource,
    readonly pipeline: Pipeline,
    private readonly modules: PipelineModule[],
  ) {}

  static async load(model: ModelSource, options: TaskLoadOptions): Promise<VisualPath> {
    // `universal_out` (the last layer before visn_emb_norm) is read by no task: left on the GPU, it is
    // released right after the run instead of being downloaded.
    const [vision, universal] = await Promise.all([
      loadVisionEncoder(model, moduleOptions(options, ['video_states'])),
      loadUniversal(model, moduleOptions(options, ['image_embeds', 'universal_out'])),
    ]);
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
    const out = await this.pipeline.run({ pixel_values: batch }, {}, { outputs: ['vision.video_states', 'universal.image_embeds'] });
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

  /**
   * Row `i` of the result is row `rows[i]` of `t` (`[B, ...]`). The identity selection returns `t`
   * itself; a device tensor is gathered on the GPU (the result is a new device tensor), never downloaded.
   */
  async selectRows<T extends Tensor>(t: T, rows: readonly number[]): Promise<T> {
    if (rows.length === t.shape[0] && rows.every((r, i) => r === i)) return t;
    return isDeviceTensor(t) ? this.gather.select(t, rows) : selectRows(t, rows);
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async dispose(): Promise<void> {
    await this.gather.dispose();
    for (const m of this.modules) await m.dispose();
  }
}
