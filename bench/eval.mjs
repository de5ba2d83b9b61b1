#!/usr/bin/env node
// Dataset-evaluation benchmark: an MSRVTT-QA-shaped dataset (several videos × 24 questions each)
// evaluated with `evaluateDataset` (what `mplug2 eval run` runs), at the tiny demo size or the
// released large configuration (random weights, generated and converted once: bench/model.mjs),
// against the original's per-question pipeline on this machine (vision + universal + text + fusion +
// generation for every question: 106.5 s, shared/research/reference-bench.md).
//
//   npm run bench:eval -- --size tiny|large [--videos N] [--questions 24] [--batch 4] [--model DIR] [--one-run | --stages-only] [--json]
//
// Two runs of the same dataset: the default (each video encoded once, its questions batched, the
// video's decoder cross-attention K/V projected once per video) and `videoMemory: false` (the video's
// K/V projected again for every question), plus one video's stages timed through the VideoQA API.
// The 1-minute load average before and after each run is recorded (the machine may be shared).
// With --json the last line is {questions_per_hour, original_questions_per_hour, questions, videos, dtype, ...}.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchModel } from './model.mjs';
import { writeSyntheticVideo } from '../tests/helpers/synthetic-video.mjs';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'tiny' },
    videos: { type: 'string' },
    questions: { type: 'string', default: '24' },
    batch: { type: 'string', default: '4' },
    model: { type: 'string' },
    // Skip the second full run (video K/V per question); the stage timings still compare both.
    'one-run': { type: 'boolean', default: false },
    // Only the stage timings of one video (no full run).
    'stages-only': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});
if (!['tiny', 'large'].includes(values.size)) throw new Error(`--size must be tiny or large, got ${values.size}`);
const large = values.size === 'large';
const V = Number(values.videos ?? (large ? 2 : 4));
const Q = Number(values.questions);
const batchSize = Number(values.batch);
const ORIGINAL_SECONDS_PER_QUESTION = 106.5;

const { evaluateDataset, planEvaluation } = await import('@mplug2/eval');
const { VideoQA, disposeVideoFeatures } = await import('@mplug2/tasks');
const { disposeDecoderMemory } = await import('@mplug2/decoder');

const model = values.model ?? (await benchModel({ size: values.size, dtype: 'fp32' })).out;

// The dataset: V synthetic clips (4 s, 320×240, 25 fps, distinct content) and 24 MSRVTT-QA-style
// questions per video, interleaved as in the released annotations (ids are line indices).
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mplug2-bench-eval-'));
const videos = path.join(tmp, 'videos');
mkdirSync(videos);
const TEMPLATES = [
  'what is {s} doing?',
  'who is {v}?',
  'what is {s} wearing?',
  'where is {s}?',
  'what color is the {o}?',
  'how many people are there?',
  'what is in front of {s}?',
  'what does {s} hold?',
];
const SUBJECTS = ['the man', 'the woman', 'a person', 'the girl', 'the boy', 'someone'];
const VERBS = ['singing', 'talking', 'cooking', 'dancing'];
const OBJECTS = ['car', 'shirt', 'ball', 'wall'];
const lines = [];
for (let v = 0; v < V; v++) {
  const id = `video${7010 + v}`;
  writeSyntheticVideo(path.join(videos, `${id}.mp4`), `testsrc2=s=320x240:r=25,hue=h=${v * 37}`, 4);
}
for (let q = 0; q < Q; q++)
  for (let v = 0; v < V; v++) {
    const t = TEMPLATES[(q + v) % TEMPLATES.length];
    const question = t
      .replace('{s}', SUBJECTS[(q * 5 + v) % SUBJECTS.length])
      .replace('{v}', VERBS[q % VERBS.length])
      .replace('{o}', OBJECTS[(q + 2 * v) % OBJECTS.length]);
    lines.push(JSON.stringify({ video_id: `video${7010 + v}`, question, answer: VERBS[(q + v) % VERBS.length] }));
  }
const annotations = path.join(tmp, 'msrvtt_qa_test.jsonl');
writeFileSync(annotations, lines.join('\n') + '\n');

async function run(label, videoMemory) {
  const load0 = os.loadavg()[0];
  let loop = 0;
  let cpu0;
  let cpu = 0;
  // CPU time of this process over the evaluation loop (after the model is loaded): on a shared
  // machine wall time stretches with the load, CPU seconds per question much less so.
  const onProgress = (p) => {
    const u = process.cpuUsage();
    if (p.videosDone === 0 && p.itemsThisRun === 0) cpu0 = u;
    else cpu = (u.user + u.system - cpu0.user - cpu0.system) / 1e6;
    loop = p.seconds;
  };
  const r = await evaluateDataset({ model, task: 'videoqa', annotations, videos, out: path.join(tmp, label), batchSize, videoMemory, onProgress });
  if (r.summary.failed.length) throw new Error(`bench videos failed: ${JSON.stringify(r.summary.failed)}`);
  return {
    label,
    seconds: loop,
    cpu_seconds: cpu,
    questions: r.summary.n,
    videos_encoded: r.summary.videos_encoded,
    questions_per_hour: (r.summary.n / loop) * 3600,
    cpu_seconds_per_question: cpu / r.summary.n,
    load_average: [load0, os.loadavg()[0]],
  };
}

