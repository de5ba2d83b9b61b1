import { z } from 'zod';
import { ConfigError, InvalidOptionError, prng } from '@mplug2/core';

/**
 * A linear probe: multinomial logistic (softmax) regression with L2 on frozen embeddings, in plain
 * TypeScript. Deterministic: features are standardised with the training mean/std, weights start at
 * zero, the full-batch loss is minimised with L-BFGS (backtracking Armijo line search, fixed
 * operation order), and the held-out split comes from a seeded shuffle (stratified by label).
 */
export const PROBE_FORMAT = 'mplug2-linear-probe';

export const ProbeHeadSchema = z.object({
  format: z.literal(PROBE_FORMAT),
  formatVersion: z.literal(1),
  /** `manifest.modelId` of the model whose embeddings the head was fitted on. */
  modelId: z.string(),
  /** What the embeddings are (e.g. `vision_encoder.video_states[:,0]`). */
  embedding: z.string(),
  labels: z.array(z.string()).min(2),
  dims: z.object({ input: z.number().int().positive(), classes: z.number().int().min(2) }),
  mean: z.array(z.number()),
  std: z.array(z.number()),
  /** Row-major `[classes, input]`. */
  weight: z.array(z.number()),
  bias: z.array(z.number()),
  training: z.object({
    optimizer: z.literal('lbfgs'),
    l2: z.number().nonnegative(),
    maxIterations: z.number().int().positive(),
    iterations: z.number().int().nonnegative(),
    /** Mean cross-entropy + l2/2·‖W‖² on the training split at the end. */
    loss: z.number(),
    converged: z.boolean(),
    seed: z.number().int(),
    trainSize: z.number().int().nonnegative(),
    heldOutSize: z.number().int().nonnegative(),
    trainAccuracy: z.number(),
    heldOutAccuracy: z.number().nullable(),
  }),
});

export type ProbeHead = z.infer<typeof ProbeHeadSchema>;

export interface FitProbeOptions {
  /** L2 penalty `l2/2·‖W‖²` on the weights (not the bias), added to the mean cross-entropy. Default 1e-3. */
  readonly l2?: number;
  /** L-BFGS iterations at most. Default 200. */
  readonly maxIterations?: number;
  /** Stop when the gradient's max-norm falls below this. Default 1e-5. */
  readonly tolerance?: number;
  /** Fraction of each label's examples held out for the accuracy estimate. Default 0.25 (0 = none). */
  readonly heldOut?: number;
  readonly seed?: number;
  readonly modelId?: string;
  readonly embedding?: string;
}

export interface ProbePrediction {
  readonly label: string;
  readonly index: number;
  readonly probs: number[];
}

