#!/usr/bin/env node
// Generates vocab.generated.ts (next to this script) from the bert-base-uncased WordPiece
// vocabulary, so that the tokenizer ships its vocabulary inside the bundle and needs no file
// system (Node and browsers alike).
//
//   node packages/text-encoder/src/tokenizer/gen-vocab.mjs [path/to/vocab.txt]
//
// Default input: /work/shared/vocab/bert-base-uncased-vocab.txt (or $MPLUG2_VOCAB).
// The input must be byte-identical to the reference file (sha256 below): the script refuses
// anything else. The generated module is pure ASCII (non-ASCII characters as \u escapes), and
// exports the 30522 tokens joined with "\n" (no trailing newline) as ONE string.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXPECTED_SHA256 = '07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3';
const EXPECTED_LINES = 30522;
const SOURCE_NAME = 'bert-base-uncased vocab.txt (Google BERT-Base Uncased; Hugging Face bert-base-uncased), Apache-2.0';

const input = process.argv[2] ?? process.env.MPLUG2_VOCAB ?? '/work/shared/vocab/bert-base-uncased-vocab.txt';
const out = join(dirname(fileURLToPath(import.meta.url)), 'vocab.generated.ts');

const bytes = readFileSync(input);
const sha256 = createHash('sha256').update(bytes).digest('hex');
if (sha256 !== EXPECTED_SHA256) {
  console.error(`gen-vocab: ${input}: sha256 ${sha256} != expected ${EXPECTED_SHA256}`);
  process.exit(1);
}
const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
if (!text.endsWith('\n') || text.includes('\r')) {
  console.error(`gen-vocab: ${input}: expected "\\n" line ends and a final newline`);
  process.exit(1);
}
const tokens = text.slice(0, -1).split('\n');
if (tokens.length !== EXPECTED_LINES) {
  console.error(`gen-vocab: ${input}: ${tokens.length} lines, expected ${EXPECTED_LINES}`);
  process.exit(1);
}

/** A JS string literal in double quotes, ASCII only. */
function literal(s) {
  let r = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) r += '\\"';
    else if (c === 0x5c) r += '\\\\';
    else if (c === 0x0a) r += '\\n';
    else if (c < 0x20 || c > 0x7e) r += `\\u${c.toString(16).padStart(4, '0')}`;
    else r += s[i];
  }
  return r + '"';
}

const CHUNK = 512; // tokens per source line
const lines = [];
for (let i = 0; i < tokens.length; i += CHUNK) {
  const part = tokens.slice(i, i + CHUNK).join('\n') + (i + CHUNK < tokens.length ? '\n' : '');
  lines.push(`  ${literal(part)}`);
}

const src = `// GENERATED FILE - do not edit. Regenerate with:
//   node packages/text-encoder/src/tokenizer/gen-vocab.mjs [path/to/bert-base-uncased-vocab.txt]
//
// Source: ${SOURCE_NAME}
//   file bert-base-uncased-vocab.txt, ${bytes.length} bytes, ${tokens.length} lines (token id = line number - 1)
//   sha256 ${sha256}
// Content: the ${tokens.length} tokens joined with "\\n" (no trailing newline), i.e. the file
// without its final newline; sha256(BERT_BASE_UNCASED_VOCAB + "\\n") equals the sha256 above.

/** sha256 of the vocabulary file this module was generated from. */
export const BERT_BASE_UNCASED_VOCAB_SHA256 = '${sha256}';

/** Number of tokens in the vocabulary. */
export const BERT_BASE_UNCASED_VOCAB_SIZE = ${tokens.length};

/** The bert-base-uncased WordPiece vocabulary, one token per line, joined with "\\n". */
export const BERT_BASE_UNCASED_VOCAB: string =
${lines.join(' +\n')};
`;
writeFileSync(out, src);
console.log(`gen-vocab: wrote ${out} (${tokens.length} tokens, sha256 ${sha256}, ${src.length} chars)`);
