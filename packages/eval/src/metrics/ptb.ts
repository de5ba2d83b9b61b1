/**
 * The caption tokenization of pycocoevalcap (`tokenizer/ptbtokenizer.py`): each caption, newlines
 * made spaces, is one line for Stanford CoreNLP's PTBTokenizer (3.4.1, `-preserveLines -lowerCase`,
 * default PTB3 escaping); then the tokens of {@link PTB_PUNCTUATION} are dropped and the rest
 * joined by single spaces.
 *
 * The rules below follow the tokenizer's documented English behaviour: whitespace separates;
 * punctuation (, ; : ? !) and sentence periods become tokens, except the periods of abbreviations
 * (`mr.`, `u.s.`; at the end of a line the abbreviation keeps its period and a `.` follows);
 * contractions split before `n't` (`can't` → `ca n't`, `won't` → `wo n't`) and before `'s 're 've 'll 'd 'm`;
 * `cannot gonna gotta wanna gimme lemme` split in two; brackets become `-LRB- -RRB- -LSB- -RSB- -LCB- -RCB-`;
 * double quotes become `` ` `` `` ` `` (opening) or `''` (closing), single quotes `` ` `` / `'`;
 * `...` and `…` are one `...` token; `--` and dashes `—`/`–` are `--`; hyphenated words stay whole;
 * `/` and `*` are escaped `\/`, `\*`; numbers keep their `,` and `.` (`1,000`, `3.5`). `-lowerCase`
 * lower-cases every token on output, the bracket tokens included (`-lrb-`), which is why
 * pycocoevalcap's upper-case `-LRB-` entries never match and bracket tokens stay in the text.
 * Not reproduced: British→American respelling (`americanize`) and the lexer's rarer cases
 * (URLs, emoticons, SGML, currency/fraction normalisation).
 */