/** Stratified, seeded split: indices of the training and held-out examples. */
export function splitIndices(labels: readonly string[], heldOut: number, seed: number): { train: number[]; test: number[] } {
  const byLabel = new Map<string, number[]>();
  labels.forEach((l, i) => byLabel.set(l, [...(byLabel.get(l) ?? []), i]));
  const rand = prng(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const key of [...byLabel.keys()].sort()) {
    const idx = byLabel.get(key)!;
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    // Keep at least one training example per label.
    const n = idx.length > 1 ? Math.min(idx.length - 1, Math.round(idx.length * heldOut)) : 0;
    test.push(...idx.slice(0, n));
    train.push(...idx.slice(n));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

function softmaxRow(z: Float64Array): void {
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v);
  let s = 0;
  for (let i = 0; i < z.length; i++) s += z[i] = Math.exp(z[i] - m);
  for (let i = 0; i < z.length; i++) z[i] /= s;
}

function checkRows(x: readonly ArrayLike<number>[], what: string): number {
  if (x.length === 0) throw new InvalidOptionError(what, 'no examples');
  const d = x[0].length;
  x.forEach((r, i) => {
    if (r.length !== d) throw new InvalidOptionError(what, `row ${i} has ${r.length} values, expected ${d}`);
  });
  return d;
}

/** Class probabilities of every row of `x` under `head`. */
export function probeProbabilities(head: ProbeHead, x: readonly ArrayLike<number>[]): number[][] {
  const d = head.dims.input;
  const c = head.dims.classes;
  return x.map((row, r) => {
    if (row.length !== d) throw new InvalidOptionError('embedding', `row ${r} has ${row.length} values; the head takes ${d}`);
    const z = new Float64Array(c);
    for (let k = 0; k < c; k++) {
      let s = head.bias[k];
      for (let j = 0; j < d; j++) s += head.weight[k * d + j] * ((row[j] - head.mean[j]) / head.std[j]);
      z[k] = s;
    }
    softmaxRow(z);
    return Array.from(z);
  });
}

export function predictProbe(head: ProbeHead, x: readonly ArrayLike<number>[]): ProbePrediction[] {
  return probeProbabilities(head, x).map((probs) => {
    let best = 0;
    for (let k = 1; k < probs.length; k++) if (probs[k] > probs[best]) best = k;
    return { label: head.labels[best], index: best, probs };
  });
}

function accuracy(head: ProbeHead, x: readonly ArrayLike<number>[], y: readonly string[]): number {
  if (x.length === 0) return NaN;
  const p = predictProbe(head, x);
  return p.filter((q, i) => q.label === y[i]).length / x.length;
}

/**
 * Mean cross-entropy + `l2/2·‖W‖²` of a softmax regression and its gradient, over standardised rows
 * `x` (`n×d`, row-major) with class ids `y`. Parameters `theta` = `[W (c×d, row-major); b (c)]`.
 */
export function softmaxRegressionLoss(
  theta: Float64Array,
  grad: Float64Array,
  x: Float64Array,
  y: Int32Array,
  n: number,
  d: number,
  c: number,
  l2: number,
): number {
  grad.fill(0);
  const z = new Float64Array(c);
  const bOff = c * d;
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const xo = r * d;
    let m = -Infinity;
    for (let k = 0; k < c; k++) {
      let s = theta[bOff + k];
      const wo = k * d;
      for (let j = 0; j < d; j++) s += theta[wo + j] * x[xo + j];
      z[k] = s;
      if (s > m) m = s;
    }
    let sum = 0;
    for (let k = 0; k < c; k++) sum += z[k] = Math.exp(z[k] - m);
    loss -= Math.log(z[y[r]] / sum);
    for (let k = 0; k < c; k++) {
      const g = (z[k] / sum - (k === y[r] ? 1 : 0)) / n;
      if (g === 0) continue;
      grad[bOff + k] += g;
      const wo = k * d;
      for (let j = 0; j < d; j++) grad[wo + j] += g * x[xo + j];
    }
  }
  loss /= n;
  let reg = 0;
  for (let i = 0; i < bOff; i++) {
    reg += theta[i] * theta[i];
    grad[i] += l2 * theta[i];
  }
  return loss + (l2 / 2) * reg;
}

function dot64(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * L-BFGS (memory 10) with a backtracking Armijo line search; deterministic. Returns the minimiser
 * found, the final loss, the iterations run and whether the gradient fell below `tolerance`.
 */
function lbfgs(
  f: (theta: Float64Array, grad: Float64Array) => number,
  size: number,
  maxIterations: number,
  tolerance: number,
): { theta: Float64Array; loss: number; iterations: number; converged: boolean } {
  const memory = 10;
  let theta = new Float64Array(size);
  let grad = new Float64Array(size);
  let loss = f(theta, grad);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const dir = new Float64Array(size);
  const alpha = new Array<number>(memory).fill(0);
  let iterations = 0;
  let converged = maxAbs(grad) < tolerance;
  while (!converged && iterations < maxIterations) {
    // Two-loop recursion: dir = -H·grad.
    for (let i = 0; i < size; i++) dir[i] = -grad[i];
    for (let m = S.length - 1; m >= 0; m--) {
      alpha[m] = rho[m] * dot64(S[m], dir);
      for (let i = 0; i < size; i++) dir[i] -= alpha[m] * Y[m][i];
    }
    if (S.length) {
      const last = S.length - 1;
      const gamma = dot64(S[last], Y[last]) / dot64(Y[last], Y[last]);
      for (let i = 0; i < size; i++) dir[i] *= gamma;
    } else {
      const g = Math.sqrt(dot64(grad, grad));
      for (let i = 0; i < size; i++) dir[i] /= Math.max(g, 1);
    }
    for (let m = 0; m < S.length; m++) {
      const beta = rho[m] * dot64(Y[m], dir);
      for (let i = 0; i < size; i++) dir[i] += S[m][i] * (alpha[m] - beta);
    }
    let slope = dot64(grad, dir);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < size; i++) dir[i] = -grad[i];
      slope = -dot64(grad, grad);
    }
    let step = 1;
    const next = new Float64Array(size);
    const nextGrad = new Float64Array(size);
    let nextLoss = Infinity;
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < size; i++) next[i] = theta[i] + step * dir[i];
      nextLoss = f(next, nextGrad);
      if (nextLoss <= loss + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    iterations++;
    if (!(nextLoss <= loss)) break; // no progress possible at float64 precision
    const s = new Float64Array(size);
    const yv = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      s[i] = next[i] - theta[i];
      yv[i] = nextGrad[i] - grad[i];
    }
    const sy = dot64(s, yv);
    if (sy > 1e-12) {
      S.push(s);
      Y.push(yv);
      rho.push(1 / sy);
      if (S.length > memory) {
        S.shift();
        Y.shift();
        rho.shift();
      }
    }
    const improvement = loss - nextLoss;
    theta = next;
    grad = nextGrad;
    loss = nextLoss;
    converged = maxAbs(grad) < tolerance;
    if (!converged && improvement <= 1e-15 * Math.max(1, Math.abs(loss))) break;
  }
  return { theta, loss, iterations, converged };
}

