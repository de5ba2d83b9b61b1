import { InvalidOptionError, openModel, sha256File } from '@mplug2/core';
import {
  EvalStore,
  evaluateUnit,
  modelFingerprint,
  planEvaluation,
  runOptions,
  scoreCaptionsWithJava,
  type EvalOptions,
  type EvalUnit,
  type EvaluateDatasetOptions,
  type EvaluateDatasetResult,
  type UnitResult,
} from '@mplug2/eval';
import type { Captioner, VideoQA } from '@mplug2/tasks';
import type { QueueCoordinator, QueueProgress, WorkItem } from './coordinator.js';
import { jobId } from './jobs.js';
import type { JobProcessor } from './worker.js';

/** Job kind of one video's evaluation unit (all its questions / caption lines). */
export const EVAL_KIND = 'eval';

export interface EvalJobData {
  readonly unit: EvalUnit;
  /** sha256 of the video file as the coordinator read it. */
  readonly sha256: string;
  readonly options: EvalOptions;
}

/** Same model files, video content, task, questions and result-changing options → same job. */
export function evalJobId(fingerprint: string, unit: EvalUnit, sha256: string, options: EvalOptions): string {
  const lines = unit.task === 'videoqa' ? unit.items.map((q) => q.questionId) : unit.items.map((c) => c.line);
  return jobId(EVAL_KIND, [fingerprint, unit.videoPath, sha256, unit.task, JSON.stringify(lines), JSON.stringify(runOptions(options))]);
}

/**
 * Worker side: `evaluateUnit` (what the embedded `evaluateDataset` runs per video) on the task the
 * unit needs, loaded on first use. A video that cannot be decoded is a result (`ok: false`), as in
 * the embedded run; the file must have the content the coordinator hashed.
 */
export function evalProcessor(load: (task: EvalUnit['task']) => Promise<VideoQA | Captioner>): JobProcessor {
  return async (raw) => {
    const { unit, sha256, options } = raw as EvalJobData;
    const here = await sha256File(unit.videoPath);
    if (here !== sha256)
      throw new Error(
        `${unit.videoPath}: content differs from what the coordinator planned (sha256 ${here.slice(0, 12)}… here, ${sha256.slice(0, 12)}… there); workers must see the same files`,
      );
    return evaluateUnit(await load(unit.task), unit, options) satisfies Promise<UnitResult>;
  };
}

export interface QueueEvalOptions extends Omit<EvaluateDatasetOptions, 'onProgress' | 'load'> {
  readonly onProgress?: (p: QueueProgress) => void;
}

/**
 * Coordinator side of `evaluateDataset`: the same plan and `--out` run (header checked, finished
 * videos skipped), one job per video unit, each result put into the `EvalStore` once, then the same
 * `results.json` / `metrics.json`. A unit whose job fails for good (retries exhausted, wrong model)
 * is recorded as a failed video with the job's last error, so a re-run tries it again.
 */
export async function evaluateDatasetOnQueue(coordinator: QueueCoordinator, options: QueueEvalOptions): Promise<EvaluateDatasetResult> {
  if (options.answers && options.task !== 'videoqa') throw new InvalidOptionError('--answers', 'ranks VideoQA answers; captioning generates');
  if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize >= 1))
    throw new InvalidOptionError('--batch', `must be an integer >= 1, got ${options.batchSize}`);
  const plan = await planEvaluation(options);
  const source = await openModel(options.model, { verify: 'none' });
  // The run header's model identity without loading any session: modelFingerprint reads only the manifest.
  const fingerprint = modelFingerprint({ model: source } as VideoQA);
  const store = await EvalStore.open(options.out, plan, { model: fingerprint, options: runOptions(options) }, { restart: options.restart });
  // Everything but where the run reads and writes is an evaluateUnit option (travels with each job).
  const {
    model: _model,
    out: _out,
    restart: _restart,
    annotations: _annotations,
    videos: _videos,
    task: _task,
    onProgress: _onProgress,
    meteorJar: _meteor,
    spiceJar: _spice,
    java: _java,
    ...unitOptions
  } = options;
  const todo = plan.units.filter((u) => !store.has(u.videoId));
  const items: WorkItem<EvalJobData>[] = [];
  for (const unit of todo) {
    const sha256 = await sha256File(unit.videoPath);
    items.push({ id: evalJobId(fingerprint, unit, sha256, unitOptions), data: { unit, sha256, options: unitOptions } satisfies EvalJobData });
  }
  let encoded = 0;
  const r = await coordinator.run<EvalJobData, UnitResult>({
    kind: EVAL_KIND,
    modelId: source.manifest.modelId,
    items,
    sink: async (results) => {
      for (const { result } of results) {
        if (store.has(result.videoId)) continue;
        store.put(result);
        if (result.ok) encoded += result.videosEncoded;
      }
    },
    onProgress: options.onProgress,
  });
  for (const f of r.failed) store.put({ videoId: f.data.unit.videoId, ok: false, reason: `job failed: ${f.error}` });
  const { results, summary } = await store.finish(encoded, options.task === 'caption' ? (rs) => scoreCaptionsWithJava(rs, options) : undefined);
  return { summary, results, plan };
}
