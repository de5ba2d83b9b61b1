import { InvalidOptionError, Pipeline, checkModelFits, disposeDeviceTensors, int64Tensor, type ModelSource, type PortRef, type Tensor } from '@mplug2/core';
import { TextDecoder, beamSearch, disposeDecoderMemory, rankAnswers, type DecoderMemory } from '@mplug2/decoder';
import { loadFusion } from '@mplug2/fusion';
import { Mplug2Tokenizer, loadTextEncoder } from '@mplug2/text-encoder';
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

export interface QAOptions extends GenerationOptions {
  /** Rank these candidate answers (closed vocabulary, `rank_answer`) instead of generating. */
  readonly answers?: readonly string[];
  /** Candidates kept after the first-token pass (released config: 128). */
  readonly k?: number;
}

export interface QAResult {
  readonly question: string;
  readonly answer: string;
  /** Generated ids (with the leading [CLS]) or, when ranking, the answer's token ids. */
  readonly ids: number[];
  /** Beam score (length-normalised log-prob), or the ranked answer's probability. */
  readonly score: number;
  /** Ranking mode: the top-k answers with their probabilities. */
  readonly ranked?: { answer: string; prob: number }[];
  readonly timings: Timings;
}

/**
 * VideoQA as the reference evaluates it: video → vision encoder → universal layers; question →
 * text encoder → fusion with the video; answer decoder on `[video; fused question]` by beam search
 * (or by ranking a candidate list). The video is encoded once and reused for many questions.
 */
export class VideoQA {
  private constructor(
    readonly model: ModelSource,
    readonly visual: VisualPath,
    readonly question: Pipeline,
    readonly decoder: TextDecoder,
    readonly tokenizer: Mplug2Tokenizer,
    private readonly disposers: (() => Promise<void>)[],
  ) {}

