import { maxAbsDiff, openCheckpoint, openModel, tensor, toFloat32, type Checkpoint, type ModelSource, type SessionOptions, type Tensor } from '@mplug2/core';
import { TextDecoderModule, beamSearch, rankAnswers, type BeamSearchResult, type DecoderMemory } from '@mplug2/decoder';
import { loadFusion } from '@mplug2/fusion';
import { loadTextEncoder } from '@mplug2/text-encoder';
import { loadUniversal } from '@mplug2/universal';
import { loadVisionEncoder } from '@mplug2/vision-encoder';

export interface ParityEntry {
  readonly name: string;
  readonly maxAbsDiff: number;
  readonly tolerance: number;
  readonly ok: boolean;
}

export interface ParityReport {
  readonly ok: boolean;
  readonly tensors: ParityEntry[];
  /** Boundary tensors the fixtures hold that this model could not produce (e.g. a module it lacks). */
  readonly missing: string[];
}

export const FLOAT_TOLERANCE = 1e-4;

/** Reads fixture tensors (a safetensors file of reference inputs and outputs). */
export class FixtureFile {
  private constructor(private readonly ckpt: Checkpoint) {}

  /** Opens a fixture file: a path in Node, a URL in a browser (read by HTTP Range requests). */
  static async open(file: string): Promise<FixtureFile> {
    return new FixtureFile(await openCheckpoint(file));
  }

  /** Fixtures already in memory. */
  static async fromCheckpoint(ckpt: Checkpoint): Promise<FixtureFile> {
    return new FixtureFile(ckpt);
  }

  has(name: string): boolean {
    return this.ckpt.has(name);
  }

  names(): string[] {
    return this.ckpt.list().map((t) => t.name);
  }

  async get(name: string): Promise<Tensor> {
    const info = this.ckpt.info(name);
    const dims = info.shape.map((_, i) => `d${i}`);
    if (info.dtype === 'int64') return tensor('int64', dims, info.shape, (await this.ckpt.read(name)) as BigInt64Array, name);
    return tensor('float32', dims, info.shape, await this.ckpt.readFloat32(name), name);
  }

  close(): Promise<void> {
    return this.ckpt.close();
  }
}

/** Accumulates comparisons of produced tensors against fixture tensors. */
export class ParityRecorder {
  readonly tensors: ParityEntry[] = [];
  readonly missing: string[] = [];

  constructor(private readonly fixtures: FixtureFile) {}

  /** Compares `actual` with fixture `name` (exact for int64, `tolerance` for floats). */
  async compare(name: string, actual: Tensor | ArrayLike<number>, tolerance = FLOAT_TOLERANCE): Promise<void> {
    if (!this.fixtures.has(name)) return;
    const expected = await this.fixtures.get(name);
    const exact = expected.dtype === 'int64';
    const a = 'dtype' in (actual as object) ? toFloat32(actual as Tensor) : Float32Array.from(actual as ArrayLike<number>);
    const e = toFloat32(expected);
    let d = maxAbsDiff(a, e);
    // -inf == -inf (missing n-best rows) is agreement.
    if (Number.isNaN(d) || d === Infinity) {
      d = a.length !== e.length ? Infinity : 0;
      for (let i = 0; i < a.length && d === 0; i++) if (!(a[i] === e[i] || Math.abs(a[i] - e[i]) <= tolerance)) d = Math.abs(a[i] - e[i]) || Infinity;
    }
    const tol = exact ? 0 : tolerance;
    this.tensors.push({ name, maxAbsDiff: d, tolerance: tol, ok: d <= tol });
  }

  markMissing(name: string): void {
    if (this.fixtures.has(name)) this.missing.push(name);
  }

  report(): ParityReport {
    return { ok: this.tensors.length > 0 && this.tensors.every((t) => t.ok), tensors: this.tensors, missing: this.missing };
  }
}

const ones = (batch: number, n: number) => tensor('int64', ['batch', 'n'], [batch, n], new BigInt64Array(batch * n).fill(1n));

/**
 * Feeds the fixtures' `input.*` tensors through the converted modules and compares every module
 * boundary the fixtures hold. Each module runs on the reference output of the module before it
 * would also be possible; we chain our own outputs instead, which is the stricter end-to-end check.
 */
