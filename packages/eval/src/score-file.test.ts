import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnnotationError } from './errors.js';
import { scoreResultFile } from './score-file.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-eval-score-'));
const write = (name: string, value: unknown) => {
  const f = path.join(dir, name);
  writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value));
  return f;
};
const ann = write(
  'qa.jsonl',
  [
    '{"video_id":"v1","question":"q0","answer":"dog"}',
    '{"video_id":"v1","question":"q1","answer":"a dog"}',
    '{"video_id":"v2","question":"q2","answer":"man"}',
  ].join('\n') + '\n',
);

describe('scoreResultFile', () => {
  it("scores the original's VideoQA result file (ids may be numeric strings): exact match only", async () => {
    const res = write('vqa.json', [
      { question_id: '0', answer: 'dog' },
      { question_id: 1, answer: 'dog' },
      { question_id: 2, answer: 'man' },
    ]);
    expect(await scoreResultFile(res, { annotations: ann })).toEqual({
      task: 'videoqa',
      n: 3,
      metrics: { accuracy: 2 / 3, correct: 2 },
      videos_encoded: 0,
      failed: [],
    });
  });
  it('asks for --annotations with VideoQA results, names an unknown question id, refuses non-result files', async () => {
    const res = write('vqa2.json', [{ question_id: 7, answer: 'dog' }]);
    await expect(scoreResultFile(res)).rejects.toThrow(/need --annotations/);
    await expect(scoreResultFile(res, { annotations: ann })).rejects.toThrow(/question_id 7 is not a question/);
    await expect(scoreResultFile(write('other.json', [{ foo: 1 }]))).rejects.toThrow(AnnotationError);
    await expect(scoreResultFile(write('bad.json', '{oops'))).rejects.toThrow(/not valid JSON/);
    await expect(scoreResultFile(path.join(dir, 'absent.json'))).rejects.toThrow(/cannot read/);
  });
  it('scores caption results with the PTB step first (punctuation and case do not change the metrics)', async () => {
    const clean = await scoreResultFile(
      write('c1.json', [
        { video_id: 'a', pred_caption: 'a man is cooking', gold_caption: ['a man cooks food', 'a man is cooking pasta'] },
        { video_id: 'b', pred_caption: 'a dog runs', gold_caption: ['a dog is running'] },
      ]),
    );
    const raw = await scoreResultFile(
      write('c2.json', [
        { video_id: 'a', pred_caption: 'A man is cooking.', gold_caption: ['A man cooks food!', 'a man is cooking pasta ...'] },
        { video_id: 'b', pred_caption: 'A dog, runs', gold_caption: ['A dog is running.'] },
      ]),
    );
    expect(raw).toEqual(clean);
    expect(clean.task).toBe('caption');
    expect(clean.n).toBe(2);
  });
});
