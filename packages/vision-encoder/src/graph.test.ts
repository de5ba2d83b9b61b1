import { describe, expect, it } from 'vitest';
import { resizePositionEmbedding } from './graph.js';

describe('resizePositionEmbedding', () => {
  it('keeps the class row and resamples the grid bilinearly (align_corners=false, edge-clamped)', () => {
    // one channel: class row 9, then a 2x2 grid [[0, 1], [2, 3]] → 3x3
    const out = resizePositionEmbedding(3).apply(Float32Array.from([9, 0, 1, 2, 3]), [5, 1]);
    expect(Array.from(out)).toEqual([9, 0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3]);
    expect(resizePositionEmbedding(3).outShape([5, 1])).toEqual([10, 1]);
  });

  it('is the identity when the grid already fits, per channel', () => {
    const table = Float32Array.from({ length: 5 * 2 }, (_, i) => i * 0.25);
    expect(resizePositionEmbedding(2).apply(table, [5, 2])).toBe(table);
  });

  it('downsamples 4x4 → 2x2 by averaging the middle pairs', () => {
    const grid = Array.from({ length: 16 }, (_, i) => i); // row-major 4x4
    const out = resizePositionEmbedding(2).apply(Float32Array.from([0, ...grid]), [17, 1]);
    // src = (o + 0.5)·2 − 0.5 = 0.5, 2.5 → averages of rows/cols (0,1) and (2,3)
    expect(Array.from(out)).toEqual([0, 2.5, 4.5, 10.5, 12.5]);
  });
});
