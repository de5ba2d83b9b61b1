import { InvalidOptionError, VideoDecodeError } from '@mplug2/core';
import { disposeDecoderMemory, type DecoderMemory } from '@mplug2/decoder';
import { disposeVideoFeatures, type Captioner, type GenerationOptions, type VideoFeatures, type VideoQA } from '@mplug2/tasks';
import type { CaptionResultRecord, EvalUnit, QAResultRecord, UnitResult } from './types.js';

/** Options that change results (recorded in a run's header) and how questions are batched (which does not). */
export interface EvalOptions extends Pick<GenerationOptions, 'beamSize' | 'minLength' | 'maxLength'> {
  /** VideoQA: rank these candidate answers (`rank_answer`) instead of generating (the released script generates). */
  readonly answers?: readonly string[];
  /** VideoQA ranking: candidates kept after the first-token pass (default: the model's `k_test`). */
  readonly k?: number;
  /** VideoQA: questions of one video run through text encoder, fusion and decoder together, this many at a time (default 4; at the large size each question of a batch holds ~0.4 GB of decoder keys/values). */
  readonly batchSize?: number;
  /**
   * VideoQA: project the video's tokens into the decoder's cross-attention keys/values once per
   * video (`VideoQA.encodeVideoMemory`) instead of once per question (default true; off, or not
   * possible — webgpu, fusion with merged-attention layers — every question projects them).
   */
  readonly videoMemory?: boolean;
}

/** Default number of questions of one video evaluated together. */
export const DEFAULT_QUESTION_BATCH = 4;

/**
 * Evaluates one video: decodes and encodes it once, then answers all its questions in batches
 * (VideoQA) or captions it once for each of its annotation lines (captioning). A video ffmpeg
 * cannot decode is `{ ok: false, reason }`; any other error (model, options) is thrown.
 */
export async function evaluateUnit(model: VideoQA | Captioner, unit: EvalUnit, options: EvalOptions = {}): Promise<UnitResult> {
  let features;
  try {
    features = await model.encodeVideo(unit.videoPath);
  } catch (e) {
    // ffmpeg prints its contexts' memory addresses (`[mov,mp4 @ 0x55…]`): dropped so the reason, and the
    // metrics.json that lists it, is the same on every run.
    if (e instanceof VideoDecodeError) return { videoId: unit.videoId, ok: false, reason: e.message.replace(/ @ 0x[0-9a-f]+/g, '') };
    throw e;
  }
  try {
    const generation = { beamSize: options.beamSize, minLength: options.minLength, maxLength: options.maxLength };
    if (unit.task === 'videoqa') {
      if (!('ask' in model)) throw new InvalidOptionError('model', 'a VideoQA unit needs a VideoQA task (a model with text encoder, fusion and decoder)');
      const batch = options.batchSize ?? DEFAULT_QUESTION_BATCH;
      const records: QAResultRecord[] = [];
      const videoMemory = options.videoMemory === false ? undefined : await videoMemoryOf(model, features);
      try {
        for (let i = 0; i < unit.items.length; i += batch) {
          const items = unit.items.slice(i, i + batch);
          const answers = await model.ask(
            features,
            items.map((q) => q.question),
            { ...generation, answers: options.answers, k: options.k, videoMemory },
          );
          answers.forEach((a, j) => records.push({ question_id: items[j].questionId, answer: a.answer }));
        }
      } finally {
        if (videoMemory) disposeDecoderMemory(videoMemory);
      }
      return { videoId: unit.videoId, ok: true, records, videosEncoded: 1 };
    }
    if (!('caption' in model)) throw new InvalidOptionError('model', 'a captioning unit needs a Captioner task');
    const [c] = await model.caption(features, generation);
    const records: CaptionResultRecord[] = unit.items.map((it) => ({ video_id: unit.videoId, pred_caption: c.caption, gold_caption: it.goldCaptions }));
    return { videoId: unit.videoId, ok: true, records, videosEncoded: 1 };
  } finally {
    disposeVideoFeatures(features);
  }
}

/** The video's decoder K/V when this model and backend allow computing them once per video; else undefined. */
async function videoMemoryOf(model: VideoQA, features: VideoFeatures): Promise<DecoderMemory | undefined> {
  try {
    return await model.encodeVideoMemory(features);
  } catch (e) {
    if (e instanceof InvalidOptionError && e.option === 'videoMemory') return undefined;
    throw e;
  }
}
