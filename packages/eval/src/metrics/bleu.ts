import { countNgrams, ngramOrder, splitWords } from './ngrams.js';

/** BLEU-1..4 over a corpus and per sentence, as pycocoevalcap's `Bleu(4)` (BleuScorer, 'closest' reference length). */
export interface BleuScores {
  /** Corpus BLEU-1..4 (index 0 = BLEU-1). */
  readonly corpus: number[];
  /** Per sentence: `perSentence[k][i]` is BLEU-(k+1) of sentence i. */
  readonly perSentence: number[][];
}

// BleuScorer's smoothing constants: added to matches (tiny) and to guesses (small).
const TINY = 1e-15;
const SMALL = 1e-9;

/**
 * BLEU as pycocoevalcap computes it: clipped n-gram matches against the maximum count over the
 * references, the reference length closest to the candidate's (the shorter on a tie), a brevity
 * penalty per sentence and over the summed corpus statistics.
 */
export function bleu(candidates: readonly string[], references: readonly (readonly string[])[], n = 4): BleuScores {
  const perSentence: number[][] = Array.from({ length: n }, () => []);
  const guessTotal = new Array<number>(n).fill(0);
  const correctTotal = new Array<number>(n).fill(0);
  let testTotal = 0;
  let refTotal = 0;
  candidates.forEach((cand, i) => {
    const refs = references[i];
    const maxRef = new Map<string, number>();
    const refLens: number[] = [];
    for (const r of refs) {
      const w = splitWords(r);
      refLens.push(w.length);
      for (const [g, c] of countNgrams(w, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, c));
    }
    const words = splitWords(cand);
    const testLen = words.length;
    const guess = Array.from({ length: n }, (_, k) => Math.max(0, testLen - k));
    const correct = new Array<number>(n).fill(0);
    for (const [g, c] of countNgrams(words, n)) correct[ngramOrder(g) - 1] += Math.min(maxRef.get(g) ?? 0, c);
    let refLen = refLens[0];
    for (const l of refLens) {
      const d = Math.abs(l - testLen);
      const best = Math.abs(refLen - testLen);
      if (d < best || (d === best && l < refLen)) refLen = l;
    }
    testTotal += testLen;
    refTotal += refLen;
    let b = 1;
    for (let k = 0; k < n; k++) {
      guessTotal[k] += guess[k];
      correctTotal[k] += correct[k];
      b *= (correct[k] + TINY) / (guess[k] + SMALL);
      perSentence[k].push(b ** (1 / (k + 1)));
    }
    const ratio = (testLen + TINY) / (refLen + SMALL);
    if (ratio < 1) for (let k = 0; k < n; k++) perSentence[k][i] *= Math.exp(1 - 1 / ratio);
  });
  const corpus: number[] = [];
  let b = 1;
  for (let k = 0; k < n; k++) {
    b *= (correctTotal[k] + TINY) / (guessTotal[k] + SMALL);
    corpus.push(b ** (1 / (k + 1)));
  }
  const ratio = (testTotal + TINY) / (refTotal + SMALL);
  if (ratio < 1) for (let k = 0; k < n; k++) corpus[k] *= Math.exp(1 - 1 / ratio);
  return { corpus, perSentence };
}
