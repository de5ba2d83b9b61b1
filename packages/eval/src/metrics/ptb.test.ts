import { describe, expect, it } from 'vitest';
import { PTB_PUNCTUATION, ptbTokenize, ptbTokens } from './ptb.js';

// One case per PTBTokenizer rule: the raw tokens, and what pycocoevalcap hands to the scorers.
describe('PTB tokenizer rules', () => {
  it('splits on whitespace (runs, tabs) and lower-cases on output', () => {
    expect(ptbTokens('A  Man\tis COOKING')).toEqual(['A', 'Man', 'is', 'COOKING']);
    expect(ptbTokenize('A  Man\tis COOKING')).toBe('a man is cooking');
  });
  it('treats a newline inside a caption as a space (pycocoevalcap joins lines first)', () => {
    expect(ptbTokenize('a man\nis cooking')).toBe('a man is cooking');
  });
  it("splits n't off its word: don't → do n't, can't → ca n't, won't → wo n't", () => {
    expect(ptbTokens("don't can't won't isn't")).toEqual(['do', "n't", 'ca', "n't", 'wo', "n't", 'is', "n't"]);
    expect(ptbTokenize("He Doesn't")).toBe("he does n't");
  });
  it("splits the clitics 's 're 've 'll 'd 'm", () => {
    expect(ptbTokens("it's they're we've you'll he'd I'm man's")).toEqual([
      'it',
      "'s",
      'they',
      "'re",
      'we',
      "'ve",
      'you',
      "'ll",
      'he',
      "'d",
      'I',
      "'m",
      'man',
      "'s",
    ]);
  });
  it('splits cannot, gonna, gotta, wanna, gimme, lemme in two', () => {
    expect(ptbTokens('cannot gonna gotta wanna gimme lemme')).toEqual(['can', 'not', 'gon', 'na', 'got', 'ta', 'wan', 'na', 'gim', 'me', 'lem', 'me']);
  });
  it('turns brackets into -LRB- -RRB- -LSB- -RSB- -LCB- -RCB-, also when they touch words', () => {
    expect(ptbTokens('a (red) car [x] {y}')).toEqual(['a', '-LRB-', 'red', '-RRB-', 'car', '-LSB-', 'x', '-RSB-', '-LCB-', 'y', '-RCB-']);
    expect(ptbTokens('word(s)')).toEqual(['word', '-LRB-', 's', '-RRB-']);
  });
  it('lower-cases the bracket tokens too, so pycocoevalcap keeps them (its list has -LRB-, not -lrb-)', () => {
    expect(ptbTokenize('a (red) car')).toBe('a -lrb- red -rrb- car');
  });
  it("turns double quotes into `` (opening) and '' (closing), single quotes into ` and '", () => {
    expect(ptbTokens('he said "hello there" to \'them\'')).toEqual(['he', 'said', '``', 'hello', 'there', "''", 'to', '`', 'them', "'"]);
    expect(ptbTokenize('he said "hello"')).toBe('he said hello');
  });
  it('makes a possessive apostrophe after s a token of its own', () => {
    expect(ptbTokens("the dogs' bowl")).toEqual(['the', 'dogs', "'", 'bowl']);
  });
  it('keeps hyphenated words whole; -- and dashes are one -- token; a lone - is a token', () => {
    expect(ptbTokens('a well-known man--really — yes - no')).toEqual(['a', 'well-known', 'man', '--', 'really', '--', 'yes', '-', 'no']);
    expect(ptbTokenize('a well-known man--really - yes')).toBe('a well-known man really yes');
  });
  it('makes an ellipsis (... or …) one ... token', () => {
    expect(ptbTokens('wait... what…now')).toEqual(['wait', '...', 'what', '...', 'now']);
    expect(ptbTokenize('wait... what')).toBe('wait what');
  });
  it('splits , ; : ? ! off words, keeps ?! runs together', () => {
    expect(ptbTokens('yes, no; maybe: why? stop! what?!')).toEqual(['yes', ',', 'no', ';', 'maybe', ':', 'why', '?', 'stop', '!', 'what', '?!']);
    expect(ptbTokenize('yes, no; maybe: why? stop!')).toBe('yes no maybe why stop');
  });
  it('splits sentence periods, mid-line too', () => {
    expect(ptbTokens('a dog runs. a cat sits.')).toEqual(['a', 'dog', 'runs', '.', 'a', 'cat', 'sits', '.']);
  });
  it('keeps the period of abbreviations; at the end of a line a sentence period follows', () => {
    expect(ptbTokens('mr. smith met dr. who in the u.s. today')).toEqual(['mr.', 'smith', 'met', 'dr.', 'who', 'in', 'the', 'u.s.', 'today']);
    expect(ptbTokens('he lives in the U.S.')).toEqual(['he', 'lives', 'in', 'the', 'U.S.', '.']);
    expect(ptbTokenize('he lives in the U.S.')).toBe('he lives in the u.s.');
  });
  it('keeps numbers with commas and decimal points whole', () => {
    expect(ptbTokens('1,000 people and 3.5 cats, 2,a')).toEqual(['1,000', 'people', 'and', '3.5', 'cats', ',', '2', ',', 'a']);
  });
  it('escapes / and * as the PTB3 tokenizer does', () => {
    expect(ptbTokens('and/or 2*3')).toEqual(['and\\/or', '2\\*3']);
  });
  it('drops exactly the punctuation tokens of pycocoevalcap', () => {
    expect(PTB_PUNCTUATION).toEqual(["''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-', '.', '?', '!', ',', ':', '-', '--', '...', ';']);
    expect(ptbTokenize('" \' `` ` . ? ! , : - -- ... ;')).toBe('');
  });
  it('leaves already-tokenized captions (the golden inputs) unchanged', () => {
    expect(ptbTokenize('a man is playing a guitar on stage')).toBe('a man is playing a guitar on stage');
  });
});
