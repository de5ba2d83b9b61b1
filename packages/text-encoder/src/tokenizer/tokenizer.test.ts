/**
 * The tokenizer against the reference goldens (fixtures/goldens/tokenizer, 307 cases made by
 * the original mPLUG-2 code), plus hand-derived decode (spec §8.4), batching and error cases.
 *
 * Beyond these tests the port was also checked (outside the repo, not re-run here) against an
 * independent Python model of transformers 4.14.1's slow BertTokenizer + mPLUG-2's changes on
 * 140k random strings (tricky characters and random assigned code points, with and without
 * truncation, plus pre_question / pre_caption): no difference.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, InvalidOptionError, Mplug2Error } from '@mplug2/core';
import { describe, expect, it } from 'vitest';
import {
  BERT_BASE_UNCASED_VOCAB,
  BERT_BASE_UNCASED_VOCAB_SHA256,
  BERT_BASE_UNCASED_VOCAB_SIZE,
  Mplug2Tokenizer,
  SequenceTooLongError,
  preCaption,
  preQuestion,
} from './index.js';

interface GoldenCase {
  kind: 'question' | 'answer' | 'caption';
  text: string;
  normalized: string;
  tokenizer_input: string;
  input_ids: number[];
  attention_mask: number[];
  tokens: string[];
  max_length: number | null;
  truncated: boolean;
}

const CASES: GoldenCase[] = readFileSync(new URL('../../../../fixtures/goldens/tokenizer/cases.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as GoldenCase);

const tok = Mplug2Tokenizer.fromVocab();

/** ids of the given wordpiece strings (each must be in the vocabulary). */
function ids(...tokens: string[]): number[] {
  return tokens.map((t) => {
    const id = tok.tokenToId(t);
    if (id === undefined) throw new Error(`test setup: ${JSON.stringify(t)} is not in the vocabulary`);
    return id;
  });
}

function label(i: number, c: GoldenCase): string {
  const t = JSON.stringify(c.text);
  return `#${i} ${c.kind} ${t.length > 70 ? `${t.slice(0, 67)}..."` : t}`;
}

describe('golden cases (original mPLUG-2 code)', () => {
  it('has the 307 cases the README describes', () => {
    expect(CASES.length).toBe(307);
    expect(CASES.filter((c) => c.kind === 'question').length).toBe(143);
    expect(CASES.filter((c) => c.kind === 'answer').length).toBe(85);
    expect(CASES.filter((c) => c.kind === 'caption').length).toBe(79);
  });

  it.each(CASES.map((c, i) => [label(i, c), c] as const))('%s', (name, c) => {
    const normalized = c.kind === 'question' ? preQuestion(c.text, 50) : c.kind === 'caption' ? preCaption(c.text, 80) : c.text;
    expect(normalized, `${name}: normalized`).toBe(c.normalized);

    const expectedInput = c.kind === 'question' ? normalized : c.kind === 'answer' ? `${c.text}[SEP]` : `a video of${normalized}[SEP]`;
    expect(expectedInput, `${name}: tokenizer_input`).toBe(c.tokenizer_input);

    const enc = tok.encode(c.tokenizer_input, { maxLength: c.max_length });
    expect(enc.inputIds, `${name}: input_ids`).toEqual(c.input_ids);
    expect(enc.attentionMask, `${name}: attention_mask`).toEqual(c.attention_mask);
    expect(tok.convertIdsToTokens(enc.inputIds), `${name}: tokens`).toEqual(c.tokens);
    expect(tok.encode(c.tokenizer_input).inputIds.length > enc.inputIds.length, `${name}: truncated`).toBe(c.truncated);

    // The task helpers, from the raw text.
    const task = c.kind === 'question' ? tok.encodeQuestions([c.text]) : c.kind === 'answer' ? tok.encodeAnswers([c.text]) : tok.encodeCaptions([c.text]);
    expect(task.texts, `${name}: task helper input`).toEqual([c.tokenizer_input]);
    expect(task.inputIds, `${name}: task helper input_ids`).toEqual([c.input_ids]);
    expect(task.attentionMask, `${name}: task helper attention_mask`).toEqual([c.attention_mask]);
  });

  it.each(['question', 'answer', 'caption'] as const)('%s batch = goldens right-padded with [PAD] to the longest', (kind) => {
    const cases = CASES.filter((c) => c.kind === kind);
    const texts = cases.map((c) => c.text);
    const batch = kind === 'question' ? tok.encodeQuestions(texts) : kind === 'answer' ? tok.encodeAnswers(texts) : tok.encodeCaptions(texts);
    const len = Math.max(...cases.map((c) => c.input_ids.length));
    expect(batch.inputIds.length).toBe(cases.length);
    cases.forEach((c, i) => {
      const pad = len - c.input_ids.length;
      expect(batch.inputIds[i], label(i, c)).toEqual([...c.input_ids, ...Array<number>(pad).fill(0)]);
      expect(batch.attentionMask[i], label(i, c)).toEqual([...c.attention_mask, ...Array<number>(pad).fill(0)]);
    });
  });
});