/** Fits a softmax-regression head on embeddings `x` (one row per example) with string labels `y`. */
export function fitLinearProbe(x: readonly ArrayLike<number>[], y: readonly string[], options: FitProbeOptions = {}): ProbeHead {
  const d = checkRows(x, 'embeddings');
  if (y.length !== x.length) throw new InvalidOptionError('labels', `${y.length} labels for ${x.length} embeddings`);
  const labels = [...new Set(y)].sort();
  if (labels.length < 2) throw new InvalidOptionError('labels', `need at least 2 distinct labels, got ${labels.length}`);
  const l2 = options.l2 ?? 1e-3;
  const maxIterations = options.maxIterations ?? 200;
  const tolerance = options.tolerance ?? 1e-5;
  const seed = options.seed ?? 0;
  const heldOut = options.heldOut ?? 0.25;
  if (!(l2 >= 0 && Number.isFinite(l2))) throw new InvalidOptionError('l2', `must be a number >= 0, got ${l2}`);
  if (!(Number.isInteger(maxIterations) && maxIterations >= 1)) throw new InvalidOptionError('maxIterations', `must be an integer >= 1, got ${maxIterations}`);
  if (!(heldOut >= 0 && heldOut < 1)) throw new InvalidOptionError('heldOut', `must be in [0, 1), got ${heldOut}`);
  x.forEach((r, i) => {
    for (let j = 0; j < d; j++) if (!Number.isFinite(r[j])) throw new InvalidOptionError('embeddings', `row ${i} has a non-finite value at ${j}`);
  });
  const { train, test } = splitIndices(y, heldOut, seed);
  const c = labels.length;
  const n = train.length;
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const i of train) for (let j = 0; j < d; j++) mean[j] += x[i][j] / n;
  for (const i of train) for (let j = 0; j < d; j++) std[j] += (x[i][j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) || 1;
  const xs = new Float64Array(n * d);
  train.forEach((i, r) => {
    for (let j = 0; j < d; j++) xs[r * d + j] = (x[i][j] - mean[j]) / std[j];
  });
  const ys = Int32Array.from(train, (i) => labels.indexOf(y[i]));
  const fit = lbfgs((theta, grad) => softmaxRegressionLoss(theta, grad, xs, ys, n, d, c, l2), c * d + c, maxIterations, tolerance);
  const head: ProbeHead = {
    format: PROBE_FORMAT,
    formatVersion: 1,
    modelId: options.modelId ?? 'unknown',
    embedding: options.embedding ?? 'unknown',
    labels,
    dims: { input: d, classes: c },
    mean,
    std,
    weight: Array.from(fit.theta.subarray(0, c * d)),
    bias: Array.from(fit.theta.subarray(c * d)),
    training: {
      optimizer: 'lbfgs',
      l2,
      maxIterations,
      iterations: fit.iterations,
      loss: fit.loss,
      converged: fit.converged,
      seed,
      trainSize: n,
      heldOutSize: test.length,
      trainAccuracy: 0,
      heldOutAccuracy: null,
    },
  };
  const trainAcc = accuracy(
    head,
    train.map((i) => x[i]),
    train.map((i) => y[i]),
  );
  const testAcc = test.length
    ? accuracy(
        head,
        test.map((i) => x[i]),
        test.map((i) => y[i]),
      )
    : null;
  return { ...head, training: { ...head.training, trainAccuracy: trainAcc, heldOutAccuracy: testAcc } };
}

export function parseProbeHead(raw: unknown, source: string): ProbeHead {
  const r = ProbeHeadSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(source, `invalid probe head: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const h = r.data;
  const { input, classes } = h.dims;
  if (h.labels.length !== classes || h.weight.length !== classes * input || h.bias.length !== classes || h.mean.length !== input || h.std.length !== input)
    throw new ConfigError(source, `probe head sizes do not match dims (input ${input}, classes ${classes})`);
  return h;
}
