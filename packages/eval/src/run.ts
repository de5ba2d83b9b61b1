import { createHash } from 'node:crypto';
import { InvalidOptionError } from '@mplug2/core';
import { Captioner, VideoQA, type TaskLoadOptions } from '@mplug2/tasks';
import { scoreCaptionsWithJava, type JavaScorerOptions } from './java.js';
import { planEvaluation, type EvalPlan, type PlanInput } from './plan.js';
import { EvalStore, type RunHeader } from './store.js';
import type { CaptionResultRecord, EvalSummary, QAResultRecord } from './types.js';
import { evaluateUnit, type EvalOptions } from './unit.js';

/** Progress of a dataset evaluation, after each video. */
export interface EvalProgress {
  /** Videos done (including those finished by an earlier, interrupted run) and in all. */
  readonly videosDone: number;
  readonly videos: number;
  /** Annotation lines (questions) done and in all. */
  readonly itemsDone: number;
  readonly items: number;
  /** Items evaluated by this process and the seconds it has spent (for rates and ETAs). */
  readonly itemsThisRun: number;
  readonly seconds: number;
}

/** Options of {@link evaluateDataset}. */
export interface EvaluateDatasetOptions extends PlanInput, EvalOptions, Pick<JavaScorerOptions, 'meteorJar' | 'spiceJar' | 'java'> {
  /** The converted model directory (or URL) to evaluate. */
  readonly model: string;
  /** The output directory: `run.json`, `progress.jsonl`, `results.json`, `metrics.json`. */
  readonly out: string;
  /** Begin the output directory again, discarding a run there. */
  readonly restart?: boolean;
  /** Task load options (backend, threads, …). */
  readonly load?: TaskLoadOptions;
  readonly onProgress?: (p: EvalProgress) => void;
}

/** What a finished {@link evaluateDataset} returns (also written to `out`). */
export interface EvaluateDatasetResult {
  readonly summary: EvalSummary;
  readonly results: QAResultRecord[] | CaptionResultRecord[];
  readonly plan: EvalPlan;
}

/** The result-changing options of a run, as recorded in its header. */
export function runOptions(options: EvalOptions): RunHeader['options'] {
  return {
    answers: options.answers ? createHash('sha256').update(JSON.stringify(options.answers)).digest('hex') : null,
    k: options.k ?? null,
    beamSize: options.beamSize ?? null,
    minLength: options.minLength ?? null,
    maxLength: options.maxLength ?? null,
    // Same arithmetic either way, but a resumed run must not mix the two.
    videoMemory: options.videoMemory === false ? 0 : 1,
  };
}

/** A model's identity for a run header: its `modelId` and a digest of its manifest's file hashes. */
export function modelFingerprint(task: VideoQA | Captioner): string {
  const m = task.model.manifest;
  const files = createHash('sha256')
    .update(JSON.stringify(m.files.map((f) => [f.path, f.sha256])))
    .digest('hex')
    .slice(0, 16);
  return `${m.modelId}:${files}`;
}

/**
 * Evaluates a model on a dataset as the original's inference scripts do, resumably: plans the
 * units, opens the run in `out` (refusing another model/annotations/options), evaluates every video
 * not finished yet (each decoded and encoded once), and writes `results.json` and `metrics.json`.
 * Missing and undecodable videos are listed in `summary.failed`; the rest is evaluated.
 */
export async function evaluateDataset(options: EvaluateDatasetOptions): Promise<EvaluateDatasetResult> {
  if (options.answers && options.task !== 'videoqa') throw new InvalidOptionError('--answers', 'ranks VideoQA answers; captioning generates');
  if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize >= 1))
    throw new InvalidOptionError('--batch', `must be an integer >= 1, got ${options.batchSize}`);
  const plan = await planEvaluation(options);
  const model = options.task === 'videoqa' ? await VideoQA.load(options.model, options.load) : await Captioner.load(options.model, options.load);
  try {
    const store = await EvalStore.open(options.out, plan, { model: modelFingerprint(model), options: runOptions(options) }, { restart: options.restart });
    const items = plan.units.reduce((s, u) => s + u.items.length, 0);
    let itemsDone = plan.units.filter((u) => store.has(u.videoId)).reduce((s, u) => s + u.items.length, 0);
    let itemsThisRun = 0;
    let encoded = 0;
    const start = performance.now();
    const report = () =>
      options.onProgress?.({
        videosDone: store.finished,
        videos: plan.units.length,
        itemsDone,
        items,
        itemsThisRun,
        seconds: (performance.now() - start) / 1000,
      });
    report();
    for (const unit of plan.units) {
      if (store.has(unit.videoId)) continue;
      const r = await evaluateUnit(model, unit, options);
      store.put(r);
      if (r.ok) {
        encoded += r.videosEncoded;
        itemsDone += unit.items.length;
        itemsThisRun += unit.items.length;
      }
      report();
    }
    const { results, summary } = await store.finish(encoded, options.task === 'caption' ? (rs) => scoreCaptionsWithJava(rs, options) : undefined);
    return { summary, results, plan };
  } finally {
    await model.dispose();
  }
}
