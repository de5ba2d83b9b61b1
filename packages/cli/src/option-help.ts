import { BACKENDS } from '@mplug2/core';
import type { Command } from './cli.js';

/**
 * Descriptions of options shared by several commands, for `mplug2 <command> --help`. A command's own
 * `optionHelp` wins; `command:option` keys here cover options whose meaning depends on the command.
 */
const OPTION_HELP: Record<string, string> = {
  backend: `execution backend: auto (cpu in Node), ${BACKENDS.join(', ')}`,
  json: 'print machine-readable JSON lines (errors too, as {"error": {code, message}} on stderr)',
  beam: 'beam width for generation (default: the model config, 5 for mPLUG-2)',
  batch: 'videos per batch',
  question: 'a question about the video',
  answers: 'rank a closed answer list (JSON array of strings, or an answer→label object) instead of generating',
  'qa:k': 'answer candidates kept for re-ranking (default 128)',
  'search:k': 'number of hits to print (default 10)',
  db: 'LanceDB database directory of the index',
  text: 'the text to search for',
  rerank: 'ITC hits re-ranked with ITM (0: no re-ranking; default 128)',
  'itm-score': 'how ITM re-ranks: prob (probability of a match) or logit',
  'store-states': 'also store the video states, so re-ranking does not re-encode the videos',
  config: 'config.json with model_config (the reference yaml values) and bert_config (the BERT json)',
  preset: 'a built-in configuration of an official checkpoint instead of --config',
  'convert:out': 'model directory to write',
  'demo:out': 'model directory to write (default: a new temporary directory)',
  'frames:out': 'safetensors file to write (frame_indices, pixel_values)',
  'classify:out': 'probe head JSON file to write (fit)',
  task: 'modules to convert: qa, caption or pretrain (adds the retrieval heads)',
  'max-file-bytes': 'largest weight data file (bytes, or 64K / 512M / 1G); bigger models are split into several files',
  dtype: 'weight storage: fp32, fp16 or int8',
  compute: 'graph compute precision: fp32 or fp16 (fp16 needs fp16-capable backends)',
  'primitive-attention': 'export attention as primitive ops instead of the fused operator',
  fixtures: 'reference fixtures (safetensors) of module boundaries, as in fixtures/goldens',
  frames: 'number of frames to sample',
  size: 'output frame size in pixels (square)',
  timeout: 'seconds before decoding is killed',
  kind: 'tokenizer rules: question, answer or caption',
  video: 'video file to use instead of the bundled sample',
  'demo:question': 'question to ask about the video',
  restart: 'discard the progress recorded in --out and begin the run again',
  labels: 'CSV of path,label rows (paths relative to the CSV) to fit on',
  head: 'probe head JSON written by classify fit',
  classes: 'comma-separated class names (zeroshot)',
  template: 'text template of a class, {label} is replaced (zeroshot; default "a video of {label}")',
  'held-out': 'fraction of the videos held out to measure accuracy (fit)',
  l2: 'L2 regularisation of the probe (fit)',
  'max-iter': 'optimiser iterations (fit)',
  seed: 'seed of the held-out split (fit)',
  verbose: 'print stack traces on errors',
  help: 'show this help',
};

/** `--help` of one command: usage, summary and one line per option. */
export function commandHelp(cmd: Command): string {
  const options: Command['options'] = { ...cmd.options, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' <value>' : ''}`;
    const text = cmd.optionHelp?.[name] ?? OPTION_HELP[`${cmd.name}:${name}`] ?? OPTION_HELP[name] ?? '';
    return [flag, o.multiple ? `${text} (repeatable)`.trim() : text] as const;
  });
  const w = Math.max(...rows.map(([f]) => f.length));
  return [`usage: ${cmd.usage}`, '', `  ${cmd.summary}`, '', 'options:', ...rows.map(([f, t]) => `  ${f.padEnd(w)}  ${t}`.trimEnd())].join('\n');
}
