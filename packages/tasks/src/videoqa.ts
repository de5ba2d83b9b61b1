import {
  InvalidOptionError,
  Pipeline,
  checkModelFits,
  controlledLoad,
  disposeDeviceTensors,
  int64Tensor,
  isDeviceTensor,
  tensor,
  throwIfAborted,
  type ModelSource,
  type PortRef,
  type Tensor,
} from '@mplug2/core';
import { TextDecoderModule, beamSearch, disposeDecoderMemory, rankAnswers, type DecoderMemory } from '@mplug2/decoder';
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
import { streamSteps, type StreamUpdate } from './stream.js';

export interface QAOptions extends GenerationOptions {
  /** Rank these candidate answers (closed vocabulary, `rank_answer`) instead of generating. */
  readonly answers?: readonly string[];
  /** Candidates kept after the first-token pass (released config: 128). */
  readonly k?: number;
  /**
   * The decoder's cross-attention keys/values of the video tokens from `encodeVideoMemory` (one
   * video): the decoder memory `[video; fused question]` is then built from them and the questions'
   * part only, instead of projecting the video's 4097 tokens again for every question.
   */
  readonly videoMemory?: DecoderMemory;
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
    /** Text encoder → fusion only (the question half of `question`, for memories built on a cached video part). */
    readonly questionStates: Pipeline,
    readonly decoder: TextDecoderModule,
    readonly tokenizer: Mplug2Tokenizer,
    private readonly disposers: (() => Promise<void>)[],
  ) {}

  /**
   * `dir`: a model directory, an http(s) URL (downloaded once, verified, cached; see `openModel`) or an open
   * `ModelSource`. `options.signal` cancels the load (AbortError; sessions created so far are released).
   */
  static async load(dir: ModelInput, options: TaskLoadOptions = {}): Promise<VideoQA> {
    const what = 'loading VideoQA';
    const model = await openModelInput(dir, options, what);
    if (!model.has('text_encoder') || !model.has('fusion') || !model.has('decoder'))
      throw new InvalidOptionError(
        'model',
        `${model.location} is a '${model.manifest.task}' model without the text encoder, fusion and decoder VideoQA needs (modules: ${Object.keys(model.manifest.modules).join(', ')})`,
      );
    await checkModelFits(model.manifest, model.location, ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder'], options.backend);
    return controlledLoad(model, ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder'], what, options, (source) =>
      VideoQA.build(model, source, options),
    );
  }

  private static async build(model: ModelSource, source: ModelSource, options: TaskLoadOptions): Promise<VideoQA> {
    // On webgpu text_states and merged_states feed the next module from GPU memory; fusion_text and
    // fusion_image (read by no VideoQA step) stay there too and are released right after the run.
    const [visual, text, fusion, decoder] = await Promise.all([
      VisualPath.load(source, options),
      loadTextEncoder(source, moduleOptions(options, ['text_states'])),
      loadFusion(source, moduleOptions(options, ['merged_states', 'fusion_text', 'fusion_image'])),
      TextDecoderModule.load(source, moduleOptions(options)),
    ]);
    // Text encoder → fusion, shared by the full question pipeline and its question-states half.
    const inputs = { input_ids: text.inputs[0], attention_mask: text.inputs[1], image_embeds: fusion.inputs[2], image_mask: fusion.inputs[3] };
    const textFusion: [PortRef, PortRef][] = [
      ['input.input_ids', 'text.input_ids'],
      ['input.attention_mask', 'text.attention_mask'],
      ['input.attention_mask', 'fusion.text_mask'],
      ['text.text_states', 'fusion.text_states'],
      ['input.image_embeds', 'fusion.image_embeds'],
      ['input.image_mask', 'fusion.image_mask'],
    ];
    const question = Pipeline.compose({
      modules: { text, fusion, decoder },
      inputs,
      connections: [...textFusion, ['fusion.merged_states', 'decoder.memory'], ['fusion.merged_mask', 'decoder.memory_mask']],
    });
    const questionStates = Pipeline.compose({ modules: { text, fusion }, inputs, connections: textFusion });
    return new VideoQA(model, visual, question, questionStates, decoder, Mplug2Tokenizer.fromVocab(), [
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
   * The decoder's cross-attention keys/values of the video tokens of `features` (one video),
   * computed once: pass them as `videoMemory` to `ask` so each question only adds its own tokens
   * (the projection of the video's tokens is most of the per-question cost at the large size).
   * Valid because the fusion layers leave the video states unchanged (cross-attention layers only);
   * a model whose fusion has merged-attention layers, or features held in GPU memory, is refused.
   * Release with `disposeDecoderMemory`.
   */
  async encodeVideoMemory(features: VideoFeatures): Promise<DecoderMemory> {
    const t = this.model.manifest.dims.text;
    if (t.strideLayer < t.fusionLayers)
      throw new InvalidOptionError(
        'videoMemory',
        `this model's fusion has merged-attention layers (stride_layer ${t.strideLayer} < ${t.fusionLayers} layers): they change the video states per question`,
      );
    if (features.imageEmbeds.shape[0] !== 1)
      throw new InvalidOptionError('videoMemory', `needs the features of one video, got ${features.imageEmbeds.shape[0]}`);
    if (isDeviceTensor(features.imageEmbeds))
      throw new InvalidOptionError('videoMemory', 'features held in GPU memory (webgpu) are not supported: ask without videoMemory');
    const memory = await this.decoder.encodeMemory(features.imageEmbeds, features.imageMask);
    if (Object.values(memory.cross).some(isDeviceTensor)) {
      disposeDecoderMemory(memory);
      throw new InvalidOptionError('videoMemory', 'a decoder running on webgpu keeps its memory in GPU memory: ask without videoMemory');
    }
    return memory;
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
    throwIfAborted(options.signal, 'VideoQA.ask');
    const features = isVideoFeatures(video) ? video : await this.visual.encode(video, timings, options.onProgress);
    let t = now();
    let memory: DecoderMemory;
    try {
      throwIfAborted(options.signal, 'VideoQA.ask');
      memory = options.videoMemory ? await this.memoryOnVideo(features, qs, options.videoMemory) : await this.questionMemory(features, qs);
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
      throwIfAborted(options.signal, 'VideoQA.ask');
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

  /**
   * Answers one question, yielding the best hypothesis after every decoding step and then
   * `{ done: true, result }` (ranking mode yields the result only). Leaving the loop early aborts
   * the call (see `streamSteps`).
   */
  askStream(
    video: VideoInput | VideoFeatures,
    question: string,
    options: Omit<QAOptions, 'onStep'> = {},
  ): AsyncGenerator<StreamUpdate<QAResult>, void, undefined> {
    return streamSteps(
      (onStep, signal) => this.ask(video, question, { ...options, onStep, signal }).then((r) => r[0]),
      (ids) => this.tokenizer.decode([...ids]),
      options.signal,
      'VideoQA.askStream',
    );
  }

  /**
   * As `questionMemory`, with the video's cross K/V given: the decoder projects only the fused
   * question tokens, and each row's memory K/V is `[video; question]` along the token axis.
   */
  private async memoryOnVideo(features: VideoFeatures, questions: readonly string[], video: DecoderMemory): Promise<DecoderMemory> {
    if (features.imageEmbeds.shape[0] !== 1 || video.batch !== 1)
      throw new InvalidOptionError('videoMemory', 'is the memory of one video; ask about that video only');
    const rows = questions.map(() => 0);
    const enc = this.tokenizer.encodeQuestions(questions);
    const imageEmbeds = await this.visual.selectRows(features.imageEmbeds, rows);
    let fused: Tensor<'float32'>;
    let mask: Tensor<'int64'>;
    const textMask = int64Tensor(['batch', 'tokens'], enc.attentionMask);
    try {
      const out = await this.questionStates.run(
        {
          input_ids: int64Tensor(['batch', 'tokens'], enc.inputIds),
          attention_mask: textMask,
          image_embeds: imageEmbeds,
          image_mask: await this.visual.selectRows(features.imageMask, rows),
        },
        {},
        { outputs: ['fusion.fusion_text', 'fusion.merged_mask'] },
      );
      fused = out['fusion.fusion_text'] as Tensor<'float32'>;
      mask = out['fusion.merged_mask'] as Tensor<'int64'>;
    } finally {
      if (imageEmbeds !== features.imageEmbeds) disposeDeviceTensors([imageEmbeds]);
    }
    const text = await this.decoder.encodeMemory(fused, textMask);
    const cross: Record<string, Tensor<'float32'>> = {};
    for (const [name, v] of Object.entries(video.cross)) cross[name] = concatTokens(v, text.cross[name], questions.length);
    return { batch: questions.length, cross, mask };
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
        cross: Object.fromEntries(
          Object.entries(out)
            .filter(([k]) => k.startsWith('decoder.cross_'))
            .map(([k, v]) => [k.slice('decoder.'.length), v as Tensor<'float32'>]),
        ),
        mask: out['decoder.memory_mask'] as Tensor<'int64'>,
      };
    } finally {
      if (imageEmbeds !== features.imageEmbeds) disposeDeviceTensors([imageEmbeds]);
    }
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async dispose(): Promise<void> {
    for (const d of this.disposers) await d();
  }
}

/**
 * Cross K/V `[batch, heads, tokens, head_dim]`: row b is `video` row 0's tokens followed by
 * `question` row b's, per head (the key order of the memory `[video; fused question]`).
 */
function concatTokens(video: Tensor<'float32'>, question: Tensor<'float32'>, batch: number): Tensor<'float32'> {
  const [, heads, nv, dh] = video.shape;
  const nq = question.shape[2];
  const out = new Float32Array(batch * heads * (nv + nq) * dh);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++) {
      const o = (b * heads + h) * (nv + nq) * dh;
      out.set(video.data.subarray(h * nv * dh, (h + 1) * nv * dh), o);
      out.set(question.data.subarray((b * heads + h) * nq * dh, (b * heads + h + 1) * nq * dh), o + nv * dh);
    }
  return tensor('float32', question.dims, [batch, heads, nv + nq, dh], out);
}