export async function runParity(model: string | ModelSource, fixturesFile: string | FixtureFile, options: SessionOptions = {}): Promise<ParityReport> {
  const dir = typeof model === 'string' ? await openModel(model) : model;
  const fixtures = typeof fixturesFile === 'string' ? await FixtureFile.open(fixturesFile) : fixturesFile;
  const rec = new ParityRecorder(fixtures);
  const disposers: (() => Promise<void>)[] = [];
  try {
    const video = (await fixtures.get('input.video')) as Tensor<'float32'>;
    const batch = video.shape[0];
    const vision = await loadVisionEncoder(dir, options);
    disposers.push(() => vision.dispose());
    const { video_states } = await vision.run({ pixel_values: video });
    await rec.compare('visual.out', video_states);
    const universal = await loadUniversal(dir, options);
    disposers.push(() => universal.dispose());
    const uni = await universal.run({ video_states });
    await rec.compare('v_module.out', uni.universal_out);
    await rec.compare('image_embeds', uni.image_embeds);
    const imageMask = ones(batch, uni.image_embeds.shape[1]);

    let memory = uni.image_embeds as Tensor<'float32'>;
    let memoryMask = imageMask;
    if (fixtures.has('input.question_ids')) {
      if (!dir.has('text_encoder') || !dir.has('fusion')) {
        for (const n of ['text.out', 'fusion.text_out', 'fusion.merged_states']) rec.markMissing(n);
      } else {
        const ids = (await fixtures.get('input.question_ids')) as Tensor<'int64'>;
        const mask = (await fixtures.get('input.question_mask')) as Tensor<'int64'>;
        const text = await loadTextEncoder(dir, options);
        disposers.push(() => text.dispose());
        const { text_states } = await text.run({ input_ids: ids, attention_mask: mask });
        await rec.compare('text.out', text_states);
        const fusion = await loadFusion(dir, options);
        disposers.push(() => fusion.dispose());
        const f = await fusion.run({ text_states, text_mask: mask, image_embeds: uni.image_embeds, image_mask: imageMask });
        await rec.compare('fusion.image_out', f.fusion_image);
        await rec.compare('fusion.text_out', f.fusion_text);
        await rec.compare('fusion.merged_states', f.merged_states);
        await rec.compare('fusion.merged_mask', f.merged_mask);
        memory = f.merged_states as Tensor<'float32'>;
        memoryMask = f.merged_mask as Tensor<'int64'>;
      }
    }
    if (!dir.has('decoder')) {
      for (const n of ['decoder_tf.logits', 'beam.ids']) rec.markMissing(n);
      return rec.report();
    }
    const decoder = await TextDecoderModule.load(dir, options);
    disposers.push(() => decoder.dispose());
    const mem = await decoder.encodeMemory(memory, memoryMask);
    const tfName = fixtures.has('input.tf_answer_ids') ? 'input.tf_answer' : 'input.tf_caption';
    if (fixtures.has(`${tfName}_ids`)) {
      const ids = (await fixtures.get(`${tfName}_ids`)) as Tensor<'int64'>;
      const mask = (await fixtures.get(`${tfName}_mask`)) as Tensor<'int64'>;
      const { logits } = await decoder.forward(mem, ids, mask);
      await rec.compare('decoder_tf.logits', logits);
    }
    await compareGeneration(dir, decoder, mem, fixtures, rec);
    return rec.report();
  } finally {
    for (const d of disposers.reverse()) await d();
    await fixtures.close();
  }
}

/**
 * Search results in the golden fixtures' `[rows, n, width]` layout (`beam*` / `beam_nbest*`):
 * the first `n` hypotheses of each row, ids zero-padded to `width`; a missing hypothesis is an
 * empty row with length 0 and score −∞.
 */
export function flattenHypotheses(results: readonly BeamSearchResult[], n: number, width: number): { ids: number[]; lengths: number[]; scores: number[] } {
  const ids: number[] = [];
  const lengths: number[] = [];
  const scores: number[] = [];
  for (const r of results)
    for (let j = 0; j < n; j++) {
      const h = r.hypotheses[j];
      const row = h ? h.ids : [];
      ids.push(...row, ...new Array(Math.max(width - row.length, 0)).fill(0));
      lengths.push(row.length);
      scores.push(h ? h.score : -Infinity);
    }
  return { ids, lengths, scores };
}

/** Beam search (best and n-best) and answer ranking against the fixtures' `beam*` / `rank*` tensors. */
async function compareGeneration(
  dir: ModelSource,
  decoder: TextDecoderModule,
  memory: DecoderMemory,
  fixtures: FixtureFile,
  rec: ParityRecorder,
): Promise<void> {
  const cfg = dir.manifest.config.model_config;
  const search = { beamSize: cfg.beam_size, minLength: cfg.min_length ?? 1, maxLength: cfg.max_length ?? 10 };
  if (fixtures.has('beam.ids')) {
    const width = (await fixtures.get('beam.ids')).shape[1];
    const best = flattenHypotheses(await beamSearch(decoder, memory, { ...search, numReturn: 1 }), 1, width);
    await rec.compare('beam.ids', best.ids);
    await rec.compare('beam.lengths', best.lengths);
    await rec.compare('beam.scores', best.scores);
  }
  if (fixtures.has('beam_nbest.ids')) {
    const width = (await fixtures.get('beam_nbest.ids')).shape[2];
    const nbest = flattenHypotheses(await beamSearch(decoder, memory, { ...search, numReturn: search.beamSize }), search.beamSize, width);
    await rec.compare('beam_nbest.ids', nbest.ids);
    await rec.compare('beam_nbest.lengths', nbest.lengths);
    await rec.compare('beam_nbest.scores', nbest.scores);
  }
  if (fixtures.has('rank.topk_ids') && fixtures.has('input.answer_list_ids')) {
    const answerIds = await fixtureRows(fixtures, 'input.answer_list_ids');
    const answerMask = await fixtureRows(fixtures, 'input.answer_list_mask');
    const k = (await fixtures.get('rank.topk_ids')).shape[1];
    const ranked = await rankAnswers(decoder, memory, answerIds, answerMask, k);
    await rec.compare('rank.first_token_logits', ranked.firstTokenLogits);
    await rec.compare('rank.candidate_answer_loss', ranked.candidateLoss);
    await rec.compare(
      'rank.topk_ids',
      ranked.results.flatMap((r) => r.ids),
    );
    await rec.compare(
      'rank.topk_probs',
      ranked.results.flatMap((r) => r.probs),
    );
  }
}

async function fixtureRows(fixtures: FixtureFile, name: string): Promise<number[][]> {
  const t = await fixtures.get(name);
  const w = t.shape[1];
  const flat = Array.from(t.data as BigInt64Array, Number);
  return Array.from({ length: t.shape[0] }, (_, i) => flat.slice(i * w, (i + 1) * w));
}
