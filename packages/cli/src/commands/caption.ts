import { Captioner } from '@mplug2/tasks';
import { intOption, requirePositional, stageProgress, type Command } from '../cli.js';
import { loadOptions } from './shared.js';

export const captionCommand: Command = {
  name: 'caption',
  summary: 'caption a video',
  usage: 'mplug2 caption <model-dir> <video...> [--beam 5] [--backend auto|cpu|wasm|webgpu|cuda] [--threads N] [--json]',
  options: { beam: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' } },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(this, positionals, 0, 'model-dir');
    requirePositional(this, positionals, 1, 'video');
    const videos = positionals.slice(1);
    const captioner = await Captioner.load(dir, loadOptions(values, ctx));
    try {
      const results = await captioner.caption(videos, { beamSize: intOption(values, 'beam'), onProgress: stageProgress(ctx.stderr) });
      results.forEach((r, i) => {
        if (values.json) ctx.stdout.write(JSON.stringify({ video: videos[i], caption: r.caption, ids: r.ids, score: r.score, timings: r.timings }) + '\n');
        else ctx.stdout.write(`${videos[i]}: ${r.caption}  (score ${r.score.toFixed(4)})\n`);
      });
    } finally {
      await captioner.dispose();
    }
  },
};
