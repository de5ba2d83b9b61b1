export {
  Mplug2Tokenizer,
  SPECIAL_TOKENS,
  MAX_POSITIONS,
  MAX_INPUT_CHARS_PER_WORD,
  CAPTION_PROMPT,
  CAPTION_MAX_LENGTH,
  EOS,
} from './tokenizer.js';
export type {
  EncodeOptions,
  Encoding,
  BatchEncoding,
  TaskBatchEncoding,
  QuestionOptions,
  AnswerOptions,
  CaptionOptions,
} from './tokenizer.js';
export { preQuestion, preCaption, QUESTION_MAX_WORDS, CAPTION_MAX_WORDS } from './preprocess.js';
export { SequenceTooLongError } from './errors.js';
export {
  BERT_BASE_UNCASED_VOCAB,
  BERT_BASE_UNCASED_VOCAB_SHA256,
  BERT_BASE_UNCASED_VOCAB_SIZE,
} from './vocab.generated.js';
