import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { VideoQA } from '@mplug2/tasks';
import { runCli } from './helpers/cli';
import { demoModel } from './helpers/demo-model';
import { makeVideos } from './helpers/videos';

const QUESTIONS = [
  'what is in the video?',
  'What colour is it?',
  'is someone cooking?',
  "who's there (if anyone)?",
  'what happens next?',
  'how many people are there?',
];

let tmp: string;
let model: string;
let videos: string;
let qaAnnotations: string;
let capAnnotations: string;
let ids: string[];

/** The last stdout line, parsed (the `--json` contract). */
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!);

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'mplug2-eval-'));
  model = await demoModel();
  videos = path.join(tmp, 'videos');
  const made = makeVideos(videos, ['red', 'bars', 'noise'], 2);
  ids = made.map((v) => path.basename(v.file, '.mp4'));
  mkdirSync(videos, { recursive: true });
  writeFileSync(path.join(videos, 'broken.mp4'), 'this is not a video');
  // Questions interleaved across videos (ids are line indices, not grouped), plus a video with no
  // file and an undecodable one.
  const qa: string[] = [];
  for (let q = 0; q < QUESTIONS.length; q++)
    for (const [i, id] of ids.entries())
      if ((q + i) % 2 === 0 || q < 2) qa.push(JSON.stringify({ video_id: id, question: QUESTIONS[q], answer: q % 3 === 0 ? 'yes' : 'red' }));
  qa.splice(3, 0, JSON.stringify({ video_id: 'video9999', question: 'what?', answer: 'yes' }));
  qa.push(JSON.stringify({ video_id: 'broken', question: 'what is it?', answer: 'no' }));
  qaAnnotations = path.join(tmp, 'qa.jsonl');
  writeFileSync(qaAnnotations, qa.join('\n') + '\n');
  capAnnotations = path.join(tmp, 'cap.jsonl');
  writeFileSync(
    capAnnotations,
    ids
      .map((id, i) =>
        JSON.stringify({ video_id: id, golden_caption: [`A ${['red', 'striped', 'noisy'][i >> 1]} screen.`, "It's a test pattern (synthetic)."] }),
      )
      .join('\n') + '\n',
  );
}, 300_000);