describe('vocabulary', () => {
  it('bundles bert-base-uncased byte for byte', () => {
    const sha = createHash('sha256').update(`${BERT_BASE_UNCASED_VOCAB}\n`, 'utf8').digest('hex');
    expect(sha).toBe(BERT_BASE_UNCASED_VOCAB_SHA256);
    expect(sha).toBe('07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3');
    expect(BERT_BASE_UNCASED_VOCAB.split('\n').length).toBe(BERT_BASE_UNCASED_VOCAB_SIZE);
    expect(tok.vocabSize).toBe(30522);
  });

  it('has the landmark ids', () => {
    expect([tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId]).toEqual([0, 100, 101, 102, 103]);
    expect(tok.tokenToId('!')).toBe(999);
    expect(tok.tokenToId('the')).toBe(1996);
    expect(tok.tokenToId('is')).toBe(2003);
    expect(tok.tokenToId('what')).toBe(2054);
    expect(tok.idToToken(30521)).toBe('##～');
    expect(tok.idToToken(30522)).toBeUndefined();
    expect(Mplug2Tokenizer.fromVocab()).toBe(tok); // the bundled one is shared
  });

  it('loads a custom vocab.txt text (CRLF, final newline optional)', () => {
    const t = Mplug2Tokenizer.fromVocab('[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhello\r\n##s\r\n');
    expect(t.vocabSize).toBe(7);
    expect(t.tokenize('Hellos, [SEP]')).toEqual(['hello', '##s', '[UNK]', '[SEP]']);
    expect(t.encode('hellos').inputIds).toEqual([2, 5, 6]);
    expect(Mplug2Tokenizer.fromVocab('[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]').vocabSize).toBe(5);
  });

  it('rejects a vocabulary without the special tokens', () => {
    expect(() => Mplug2Tokenizer.fromVocab('[PAD]\n[UNK]\n[CLS]\nhello\n')).toThrow(ConfigError);
    expect(() => Mplug2Tokenizer.fromVocab('')).toThrow(ConfigError);
  });
});

