// Node entry of @mplug2/eval (the `node` condition): the browser-safe `index.ts` plus the
// file-based evaluation (plans from annotations and a videos root, per-video units, the resumable
// result store, result-file scoring and the METEOR / SPICE jars).
export {
  AnnotationError,
  type AnnotationLine,
  type BleuScores,
  type CaptionItem,
  type CaptionMetrics,
  type CaptionResultRecord,
  type CaptionScoreOptions,
  type CiderScores,
  EvalRunMismatchError,
  type EvalSummary,
  type EvalTask,
  type EvalUnit,
  type FailedVideo,
  PTB_PUNCTUATION,
  type QAItem,
  type QAMetrics,
  type QAResultRecord,
  type RougeScores,
  type TokenizedCaptions,
  type UnitResult,
  bleu,
  ciderD,
  groupByVideo,
  parseAnnotations,
  ptbTokenize,
  ptbTokens,
  rougeL,
  scoreCaptions,
  tokenizeCaptionResults,
  videoFileCandidates,
  vqaAccuracy,
} from './index.js';
export { type EvalPlan, type PlanInput, planEvaluation } from './plan.js';
export { DEFAULT_QUESTION_BATCH, type EvalOptions, evaluateUnit } from './unit.js';
export { EVAL_FILES, EvalStore, type RunHeader } from './store.js';
export { type EvalProgress, type EvaluateDatasetOptions, type EvaluateDatasetResult, evaluateDataset, modelFingerprint, runOptions } from './run.js';
export { JavaScorerError, type JavaScorerOptions, meteorScore, scoreCaptionsWithJava, spiceScore } from './java.js';
export { type ScoreFileOptions, scoreResultFile } from './score-file.js';
