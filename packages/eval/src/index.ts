// Browser-safe entry of @mplug2/eval (default and `browser` condition): the metrics, the PTB
// tokenizer and annotation parsing, with no Node built-ins. The file-based runner (plans, units,
// the resumable result store, result-file scoring, METEOR/SPICE jars) is in `node.ts`.
export { AnnotationError, EvalRunMismatchError } from './errors.js';
export type {
  CaptionItem,
  CaptionMetrics,
  CaptionResultRecord,
  EvalSummary,
  EvalTask,
  EvalUnit,
  FailedVideo,
  QAItem,
  QAMetrics,
  QAResultRecord,
  UnitResult,
} from './types.js';
export { type AnnotationLine, groupByVideo, parseAnnotations, videoFileCandidates } from './annotations.js';
export { type CaptionScoreOptions, type TokenizedCaptions, scoreCaptions, tokenizeCaptionResults, vqaAccuracy } from './score.js';
export { PTB_PUNCTUATION, ptbTokenize, ptbTokens } from './metrics/ptb.js';
export { type BleuScores, bleu } from './metrics/bleu.js';
export { type RougeScores, rougeL } from './metrics/rouge.js';
export { type CiderScores, ciderD } from './metrics/cider.js';
