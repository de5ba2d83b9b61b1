import { InvalidOptionError, checkModelFits, type ModelSource } from '@mplug2/core';
import { TextDecoder, beamSearch, disposeDecoderMemory } from '@mplug2/decoder';
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
    readonly decoder: TextDecoder,
    readonly tokenizer: Mplug2Tokenizer,
  ) {}

  static async load(dir: ModelInput, options: TaskLoadOptions = {}): Promise<Captioner> {
    const model = await openModelInput(dir, options);
    if (!model.has('decoder')) throw new InvalidOptionError('model', `${model.location} has no decoder (modules: ${Object.keys(model.manifest.modules).join(', ')})`);
    await checkModelFits(model.manifest, model.location, ['vision_encoder', 'universal', 'decoder'], options.backend);
    const [visual, decoder] = await Promise.all([VisualPath.load(model, options), TextDecoder.load(model, moduleOptions(options))]);
    return new Captioner(model, visual, decoder, Mplug2Tokenizer.fromVocab());
  }

  encodeVideo(video: VideoInput | readonly VideoInput[], timings: Timings = {}): Promise<VideoFeatures> {
    return this.visual.encode(video, timings);
  }

  /** Captions every video of the batch. */
  async caption(video: VideoInput | readonly VideoInput[] | VideoFeatures, options: CaptionOptions = {}): Promise<CaptionResult[]> {
    const timings: Timings = {};
    const start = now();
    const features = isVideoFeatures(video) ? video : await this.visual.encode(video, timings, options.onProgress);
    let t = now();
    // On webgpu image_embeds feeds the decoder's memory projection from GPU memory.
    const memory = await this.decoder.encodeMemory(features.imageEmbeds, features.imageMask).finally(() => {
      if (features !== video) disposeVideoFeatures(features);
    });
    timings.memory_s = (now() - t) / 1000;
    t = now();
    const cfg = this.model.manifest.config.model_config;
    const search = await beamSearch(this.decoder, memory, beamSearchOptions(cfg, options, { minLength: 4, maxLength: 20 })).finally(() => disposeDecoderMemory(memory));
    timings.generation_s = (now() - t) / 1000;
    timings.total_s = (now() - start) / 1000;
    const prompt = cfg.prompt ?? '';
    return search.map((s) => {
      const best = s.hypotheses[0];
      return { caption: this.tokenizer.decodeCaption(best.ids, prompt), ids: best.ids, score: best.score, timings };
    });
  }

  async dispose(): Promise<void> {
    await this.visual.dispose();
    await this.decoder.dispose();
  }
}
