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
  threads: 'intra-op threads of the model (default: every available core)',
  // Queue (coordinators: index, eval run, serve; and worker)
  queue: 'Redis URL of the job queue: redis://[user:password@]host:port (rediss:// for TLS); without it the work runs in this process',
  'worker:queue': 'Redis URL of the job queue to take jobs from: redis://[user:password@]host:port (rediss:// for TLS)',
  'queue-name': 'name of the queue coordinators, HTTP fronts and workers share (default mplug2)',
  'reconnect-ms': 'how long to keep reconnecting to a lost Redis before exiting with QUEUE_UNAVAILABLE (default 60000)',
  attempts: 'tries per job before it fails for good (default 3)',
  'backoff-ms': 'delay before the first retry of a failed job, doubled at each retry (default 1000)',
  'worker:concurrency': 'jobs processed at once; serve jobs held together share model calls (default 1)',
  'lock-ms': "how long a job stays this worker's without a lock renewal: a dead worker's job moves on after this plus --stalled-ms (default 30000)",
  'stalled-ms': 'how often workers look for jobs whose worker died (default 30000)',
  'max-stalled': 'times a job may be taken back from a dead worker before it fails (default 2)',
  // eval
  annotations: 'annotation file of the dataset: JSON lines (or a JSON array) of {video_id, question, answer} or {video_id, golden_caption}',
  videos: 'directory of the videos (<videos>/<video_id>.mp4, .avi or .gif)',
  'eval:task': 'what the dataset asks: videoqa (answers to questions) or caption (captions of the videos)',
  'eval:answers': 'answer list file (ans2label.json: a JSON list, or an answer→label object): rank these instead of generating',
  'eval:out': 'run directory: results.json, metrics.json and the progress a re-run resumes from',
  'eval:k': "answer candidates kept when ranking --answers (default: the model's k_test)",
  'eval:batch': 'questions of one video evaluated together (default 4; results do not change, memory does)',
  'meteor-jar': 'METEOR 1.5 jar (runs with java on the PATH) to add the METEOR score; without it METEOR is not computed',
  'spice-jar': 'SPICE 1.0 jar (runs with java on the PATH) to add the SPICE score; without it SPICE is not computed',
  // serve
  port: 'TCP port to listen on (default 8080; 0 picks a free port)',
  host: 'address to bind (default 127.0.0.1: loopback only; 0.0.0.0 for every interface)',
  tasks: 'tasks to serve, comma-separated: videoqa, caption, embed (default: every task the model has)',
  'max-batch': 'most questions / videos / texts per model call (default 8)',
  'max-wait-ms': 'longest wait for more requests before a model call runs anyway (default 10)',
  'max-queue': 'requests admitted and waiting beyond which new ones get 429 with Retry-After (default 64)',
  'decode-concurrency': 'uploads decoded (ffmpeg) at once; the others wait in arrival order (default: the cores)',
  'decode-timeout-ms': 'longest decode of one upload, from its start; past it the request gets 503 (default 300000)',
  'max-upload': 'largest upload (bytes, or 64K / 512M / 1G; default 256M); larger ones get 413',
  token: 'bearer token every route but /health requires (default: env MPLUG2_SERVE_TOKEN; unset: no auth)',
  'drain-timeout-ms': 'on SIGTERM / SIGINT, how long in-flight requests may take to finish before connections are closed (default 30000)',
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
