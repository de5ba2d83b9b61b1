import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidOptionError } from '@mplug2/core';
import { loadProbeHead, saveProbeHead } from '@mplug2/vision-encoder';
import { Retriever, collectVideos, zeroShotClassify } from '@mplug2/tasks';
import { VideoEmbedder } from '@mplug2/vision-encoder';
import { intOption, progressBar, requirePositional, type Command } from '../cli.js';
import { backendOption } from './shared.js';

/** `path,label` lines (a header line `path,label` is skipped); paths relative to the csv. */
export async function readLabelsCsv(file: string): Promise<{ file: string; label: string }[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new InvalidOptionError('--labels', `${file}: cannot read (${(e as NodeJS.ErrnoException).code})`);
  }
  const out: { file: string; label: string }[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim();
    if (!l || l.startsWith('#')) return;
    const comma = l.lastIndexOf(',');
    if (comma < 1) throw new InvalidOptionError('--labels', `${file}:${i + 1}: expected 'path,label'`);
    const p = l
      .slice(0, comma)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    const label = l
      .slice(comma + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (i === 0 && p.toLowerCase() === 'path' && label.toLowerCase() === 'label') return;
    out.push({ file: path.resolve(path.dirname(file), p), label });
  });
  if (out.length === 0) throw new InvalidOptionError('--labels', `${file} has no rows`);
  return out;
}

export const classifyCommand: Command = {
  name: 'classify',
  summary: 'video classification: fit/predict a linear probe on the vision encoder, or zero-shot via ITC',
  usage: [
    'mplug2 classify fit <model-dir> --labels <labels.csv (path,label)> --out head.json [--held-out 0.25] [--l2 0.001] [--max-iter 200] [--seed 0] [--batch 4] [--json]',
    '       mplug2 classify predict <model-dir> --head head.json <videos...> [--json]',
    '       mplug2 classify zeroshot <model-dir> --classes "cat,dog,..." [--template "a video of {label}"] <videos...> [--json]',
  ].join('\n'),
  options: {
    labels: { type: 'string' },
    out: { type: 'string' },
    head: { type: 'string' },
    classes: { type: 'string' },
    template: { type: 'string' },
    'held-out': { type: 'string' },
    l2: { type: 'string' },
    'max-iter': { type: 'string' },
    seed: { type: 'string' },
    batch: { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values }, ctx) {
    const sub = requirePositional(this, positionals, 0, 'subcommand (fit, predict, zeroshot)');
    const dir = requirePositional(this, positionals, 1, 'model-dir');
    const backend = backendOption(values);
    const num = (name: string, fallback: number) => {
      const raw = values[name];
      if (raw === undefined) return fallback;
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new InvalidOptionError(`--${name}`, `'${String(raw)}' is not a number`);
      return n;
    };
    if (sub === 'fit') {
      if (!values.labels) throw new InvalidOptionError('--labels', `is required (usage: ${this.usage})`);
      if (!values.out) throw new InvalidOptionError('--out', `is required (usage: ${this.usage})`);
      const rows = await readLabelsCsv(values.labels as string);
      const embedder = await VideoEmbedder.load(dir, { backend });
      try {
        const bar = progressBar(ctx.stderr, 'embedding');
        const head = await embedder.fitProbe(
          rows.map((r) => r.file),
          rows.map((r) => r.label),
          {
            heldOut: num('held-out', 0.25),
            l2: num('l2', 1e-3),
            maxIterations: intOption(values, 'max-iter', 200),
            seed: intOption(values, 'seed', 0, 0),
            batchSize: intOption(values, 'batch', 4),
            onProgress: bar,
          },
        );
        await saveProbeHead(values.out as string, head);
        const t = head.training;
        if (values.json) ctx.stdout.write(JSON.stringify({ out: values.out, modelId: head.modelId, labels: head.labels, dims: head.dims, training: t }) + '\n');
        else
          ctx.stdout.write(
            `wrote ${String(values.out)}: ${head.labels.length} labels, ${t.trainSize} training / ${t.heldOutSize} held-out videos; train accuracy ${(t.trainAccuracy * 100).toFixed(1)}%, held-out accuracy ${t.heldOutAccuracy === null ? 'n/a' : (t.heldOutAccuracy * 100).toFixed(1) + '%'}\n`,
          );
      } finally {
        await embedder.dispose();
      }
      return;
    }
    const videos = await collectVideos(positionals.slice(2));
    if (videos.length === 0) throw new InvalidOptionError('videos', `none given (usage: ${this.usage})`);
    if (sub === 'predict') {
      if (!values.head) throw new InvalidOptionError('--head', `is required (usage: ${this.usage})`);
      const head = await loadProbeHead(values.head as string);
      const embedder = await VideoEmbedder.load(dir, { backend });
      try {
        const preds = await embedder.predict(head, videos, { batchSize: intOption(values, 'batch', 4) });
        preds.forEach((p, i) => {
          if (values.json)
            ctx.stdout.write(JSON.stringify({ path: videos[i], label: p.label, probs: Object.fromEntries(head.labels.map((l, k) => [l, p.probs[k]])) }) + '\n');
          else ctx.stdout.write(`${p.label}\t${p.probs[p.index].toFixed(4)}\t${videos[i]}\n`);
        });
      } finally {
        await embedder.dispose();
      }
      return;
    }
    if (sub === 'zeroshot') {
      const classes = ((values.classes as string | undefined) ?? '')
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
      if (classes.length < 2) throw new InvalidOptionError('--classes', 'give at least 2 comma-separated class names');
      const retriever = await Retriever.load(dir, { backend });
      try {
        const res = await zeroShotClassify(retriever, videos, classes, { template: values.template as string | undefined });
        res.forEach((r, i) => {
          if (values.json) ctx.stdout.write(JSON.stringify({ path: videos[i], ...r }) + '\n');
          else ctx.stdout.write(`${r.label}\t${r.probs[0].prob.toFixed(4)}\t${videos[i]}\n`);
        });
      } finally {
        await retriever.dispose();
      }
      return;
    }
    throw new InvalidOptionError('subcommand', `'${sub}' is not one of fit, predict, zeroshot`);
  },
};
