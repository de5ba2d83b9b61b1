import { InvalidOptionError } from '@mplug2/core';
// @mplug2/eval and @mplug2/queue are imported by this command's run: other commands start without them.
import type { CaptionMetrics, EvalSummary, EvalTask, QAMetrics } from '@mplug2/eval';
import { intOption, progressBar, requirePositional, type Command, type CommandContext } from '../cli.js';
import { readAnswers } from './qa.js';
import { QUEUE_COORDINATOR_OPTIONS, QUEUE_COORDINATOR_USAGE, connectCoordinator, queueProgress } from './queue-options.js';
import { backendOption } from './shared.js';

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

function printSummary(summary: EvalSummary, json: boolean, ctx: CommandContext): void {
  for (const f of summary.failed) ctx.stderr.write(`mplug2: not evaluated: ${f.video_id}: ${f.reason}\n`);
  if (json) {
    ctx.stdout.write(
      JSON.stringify({ task: summary.task, n: summary.n, metrics: summary.metrics, videos_encoded: summary.videos_encoded, failed: summary.failed }) + '\n',
    );
    return;
  }
  const lines: string[] = [`${summary.task}: ${summary.n} scored${summary.failed.length ? `, ${summary.failed.length} videos not evaluated` : ''}`];
  if (summary.metrics === null) lines.push('  no metrics: nothing was evaluated');
  else if (summary.task === 'videoqa') {
    const m = summary.metrics as QAMetrics;
    lines.push(`  accuracy ${(m.accuracy * 100).toFixed(2)}% (${m.correct}/${summary.n})`);
  } else {
    const m = summary.metrics as CaptionMetrics;
    for (const k of ['Bleu_1', 'Bleu_2', 'Bleu_3', 'Bleu_4', 'METEOR', 'ROUGE_L', 'CIDEr', 'SPICE'] as const) {
      const v = m[k];
      lines.push(`  ${k.padEnd(8)} ${v === null ? `n/a (${m.unavailable?.[k] ?? 'not computed'})` : (v * 100).toFixed(2)}`);
    }
  }
  ctx.stdout.write(lines.join('\n') + '\n');
}

const USAGE = [
  'mplug2 eval run <model-dir> --task videoqa|caption --annotations <file.jsonl> --videos <dir> --out <dir> [--answers ans2label.json] [--k 128] [--beam 5] [--batch 4] [--restart] [--meteor-jar meteor-1.5.jar] [--spice-jar spice-1.0.jar] [--backend cpu|wasm|webgpu] [--json] ' +
    QUEUE_COORDINATOR_USAGE,
  '       mplug2 eval score <results.json> [--annotations <file.jsonl>] [--meteor-jar …] [--spice-jar …] [--json]',
].join('\n');

export const evalCommand: Command = {
  name: 'eval',
  summary: 'evaluate a model on a VideoQA / captioning dataset as the original scripts do (resumable), or score a result file',
  usage: USAGE,
  options: {
    task: { type: 'string' },
    annotations: { type: 'string' },
    videos: { type: 'string' },
    out: { type: 'string' },
    answers: { type: 'string' },
    k: { type: 'string' },
    beam: { type: 'string' },
    batch: { type: 'string' },
    restart: { type: 'boolean' },
    'meteor-jar': { type: 'string' },
    'spice-jar': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
    ...QUEUE_COORDINATOR_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const sub = requirePositional(this, positionals, 0, 'subcommand (run or score)');
    const jars = { meteorJar: values['meteor-jar'] as string | undefined, spiceJar: values['spice-jar'] as string | undefined };
    if (sub === 'score') {
      const file = requirePositional(this, positionals, 1, 'results.json');
      const { scoreResultFile } = await import('@mplug2/eval');
      const summary = await scoreResultFile(file, { annotations: values.annotations as string | undefined, ...jars });
      printSummary(summary, !!values.json, ctx);
      return 0;
    }
    if (sub !== 'run') throw new InvalidOptionError('subcommand', `'${sub}' is not run or score (usage: ${this.usage})`);
    const model = requirePositional(this, positionals, 1, 'model-dir');
    const task = values.task as string | undefined;
    if (task !== 'videoqa' && task !== 'caption')
      throw new InvalidOptionError('--task', `must be videoqa or caption, got ${task === undefined ? 'nothing' : `'${task}'`}`);
    for (const o of ['annotations', 'videos', 'out'] as const) if (!values[o]) throw new InvalidOptionError(`--${o}`, `is required (usage: ${this.usage})`);
    const run = {
      model,
      task: task as EvalTask,
      annotations: values.annotations as string,
      videos: values.videos as string,
      out: values.out as string,
      restart: !!values.restart,
      answers: values.answers ? await readAnswers(values.answers as string) : undefined,
      k: intOption(values, 'k'),
      beamSize: intOption(values, 'beam'),
      batchSize: intOption(values, 'batch'),
      ...jars,
    };
    if (values.queue !== undefined) {
      // Coordinator: workers (`mplug2 worker`) load the model and evaluate the videos.
      const coordinator = await connectCoordinator(values);
      try {
        const { evaluateDatasetOnQueue } = await import('@mplug2/queue');
        const { summary } = await evaluateDatasetOnQueue(coordinator, { ...run, onProgress: queueProgress(ctx, 'videos') });
        printSummary(summary, !!values.json, ctx);
        return summary.failed.length ? 1 : 0;
      } finally {
        await coordinator.close();
      }
    }
    const bar = progressBar(ctx.stderr, task === 'videoqa' ? 'questions' : 'captions');
    const { evaluateDataset } = await import('@mplug2/eval');
    const { summary } = await evaluateDataset({
      ...run,
      load: { backend: backendOption(values) },
      onProgress: (p) => {
        const rate = p.seconds > 0 ? p.itemsThisRun / p.seconds : 0;
        bar(p.itemsDone, p.items, rate > 0 ? `${rate.toFixed(2)} items/s ETA ${duration((p.items - p.itemsDone) / rate)}` : undefined);
      },
    });
    printSummary(summary, !!values.json, ctx);
    // Missing or undecodable videos were not evaluated: exit 1 so scripts notice (a re-run retries them).
    return summary.failed.length ? 1 : 0;
  },
};