export const PTB_PUNCTUATION: readonly string[] = ["''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-', '.', '?', '!', ',', ':', '-', '--', '...', ';'];

const BRACKETS: Readonly<Record<string, string>> = { '(': '-LRB-', ')': '-RRB-', '[': '-LSB-', ']': '-RSB-', '{': '-LCB-', '}': '-RCB-' };

const ABBREVIATIONS = new Set(
  'mr mrs ms dr prof st jr sr mt inc ltd co corp vs etc no jan feb mar apr jun jul aug sep sept oct nov dec gen gov sen rep rev sgt capt col lt'.split(' '),
);

// Words the PTB tokenizer splits in two (the second part is a token of its own).
const SPLIT_WORDS: Readonly<Record<string, [string, string]>> = {
  cannot: ['can', 'not'],
  gonna: ['gon', 'na'],
  gotta: ['got', 'ta'],
  wanna: ['wan', 'na'],
  gimme: ['gim', 'me'],
  lemme: ['lem', 'me'],
};

function isAbbreviation(w: string): boolean {
  const body = w.slice(0, -1).toLowerCase();
  return /^([a-z]\.)+[a-z]$/i.test(body) || /^[a-z]$/i.test(body) || ABBREVIATIONS.has(body);
}

function splitWord(w: string, out: string[]): void {
  const lower = w.toLowerCase();
  const split = SPLIT_WORDS[lower];
  if (split) {
    out.push(w.slice(0, split[0].length), w.slice(split[0].length));
    return;
  }
  // `n't` splits off whole, so `can't` → `ca n't` and `won't` → `wo n't`, as in the treebank.
  let m = /^(.+?)(n't)$/i.exec(w);
  if (m) return void out.push(m[1], m[2]);
  m = /^(.+?)('s|'re|'ve|'ll|'d|'m)$/i.exec(w);
  if (m && /[a-z0-9]$/i.test(m[1])) return void out.push(m[1], m[2]);
  out.push(w);
}

/** Tokens of one whitespace-free chunk; `lineEnd`: the chunk is the line's last. */
function chunkTokens(chunk: string, lineEnd: boolean): string[] {
  const lead: string[] = [];
  const tail: string[] = [];
  let s = chunk;
  // Leading quotes and brackets.
  for (;;) {
    if (s.startsWith('``')) lead.push('``'), (s = s.slice(2));
    else if (s.startsWith('"')) lead.push('``'), (s = s.slice(1));
    else if (s.startsWith('`')) lead.push('`'), (s = s.slice(1));
    else if (s.startsWith("'") && s.length > 1 && !/^'(s|re|ve|ll|d|m|\d)/i.test(s)) lead.push('`'), (s = s.slice(1));
    else if (s.length > 0 && s[0] in BRACKETS && '([{'.includes(s[0])) lead.push(BRACKETS[s[0]]), (s = s.slice(1));
    else break;
  }
  // Trailing punctuation, quotes, brackets, periods.
  for (;;) {
    if (s.endsWith("''") && s.length > 2) tail.unshift("''"), (s = s.slice(0, -2));
    else if (s.endsWith('"') && s.length > 0) tail.unshift("''"), (s = s.slice(0, -1));
    else if (s.endsWith('...') && s.length > 3) tail.unshift('...'), (s = s.slice(0, -3));
    else if (/[,;:?!]$/.test(s) && s.length > 1) {
      const m = /[?!]+$|[,;:]$/.exec(s)!;
      if (m[0].length === s.length) break;
      tail.unshift(m[0]);
      s = s.slice(0, -m[0].length);
    } else if (s.length > 1 && ')]}'.includes(s[s.length - 1])) tail.unshift(BRACKETS[s[s.length - 1]]), (s = s.slice(0, -1));
    else if (s.endsWith("'") && s.length > 1) tail.unshift("'"), (s = s.slice(0, -1));
    else if (s.endsWith('.') && s.length > 1 && !s.endsWith('..')) {
      if (isAbbreviation(s)) {
        // An abbreviation keeps its period; at the end of the line a sentence period follows it.
        if (lineEnd && tail.length === 0) tail.unshift('.');
        break;
      }
      tail.unshift('.');
      s = s.slice(0, -1);
    } else break;
  }
  const mid: string[] = [];
  if (s !== '') {
    if (s === '"') mid.push(lead.length ? "''" : '``');
    else if (s in BRACKETS) mid.push(BRACKETS[s]);
    else if (s === '...' || s === '--' || s === "'" || s === '`' || s === "''" || s === '``') mid.push(s);
    else splitWord(s, mid);
  }
  return [...lead, ...mid, ...tail];
}

/** PTBTokenizer tokens of one line (before lower-casing and before pycocoevalcap drops punctuation). */
export function ptbTokens(line: string): string[] {
  // Brackets, ellipses, double dashes and dashes always separate, whatever touches them.
  const spaced = line
    .replace(/\u2026/g, ' ... ')
    .replace(/[\u2014\u2013]/g, ' -- ')
    .replace(/\.\.\.+/g, ' ... ')
    .replace(/--+/g, ' -- ')
    .replace(/[()[\]{}]/g, (b) => ` ${b} `)
    .replace(/([^\d]),(?=\S)|,(?=[^\d\s])/g, (m) => m.replace(',', ' , '))
    .replace(/\//g, '\\/')
    .replace(/\*/g, '\\*');
  const chunks = spaced.split(/\s+/).filter((c) => c !== '');
  return chunks.flatMap((c, i) => chunkTokens(c, i === chunks.length - 1));
}

/**
 * A caption as pycocoevalcap hands it to the scorers: PTB tokens lower-cased (`-lowerCase`), the
 * tokens of {@link PTB_PUNCTUATION} dropped, joined by single spaces.
 */
export function ptbTokenize(caption: string): string {
  return ptbTokens(caption.replace(/\n/g, ' '))
    .map((t) => t.toLowerCase())
    .filter((t) => !PTB_PUNCTUATION.includes(t))
    .join(' ');
}
