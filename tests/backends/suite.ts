import { describe, expect, it } from 'vitest';
import type { Backend } from '@mplug2/core';
import type { ParityReport } from '@mplug2/converter';

/**
 * The ONE backend test suite (the tfjs pattern): the same golden parity cases are registered once
 * per environment and backend — Node cpu / wasm / webgpu (tests/backends/node.test.ts) and browser
 * wasm / webgpu (tests/browser/backends.test.ts) — each environment only says how to run a case.
 */
export type GoldenName = 'videoqa_tiny' | 'videocaption_tiny';

export interface BackendCase {
  readonly name: GoldenName;
  /** Graph variant: onnxruntime's fused attention ops, or primitive ONNX ops (`--primitive-attention`). */
  readonly fusedAttention: boolean;
  readonly backend: Backend;
}

/**
 * Float tolerance (max abs diff at every boundary), the same on every backend: measured diffs are ~1e-5
 * everywhere (README "Backends"); webgpu-placement.test.ts proves webgpu's compute runs on its kernels
 * (not onnxruntime's CPU fallback). Ids, lengths and masks are exact everywhere.
 */
export const TOLERANCE: Record<Backend, number> = { cpu: 1e-4, wasm: 1e-4, cuda: 1e-4, webgpu: 1e-4 };

/** Boundaries each golden must compare (besides generation). */
export const BOUNDARIES: Record<GoldenName, string[]> = {
  videoqa_tiny: [
    'visual.out',
    'v_module.out',
    'image_embeds',
    'text.out',
    'fusion.text_out',
    'fusion.merged_states',
    'fusion.merged_mask',
    'decoder_tf.logits',
  ],
  videocaption_tiny: ['visual.out', 'v_module.out', 'image_embeds', 'decoder_tf.logits'],
};
/** Generated ids: compared exactly on every backend. */
export const EXACT_IDS = ['beam.ids', 'beam.lengths', 'beam_nbest.ids', 'beam_nbest.lengths'];
const MIN_COMPARED: Record<GoldenName, number> = { videoqa_tiny: 18, videocaption_tiny: 10 };

export interface BackendEnvironment {
  /** `node` or `browser`. */
  readonly name: string;
  /**
   * Backends to run here, each with the graph variants it supports (and why others are left out).
   * `unavailable` (the probe's reason) registers the cases as skipped, so a missing backend shows in
   * the skipped count with its reason instead of vanishing from the run.
   */
  readonly backends: readonly { backend: Backend; fusedAttention: readonly boolean[]; unavailable?: string | null }[];
  /** Runs one case: the golden model converted by the real converter, compared by `runParity`. */
  run(c: BackendCase): Promise<ParityReport>;
  /** Per-test timeout. */
  readonly timeoutMs?: number;
}

/** Measured max abs diffs, by environment/backend/case, printed at the end of a run (for the report). */
export const measured: Record<string, Record<string, number>> = {};

/** Checks one report against the suite's rules; returns a list of failures (empty = pass). */
export function checkReport(c: BackendCase, report: ParityReport): string[] {
  const tol = TOLERANCE[c.backend];
  const byName = new Map(report.tensors.map((t) => [t.name, t]));
  const failures: string[] = [];
  for (const b of [...BOUNDARIES[c.name], ...EXACT_IDS]) if (!byName.has(b)) failures.push(`${b} was not compared`);
  for (const t of report.tensors) {
    const exact = t.tolerance === 0; // int64 fixtures: ids, lengths, masks, top-k ids
    const limit = exact ? 0 : tol;
    if (!(t.maxAbsDiff <= limit)) failures.push(`${t.name}: max abs diff ${t.maxAbsDiff} > ${limit}`);
  }
  if (report.missing.length) failures.push(`missing: ${report.missing.join(', ')}`);
  if (report.tensors.length < MIN_COMPARED[c.name]) failures.push(`only ${report.tensors.length} tensors compared`);
  return failures;
}

/** Registers the suite for one environment. */
export function defineBackendSuite(env: BackendEnvironment): void {
  const cases: (BackendCase & { unavailable: string | null })[] = env.backends.flatMap(({ backend, fusedAttention, unavailable }) =>
    (['videoqa_tiny', 'videocaption_tiny'] as GoldenName[]).flatMap((name) =>
      fusedAttention.map((f) => ({ name, fusedAttention: f, backend, unavailable: unavailable ?? null })),
    ),
  );
  describe.each(cases)(`${env.name} $backend: $name (fused attention: $fusedAttention)`, (c) => {
    it.skipIf(c.unavailable !== null)(
      c.unavailable === null
        ? 'matches the reference at every boundary and in every generated id'
        : `skipped: ${c.backend} unavailable here (${c.unavailable})`,
      async () => {
        const report = await env.run(c);
        const floats = report.tensors.filter((t) => t.tolerance !== 0);
        const key = `${env.name}/${c.backend}`;
        measured[key] ??= {};
        measured[key][`${c.name}${c.fusedAttention ? '' : ' (primitive)'}`] = Math.max(0, ...floats.map((t) => t.maxAbsDiff));
        const failures = checkReport(c, report);
        expect(failures, failures.join('\n')).toEqual([]);
      },
      env.timeoutMs ?? 120_000,
    );
  });
}
