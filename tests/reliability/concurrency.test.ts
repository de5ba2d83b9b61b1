/**
 * One loaded model serving 32 overlapping calls from one process: every result must equal the same
 * call made alone (ids and scores exactly), with no onnxruntime "session already started" errors and no
 * cross-talk between requests' KV caches or features. The calls really overlap: their decoding steps
 * interleave (checked). Throughput: `npm run bench:concurrency`.
 */
import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '@mplug2/core';
import { Captioner, VideoQA, type CaptionOptions, type CaptionResult, type QAOptions, type QAResult } from '@mplug2/tasks';
import { demoModel } from '../helpers/demo-model';
import { Fixtures, goldenModel } from '../helpers/golden';

/** The golden fixture videos `input.video [2,3,T,H,W]` as two `[3,T,H,W]` pixel tensors. */
async function goldenVideos(fx: Fixtures): Promise<Tensor<'float32'>[]> {
  const v = await fx.float('input.video');
  const size = v.data.length / v.shape[0];
  return Array.from({ length: v.shape[0] }, (_, b) =>
    tensor('float32', ['channels', 'frames', 'height', 'width'], v.shape.slice(1), v.data.slice(b * size, (b + 1) * size)),
  );
}

/** Whether the step events of different calls interleave (i.e. the calls were in flight together). */
function interleaved(order: number[]): boolean {
  const seen = new Set<number>();
  for (let i = 0; i < order.length; i++) {
    if (i > 0 && order[i] !== order[i - 1] && seen.has(order[i])) return true;
    seen.add(order[i]);
  }
  return false;
}

describe('one loaded model under 32 concurrent calls', () => {
  it('captioning (golden model): 32 overlapping calls equal the calls made alone, and the reference beam', async () => {
    const fx = await Fixtures.open('videocaption_tiny');
    const videos = await goldenVideos(fx);
    const refIds = await fx.ids('beam.ids');
    const refLengths = Array.from((await fx.int64('beam.lengths')).data, Number);
    await fx.close();
    // the two golden videos and two synthetic ones
    for (let v = 2; v < 4; v++) {
      const data = Float32Array.from({ length: videos[0].data.length }, (_, i) => Math.sin(i * (0.001 + v * 0.37) + v) * 1.5);
      videos.push(tensor('float32', videos[0].dims, videos[0].shape, data));
    }
    const cap = await Captioner.load(await goldenModel('videocaption_tiny'), { threads: 1 });
    // 8 distinct requests (video × beam width × length: caches of different shapes and lengths), 4 copies each
    const requests: { video: number; options: CaptionOptions }[] = [
      { video: 0, options: {} },
      { video: 1, options: {} },
      { video: 2, options: { beamSize: 3, maxLength: 12 } },
      { video: 3, options: { beamSize: 3, maxLength: 12 } },
      { video: 0, options: { beamSize: 1, maxLength: 7, minLength: 1 } },
      { video: 1, options: { beamSize: 2, maxLength: 16 } },
      { video: 2, options: { beamSize: 4, maxLength: 9 } },
      { video: 3, options: { beamSize: 5, maxLength: 6, minLength: 5 } },
    ];
    const alone: CaptionResult[] = [];
    for (const r of requests) alone.push((await cap.caption(videos[r.video], r.options))[0]);
    // default options are the reference's beam search: the golden ids
    for (const b of [0, 1]) expect(alone[b].ids).toEqual(refIds[b].slice(0, refLengths[b]));

    const order: number[] = [];
    const calls = Array.from({ length: 32 }, (_, i) => {
      const r = requests[i % requests.length];
      return cap.caption(videos[r.video], { ...r.options, onStep: () => void order.push(i) }).then((x) => x[0]);
    });
    const together = await Promise.all(calls);
    together.forEach((got, i) => {
      const want = alone[i % requests.length];
      expect(got.ids, `call ${i}`).toEqual(want.ids);
      expect(got.score, `call ${i}`).toBe(want.score);
    });
    expect(interleaved(order)).toBe(true);
    expect(new Set(alone.map((a) => a.ids.join())).size).toBeGreaterThan(3);
    await cap.dispose();
  });

  it('VideoQA (full-vocabulary model): 32 overlapping generate / rank calls, from features and from pixels, equal the calls made alone', async () => {
    const fx = await Fixtures.open('videocaption_tiny');
    const [pixels] = await goldenVideos(fx); // [3, 4, 56, 56]: the demo model's frames and size
    await fx.close();
    const qa = await VideoQA.load(await demoModel(), { threads: 1 });
    const features = await qa.encodeVideo(pixels);
    const answers = ['a dog', 'a cat', 'running', 'blue', 'two people', 'yes', 'no', 'a guitar'];
    const requests: { question: string; options: QAOptions }[] = [
      ...[
        'what is happening?',
        'what color is the sky?',
        'who is running?',
        'where is the dog?',
        'how many people are there?',
        'is it raining?',
        'what is the man holding?',
        'why is she smiling?',
        'what is on the table?',
        'who is singing?',
        'what animal is it?',
        'is the door open?',
      ].map((question, i) => ({ question, options: { maxLength: 3 + (i % 3), beamSize: 1 + (i % 3) } })),
      ...['what is it?', 'what is the girl playing?', 'what color is the car?', 'is anyone there?'].map((question, i) => ({
        question,
        options: { answers, k: 2 + i },
      })),
    ];
    const alone: QAResult[] = [];
    for (const r of requests) alone.push((await qa.ask(features, r.question, r.options))[0]);

    const order: number[] = [];
    // each request twice: once on the shared features, once from pixels (the visual path runs concurrently too)
    const together = await Promise.all(
      Array.from({ length: 32 }, (_, i) => {
        const r = requests[i % requests.length];
        const options = { ...r.options, onStep: () => void order.push(i) };
        return qa.ask(i < requests.length ? features : pixels, r.question, options).then((x) => x[0]);
      }),
    );
    together.forEach((got, i) => {
      const want = alone[i % requests.length];
      expect(got.ids, `call ${i}`).toEqual(want.ids);
      expect(got.score, `call ${i}`).toBe(want.score);
      expect(got.ranked, `call ${i}`).toEqual(want.ranked);
    });
    expect(interleaved(order)).toBe(true);
    expect(new Set(alone.slice(0, 12).map((a) => a.ids.join())).size).toBeGreaterThan(1);
    await qa.dispose();
  });
});
