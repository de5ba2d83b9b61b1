import { describe, expect, it } from 'vitest';
import { fitLinearProbe, parseProbeHead, predictProbe, softmaxRegressionLoss, splitIndices } from './linear-probe.js';

/** Deterministic pseudo-random numbers in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

describe('linear probe', () => {
  it('stratified split keeps every label in training and is seeded', () => {
    const y = ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'c'];
    const s = splitIndices(y, 0.25, 3);
    expect(s.train.length + s.test.length).toBe(y.length);
    for (const l of ['a', 'b', 'c']) expect(s.train.some((i) => y[i] === l)).toBe(true);
    expect(s.test.filter((i) => y[i] === 'a')).toHaveLength(1);
    expect(splitIndices(y, 0.25, 3)).toEqual(s);
  });

  it('the loss gradient matches finite differences (weights, bias, L2 on weights only)', () => {
    const n = 7,
      d = 4,
      c = 3,
      l2 = 0.3;
    const r = lcg(1);
    const x = Float64Array.from({ length: n * d }, () => r() * 2 - 1);
    const y = Int32Array.from({ length: n }, (_, i) => i % c);
    const theta = Float64Array.from({ length: c * d + c }, () => r() - 0.5);
    const grad = new Float64Array(theta.length);
    softmaxRegressionLoss(theta, grad, x, y, n, d, c, l2);
    const scratch = new Float64Array(theta.length);
    for (let i = 0; i < theta.length; i++) {
      const h = 1e-6;
      const p = theta.slice();
      const m = theta.slice();
      p[i] += h;
      m[i] -= h;
      const num = (softmaxRegressionLoss(p, scratch, x, y, n, d, c, l2) - softmaxRegressionLoss(m, scratch, x, y, n, d, c, l2)) / (2 * h);
      expect(grad[i]).toBeCloseTo(num, 7);
    }
  });

  it('learns a 3-class linearly separable problem; probabilities sum to 1; JSON round trip is exact', () => {
    const x: number[][] = [];
    const y: string[] = [];
    for (let i = 0; i < 30; i++) {
      const c = i % 3;
      x.push([c === 0 ? 3 : 0, c === 1 ? 3 : 0, (i % 5) * 0.1]);
      y.push(['x', 'y', 'z'][c]);
    }
    const h = fitLinearProbe(x, y, { heldOut: 0.2 });
    expect(h.training.heldOutAccuracy).toBe(1);
    expect(h.training.optimizer).toBe('lbfgs');
    const p = predictProbe(h, x);
    for (const q of p) expect(q.probs.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 12);
    const back = parseProbeHead(JSON.parse(JSON.stringify(h)), 'mem');
    expect(predictProbe(back, x)).toEqual(p);
  });

  it('converges to the tolerance on strongly correlated high-dimensional features; deterministic', () => {
    // 400 examples, 256 dims that are noisy copies of 3 latent factors: X^T X is badly conditioned.
    const r = lcg(7);
    const x: number[][] = [];
    const y: string[] = [];
    const mix = Array.from({ length: 256 }, () => [r() - 0.5, r() - 0.5, r() - 0.5]);
    for (let i = 0; i < 400; i++) {
      const cls = i % 4;
      const f = [Math.cos((cls * Math.PI) / 2) + (r() - 0.5) * 0.6, Math.sin((cls * Math.PI) / 2) + (r() - 0.5) * 0.6, r() - 0.5];
      x.push(mix.map((m) => m[0] * f[0] + m[1] * f[1] + m[2] * f[2] + (r() - 0.5) * 0.01));
      y.push(`c${cls}`);
    }
    const h = fitLinearProbe(x, y, { heldOut: 0.25, seed: 2, l2: 1e-2 });
    expect(h.training.converged).toBe(true);
    expect(Number.isFinite(h.training.loss)).toBe(true);
    expect(h.training.heldOutAccuracy!).toBeGreaterThanOrEqual(0.95);
    expect(fitLinearProbe(x, y, { heldOut: 0.25, seed: 2, l2: 1e-2 })).toEqual(h);
  });

  it('rejects one label, ragged rows, non-finite values and malformed heads', () => {
    expect(() => fitLinearProbe([[1], [2]], ['a', 'a'])).toThrow(/2 distinct labels/);
    expect(() => fitLinearProbe([[1], [2, 3]], ['a', 'b'])).toThrow(/row 1/);
    expect(() => fitLinearProbe([[1], [NaN]], ['a', 'b'])).toThrow(/non-finite/);
    const h = fitLinearProbe([[0], [1], [0.1], [0.9]], ['a', 'b', 'a', 'b'], { heldOut: 0 });
    expect(() => parseProbeHead({ ...h, bias: [0] }, 'x.json')).toThrow(/do not match dims/);
    expect(() => parseProbeHead({ ...h, format: 'other' }, 'x.json')).toThrow(/format/);
    expect(() => predictProbe(h, [[1, 2]])).toThrow(/takes 1/);
  });
});
