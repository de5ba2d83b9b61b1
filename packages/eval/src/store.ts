import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EvalRunMismatchError } from './errors.js';
import type { EvalPlan } from './plan.js';
import { scoreCaptions, vqaAccuracy } from './score.js';
import type { CaptionMetrics, CaptionResultRecord, EvalSummary, EvalTask, FailedVideo, QAItem, QAMetrics, QAResultRecord, UnitResult } from './types.js';

/** What identifies a run: a different header in the same directory is refused. */
export interface RunHeader {
  readonly format: 'mplug2-eval-run';
  readonly version: 1;
  readonly task: EvalTask;
  /** The model's `modelId` and a digest of its manifest's files (weights, graphs). */
  readonly model: string;
  readonly annotationsSha256: string;
  /** Options that change results (answers list digest, k, beam size, min/max length). */
  readonly options: Readonly<Record<string, string | number | null>>;
}

/** Files of an output directory. */
export const EVAL_FILES = { header: 'run.json', progress: 'progress.jsonl', results: 'results.json', metrics: 'metrics.json' } as const;

type ProgressLine = { videoId: string; records: (QAResultRecord | CaptionResultRecord)[] } | { videoId: string; failed: string };

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  await rename(tmp, file);
}

function headerDifferences(a: RunHeader, b: RunHeader): { field: string; existing: unknown; requested: unknown }[] {
  const diffs: { field: string; existing: unknown; requested: unknown }[] = [];
  for (const k of ['format', 'version', 'task', 'model', 'annotationsSha256'] as const)
    if (a[k] !== b[k]) diffs.push({ field: k, existing: a[k], requested: b[k] });
  for (const k of new Set([...Object.keys(a.options ?? {}), ...Object.keys(b.options)]))
    if ((a.options?.[k] ?? null) !== (b.options[k] ?? null))
      diffs.push({ field: `options.${k}`, existing: a.options?.[k] ?? null, requested: b.options[k] ?? null });
  return diffs;
}

/**
 * The results of one evaluation run in an `--out` directory, crash-safe and resumable:
 * `run.json` (the {@link RunHeader}, checked on every open), `progress.jsonl` (one line per finished
 * video, appended and fsynced as it completes; a torn last line from a crash is dropped on open),
 * and at {@link EvalStore.finish} `results.json` (the original's result format) and `metrics.json`,
 * both written to a temporary file and renamed.
 */
export class EvalStore {
  private readonly done = new Map<string, (QAResultRecord | CaptionResultRecord)[]>();
  private readonly failures = new Map<string, string>();

  private constructor(
    readonly dir: string,
    readonly header: RunHeader,
    readonly plan: EvalPlan,
  ) {}

  /**
   * Opens (or creates) the run in `dir`. A run of another model, annotations file, task or
   * result-changing option is an {@link EvalRunMismatchError}, unless `restart` (then the
   * directory's run files are removed first).
   */
  static async open(
    dir: string,
    plan: EvalPlan,
    header: Omit<RunHeader, 'format' | 'version' | 'task' | 'annotationsSha256'>,
    options: { restart?: boolean } = {},
  ): Promise<EvalStore> {
    const full: RunHeader = {
      format: 'mplug2-eval-run',
      version: 1,
      task: plan.task,
      model: header.model,
      annotationsSha256: plan.annotationsSha256,
      options: header.options,
    };
    await mkdir(dir, { recursive: true });
    const headerFile = path.join(dir, EVAL_FILES.header);
    if (options.restart) for (const f of Object.values(EVAL_FILES)) await rm(path.join(dir, f), { force: true });
    let existing: RunHeader | undefined;
    try {
      existing = JSON.parse(await readFile(headerFile, 'utf8')) as RunHeader;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') existing = { format: 'unreadable' } as unknown as RunHeader;
    }
    if (existing) {
      const diffs = headerDifferences(existing, full);
      if (diffs.length) throw new EvalRunMismatchError(dir, diffs);
    } else {
      await rm(path.join(dir, EVAL_FILES.progress), { force: true });
      await writeAtomic(headerFile, JSON.stringify(full, null, 1) + '\n');
    }
    const store = new EvalStore(dir, full, plan);
    await store.load();
    return store;
  }