describe('tokenize / encode details', () => {
  it('prepends [CLS] only, never appends [SEP]', () => {
    expect(tok.encode('what is a man doing').inputIds).toEqual([101, ...ids('what', 'is', 'a', 'man', 'doing')]);
    expect(tok.encode('').inputIds).toEqual([101]);
    expect(tok.encode('').attentionMask).toEqual([1]);
  });

  it('cuts special strings out of words and lower-cases per character', () => {
    expect(tok.tokenize('a[SEP]b')).toEqual(['a', '[SEP]', 'b']);
    expect(tok.tokenize('x [MASK]  y')).toEqual(['x', '[MASK]', 'y']);
    expect(tok.tokenize('[sep] [Cls]')).toEqual(['[', 'sep', ']', '[', 'cl', '##s', ']']);
    expect(tok.tokenize('ΟΔΟΣ')).toEqual(['ο', '##δ', '##ο', '##σ']); // no final sigma
    expect(preQuestion('ΟΔΟΣ')).toBe('οδος'); // pre_question lower-cases the whole string
  });

  it('truncates from the right to maxLength - 1 tokens before [CLS]', () => {
    const full = tok.encode('a man is cooking[SEP]');
    expect(full.inputIds).toEqual([101, ...ids('a', 'man', 'is', 'cooking'), 102]);
    expect(tok.encode('a man is cooking[SEP]', { maxLength: 6 }).inputIds).toEqual(full.inputIds);
    expect(tok.encode('a man is cooking[SEP]', { maxLength: 5 }).inputIds).toEqual(full.inputIds.slice(0, 5));
    expect(tok.encode('a man is cooking[SEP]', { maxLength: 2 }).inputIds).toEqual([101, ids('a')[0]]);
    expect(tok.encode('a man', { maxLength: null }).inputIds.length).toBe(3);
  });

  it('has the caption prompt length of the model (3)', () => {
    expect(tok.promptLength()).toBe(3);
    expect(tok.encode('a video of').inputIds).toEqual([101, ...ids('a', 'video', 'of')]);
  });

  it('words over 100 code points are [UNK]; astral characters count once', () => {
    expect(tok.tokenize('b'.repeat(100))).not.toContain('[UNK]');
    expect(tok.tokenize('b'.repeat(101))).toEqual(['[UNK]']);
    // 100 astral code points = 200 UTF-16 units: still within the limit, unknown char -> [UNK] as a whole word
    expect(tok.tokenize('𝐀'.repeat(100))).toEqual(['[UNK]']);
    expect(tok.tokenize('中'.repeat(101))).toEqual(Array<string>(101).fill('中')); // CJK is split per char
  });
});

describe('encodeBatch', () => {
  it('right-pads with 0 to the longest item', () => {
    const [a, man, is, cooking] = ids('a', 'man', 'is', 'cooking');
    const b = tok.encodeBatch(['a', 'A man is cooking', '']);
    expect(b.inputIds).toEqual([
      [101, a, 0, 0, 0],
      [101, a, man, is, cooking],
      [101, 0, 0, 0, 0],
    ]);
    expect(b.attentionMask).toEqual([
      [1, 1, 0, 0, 0],
      [1, 1, 1, 1, 1],
      [1, 0, 0, 0, 0],
    ]);
  });

  it('applies maxLength to every item', () => {
    const b = tok.encodeBatch(['a man is cooking', 'a'], { maxLength: 3 });
    expect(b.inputIds).toEqual([
      [101, ...ids('a', 'man')],
      [101, ...ids('a'), 0],
    ]);
    expect(b.attentionMask).toEqual([
      [1, 1, 1],
      [1, 1, 0],
    ]);
  });

  it('handles an empty batch', () => {
    expect(tok.encodeBatch([])).toEqual({ inputIds: [], attentionMask: [] });
  });

  it('pads answers for rank_answer: [CLS] a.. [SEP] [PAD]..', () => {
    const b = tok.encodeAnswers(['ice cream', 'no']);
    expect(b.texts).toEqual(['ice cream[SEP]', 'no[SEP]']);
    expect(b.inputIds).toEqual([
      [101, ...ids('ice', 'cream'), 102],
      [101, ...ids('no'), 102, 0],
    ]);
    expect(b.attentionMask).toEqual([
      [1, 1, 1, 1],
      [1, 1, 1, 0],
    ]);
  });
});

