/**
 * mPLUG-2's text pre-processing (`dataset/utils.py` of X-PLUG/mPLUG-2 @ a46aa972):
 * `pre_question` (VideoQA questions) and `pre_caption` (caption fine-tuning targets).
 * Spec §9.4; fixtures/goldens/tokenizer/README.md.
 */
import { InvalidOptionError } from '@mplug2/core';
import { isPySpace, pyRStripChars, pyStripChars } from './pytext.js';

/** Characters both functions delete: `re.sub(r"([,.'!?\"()*#:;~])", '', text)`. */
const DELETED = /[,.'!?"()*#:;~]/g;

/** VideoQA test-time question word limit (`max_ques_words` in the eval config). */
export const QUESTION_MAX_WORDS = 50;
/** Caption fine-tuning word limit (`max_words` 80 in the caption config). */
export const CAPTION_MAX_WORDS = 80;

function checkMaxWords(maxWords: number): void {
  if (typeof maxWords !== 'number' || !Number.isInteger(maxWords) || maxWords < 0) {
    throw new InvalidOptionError('maxWords', `expected a non-negative integer, got ${String(maxWords)}`);
  }
}

function checkText(text: unknown, what: string): asserts text is string {
  if (typeof text !== 'string') {
    throw new InvalidOptionError(what, `expected a string, got ${text === null ? 'null' : typeof text}`);
  }
}

/** `words = s.split(' '); if len(words) > max: s = ' '.join(words[:max])` */
function limitWords(s: string, maxWords: number): string {
  const words = s.split(' ');
  return words.length > maxWords ? words.slice(0, maxWords).join(' ') : s;
}

/** Python `re.sub(r"\s{2,}", ' ', s)` with Python's (Unicode) `\s`. */
function collapseWhitespaceRuns(s: string): string {
  let out = '';
  let run = '';
  const flush = (): void => {
    out += run.length >= 2 ? ' ' : run;
    run = '';
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    // All Python whitespace is in the BMP, so per-UTF-16-unit scanning is exact here.
    if (isPySpace(c)) run += c;
    else {
      if (run) flush();
      out += c;
    }
  }
  if (run) flush();
  return out;
}

/**
 * `pre_question(question, max_ques_words)`: lower-case (whole string, so a word-final `Σ`
 * becomes `ς`), delete ``,.'!?"()*#:;~``, turn `-` and `/` into spaces, strip trailing spaces
 * (spaces only), keep the first `maxWords` items of `split(' ')` (empty strings between double
 * spaces count as words; inner double spaces are kept).
 */
export function preQuestion(text: string, maxWords: number = QUESTION_MAX_WORDS): string {
  checkText(text, 'question');
  checkMaxWords(maxWords);
  let q = text.toLowerCase().replace(DELETED, '').replaceAll('-', ' ').replaceAll('/', ' ');
  q = pyRStripChars(q, ' ');
  return limitWords(q, maxWords);
}

/**
 * `pre_caption(caption, max_words)`: as {@link preQuestion}, plus `<person>` -> `person`,
 * runs of two or more whitespace characters -> one space, strip `\n` at the end, strip spaces
 * at both ends, then keep the first `maxWords` items of `split(' ')`.
 */
export function preCaption(text: string, maxWords: number = CAPTION_MAX_WORDS): string {
  checkText(text, 'caption');
  checkMaxWords(maxWords);
  let c = text.toLowerCase().replace(DELETED, '').replaceAll('-', ' ').replaceAll('/', ' ').replaceAll('<person>', 'person');
  c = collapseWhitespaceRuns(c);
  c = pyRStripChars(c, '\n');
  c = pyStripChars(c, ' ');
  return limitWords(c, maxWords);
}
