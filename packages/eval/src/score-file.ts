import { readFile } from 'node:fs/promises';
import { parseAnnotations } from './annotations.js';
import { AnnotationError } from './errors.js';
import { scoreCaptionsWithJava, type JavaScorerOptions } from './java.js';
import { vqaAccuracy } from './score.js';
import type { CaptionResultRecord, EvalSummary, QAItem, QAResultRecord } from './types.js';

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new AnnotationError(file, undefined, `cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AnnotationError(file, undefined, `not valid JSON: ${(e as Error).message}`);
  }
}

/** Options of {@link scoreResultFile}. */
export interface ScoreFileOptions extends JavaScorerOptions {
  /** VideoQA: the annotations file whose labels the question ids index (required for VideoQA results). */
  readonly annotations?: string;
}

/**
 * Scores an existing result file — ours or one the original's scripts wrote — with the same
 * metrics as `eval run`: `[{question_id, answer}]` (VideoQA, labels from `annotations`) or
 * `[{video_id, pred_caption, gold_caption}]` (captioning). The task is read from the records' fields.
 */
export async function scoreResultFile(file: string, options: ScoreFileOptions = {}): Promise<EvalSummary> {
  const json = await readJson(file);
  if (!Array.isArray(json) || json.length === 0) throw new AnnotationError(file, undefined, 'expected a non-empty JSON array of results');
  const first = json[0] as Record<string, unknown>;
  if (first && typeof first === 'object' && 'question_id' in first) {
    if (!options.annotations) throw new AnnotationError(file, undefined, 'VideoQA results need --annotations (the labels their question ids index)');
    const lines = parseAnnotations(
      await readFile(options.annotations, 'utf8').catch((e: Error) => {
        throw new AnnotationError(options.annotations!, undefined, `cannot read: ${e.message}`);
      }),
      'videoqa',
      options.annotations,
    );
    const results: QAResultRecord[] = json.map((r: Record<string, unknown>, i) => {
      const id = typeof r?.question_id === 'string' && /^\d+$/.test(r.question_id) ? Number(r.question_id) : r?.question_id;
      if (typeof id !== 'number' || !Number.isInteger(id) || typeof r.answer !== 'string')
        throw new AnnotationError(file, i, 'a VideoQA result is {question_id: integer, answer: string}');
      return { question_id: id, answer: r.answer };
    });
    const acc = vqaAccuracy(
      results,
      lines.map((l) => l.item as QAItem),
      file,
    );
    return { task: 'videoqa', n: acc.n, metrics: { accuracy: acc.accuracy, correct: acc.correct }, videos_encoded: 0, failed: [] };
  }
  if (first && typeof first === 'object' && 'pred_caption' in first) {
    const results = json as CaptionResultRecord[];
    results.forEach((r, i) => {
      if (typeof r?.pred_caption !== 'string' || !Array.isArray(r.gold_caption) || !r.gold_caption.every((g) => typeof g === 'string'))
        throw new AnnotationError(file, i, 'a caption result is {video_id, pred_caption: string, gold_caption: string[]}');
    });
    return { task: 'caption', n: results.length, metrics: await scoreCaptionsWithJava(results, options), videos_encoded: 0, failed: [] };
  }
  throw new AnnotationError(file, 0, 'not a result file: entries are {question_id, answer} (VideoQA) or {video_id, pred_caption, gold_caption} (captioning)');
}