describe('decode (spec §8.4 steps 2-4)', () => {
  const cases: [string, string[], string][] = [
    ['punctuation clean-up', ['[CLS]', 'hello', ',', 'world', '!', '[SEP]'], 'hello, world!'],
    ['question mark, pads removed', ['[CLS]', 'what', '?', '[SEP]', '[PAD]', '[PAD]'], 'what?'],
    ['continuation pieces glued', ['[CLS]', 'play', '##ing', 'guitar'], 'playing guitar'],
    // "was n ' t" -> " ' " -> "was n't" -> " n't" -> "wasn't"
    ["n't", ['[CLS]', 'was', 'n', "'", 't', '[SEP]'], "wasn't"],
    // "man ' ##s hat" -> " ##" deleted -> "man 's hat" -> " 's" -> "man's hat"
    ["'s", ['[CLS]', 'man', "'", '##s', 'hat'], "man's hat"],
    ["' between spaces", ['the', 'man', "'", 's', 'hat'], "the man's hat"],
    ["'m 're 've", ['i', "'", '##m', 'sure', 'they', "'", '##re', 'sure', 'we', "'", '##ve', 'seen'], "i'm sure they're sure we've seen"],
    ['dots', ['[CLS]', 'well', '.', '.', '.'], 'well...'],
    ['?! sequence', ['[CLS]', 'what', '?', '!', '[SEP]'], 'what?!'],
    ['no clean-up for -', ['[CLS]', 't', '-', 'shirt', '[SEP]'], 't - shirt'],
    ['inner double space kept after [SEP] removal', ['[CLS]', 'man', '[SEP]', 'is'], 'man  is'],
    ['continuation right after [CLS]', ['[CLS]', '##s', 'dog'], 's dog'],
    ['only specials', ['[CLS]', '[SEP]', '[PAD]'], ''],
    ['[UNK] is kept', ['[CLS]', '[UNK]', 'cat'], '[UNK] cat'],
  ];
  it.each(cases)('%s', (_name, tokens, expected) => {
    expect(tok.decode(ids(...tokens))).toBe(expected);
  });

  it('maps unknown ids to [UNK] and accepts bigint / typed arrays', () => {
    expect(tok.decode([101, 30522, -1, 2158])).toBe('[UNK] [UNK] man');
    expect(tok.decode([101n, 2158n, 102n])).toBe('man');
    expect(tok.decode(Int32Array.from([101, 2158, 102]))).toBe('man');
    expect(tok.decode(BigInt64Array.from([101n, 2158n, 102n]))).toBe('man');
    expect(tok.decode([])).toBe('');
  });

  it('round-trips answers', () => {
    const b = tok.encodeAnswers(['ice cream', "don't know", 'well...', 'what?!']);
    expect(b.inputIds.map((row) => tok.decode(row))).toEqual(['ice cream', "don't know", 'well...', 'what?!']);
  });
});

describe('decodeCaption (spec §8.4 step 5)', () => {
  it('cuts the glued prompt: a video of ##a man -> "a man"', () => {
    const seq = ids('[CLS]', 'a', 'video', 'of', '##a', 'man', 'is', 'cooking', '[SEP]');
    expect(tok.decode(seq)).toBe('a video ofa man is cooking');
    expect(tok.decodeCaption(seq)).toBe('a man is cooking');
  });

  it('cuts an unglued prompt and trims', () => {
    expect(tok.decodeCaption(ids('[CLS]', 'a', 'video', 'of', 'a', 'dog', '[SEP]'))).toBe('a dog');
  });

  it('keeps the part after the LAST occurrence', () => {
    // "a video of a video ofthe dog".split("a video of") -> ["", " ", "the dog"]
    expect(tok.decodeCaption(ids('[CLS]', 'a', 'video', 'of', 'a', 'video', 'of', '##the', 'dog'))).toBe('the dog');
    expect(tok.decodeCaption(ids('[CLS]', 'the', 'cat', 'a', 'video', 'of', '##s', '[SEP]'))).toBe('s');
  });

  it('leaves text without the prompt, or with an empty prompt, as decode does', () => {
    const seq = ids('[CLS]', 'a', 'dog', 'runs', '[SEP]');
    expect(tok.decodeCaption(seq)).toBe('a dog runs');
    const glued = ids('[CLS]', 'a', 'video', 'of', '##a', 'man');
    expect(tok.decodeCaption(glued, '')).toBe('a video ofa man');
    expect(tok.decodeCaption(glued, 'video')).toBe('ofa man');
  });

  it('round-trips caption targets', () => {
    const b = tok.encodeCaptions(['A man is cooking in the kitchen.', 'people are dancing']);
    expect(b.inputIds.map((row) => tok.decodeCaption(row))).toEqual(['a man is cooking in the kitchen', 'people are dancing']);
  });
});

