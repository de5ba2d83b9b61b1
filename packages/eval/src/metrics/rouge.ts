import { npMean } from './ngrams.js';

/** ROUGE-L as pycocoevalcap's `Rouge`: corpus mean and per sentence. */
export interface RougeScores {
  readonly corpus: number;
  readonly perSentence: number[];
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) row[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]);
    prev = row;
  }
  return prev[b.length];
}

/**
 * ROUGE-L F-measure with beta 1.2 from the longest common subsequence, taking the best precision
 * and the best recall over the references separately (as pycocoevalcap does). Sentences are split
 * on single spaces (`str.split(" ")`), so an empty sentence is one empty token.
 */
export function rougeL(candidates: readonly string[], references: readonly (readonly string[])[], beta = 1.2): RougeScores {
  const perSentence = candidates.map((cand, i) => {
    const c = cand.split(' ');
    let prec = 0;
    let rec = 0;
    for (const ref of references[i]) {
      const r = ref.split(' ');
      const l = lcsLength(r, c);
      prec = Math.max(prec, l / c.length);
      rec = Math.max(rec, l / r.length);
    }
    return prec !== 0 && rec !== 0 ? ((1 + beta ** 2) * prec * rec) / (rec + beta ** 2 * prec) : 0;
  });
  return { corpus: npMean(perSentence), perSentence };
}
