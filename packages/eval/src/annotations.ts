import { AnnotationError } from './errors.js';
import type { CaptionItem, EvalTask, QAItem } from './types.js';

/** One annotation line as the original's `video_downstream_datasets.py` reads it. */
export type AnnotationLine = { readonly videoId: string } & (
  | { readonly task: 'videoqa'; readonly item: QAItem }
  | { readonly task: 'caption'; readonly item: CaptionItem }
);

/**
 * Parses an annotations file: JSON lines (the original's format; blank lines are skipped but keep
 * their index, so ids stay line indices) or a JSON array. VideoQA lines are
 * `{"video_id", "question", "answer"}` (question id = 0-based line index); captioning lines are
 * `{"video_id", "golden_caption": [...]}` (a single string is accepted as a one-caption list).
 * A line that is not JSON or lacks a field is an {@link AnnotationError} naming the file and line.
 */
export function parseAnnotations(text: string, task: EvalTask, file = 'annotations'): AnnotationLine[] {
  const trimmed = text.trimStart();
  let entries: { value: unknown; index: number; line: number | undefined }[];
  if (trimmed.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      throw new AnnotationError(file, undefined, `not valid JSON: ${(e as Error).message}`);
    }
    entries = (arr as unknown[]).map((value, index) => ({ value, index, line: index }));
  } else {
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    entries = [];
    lines.forEach((raw, index) => {
      if (raw.trim() === '') return;
      try {
        entries.push({ value: JSON.parse(raw), index, line: index + 1 });
      } catch (e) {
        throw new AnnotationError(file, index + 1, `not a JSON line: ${(e as Error).message}`);
      }
    });
  }
  if (entries.length === 0) throw new AnnotationError(file, undefined, 'no annotation lines');
  return entries.map(({ value, index, line }) => {
    if (typeof value !== 'object' || value === null) throw new AnnotationError(file, line, 'expected a JSON object');
    const o = value as Record<string, unknown>;
    const id = o.video_id;
    if (typeof id !== 'string' && typeof id !== 'number') throw new AnnotationError(file, line, "missing 'video_id'");
    const videoId = String(id);
    if (task === 'videoqa') {
      if (typeof o.question !== 'string') throw new AnnotationError(file, line, "missing 'question' (a VideoQA line is {video_id, question, answer})");
      if (typeof o.answer !== 'string') throw new AnnotationError(file, line, "missing 'answer' (a VideoQA line is {video_id, question, answer})");
      return { videoId, task, item: { questionId: index, question: o.question, answer: o.answer } };
    }
    const gold = typeof o.golden_caption === 'string' ? [o.golden_caption] : o.golden_caption;
    if (!Array.isArray(gold) || gold.length === 0 || !gold.every((g) => typeof g === 'string'))
      throw new AnnotationError(file, line, "missing 'golden_caption' (a captioning line is {video_id, golden_caption: [...]})");
    return { videoId, task, item: { line: index, goldCaptions: gold as string[] } };
  });
}

/**
 * The file names the original tries for a video id under the videos root, in order: TGIF ids
 * (`tumblr_…`) are GIFs; others `<id>.mp4`, then `<id>.avi`. An id that already names a file
 * (has an extension) is tried as is first.
 */
export function videoFileCandidates(videoId: string): string[] {
  const out: string[] = [];
  if (/\.(mp4|avi|gif|webm|mkv|mov)$/i.test(videoId)) out.push(videoId);
  if (videoId.startsWith('tumblr_')) out.push(`${videoId}.gif`);
  out.push(`${videoId}.mp4`, `${videoId}.avi`);
  return [...new Set(out)];
}

/** Groups annotation lines by video, videos in order of first appearance. */
export function groupByVideo(lines: readonly AnnotationLine[]): Map<string, AnnotationLine[]> {
  const groups = new Map<string, AnnotationLine[]>();
  for (const l of lines) {
    const g = groups.get(l.videoId);
    if (g) g.push(l);
    else groups.set(l.videoId, [l]);
  }
  return groups;
}
