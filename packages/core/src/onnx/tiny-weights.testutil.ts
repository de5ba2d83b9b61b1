import type { WeightSource } from './weights.js';

/** A tiny in-memory weight source for graph tests: Linear(3→2) (24 + 8 bytes) and LayerNorm(2) (8 + 8 bytes). */
export const TINY_WEIGHTS: Record<string, { shape: number[]; data: number[] }> = {
  'fc.weight': { shape: [2, 3], data: [0.5, -1, 2, 1.5, 0.25, -0.75] },
  'fc.bias': { shape: [2], data: [0.1, -0.2] },
  'ln.weight': { shape: [2], data: [1.5, 0.5] },
  'ln.bias': { shape: [2], data: [0, 1] },
};

export const tinyWeightSource: WeightSource = {
  file: 'memory',
  has: (n) => n in TINY_WEIGHTS,
  info: (n) => ({ shape: TINY_WEIGHTS[n].shape }),
  readFloat32: async (n) => Float32Array.from(TINY_WEIGHTS[n].data),
};