describe('pre_question / pre_caption', () => {
  it('keeps at most maxWords items of split(" ") (empty items count)', () => {
    expect(preQuestion('a  b c d', 3)).toBe('a  b');
    expect(preQuestion(Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ')).split(' ').length).toBe(50);
    expect(preCaption('a  b c d', 3)).toBe('a b c');
    expect(preCaption(Array.from({ length: 90 }, (_, i) => `w${i}`).join(' ')).split(' ').length).toBe(80);
  });

  it('follows the reference character rules', () => {
    expect(preQuestion("What's the X-ray/CT for?  ")).toBe('whats the x ray ct for');
    expect(preQuestion('  lead')).toBe('  lead'); // only trailing spaces are stripped
    expect(preCaption('<PERSON> waves\u00a0\u00a0at  <person>\n')).toBe('person waves at person');
    expect(preCaption('\ta man')).toBe('\ta man'); // single tab: neither collapsed nor stripped
  });

  it('rejects a bad maxWords', () => {
    expect(() => preQuestion('a', -1)).toThrow(InvalidOptionError);
    expect(() => preCaption('a', 1.5)).toThrow(InvalidOptionError);
  });
});

describe('typed errors', () => {
  it('rejects unknown options with InvalidOptionError naming the option', () => {
    const calls: (() => unknown)[] = [
      () => tok.encode('a', { maxLen: 3 } as never),
      () => tok.encodeBatch(['a'], { truncation: true } as never),
      () => tok.encodeQuestions(['a'], { max_words: 3 } as never),
      () => tok.encodeAnswers(['a'], { prompt: 'x' } as never),
      () => tok.encodeCaptions(['a'], { padding: 'longest' } as never),
    ];
    for (const call of calls) {
      let err: unknown;
      try {
        call();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidOptionError);
      expect(err).toBeInstanceOf(Mplug2Error);
      expect((err as InvalidOptionError).code).toBe('INVALID_OPTION');
      expect((err as InvalidOptionError).message).toMatch(/unknown option/);
    }
    try {
      tok.encode('a', { maxLen: 3 } as never);
    } catch (e) {
      expect((e as InvalidOptionError).option).toBe('maxLen');
    }
  });

  it('rejects invalid option values and inputs', () => {
    expect(() => tok.encode('a', { maxLength: 1 })).toThrow(InvalidOptionError);
    expect(() => tok.encode('a', { maxLength: 2.5 })).toThrow(InvalidOptionError);
    expect(() => tok.encodeCaptions(['a'], { maxLength: 0 })).toThrow(InvalidOptionError);
    expect(() => tok.encodeQuestions(['a'], { maxPositions: 0 })).toThrow(InvalidOptionError);
    expect(() => tok.encode(42 as never)).toThrow(InvalidOptionError);
    expect(() => tok.encodeQuestions('what' as never)).toThrow(InvalidOptionError);
    expect(() => tok.encodeAnswers([null] as never)).toThrow(InvalidOptionError);
  });

  it('rejects questions longer than 512 positions instead of truncating', () => {
    // Every '+' is its own token: 511 of them + [CLS] = 512 positions (fits), 512 do not.
    expect(tok.encodeQuestions(['+'.repeat(511)]).inputIds[0]!.length).toBe(512);
    let err: unknown;
    try {
      tok.encodeQuestions(['ok', '+'.repeat(512), Array<string>(50).fill('+'.repeat(11)).join(' ')]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SequenceTooLongError);
    expect(err).toBeInstanceOf(Mplug2Error);
    const e = err as SequenceTooLongError;
    expect(e.code).toBe('SEQUENCE_TOO_LONG');
    expect(e.maxPositions).toBe(512);
    expect(e.items).toEqual([
      { index: 1, length: 513 },
      { index: 2, length: 551 },
    ]);
    expect(() => tok.encodeAnswers(['+'.repeat(511)])).toThrow(SequenceTooLongError); // 511 + [CLS] + [SEP]
    expect(() => tok.encodeQuestions(['+ + +'], { maxPositions: 3 })).toThrow(SequenceTooLongError);
    // plain encode does not guard (the reference only warns)
    expect(tok.encode('+'.repeat(600)).inputIds.length).toBe(601);
  });
});