  private get progressFile(): string {
    return path.join(this.dir, EVAL_FILES.progress);
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.progressFile, 'utf8');
    } catch {
      return;
    }
    let good = 0;
    for (const raw of text.split('\n')) {
      // Only newline-terminated lines count: a line cut by a crash (no newline) is dropped below.
      if (good + raw.length + 1 > text.length) break;
      let line: ProgressLine;
      try {
        line = JSON.parse(raw) as ProgressLine;
      } catch {
        break;
      }
      good += raw.length + 1;
      this.apply(line);
    }
    if (Buffer.byteLength(text.slice(0, good)) !== Buffer.byteLength(text)) await truncate(this.progressFile, Buffer.byteLength(text.slice(0, good)));
  }

  private apply(line: ProgressLine): void {
    if ('failed' in line) {
      if (!this.done.has(line.videoId)) this.failures.set(line.videoId, line.failed);
    } else {
      this.done.set(line.videoId, line.records);
      this.failures.delete(line.videoId);
    }
  }

  /** Whether `videoId` has finished (its results are stored). Failed videos are tried again. */
  has(videoId: string): boolean {
    return this.done.has(videoId);
  }

  /** Videos finished so far. */
  get finished(): number {
    return this.done.size;
  }

  /** Records a unit's outcome durably (appended and fsynced). Idempotent: a finished video is not written again. */
  put(result: UnitResult): void {
    if (this.done.has(result.videoId)) return;
    const line: ProgressLine = result.ok ? { videoId: result.videoId, records: [...result.records] } : { videoId: result.videoId, failed: result.reason };
    const fd = openSync(this.progressFile, 'a');
    try {
      writeSync(fd, JSON.stringify(line) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.apply(line);
  }

  /** Missing videos (plan) and videos that failed to decode, in annotation order. */
  failed(): FailedVideo[] {
    const failed: FailedVideo[] = [...this.plan.missing];
    for (const u of this.plan.units) {
      const reason = this.failures.get(u.videoId);
      if (reason !== undefined) failed.push({ video_id: u.videoId, reason });
    }
    return failed;
  }

  /**
   * Results in a deterministic order (VideoQA by question id; captions in annotation order) and their
   * metrics (null when nothing was evaluated), written to `results.json` and `metrics.json`.
   * `videosEncoded` is reported in the summary; `scoreCaptionResults` replaces {@link scoreCaptions}
   * (e.g. `scoreCaptionsWithJava` for METEOR / SPICE).
   */
  async finish(
    videosEncoded = 0,
    scoreCaptionResults: (results: CaptionResultRecord[]) => Promise<CaptionMetrics> | CaptionMetrics = scoreCaptions,
  ): Promise<{ results: QAResultRecord[] | CaptionResultRecord[]; summary: EvalSummary }> {
    let results: QAResultRecord[] | CaptionResultRecord[];
    let metrics: QAMetrics | CaptionMetrics | null;
    let n: number;
    if (this.plan.task === 'videoqa') {
      const qa: QAResultRecord[] = [];
      const labels = new Map<number, string>();
      for (const u of this.plan.units) {
        for (const it of u.items as readonly QAItem[]) labels.set(it.questionId, it.answer);
        qa.push(...((this.done.get(u.videoId) ?? []) as QAResultRecord[]));
      }
      qa.sort((a, b) => a.question_id - b.question_id);
      const acc = vqaAccuracy(qa, labels);
      metrics = acc.n ? { accuracy: acc.accuracy, correct: acc.correct } : null;
      n = acc.n;
      results = qa;
    } else {
      const caps: { line: number; r: CaptionResultRecord }[] = [];
      for (const u of this.plan.units) {
        const recs = (this.done.get(u.videoId) ?? []) as CaptionResultRecord[];
        recs.forEach((r, i) => caps.push({ line: (u.items[i] as { line: number }).line, r }));
      }
      caps.sort((a, b) => a.line - b.line);
      results = caps.map((c) => c.r);
      n = results.length;
      metrics = n ? await scoreCaptionResults(results) : null;
    }
    const summary: EvalSummary = { task: this.plan.task, n, metrics, videos_encoded: videosEncoded, failed: this.failed() };
    await writeAtomic(path.join(this.dir, EVAL_FILES.results), JSON.stringify(results) + '\n');
    await writeAtomic(path.join(this.dir, EVAL_FILES.metrics), JSON.stringify({ task: summary.task, n, metrics, failed: summary.failed }, null, 1) + '\n');
    return { results, summary };
  }
}
