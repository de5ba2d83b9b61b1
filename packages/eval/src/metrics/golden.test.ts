import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bleu } from './bleu.js';
import { ciderD } from './cider.js';
import { rougeL } from './rouge.js';

interface Case {
  name: string;
  references: string[][];
  candidates: string[];
  corpus: Record<'Bleu_1' | 'Bleu_2' | 'Bleu_3' | 'Bleu_4' | 'ROUGE_L' | 'CIDEr', number>;
  per_video: Record<'Bleu_1' | 'Bleu_4' | 'ROUGE_L' | 'CIDEr', number[]>;
}

// Computed by pycocoevalcap's own scorers (fixtures/goldens/caption-metrics/README.md); inputs already PTB-tokenized.
const golden = JSON.parse(readFileSync(new URL('../../../../fixtures/goldens/caption-metrics/metrics.json', import.meta.url), 'utf8')) as { cases: Case[] };

const close = (actual: number[], expected: number[]) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]), `index ${i}: ${a} vs ${expected[i]}`).toBeLessThanOrEqual(1e-9));
};

describe('caption metrics equal pycocoevalcap (24 golden cases, 1e-9)', () => {
  it('has the 24 cases', () => expect(golden.cases).toHaveLength(24));
  for (const c of golden.cases)
    it(c.name, () => {
      const b = bleu(c.candidates, c.references);
      close(b.corpus, [c.corpus.Bleu_1, c.corpus.Bleu_2, c.corpus.Bleu_3, c.corpus.Bleu_4]);
      close(b.perSentence[0], c.per_video.Bleu_1);
      close(b.perSentence[3], c.per_video.Bleu_4);
      const r = rougeL(c.candidates, c.references);
      close([r.corpus], [c.corpus.ROUGE_L]);
      close(r.perSentence, c.per_video.ROUGE_L);
      const d = ciderD(c.candidates, c.references);
      close([d.corpus], [c.corpus.CIDEr]);
      close(d.perSentence, c.per_video.CIDEr);
    });
});
