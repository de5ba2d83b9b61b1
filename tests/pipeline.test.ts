// pipeline(task, model, options): the one-liner gives what the task classes give, under transformers.js' names.
import { describe, expect, it } from 'vitest';
import { AbortError, InvalidOptionError, type LoadProgressEvent } from '@mplug2/core';
import { Captioner, Retriever, VideoQA, pipeline, zeroShotClassify } from '@mplug2/tasks';
import { VideoEmbedder } from '@mplug2/vision-encoder';
import { SAMPLE_VIDEO, demoModel } from './helpers/demo-model';

describe('pipeline()', () => {
  it('video-question-answering answers as VideoQA does; device and progress_callback are passed through', async () => {
    const dir = await demoModel();
    const events: LoadProgressEvent[] = [];
    await using answerer = await pipeline('video-question-answering', dir, { device: 'cpu', progress_callback: (e) => events.push(e) });
    expect(answerer.task).toBe('video-question-answering');
    expect(answerer.instance).toBeInstanceOf(VideoQA);
    const [got] = await answerer(SAMPLE_VIDEO, 'what is in the video?');
    await using qa = await VideoQA.load(dir, { backend: 'cpu' });
    const [want] = await qa.ask(SAMPLE_VIDEO, 'what is in the video?');
    expect({ ...got, timings: null }).toEqual({ ...want, timings: null });
    expect(events.filter((e) => e.stage === 'session').at(-1)).toMatchObject({ done: expect.any(Number) });
  });

  it('video-captioning gives the caption also as generated_text', async () => {
    const dir = await demoModel();
    await using captioner = await pipeline('video-captioning', dir);
    const [got] = await captioner(SAMPLE_VIDEO, { maxLength: 8 });
    await using cap = await Captioner.load(dir);
    const [want] = await cap.caption(SAMPLE_VIDEO, { maxLength: 8 });
    expect(got.generated_text).toBe(want.caption);
    expect(got.ids).toEqual(want.ids);
  });

  it('zero-shot-video-classification returns {label, score} best first, as zeroShotClassify ranks them', async () => {
    const dir = await demoModel();
    const labels = ['cooking', 'dancing', 'surfing'];
    await using classifier = await pipeline('zero-shot-video-classification', dir);
    const got = await classifier(SAMPLE_VIDEO, labels, { hypothesis_template: 'a video of {label}' });
    await using retriever = await Retriever.load(dir);
    const [want] = await zeroShotClassify(retriever, SAMPLE_VIDEO, labels);
    expect(got).toEqual(want.probs.map((p) => ({ label: p.label, score: p.prob, similarity: p.similarity })));
    expect(got.reduce((s, r) => s + r.score, 0)).toBeCloseTo(1, 5);
  });

  it('video-feature-extraction gives the VideoEmbedder embeddings; video-text-retrieval ranks the given files', async () => {
    const dir = await demoModel();
    await using extractor = await pipeline('video-feature-extraction', dir);
    const [got] = await extractor(SAMPLE_VIDEO);
    await using embedder = await VideoEmbedder.load(dir);
    const [want] = await embedder.embed([SAMPLE_VIDEO]);
    expect(Array.from(got.embedding)).toEqual(Array.from(want.embedding));

    await using search = await pipeline('video-text-retrieval', dir);
    const r = await search('a person', [SAMPLE_VIDEO]);
    expect(r.hits).toHaveLength(1);
    expect(r.hits[0].path).toBe(SAMPLE_VIDEO);
    expect(r.hits[0].itm).not.toBeNull();
  });

  it('refuses unknown tasks, conflicting options, a dtype the model was not converted with, and honours signal', async () => {
    const dir = await demoModel();
    await expect(pipeline('text-generation' as never, dir)).rejects.toThrow(
      /'text-generation' is not a pipeline task here \(tasks: video-question-answering, /,
    );
    await expect(pipeline('video-captioning', dir, { device: 'cpu', backend: 'wasm' })).rejects.toBeInstanceOf(InvalidOptionError);
    const err = await pipeline('video-captioning', dir, { dtype: 'fp16' }).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect(err.message).toMatch(/'fp16' asked for, but .* computes in fp32 \(convert it with `mplug2 convert --compute fp16`\)/);
    const ctl = new AbortController();
    ctl.abort();
    await expect(pipeline('video-captioning', dir, { signal: ctl.signal })).rejects.toBeInstanceOf(AbortError);
  });
});