/** One video's stages through the VideoQA API: encode, video memory, one batch of questions with and without it. */
async function stages() {
  const plan = await planEvaluation({ task: 'videoqa', annotations, videos });
  const unit = plan.units[0];
  const qs = unit.items.slice(0, batchSize).map((i) => i.question);
  const qa = await VideoQA.load(model);
  try {
    let t = performance.now();
    const features = await qa.encodeVideo(unit.videoPath);
    const encode = (performance.now() - t) / 1000;
    t = performance.now();
    const memory = await qa.encodeVideoMemory(features);
    const videoMemory = (performance.now() - t) / 1000;
    t = performance.now();
    const [withMemory] = await qa.ask(features, qs, { videoMemory: memory });
    const withTotal = (performance.now() - t) / 1000;
    t = performance.now();
    const [without] = await qa.ask(features, qs);
    const withoutTotal = (performance.now() - t) / 1000;
    disposeDecoderMemory(memory);
    disposeVideoFeatures(features);
    const per = (x) => x / qs.length;
    return {
      batch: qs.length,
      encode_video_s: encode,
      video_memory_s: videoMemory,
      per_question_with_video_memory: {
        text_fusion_memory_s: per(withMemory.timings.text_fusion_s),
        generation_s: per(withMemory.timings.generation_s),
        total_s: per(withTotal),
      },
      per_question_without: {
        text_fusion_memory_s: per(without.timings.text_fusion_s),
        generation_s: per(without.timings.generation_s),
        total_s: per(withoutTotal),
      },
    };
  } finally {
    await qa.dispose();
  }
}

const runs = values['stages-only'] ? [] : [await run('video-memory', true)];
if (!values['one-run'] && !values['stages-only']) runs.push(await run('per-question-memory', false));
const stage = await stages();
rmSync(tmp, { recursive: true, force: true });

const original = 3600 / ORIGINAL_SECONDS_PER_QUESTION;
const best = runs[0] ?? { questions_per_hour: null, questions: 0 };
console.log(`\nmplug2 eval benchmark — ${values.size} (fp32), ${V} videos × ${Q} questions, question batch ${batchSize}, ${os.availableParallelism()} cores\n`);
console.log('| run | questions | videos encoded | seconds | questions/hour | × original | CPU s/question | load avg (before → after) |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
console.log(
  `| original per-question pipeline (reference-bench.md, quiet machine, 2 threads) | 1 | 1 | ${ORIGINAL_SECONDS_PER_QUESTION} | ${original.toFixed(1)} | 1.0 | ≤ ${2 * ORIGINAL_SECONDS_PER_QUESTION} | — |`,
);
for (const r of runs)
  console.log(
    `| ${r.label} | ${r.questions} | ${r.videos_encoded} | ${r.seconds.toFixed(1)} | ${r.questions_per_hour.toFixed(0)} | ${(r.questions_per_hour / original).toFixed(1)} | ${r.cpu_seconds_per_question.toFixed(2)} | ${r.load_average.map((l) => l.toFixed(1)).join(' → ')} |`,
  );
console.log(
  `\none video (first of the set), batch of ${stage.batch} questions: encode ${stage.encode_video_s.toFixed(2)} s (once per video), video decoder K/V ${stage.video_memory_s.toFixed(2)} s (once per video)`,
);
console.log(
  `per question, with the video's K/V computed once: text+fusion+memory ${stage.per_question_with_video_memory.text_fusion_memory_s.toFixed(3)} s, generation ${stage.per_question_with_video_memory.generation_s.toFixed(3)} s`,
);
console.log(
  `per question, K/V of the video projected per question: text+fusion+memory ${stage.per_question_without.text_fusion_memory_s.toFixed(3)} s, generation ${stage.per_question_without.generation_s.toFixed(3)} s`,
);
const report = {
  questions_per_hour: best.questions_per_hour,
  original_questions_per_hour: original,
  questions: best.questions,
  videos: V,
  dtype: 'fp32',
  size: values.size,
  batch: batchSize,
  speedup: best.questions_per_hour === null ? null : best.questions_per_hour / original,
  runs,
  stages: stage,
  load_average_end: os.loadavg(),
};
if (values.json) console.log(JSON.stringify(report));
