import { AnnotationError } from './errors.js';
import { bleu } from './metrics/bleu.js';
import { ciderD } from './metrics/cider.js';
import { ptbTokenize } from './metrics/ptb.js';
import { rougeL } from './metrics/rouge.js';
import type { CaptionMetrics, CaptionResultRecord, QAItem, QAMetrics, QAResultRecord } from './types.js';

/**
 * VideoQA accuracy as the original's `cal_metric`: an answer is right when it equals its
 * question's label exactly (no normalisation). `labels` maps question id → label; every result
 * must name a known question (an unknown id is an {@link AnnotationError} naming it).
 */
export function vqaAccuracy(
  results: readonly QAResultRecord[],
  labels: ReadonlyMap<number, string> | readonly QAItem[],
  file = 'results',
): QAMetrics & { n: number } {
  const byId = labels instanceof Map ? labels : new Map((labels as readonly QAItem[]).map((q) => [q.questionId, q.answer]));
  let correct = 0;
  for (const r of results) {
    const label = byId.get(r.question_id);
    if (label === undefined) throw new AnnotationError(file, undefined, `question_id ${r.question_id} is not a question of the annotations`);
    if (r.answer === label) correct++;
  }
  return { accuracy: results.length ? correct / results.length : 0, correct, n: results.length };
}

/** Options of {@link scoreCaptions}. */
export interface CaptionScoreOptions {
  /** Tokenize predictions and gold captions with the PTB rules first (default true, as the original). */
  readonly tokenize?: boolean;
}

/** Captions after the PTB step, as the scorers see them (input of the METEOR / SPICE jars too). */
export interface TokenizedCaptions {
  readonly candidates: string[];
  readonly references: string[][];
}

/** PTB-tokenizes the predictions and gold captions of caption result records (pycocoevalcap's first step). */
export function tokenizeCaptionResults(results: readonly CaptionResultRecord[], options: CaptionScoreOptions = {}): TokenizedCaptions {
  const tok = options.tokenize === false ? (s: string) => s : ptbTokenize;
  return { candidates: results.map((r) => tok(r.pred_caption)), references: results.map((r) => r.gold_caption.map(tok)) };
}

const NO_JAVA_HERE = 'needs its Java jar (pycocoevalcap runs meteor-1.5.jar / spice-1.0.jar): pass --meteor-jar / --spice-jar (Node, Java on the PATH)';

/**
 * Caption metrics as the original's `cal_metric` (pycocoevalcap through `language_evaluation`):
 * PTB tokenization, then BLEU-1..4, ROUGE-L and CIDEr-D over all results at once (CIDEr's
 * document frequencies come from the references of these results). METEOR and SPICE are null
 * here, with the reason in `unavailable`; the Node entry's `scoreCaptionsWithJava` adds them.
 */
export function scoreCaptions(results: readonly CaptionResultRecord[], options: CaptionScoreOptions = {}): CaptionMetrics {
  if (results.length === 0) throw new AnnotationError('results', undefined, 'no caption results to score');
  for (const [i, r] of results.entries())
    if (typeof r.pred_caption !== 'string' || !Array.isArray(r.gold_caption) || r.gold_caption.length === 0)
      throw new AnnotationError('results', i, 'a caption result is {video_id, pred_caption, gold_caption: [...]} with at least one gold caption');
  const { candidates, references } = tokenizeCaptionResults(results, options);
  const b = bleu(candidates, references);
  return {
    Bleu_1: b.corpus[0],
    Bleu_2: b.corpus[1],
    Bleu_3: b.corpus[2],
    Bleu_4: b.corpus[3],
    ROUGE_L: rougeL(candidates, references).corpus,
    CIDEr: ciderD(candidates, references).corpus,
    METEOR: null,
    SPICE: null,
    unavailable: { METEOR: NO_JAVA_HERE, SPICE: NO_JAVA_HERE },
  };
}
