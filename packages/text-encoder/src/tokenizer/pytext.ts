/**
 * Small re-implementations of the Python `str` / `unicodedata` behaviours the reference
 * tokenizer depends on. JavaScript's own `trim()` / `\s` / `split(/\s+/)` use a different
 * whitespace set (they include U+FEFF and exclude U+001C-U+001F and U+0085), so the Python
 * set is spelled out here.
 *
 * Everything iterates by code point (like Python), never by UTF-16 unit.
 */

/**
 * Python's `str.isspace()` (also `\s` in `re` str patterns and the separators of `str.split()`
 * / `str.strip()` without arguments): bidi class WS, B or S, or category Zs.
 */
const PY_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

export function isPySpace(ch: string): boolean {
  return PY_SPACE.test(ch);
}

/** Python `s.strip()` (no argument). */
export function pyStrip(s: string): string {
  return pyRStrip(pyLStrip(s));
}

/** Python `s.lstrip()` (no argument). */
export function pyLStrip(s: string): string {
  let i = 0;
  // Every Python space character is in the BMP, so UTF-16 indexing is safe here.
  while (i < s.length && PY_SPACE.test(s[i]!)) i++;
  return s.slice(i);
}

/** Python `s.rstrip()` (no argument). */
export function pyRStrip(s: string): string {
  let j = s.length;
  while (j > 0 && PY_SPACE.test(s[j - 1]!)) j--;
  return s.slice(0, j);
}

/** Python `s.split()` (no argument): split on runs of whitespace, no empty strings. */
export function pySplit(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of s) {
    if (PY_SPACE.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur) out.push(cur);
  return out;
}

/** Python `s.rstrip(chars)` / `s.strip(chars)` with an explicit set of BMP characters. */
export function pyRStripChars(s: string, chars: string): string {
  let j = s.length;
  while (j > 0 && chars.includes(s[j - 1]!)) j--;
  return s.slice(0, j);
}

export function pyStripChars(s: string, chars: string): string {
  let i = 0;
  while (i < s.length && chars.includes(s[i]!)) i++;
  return pyRStripChars(s.slice(i), chars);
}

/** Python `c.lower()` applied to every code point separately (no final-sigma context). */
export function lowerPerCodePoint(s: string): string {
  let out = '';
  for (const ch of s) out += ch.toLowerCase();
  return out;
}

// ---------------------------------------------------------------------------------------------
// BasicTokenizer character classes (transformers `tokenization_bert.py`).

const CAT_C = /^\p{C}$/u; // Cc Cf Cs Co Cn
const CAT_ZS = /^\p{Zs}$/u;
const CAT_P = /^\p{P}$/u;
const CAT_MN = /\p{Mn}/gu;

/** `_is_whitespace`: space, \t, \n, \r or category Zs. */
export function isBertWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || CAT_ZS.test(ch);
}

/** `_is_control`: category C* except \t, \n, \r. */
export function isBertControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return CAT_C.test(ch);
}

/** `_is_punctuation`: ASCII 33-47, 58-64, 91-96, 123-126, or category P*. */
export function isBertPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
    return true;
  }
  return CAT_P.test(ch);
}

/** `_is_chinese_char`: the CJK Unified Ideographs blocks BERT puts spaces around. */
export function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** `_run_strip_accents`: NFD, then drop every combining mark of category Mn. */
export function stripAccents(s: string): string {
  return s.normalize('NFD').replace(CAT_MN, '');
}
