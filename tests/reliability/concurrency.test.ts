import { describe, expect, it } from 'vitest';
import { tensor } from '@mplug2/core';
import { Captioner, VideoQA } from '@mplug2/tasks';
import { SAMPLE_VIDEO, demoModel } from '../helpers/demo-model';

const QUESTIONS = ['what is happening?', 'what color is the sky?', 'who is running?', 'where is the dog?', 'how many people are there?', 'is it raining?', 'what is the man holding?', 'why is she smiling?'];

describe('one loaded model under concurrent calls', () => {
  it('32 concurrent VideoQA calls give exactly the sequential results', async () => {
    const qa = await VideoQA.load(await demoModel());
    const video = await qa.encodeVideo(SAMPLE_VIDEO);
    const calls = Array.from({ length: 32 }, (_, i) => QUESTIONS[i % QUESTIONS.length] + ' '.repeat(i % 3));
    const sequential = [];
    for (const q of calls) sequential.push((await qa.ask(video, q))[0]);
    const concurrent = await Promise.all(calls.map((q) => qa.ask(video, q).then((r) => r[0])));
    expect(concurrent.map((r) => r.ids)).toEqual(sequential.map((r) => r.ids));
    expect(concurrent.map((r) => r.score)).toEqual(sequential.map((r) => r.score));
    // distinct questions give distinct decodes somewhere: the comparison is not vacuous
    expect(new Set(sequential.map((r) => r.ids.join())).size).toBeGreaterThan(1);
    await qa.dispose();
  });

  it('concurrent captioning and ranking calls do not share KV caches', async () => {
    const model = await demoModel();
    const [cap, qa] = await Promise.all([Captioner.load(model), VideoQA.load(model)]);
    const video = await cap.encodeVideo(SAMPLE_VIDEO);
    const answers = ['a dog', 'a cat', 'running', 'blue', 'two people', 'yes', 'no', 'a guitar'];
    const seqCaption = (await cap.caption(video, { maxLength: 12 }))[0];
    const seqRank = (await qa.ask(video, 'what is it?', { answers, k: 4 }))[0];
    const mixed = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 ? cap.caption(video, { maxLength: 12 }) : qa.ask(video, 'what is it?', { answers, k: 4 }))),
    );
    mixed.forEach((r, i) => {
      if (i % 2) expect((r[0] as { ids: number[] }).ids).toEqual(seqCaption.ids);
      else expect((r[0] as { ranked: unknown }).ranked).toEqual(seqRank.ranked);
    });
    await Promise.all([cap.dispose(), qa.dispose()]);
  });

  it('32 concurrent captioning calls on 8 different videos with different beam settings give the sequential results', async () => {
    const cap = await Captioner.load(await demoModel());
    const videos = await Promise.all(
      Array.from({ length: 8 }, (_, v) => {
        const data = new Float32Array(3 * 4 * 56 * 56);
        for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * (0.001 + v * 0.37) + v) * 1.5;
        return cap.encodeVideo(tensor('float32', ['channels', 'frames', 'height', 'width'], [3, 4, 56, 56], data));
      }),
    );
    const calls = Array.from({ length: 32 }, (_, i) => ({ video: videos[i % 8], options: { beamSize: 1 + (i % 3), maxLength: 6 + (i % 5) } }));
    const sequential = [];
    for (const c of calls) sequential.push((await cap.caption(c.video, c.options))[0]);
    const concurrent = await Promise.all(calls.map((c) => cap.caption(c.video, c.options).then((r) => r[0])));
    expect(concurrent.map((r) => [r.ids, r.score, r.caption])).toEqual(sequential.map((r) => [r.ids, r.score, r.caption]));
    expect(new Set(sequential.map((r) => r.ids.join())).size).toBeGreaterThan(4);
    await cap.dispose();
  });
});
