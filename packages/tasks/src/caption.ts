import { InvalidOptionError, checkModelFits, controlledLoad, throwIfAborted, type ModelSource } from '@mplug2/core';
import { TextDecoderModule, beamSearch, disposeDecoderMemory } from '@mplug2/decoder';
import { Mplug2Tokenizer } from '@mplug2/text-encoder';
import {
  VisualPath,
  beamSearchOptions,
  disposeVideoFeatures,
  isVideoFeatures,
  moduleOptions,
  openModelInput,
  type GenerationOptions,
  type ModelInput,
  now,
  type TaskLoadOptions,
  type Timings,
  type VideoFeatures,
  type VideoInput,
} from './common.js';
import { streamSteps, type StreamUpdate } from './stream.js';

export type CaptionOptions = GenerationOptions;

export interface CaptionResult {
  readonly caption: string;
  readonly ids: number[];
  readonly score: number;
  readonly timings: Timings;
}

/**
 * Video captioning as the reference evaluates it: the decoder cross-attends to the visual states
 * directly; generation starts from `[CLS]` only and the text after the last "a video of" is kept.
 */
export class Captioner {
  private constructor(
    readonly model: ModelSource,
    readonly visual: VisualPath,
    readonly decoder: TextDecoderModule,
    readonly tokenizer: Mplug2Tokenizer,
  ) {}

  /** `dir`: as in `VideoQA.load` (directory, http(s) URL or `ModelSource`); `options.signal` cancels the load. */
  static async load(dir: ModelInput, options: TaskLoadOptions = {}): Promise<Captioner> {
    const what = 'loading Captioner';
    const model = await openModelInput(dir, options, what);
    if (!model.has('decoder'))
      throw new InvalidOptionError('model', `${model.location} has no decoder (modules: ${Object.keys(model.manifest.modules).join(', ')})`);
    await checkModelFits(model.manifest, model.location, ['vision_encoder', 'universal', 'decoder'], options.backend);
    return controlledLoad(model, ['vision_encoder', 'universal', 'decoder'], what, options, async (source) => {
      const [visual, decoder] = await Promise.all([VisualPath.load(source, options), TextDecoderModule.load(source, moduleOptions(options))]);
      return new Captioner(model, visual, decoder, Mplug2Tokenizer.fromVocab());
    });
  }

  encodeVideo(video: VideoInput | readonly VideoInput[], timings: Timings = {}): Promise<VideoFeatures> {
    return this.visual.encode(video, timings);
  }

  /** Captions every video of the batch. */
  async caption(video: VideoInput | readonly VideoInput[] | VideoFeatures, options: CaptionOptions = {}): Promise<CaptionResult[]> {
    const timings: Timings = {};
    const start = now();
    throwIfAborted(options.signal, 'Captioner.caption');
    const features = isVideoFeatures(video) ? video : await this.visual.encode(video, timings, options.onProgress);
    let t = now();
    // On webgpu image_embeds feeds the decoder's memory projection from GPU memory.
    const memory = await Promise.resolve()
      .then(() => {
        throwIfAborted(options.signal, 'Captioner.caption');
        return this.decoder.encodeMemory(features.imageEmbeds, features.imageMask);
      })
      .finally(() => {
        if (features !== video) disposeVideoFeatures(features);
      });
    timings.memory_s = (now() - t) / 1000;
    t = now();
    const cfg = this.model.manifest.config.model_config;
    const search = await beamSearch(this.decoder, memory, beamSearchOptions(cfg, options, { minLength: 4, maxLength: 20 })).finally(() =>
      disposeDecoderMemory(memory),
    );
    timings.generation_s = (now() - t) / 1000;
    timings.total_s = (now() - start) / 1000;
    const prompt = cfg.prompt ?? '';
    return search.map((s) => {
      const best = s.hypotheses[0];
      return { caption: this.tokenizer.decodeCaption(best.ids, prompt), ids: best.ids, score: best.score, timings };
    });
  }

  /**
   * Captions one video, yielding the best hypothesis (as caption text) after every decoding step
   * and then `{ done: true, result }`. Leaving the loop early aborts the call (see `streamSteps`).
   */
  captionStream(video: VideoInput | VideoFeatures, options: Omit<CaptionOptions, 'onStep'> = {}): AsyncGenerator<StreamUpdate<CaptionResult>, void, undefined> {
    if (isVideoFeatures(video) && video.imageEmbeds.shape[0] !== 1)
      throw new InvalidOptionError('video', `captionStream streams one video; got features of ${video.imageEmbeds.shape[0]} videos (use caption for a batch)`);
    const prompt = this.model.manifest.config.model_config.prompt ?? '';
    return streamSteps(
      (onStep, signal) => this.caption(video, { ...options, onStep, signal }).then((r) => r[0]),
      (ids) => this.tokenizer.decodeCaption([...ids], prompt),
      options.signal,
      'Captioner.captionStream',
    );
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async dispose(): Promise<void> {
    await this.visual.dispose();
    await this.decoder.dispose();
  }
}