  static async load(dir: ModelInput, options: TaskLoadOptions = {}): Promise<VideoQA> {
    const model = await openModelInput(dir, options);
    if (!model.has('text_encoder') || !model.has('fusion') || !model.has('decoder'))
      throw new InvalidOptionError('model', `${model.location} is a '${model.manifest.task}' model without the text encoder, fusion and decoder VideoQA needs (modules: ${Object.keys(model.manifest.modules).join(', ')})`);
    await checkModelFits(model.manifest, model.location, ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder'], options.backend);
    // On webgpu text_states and merged_states feed the next module from GPU memory; fusion_text and
    // fusion_image (read by no VideoQA step) stay there too and are released right after the run.
    const [visual, text, fusion, decoder] = await Promise.all([
      VisualPath.load(model, options),
      loadTextEncoder(model, moduleOptions(options, ['text_states'])),
      loadFusion(model, moduleOptions(options, ['merged_states', 'fusion_text', 'fusion_image'])),
      TextDecoder.load(model, moduleOptions(options)),
    ]);
    const question = Pipeline.compose({
      modules: { text, fusion, decoder },
      inputs: { input_ids: text.inputs[0], attention_mask: text.inputs[1], image_embeds: fusion.inputs[2], image_mask: fusion.inputs[3] },
      connections: [
        ['input.input_ids', 'text.input_ids'],
        ['input.attention_mask', 'text.attention_mask'],
        ['input.attention_mask', 'fusion.text_mask'],
        ['text.text_states', 'fusion.text_states'],
        ['input.image_embeds', 'fusion.image_embeds'],
        ['input.image_mask', 'fusion.image_mask'],
        ['fusion.merged_states', 'decoder.memory'],
        ['fusion.merged_mask', 'decoder.memory_mask'],
      ],
    });
    return new VideoQA(model, visual, question, decoder, Mplug2Tokenizer.fromVocab(), [
      () => visual.dispose(),
      () => text.dispose(),
      () => fusion.dispose(),
      () => decoder.dispose(),
    ]);
  }

  /** Encodes videos once; pass the result to `ask` for any number of questions. */
  encodeVideo(video: VideoInput | readonly VideoInput[], timings: Timings = {}): Promise<VideoFeatures> {
    return this.visual.encode(video, timings);
  }

  /**
   * Answers `questions` about `video`. With one video, every question is asked about it; with
   * several, question i is asked about video i.
   */
  async ask(video: VideoInput | VideoFeatures, questions: string | readonly string[], options: QAOptions = {}): Promise<QAResult[]> {
    const timings: Timings = {};
    const start = now();
    const qs = typeof questions === 'string' ? [questions] : [...questions];
    if (qs.length === 0) throw new InvalidOptionError('questions', 'no question given');
    const features = isVideoFeatures(video) ? video : await this.visual.encode(video, timings, options.onProgress);
    let t = now();
    let memory: DecoderMemory;
    try {
      memory = await this.questionMemory(features, qs);
    } finally {
      // Features encoded for this call only are released here (GPU memory on webgpu).
      if (features !== video) disposeVideoFeatures(features);
    }
    timings.text_fusion_s = (now() - t) / 1000;
    t = now();
    const cfg = this.model.manifest.config.model_config;
    let results: QAResult[];
    // The question memory (cross K/V, in GPU memory on webgpu) lives for this call only.
    try {
      if (options.answers) {
        const answers = options.answers;
        const k = options.k ?? Math.min(cfg.k_test ?? 128, answers.length);
        const a = this.tokenizer.encodeAnswers(answers);
        const ranked = await rankAnswers(this.decoder, memory, a.inputIds, a.attentionMask, k);
        results = ranked.results.map((r, i) => ({
          question: qs[i],
          answer: answers[r.ids[0]],
          ids: a.inputIds[r.ids[0]].filter((id) => id !== 0),
          score: r.probs[0],
          ranked: r.ids.map((id, j) => ({ answer: answers[id], prob: r.probs[j] })),
          timings,
        }));
      } else {
        const search = await beamSearch(this.decoder, memory, beamSearchOptions(cfg, options, { minLength: 1, maxLength: 10 }));
        results = search.map((s, i) => {
          const best = s.hypotheses[0];
          return { question: qs[i], answer: this.tokenizer.decode(best.ids), ids: best.ids, score: best.score, timings };
        });
      }
    } finally {
      disposeDecoderMemory(memory);
    }
    timings.generation_s = (now() - t) / 1000;
    timings.total_s = (now() - start) / 1000;
    return results;
  }

  /** Text encoder → fusion → decoder memory projection for `questions` about `features`. */
  private async questionMemory(features: VideoFeatures, questions: readonly string[]): Promise<DecoderMemory> {
    const videos = features.imageEmbeds.shape[0];
    if (videos !== 1 && videos !== questions.length)
      throw new InvalidOptionError('questions', `${questions.length} questions for ${videos} videos: give one question per video, or one video`);
    const rows = questions.map((_, i) => (videos === 1 ? 0 : i));
    const enc = this.tokenizer.encodeQuestions(questions);
    const imageEmbeds = await this.visual.selectRows(features.imageEmbeds, rows);
    try {
      const out = await this.question.run(
        {
          input_ids: int64Tensor(['batch', 'tokens'], enc.inputIds),
          attention_mask: int64Tensor(['batch', 'tokens'], enc.attentionMask),
          image_embeds: imageEmbeds,
          image_mask: await this.visual.selectRows(features.imageMask, rows),
        },
        {},
        { outputs: this.decoder.outputs.map((o): PortRef => `decoder.${o.name}`) },
      );
      return {
        batch: questions.length,
        cross: Object.fromEntries(Object.entries(out).filter(([k]) => k.startsWith('decoder.cross_')).map(([k, v]) => [k.slice('decoder.'.length), v as Tensor<'float32'>])),
        mask: out['decoder.memory_mask'] as Tensor<'int64'>,
      };
    } finally {
      if (imageEmbeds !== features.imageEmbeds) disposeDeviceTensors([imageEmbeds]);
    }
  }

  async dispose(): Promise<void> {
    for (const d of this.disposers) await d();
  }
}
