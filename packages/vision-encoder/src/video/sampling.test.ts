import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '@mplug2/core';
import { describe, expect, it } from 'vitest';
import { PREPROCESS_DIR, goldenConfig, goldenTensors, int64s } from './golden.testutil.js';
import { sampleFrameIndices } from './sampling.js';

const table = (
  JSON.parse(readFileSync(`${PREPROCESS_DIR}sampling.json`, 'utf8')) as {
    table: Record<string, Record<string, number[]>>;
  }
).table;

describe('sampleFrameIndices (middle)', () => {
  it('matches every case of sampling.json', () => {
    let cases = 0;
    for (const [nf, byVlen] of Object.entries(table))
      for (const [vlen, expected] of Object.entries(byVlen)) {
        expect(sampleFrameIndices(Number(nf), Number(vlen)), `numFrames=${nf} vlen=${vlen}`).toEqual(expected);
        cases++;
      }
    expect(cases).toBeGreaterThan(30);
  });

  it('matches the golden video settings', async () => {
    const cfg = goldenConfig();
    const m = await goldenTensors();
    expect(sampleFrameIndices(16, cfg.vlen)).toEqual(cfg.f16_r224.frame_indices);
    expect(sampleFrameIndices(16, 90)).toEqual(int64s(m, 'f16_r224.frame_indices'));
    expect(sampleFrameIndices(4, 90)).toEqual(int64s(m, 'f4_r56.frame_indices'));
  });

  it('pads short videos with the last index; an image is a 1-frame video', () => {
    expect(sampleFrameIndices(16, 1)).toEqual(new Array(16).fill(0));
    expect(sampleFrameIndices(5, 3)).toEqual([0, 1, 2, 2, 2]);
    expect(sampleFrameIndices(1, 7)).toEqual([3]);
  });

  it('stays in range and non-decreasing for many lengths', () => {
    for (const nf of [1, 2, 3, 8, 16, 32])
      for (let vlen = 1; vlen <= 400; vlen++) {
        const idx = sampleFrameIndices(nf, vlen);
        const ok = idx.length === nf && idx.every((v, i) => v >= 0 && v < vlen && (i === 0 || v >= idx[i - 1]));
        if (!ok) expect({ nf, vlen, idx }).toBe('in range and non-decreasing');
      }
  });

  it('rejects invalid counts with typed errors', () => {
    expect(() => sampleFrameIndices(0, 10)).toThrow(InvalidOptionError);
    expect(() => sampleFrameIndices(16, 0)).toThrow(InvalidOptionError);
    expect(() => sampleFrameIndices(16, 0)).toThrow(/vlen/);
    expect(() => sampleFrameIndices(-1, 10)).toThrow(/numFrames/);
    expect(() => sampleFrameIndices(2.5, 10)).toThrow(InvalidOptionError);
    expect(() => sampleFrameIndices(4, Number.NaN)).toThrow(InvalidOptionError);
  });
});
