export { buildTextEncoderGraph, TEXT_PREFIX, type TextEncoderMode } from './graph.js';
export { loadTextEncoder, textEncoderPorts } from './module.js';
export {
  type AnswerOptions,
  type BatchEncoding,
  BERT_BASE_UNCASED_VOCAB,
  BERT_BASE_UNCASED_VOCAB_SHA256,
  BERT_BASE_UNCASED_VOCAB_SIZE,
  CAPTION_MAX_LENGTH,
  CAPTION_MAX_WORDS,
  CAPTION_PROMPT,
  type CaptionOptions,
  type EncodeOptions,
  type Encoding,
  EOS,
  MAX_INPUT_CHARS_PER_WORD,
  MAX_POSITIONS,
  Mplug2Tokenizer,
  preCaption,
  preQuestion,
  QUESTION_MAX_WORDS,
  type QuestionOptions,
  SequenceTooLongError,
  SPECIAL_TOKENS,
  type TaskBatchEncoding,
} from './tokenizer/index.js';
export { buildTextProjGraph, textProjPorts } from './heads.js';