describe('mplug2 eval run --task videoqa', () => {
  let summary: Record<string, any>;
  let results: { question_id: number; answer: string }[];
  const out = () => path.join(tmp, 'out-qa');

  beforeAll(async () => {
    const r = await runCli([
      'eval',
      'run',
      model,
      '--task',
      'videoqa',
      '--annotations',
      qaAnnotations,
      '--videos',
      videos,
      '--out',
      out(),
      '--batch',
      '4',
      '--json',
    ]);
    expect(r.code, r.err).toBe(1); // a missing and an undecodable video: the rest is evaluated, exit 1
    summary = lastJson(r.out);
    results = JSON.parse(readFileSync(path.join(out(), 'results.json'), 'utf8'));
  }, 300_000);

  it("writes the original's result format, ordered by question id (= annotation line index)", () => {
    const lines = readFileSync(qaAnnotations, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const expected = lines.flatMap((l, i) => (ids.includes(l.video_id) ? [i] : []));
    expect(results.map((r) => r.question_id)).toEqual(expected);
    for (const r of results) expect(Object.keys(r)).toEqual(['question_id', 'answer']);
    expect(results.every((r) => typeof r.answer === 'string')).toBe(true);
  });

  it('encodes each video once for all its questions and reports it', () => {
    expect(summary.videos_encoded).toBe(ids.length);
    expect(summary.n).toBe(results.length);
  });

  it('lists the missing and the undecodable video with their reasons', () => {
    expect(summary.failed.map((f: { video_id: string }) => f.video_id)).toEqual(['video9999', 'broken']);
    expect(summary.failed[0].reason).toContain(path.join(videos, 'video9999.mp4'));
    expect(summary.failed[0].reason).toContain('video9999.avi');
    expect(summary.failed[1].reason).toContain('broken.mp4');
  });

  it('accuracy is the exact-match rate against the labels, in --json and metrics.json', () => {
    const lines = readFileSync(qaAnnotations, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const correct = results.filter((r) => r.answer === lines[r.question_id].answer).length;
    expect(summary.metrics).toEqual({ accuracy: correct / results.length, correct });
    expect(summary.task).toBe('videoqa');
    const written = JSON.parse(readFileSync(path.join(out(), 'metrics.json'), 'utf8'));
    expect(written.metrics).toEqual(summary.metrics);
    expect(written.n).toBe(results.length);
  });

  it('batched answers equal VideoQA.ask one question at a time', async () => {
    const lines = readFileSync(qaAnnotations, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const qa = await VideoQA.load(model);
    try {
      for (const r of results) {
        const [a] = await qa.ask(path.join(videos, `${lines[r.question_id].video_id}.mp4`), lines[r.question_id].question);
        expect(r.answer, `question ${r.question_id}`).toBe(a.answer);
      }
    } finally {
      await qa.dispose();
    }
  }, 300_000);

  it('VideoQA.ask with the video K/V computed once (encodeVideoMemory) gives the ids and scores of the per-question memory', async () => {
    const qa = await VideoQA.load(model);
    try {
      const features = await qa.encodeVideo(path.join(videos, `${ids[0]}.mp4`));
      const memory = await qa.encodeVideoMemory(features);
      const cached = await qa.ask(features, QUESTIONS, { videoMemory: memory });
      const plain = await qa.ask(features, QUESTIONS);
      cached.forEach((c, i) => {
        expect(c.ids, QUESTIONS[i]).toEqual(plain[i].ids);
        expect(Math.abs(c.score - plain[i].score), QUESTIONS[i]).toBeLessThan(1e-5);
      });
      const two = await qa.encodeVideo([path.join(videos, `${ids[0]}.mp4`), path.join(videos, `${ids[1]}.mp4`)]);
      await expect(qa.encodeVideoMemory(two)).rejects.toThrow(/one video/);
    } finally {
      await qa.dispose();
    }
  }, 300_000);

  it('a finished run started again evaluates nothing and gives the same results', async () => {
    const before = readFileSync(path.join(out(), 'results.json'), 'utf8');
    const r = await runCli(['eval', 'run', model, '--task', 'videoqa', '--annotations', qaAnnotations, '--videos', videos, '--out', out(), '--json']);
    expect(lastJson(r.out).videos_encoded).toBe(0);
    expect(readFileSync(path.join(out(), 'results.json'), 'utf8')).toBe(before);
  });

  it('refuses other annotations in the same --out (naming --restart), and --restart begins again', async () => {
    const other = path.join(tmp, 'qa-other.jsonl');
    writeFileSync(other, readFileSync(qaAnnotations, 'utf8').split('\n').slice(0, 4).join('\n') + '\n');
    const r = await runCli(['eval', 'run', model, '--task', 'videoqa', '--annotations', other, '--videos', videos, '--out', out()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/another evaluation run .*annotationsSha256/);
    expect(r.err).toContain('--restart');
    const beam = await runCli(['eval', 'run', model, '--task', 'videoqa', '--annotations', qaAnnotations, '--videos', videos, '--out', out(), '--beam', '3']);
    expect(beam.err).toMatch(/options\.beamSize: null there, 3 now/);
    const again = await runCli([
      'eval',
      'run',
      model,
      '--task',
      'videoqa',
      '--annotations',
      other,
      '--videos',
      videos,
      '--out',
      path.join(tmp, 'out-restart'),
      '--json',
    ]);
    const restarted = await runCli([
      'eval',
      'run',
      model,
      '--task',
      'videoqa',
      '--annotations',
      other,
      '--videos',
      videos,
      '--out',
      out(),
      '--restart',
      '--json',
    ]);
    expect(restarted.code, restarted.err).toBe(1); // video9999 is among the first lines
    expect(readFileSync(path.join(out(), 'results.json'), 'utf8')).toBe(readFileSync(path.join(tmp, 'out-restart', 'results.json'), 'utf8'));
    expect(lastJson(again.out).n).toBe(3);
  }, 300_000);

  it('eval score re-scores the result file with the same metrics', async () => {
    const res = path.join(tmp, 'qa-results.json');
    writeFileSync(res, JSON.stringify(results));
    const r = await runCli(['eval', 'score', res, '--annotations', qaAnnotations, '--json']);
    expect(r.code, r.err).toBe(0);
    expect(lastJson(r.out)).toEqual({ task: 'videoqa', n: results.length, metrics: summary.metrics, videos_encoded: 0, failed: [] });
  });

  it('--answers ranks the candidate list (rank_answer) and every answer is a candidate', async () => {
    const answers = path.join(tmp, 'ans2label.json');
    writeFileSync(answers, JSON.stringify({ yes: 0, red: 1, no: 2, blue: 3 }));
    const r = await runCli([
      'eval',
      'run',
      model,
      '--task',
      'videoqa',
      '--annotations',
      qaAnnotations,
      '--videos',
      videos,
      '--out',
      path.join(tmp, 'out-rank'),
      '--answers',
      answers,
      '--k',
      '2',
      '--json',
    ]);
    expect(r.code).toBe(1);
    const ranked = JSON.parse(readFileSync(path.join(tmp, 'out-rank', 'results.json'), 'utf8')) as { answer: string }[];
    expect(ranked.length).toBe(results.length);
    for (const a of ranked) expect(['yes', 'red', 'no', 'blue']).toContain(a.answer);
  }, 300_000);
});

describe('mplug2 eval run --task caption', () => {
  it('writes [{video_id, pred_caption, gold_caption}] in annotation order; metrics as pycocoevalcap; METEOR/SPICE null with a reason', async () => {
    const out = path.join(tmp, 'out-cap');
    const r = await runCli(['eval', 'run', model, '--task', 'caption', '--annotations', capAnnotations, '--videos', videos, '--out', out, '--json']);
    expect(r.code, r.err).toBe(0);
    const s = lastJson(r.out);
    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results.map((x: { video_id: string }) => x.video_id)).toEqual(ids);
    for (const x of results) {
      expect(Object.keys(x)).toEqual(['video_id', 'pred_caption', 'gold_caption']);
      expect(x.gold_caption).toHaveLength(2);
    }
    expect(s).toMatchObject({ task: 'caption', n: ids.length, videos_encoded: ids.length, failed: [] });
    expect(s.metrics.METEOR).toBeNull();
    expect(s.metrics.SPICE).toBeNull();
    expect(s.metrics.unavailable.METEOR).toContain('--meteor-jar');
    for (const k of ['Bleu_1', 'Bleu_2', 'Bleu_3', 'Bleu_4', 'ROUGE_L', 'CIDEr']) expect(Number.isFinite(s.metrics[k])).toBe(true);
    const scored = await runCli(['eval', 'score', path.join(out, 'results.json'), '--json']);
    expect(lastJson(scored.out).metrics).toEqual(s.metrics);
  }, 300_000);

  it('eval score scores a result file written by the original (golden case: pycocoevalcap numbers)', async () => {
    const golden = JSON.parse(readFileSync(path.resolve(__dirname, '../fixtures/goldens/caption-metrics/metrics.json'), 'utf8'));
    const c = golden.cases[1];
    const file = path.join(tmp, 'original-caption-results.json');
    writeFileSync(
      file,
      JSON.stringify(c.candidates.map((p: string, i: number) => ({ video_id: `video${7010 + i}`, pred_caption: p, gold_caption: c.references[i] }))),
    );
    const r = await runCli(['eval', 'score', file, '--json']);
    expect(r.code, r.err).toBe(0);
    const m = lastJson(r.out).metrics;
    for (const k of ['Bleu_1', 'Bleu_2', 'Bleu_3', 'Bleu_4', 'ROUGE_L', 'CIDEr']) expect(Math.abs(m[k] - c.corpus[k]), k).toBeLessThanOrEqual(1e-9);
  });
});

describe('resume after SIGKILL', () => {
  it('a killed `mplug2 eval run` restarted skips finished videos and ends with results identical to an uninterrupted run', async () => {
    const bin = path.resolve(__dirname, '../packages/cli/dist/bin.js');
    expect(existsSync(bin), `${bin} is missing: build first (npx turbo run build)`).toBe(true);
    const args = (out: string) => [
      bin,
      'eval',
      'run',
      model,
      '--task',
      'videoqa',
      '--annotations',
      qaAnnotations,
      '--videos',
      videos,
      '--out',
      out,
      '--batch',
      '2',
      '--json',
    ];
    const killed = path.join(tmp, 'out-killed');
    const child = spawn(process.execPath, args(killed), { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const progress = path.join(killed, 'progress.jsonl');
    const finished = () =>
      existsSync(progress)
        ? readFileSync(progress, 'utf8')
            .split('\n')
            .filter((l) => l.endsWith('}')).length
        : 0;
    for (let i = 0; i < 2400 && finished() < 1; i++) await new Promise((r) => setTimeout(r, 25));
    child.kill('SIGKILL');
    await exited;
    const before = finished();
    expect(before).toBeGreaterThanOrEqual(1);
    expect(before, 'the kill came after the run had finished: nothing to resume').toBeLessThan(ids.length);
    expect(existsSync(path.join(killed, 'results.json'))).toBe(false);
    const resumed = await runCli(args(killed).slice(1));
    expect(resumed.code).toBe(1);
    // The undecodable video's failure line may be among those written before the kill; the others were skipped.
    const encodedBefore = readFileSync(progress, 'utf8')
      .split('\n')
      .slice(0, before)
      .filter((l) => l.includes('"records"')).length;
    expect(lastJson(resumed.out).videos_encoded).toBe(ids.length - encodedBefore);
    const whole = path.join(tmp, 'out-whole');
    const r = await runCli(args(whole).slice(1));
    expect(r.code).toBe(1);
    expect(readFileSync(path.join(killed, 'results.json'), 'utf8')).toBe(readFileSync(path.join(whole, 'results.json'), 'utf8'));
    expect(readFileSync(path.join(killed, 'metrics.json'), 'utf8')).toBe(readFileSync(path.join(whole, 'metrics.json'), 'utf8'));
  }, 300_000);
});
