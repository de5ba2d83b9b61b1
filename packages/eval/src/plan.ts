import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { groupByVideo, parseAnnotations, videoFileCandidates } from './annotations.js';
import { AnnotationError } from './errors.js';
import type { CaptionItem, EvalTask, EvalUnit, FailedVideo, QAItem } from './types.js';

/** Where the annotations and videos of an evaluation are. */
export interface PlanInput {
  readonly task: EvalTask;
  /** The annotations file (JSONL as the original's, or a JSON array). */
  readonly annotations: string;
  /** The videos root: `<root>/<video_id>.mp4`, then `.avi`; TGIF ids as `.gif`. */
  readonly videos: string;
}

/** The work of an evaluation: one unit per video found, and the videos that are missing. */
export interface EvalPlan {
  readonly task: EvalTask;
  readonly annotationsFile: string;
  /** sha256 of the annotations file's bytes (a run's identity, with the model's). */
  readonly annotationsSha256: string;
  /** Units in order of the videos' first appearance in the annotations. */
  readonly units: readonly EvalUnit[];
  /** Videos without a file under the root (their questions / lines are not evaluated). */
  readonly missing: readonly FailedVideo[];
  /** Annotation lines in all (questions for VideoQA). */
  readonly lines: number;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads the annotations and resolves each video under the videos root the way the original's
 * dataset does; a video with no file is listed in `missing` (its reason names the paths tried).
 */
export async function planEvaluation(input: PlanInput): Promise<EvalPlan> {
  let bytes: Buffer;
  try {
    bytes = await readFile(input.annotations);
  } catch (e) {
    throw new AnnotationError(input.annotations, undefined, `cannot read: ${(e as Error).message}`);
  }
  const lines = parseAnnotations(bytes.toString('utf8'), input.task, input.annotations);
  const units: EvalUnit[] = [];
  const missing: FailedVideo[] = [];
  for (const [videoId, group] of groupByVideo(lines)) {
    const tried = videoFileCandidates(videoId).map((f) => path.join(input.videos, f));
    let videoPath: string | undefined;
    for (const f of tried) if (await isFile(f)) videoPath ??= f;
    if (!videoPath) {
      missing.push({ video_id: videoId, reason: `no video file (tried ${tried.join(', ')})` });
      continue;
    }
    if (input.task === 'videoqa') units.push({ task: 'videoqa', videoId, videoPath, items: group.map((l) => l.item as QAItem) });
    else units.push({ task: 'caption', videoId, videoPath, items: group.map((l) => l.item as CaptionItem) });
  }
  return {
    task: input.task,
    annotationsFile: path.resolve(input.annotations),
    annotationsSha256: createHash('sha256').update(bytes).digest('hex'),
    units,
    missing,
    lines: lines.length,
  };
}
