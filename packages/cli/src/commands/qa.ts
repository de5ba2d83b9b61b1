import { readFile } from 'node:fs/promises';
import { InvalidOptionError } from '@mplug2/core';
import { VideoQA } from '@mplug2/tasks';
import { intOption, requirePositional, stageProgress, type Command } from '../cli.js';
import { loadOptions } from './shared.js';

export async function readAnswers(file: string): Promise<string[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new InvalidOptionError('--answers', `${file}: ${(e as Error).message}`);
  }
  const list = Array.isArray(json) ? json : json && typeof json === 'object' ? Object.keys(json) : null;
  if (!list || list.length === 0 || !list.every((a) => typeof a === 'string'))
    throw new InvalidOptionError('--answers', `${file} must hold a non-empty JSON array of strings (or an answer→label object)`);
  return list as string[];
}

export const qaCommand: Command = {
  name: 'qa',
  summary: 'answer a question about a video',
  usage:
    'mplug2 qa <model-dir> <video> --question "..." [--answers answers.json] [--k 128] [--beam 5] [--backend auto|cpu|wasm|webgpu|cuda] [--threads N] [--json]',
  options: {
    question: { type: 'string', multiple: true },
    answers: { type: 'string' },
    k: { type: 'string' },
    beam: { type: 'string' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(this, positionals, 0, 'model-dir');
    const video = requirePositional(this, positionals, 1, 'video');
    const questions = values.question as string[] | undefined;
    if (!questions?.length) throw new InvalidOptionError('--question', `is required (usage: ${this.usage})`);
    const answers = values.answers ? await readAnswers(values.answers as string) : undefined;
    const qa = await VideoQA.load(dir, loadOptions(values, ctx));
    try {
      const results = await qa.ask(video, questions, {
        answers,
        k: intOption(values, 'k'),
        beamSize: intOption(values, 'beam'),
        onProgress: stageProgress(ctx.stderr),
      });
      for (const r of results) {
        if (values.json)
          ctx.stdout.write(
            JSON.stringify({
              question: r.question,
              answer: r.answer,
              ids: r.ids,
              score: r.score,
              ...(r.ranked ? { ranked: r.ranked } : {}),
              timings: r.timings,
            }) + '\n',
          );
        else ctx.stdout.write(`Q: ${r.question}\nA: ${r.answer}  (score ${r.score.toFixed(4)})\n`);
      }
    } finally {
      await qa.dispose();
    }
  },
};
