import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError } from '@mplug2/core';
import { Captioner, Retriever, VideoQA, type StreamUpdate } from '@mplug2/tasks';
import { loadVideo } from '@mplug2/vision-encoder';
import { SAMPLE_VIDEO, demoModel } from './helpers/demo-model';

async function collect<R>(it: AsyncIterable<StreamUpdate<R>>): Promise<StreamUpdate<R>[]> {
  const out: StreamUpdate<R>[] = [];
  for await (const u of it) out.push(u);
  return out;
}

describe('abort signal and per-step streaming of the generation tasks', () => {
  let qa: VideoQA;
  let cap: Captioner;
  let pixels: Awaited<ReturnType<typeof loadVideo>>['pixelValues'];
  // min = max length: every call runs the same number of decoding steps
  const long = { minLength: 8, maxLength: 8 };

  beforeAll(async () => {
    const model = await demoModel();
    [qa, cap] = await Promise.all([VideoQA.load(model, { threads: 1 }), Captioner.load(model, { threads: 1 })]);
    pixels = (await loadVideo(SAMPLE_VIDEO, { numFrames: qa.visual.frames, size: qa.visual.size })).pixelValues;
  });
  afterAll(async () => {
    await qa?.dispose();
    await cap?.dispose();
  });

  it('askStream yields the best hypothesis of every step, then the result ask() returns', async () => {
    const [want] = await qa.ask(pixels, 'what is the man doing?', long);
    const updates = await collect(qa.askStream(pixels, 'what is the man doing?', long));
    const last = updates.at(-1)!;
    expect(last.done).toBe(true);
    if (!last.done) return;
    expect(last.result.ids).toEqual(want.ids);
    expect(last.result.score).toBe(want.score);
    expect(last.result.answer).toBe(want.answer);
    const steps = updates.slice(0, -1);
    // steps 0..6 are streamed; step 7 retires the sample and is the final result
    expect(steps.map((s) => (s.done ? -1 : s.step))).toEqual([0, 1, 2, 3, 4, 5, 6]);
    steps.forEach((s, i) => {
      if (s.done) throw new Error('a step update is marked done');
      expect(s.ids.length).toBe(i + 2);
      expect(s.ids[0]).toBe(101);
      expect(s.text).toBe(qa.tokenizer.decode(s.ids));
      expect(Number.isFinite(s.score)).toBe(true);
    });
  });

  it('captionStream yields caption text per step, then the result caption() returns', async () => {
    const [want] = await cap.caption(pixels, long);
    const updates = await collect(cap.captionStream(pixels, long));
    const last = updates.at(-1)!;
    expect(last.done && last.result.ids).toEqual(want.ids);
    expect(last.done && last.result.caption).toBe(want.caption);
    expect(updates.length).toBe(8);
  });

  it('an abort mid-generation rejects with AbortError (ABORTED) at the next step; the next call works', async () => {
    const [want] = await qa.ask(pixels, 'who is there?', long);
    const controller = new AbortController();
    const steps: number[] = [];
    const err = await qa
      .ask(pixels, 'who is there?', {
        ...long,
        signal: controller.signal,
        onStep: (e) => {
          steps.push(e.step);
          if (e.step === 2) controller.abort('user cancelled');
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('ABORTED');
    expect((err as AbortError).cause).toBe('user cancelled');
    expect(steps).toEqual([0, 1, 2]);
    const [again] = await qa.ask(pixels, 'who is there?', long);
    expect(again.ids).toEqual(want.ids);
    expect(again.score).toBe(want.score);

    const capErr = await cap.caption(pixels, { ...long, signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect((capErr as AbortError).code).toBe('ABORTED');
  });

  it('breaking out of a stream aborts its call: no step runs after return() resolves; the next call works', async () => {
    const generated: number[] = [];
    const stream = cap.captionStream(pixels, { ...long, onProgress: (e) => void (e.stage === 'generate' && generated.push(e.done)) });
    for await (const u of stream) if (!u.done && u.step === 1) break;
    const seen = generated.length;
    expect(seen).toBeLessThan(8);
    await new Promise((r) => setTimeout(r, 50));
    expect(generated.length).toBe(seen);
    const [want] = await cap.caption(pixels, long);
    const all = await collect(cap.captionStream(pixels, long));
    expect(all.at(-1)!.done && (all.at(-1) as { result: { ids: number[] } }).result.ids).toEqual(want.ids);
  });

  it('an outer signal aborts a stream: the iterator throws AbortError', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const err = await (async () => {
      for await (const u of qa.askStream(pixels, 'what?', { ...long, signal: controller.signal })) {
        if (!u.done) seen.push(u.step);
        if (!u.done && u.step === 0) controller.abort();
      }
    })().catch((e: unknown) => e);
    expect((err as AbortError).code).toBe('ABORTED');
    expect(seen.length).toBeLessThan(7);
  });

  it('Retriever calls take a signal', async () => {
    const r = await Retriever.load(await demoModel(), { threads: 1 });
    try {
      const err = await r.encodeTexts(['a dog'], {}, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
      expect((err as AbortError).code).toBe('ABORTED');
      const verr = await r.encodeVideos(pixels, {}, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
      expect((verr as AbortError).code).toBe('ABORTED');
      const ok = await r.encodeTexts(['a dog'], {}, { signal: new AbortController().signal });
      expect(ok.embeddings[0].length).toBe(r.embedDim);
    } finally {
      await r.dispose();
    }
  });
});
