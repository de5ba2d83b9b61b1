import { countNgrams, ngramOrder, npMean, splitWords, type NgramCounts } from './ngrams.js';

/** CIDEr-D as pycocoevalcap's `Cider`: corpus mean and per sentence. */
export interface CiderScores {
  readonly corpus: number;
  readonly perSentence: number[];
}

interface TfIdf {
  readonly vec: Map<string, number>[];
  readonly norm: number[];
  /** pycocoevalcap counts the candidate's bigrams here (its `if n == 1` tests the 0-based order). */
  readonly length: number;
}

/**
 * CIDEr-D: TF-IDF vectors of 1..4-grams with document frequencies over the evaluated references
 * (log of the number of videos as the reference length), candidate weights clipped by the
 * reference's, a Gaussian length penalty (sigma 6), the mean over orders and references, ×10.
 */
export function ciderD(candidates: readonly string[], references: readonly (readonly string[])[], n = 4, sigma = 6): CiderScores {
  const refCounts = references.map((refs) => refs.map((r) => countNgrams(splitWords(r), n)));
  const df = new Map<string, number>();
  for (const refs of refCounts) {
    const seen = new Set<string>();
    for (const r of refs) for (const g of r.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const refLen = Math.log(references.length);
  const tfidf = (counts: NgramCounts): TfIdf => {
    const vec = Array.from({ length: n }, () => new Map<string, number>());
    const norm = new Array<number>(n).fill(0);
    let length = 0;
    for (const [g, tf] of counts) {
      const k = ngramOrder(g) - 1;
      const w = tf * (refLen - Math.log(Math.max(1, df.get(g) ?? 0)));
      vec[k].set(g, w);
      norm[k] += w ** 2;
      if (k === 1) length += tf;
    }
    return { vec, norm: norm.map(Math.sqrt), length };
  };
  const perSentence = candidates.map((cand, i) => {
    const hyp = tfidf(countNgrams(splitWords(cand), n));
    const score = new Array<number>(n).fill(0);
    for (const counts of refCounts[i]) {
      const ref = tfidf(counts);
      const delta = hyp.length - ref.length;
      for (let k = 0; k < n; k++) {
        let val = 0;
        for (const [g, w] of hyp.vec[k]) {
          const r = ref.vec[k].get(g) ?? 0;
          val += Math.min(w, r) * r;
        }
        if (hyp.norm[k] !== 0 && ref.norm[k] !== 0) val /= hyp.norm[k] * ref.norm[k];
        score[k] += val * Math.E ** (-(delta ** 2) / (2 * sigma ** 2));
      }
    }
    return (npMean(score) / refCounts[i].length) * 10;
  });
  return { corpus: npMean(perSentence), perSentence };
}
