export {
  BOS_TOKEN_ID,
  EOS_TOKEN_ID,
  PAD_TOKEN_ID,
  type GenerationDecoder,
} from './common.js';
export { selectMemorySamples } from '../memory-selection.js';
export {
  beamSearch,
  greedySearch,
  type BeamSearchOptions,
  type BeamSearchResult,
  type BeamStepEvent,
  type BeamStepSample,
  type GreedySearchOptions,
  type Hypothesis,
} from './beam-search.js';
export {
  DEFAULT_LOGITS_BUDGET,
  sequenceLosses,
  teacherForcedLoss,
  type RowLosses,
  type SequenceLossOptions,
  type TeacherForcedLossOptions,
} from './loss.js';
export { rankAnswers, type RankAnswersOptions, type RankAnswersResult, type RankedAnswers } from './rank.js';
