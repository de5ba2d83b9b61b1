/** The two dataset evaluations of the original's inference scripts. */
export type EvalTask = 'videoqa' | 'caption';

/** One VideoQA result in the original's result format (`inference_videoqa.sh`). */
export interface QAResultRecord {
  /** 0-based line index of the question in the annotations file (as the original's `cal_metric` numbers them). */
  readonly question_id: number;
  readonly answer: string;
}

/** One captioning result in the original's result format (`inference_videocaption.sh`). */
export interface CaptionResultRecord {
  readonly video_id: string;
  readonly pred_caption: string;
  readonly gold_caption: readonly string[];
}

/** One VideoQA question of a video: its id (line index), the question as written, and the label. */
export interface QAItem {
  readonly questionId: number;
  readonly question: string;
  readonly answer: string;
}

/** One captioning annotation line of a video: its line index and the gold captions. */
export interface CaptionItem {
  readonly line: number;
  readonly goldCaptions: readonly string[];
}

/** The unit of work: one video and every annotation line that asks about it (encoded once for all). */
export type EvalUnit =
  | { readonly task: 'videoqa'; readonly videoId: string; readonly videoPath: string; readonly items: readonly QAItem[] }
  | { readonly task: 'caption'; readonly videoId: string; readonly videoPath: string; readonly items: readonly CaptionItem[] };

/** A video that was not evaluated, and why (missing file, undecodable file). */
export interface FailedVideo {
  readonly video_id: string;
  readonly reason: string;
}

/**
 * The outcome of one unit. `ok: true`: its result records (one per annotation line of the video) and
 * how many video encodes it took (1); `ok: false`: the video could not be decoded (`reason`).
 */
export type UnitResult =
  | { readonly videoId: string; readonly ok: true; readonly records: readonly (QAResultRecord | CaptionResultRecord)[]; readonly videosEncoded: number }
  | { readonly videoId: string; readonly ok: false; readonly reason: string };

/** Caption metrics as `cal_metric` reports them; METEOR/SPICE are null (with `unavailable` saying why) without their jars. */
export interface CaptionMetrics {
  readonly Bleu_1: number;
  readonly Bleu_2: number;
  readonly Bleu_3: number;
  readonly Bleu_4: number;
  readonly ROUGE_L: number;
  readonly CIDEr: number;
  readonly METEOR: number | null;
  readonly SPICE: number | null;
  /** Why a metric is null, by name. */
  readonly unavailable?: Readonly<Record<string, string>>;
}

/** VideoQA metrics: exact-match accuracy over the scored questions. */
export interface QAMetrics {
  readonly accuracy: number;
  readonly correct: number;
}

/** The `--json` summary line and the content of `metrics.json`. */
export interface EvalSummary {
  readonly task: EvalTask;
  /** Scored annotation lines (questions, or caption lines). */
  readonly n: number;
  /** Null when no line was evaluated (every video missing or undecodable). */
  readonly metrics: QAMetrics | CaptionMetrics | null;
  /** Videos decoded and encoded by this process (0 for `eval score`). */
  readonly videos_encoded: number;
  readonly failed: readonly FailedVideo[];
}
