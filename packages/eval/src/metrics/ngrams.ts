/** n-gram counts of a whitespace-split sentence, keyed by the n-gram's words joined with a space. */
export type NgramCounts = Map<string, number>;

/** Counts of every n-gram of 1..`n` words; keys carry their order implicitly (number of spaces + 1). */
export function countNgrams(words: readonly string[], n: number): NgramCounts {
  const counts: NgramCounts = new Map();
  for (let k = 1; k <= n; k++)
    for (let i = 0; i + k <= words.length; i++) {
      const g = words.slice(i, i + k).join(' ');
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
  return counts;
}

/** Order (1-based word count) of an n-gram key made by {@link countNgrams}. */
export function ngramOrder(key: string): number {
  let n = 1;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 32) n++;
  return n;
}

/** Python's `str.split()`: runs of whitespace separate, leading/trailing whitespace ignored. */
export function splitWords(s: string): string[] {
  const t = s.trim();
  return t === '' ? [] : t.split(/\s+/);
}

/** NumPy's `np.mean` of a 1-d float array (pairwise summation, as `np.add.reduce` does). */
export function npMean(values: readonly number[]): number {
  return pairwiseSum(values, 0, values.length) / values.length;
}

// np.add.reduce sums blocks of up to 8 elements with 8 accumulators and splits larger
// ranges in halves (multiples of 8) above 128 elements: reproduced so corpus means agree to the last bit.
function pairwiseSum(a: readonly number[], start: number, n: number): number {
  if (n < 8) {
    let s = -0;
    for (let i = 0; i < n; i++) s += a[start + i];
    return s;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0].map((_, j) => a[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}
