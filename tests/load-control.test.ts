// The load side of cancellation and progress: every task's load takes `signal` and `onProgress`; an aborted
// (or failed) load releases every session it created, and the next load works. `await using` disposes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, ModelDirectory, type LoadProgressEvent, type ModelSource, type ModuleSession } from '@mplug2/core';
import { Captioner, Retriever, VideoQA } from '@mplug2/tasks';
import { VideoEmbedder } from '@mplug2/vision-encoder';
import { SAMPLE_VIDEO, demoModel } from './helpers/demo-model';

/** A model source that counts the sessions it hands out and how many of them were released. */
function counting(model: ModelSource, fail?: { module: string; role: string }) {
  const live = new Set<ModuleSession>();
  let created = 0;
  const source: ModelSource = {
    location: model.location,
    manifest: model.manifest,
    has: (m) => model.has(m),
    async session(module, role, options) {
      if (fail && fail.module === module && fail.role === role) throw new Error(`no ${module}.${role} today`);
      const s = await model.session(module, role, options);
      created++;
      live.add(s);
      const dispose = s.dispose.bind(s);
      s.dispose = async () => {
        live.delete(s);
        await dispose();
      };
      return s;
    },
  };
  return { source, live, created: () => created };
}

async function until(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let model: ModelDirectory;
beforeAll(async () => {
  model = await ModelDirectory.open(await demoModel());
});

describe('signal in TaskLoadOptions', () => {
  it('an already aborted signal rejects before anything is created', async () => {
    const c = counting(model);
    const ctl = new AbortController();
    ctl.abort(new Error('not now'));
    const err = await VideoQA.load(c.source, { signal: ctl.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(err.code).toBe('ABORTED');
    expect(err.message).toBe('loading VideoQA was aborted: not now');
    expect(err.cause).toBe(ctl.signal.reason);
    expect(c.created()).toBe(0);
  });

  it.each([
    ['VideoQA', (s: ModelSource, o: object) => VideoQA.load(s, o)],
    ['Captioner', (s: ModelSource, o: object) => Captioner.load(s, o)],
    ['Retriever', (s: ModelSource, o: object) => Retriever.load(s, o)],
    ['VideoEmbedder', (s: ModelSource, o: object) => VideoEmbedder.load(s, o)],
  ] as const)('%s: aborting after the first session rejects with AbortError and releases every session', async (name, load) => {
    const c = counting(model);
    const ctl = new AbortController();
    const events: LoadProgressEvent[] = [];
    const err = await load(c.source, {
      signal: ctl.signal,
      onProgress: (e: LoadProgressEvent) => {
        events.push(e);
        if (e.stage === 'session' && e.done === 1) ctl.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).message).toBe(`loading ${name} was aborted`);
    expect(events.filter((e) => e.stage === 'session').length).toBeGreaterThanOrEqual(1);
    // Sessions still being created when the abort came are released as onnxruntime hands them over.
    await until(() => c.live.size === 0);
    expect(c.created()).toBeGreaterThanOrEqual(1);
  });

  it('after an aborted load the next load works and answers', async () => {
    const ctl = new AbortController();
    const first = VideoQA.load(model, { signal: ctl.signal });
    ctl.abort();
    await expect(first).rejects.toBeInstanceOf(AbortError);
    const qa = await VideoQA.load(model);
    try {
      const [r] = await qa.ask(SAMPLE_VIDEO, 'what is in the video?');
      expect(r.ids[0]).toBe(101);
      expect(r.answer.length).toBeGreaterThan(0);
    } finally {
      await qa.dispose();
    }
  });

  it('a load that fails part-way (not aborted) releases the sessions already created, and rethrows the cause', async () => {
    const c = counting(model, { module: 'fusion', role: 'main' });
    await expect(VideoQA.load(c.source)).rejects.toThrow('no fusion.main today');
    await until(() => c.live.size === 0);
  });
});

describe('onProgress in TaskLoadOptions', () => {
  it('reports one session event per session, counting up to total', async () => {
    const events: LoadProgressEvent[] = [];
    const cap = await Captioner.load(model, { onProgress: (e) => events.push(e) });
    await cap.dispose();
    const sessions = events.filter((e) => e.stage === 'session');
    const last = sessions.at(-1)!;
    expect(last.done).toBe(last.total);
    expect(new Set(sessions.map((e) => e.module))).toEqual(new Set(['vision_encoder', 'universal', 'decoder']));
    expect(sessions.slice(0, last.done).map((e) => e.done)).toEqual(Array.from({ length: last.done }, (_, i) => i + 1));
  });
});

describe('Symbol.asyncDispose', () => {
  let counted: ReturnType<typeof counting>;
  beforeAll(() => {
    counted = counting(model);
  });
  afterAll(() => expect(counted.live.size).toBe(0));

  it('await using releases a task and its sessions at the end of the block', async () => {
    {
      await using qa = await VideoQA.load(counted.source);
      expect(counted.live.size).toBe(counted.created());
      expect(counted.live.size).toBeGreaterThan(0);
      void qa;
    }
    expect(counted.live.size).toBe(0);
    {
      await using embedder = await VideoEmbedder.load(counted.source);
      await using session = await model.session('fusion', 'main');
      expect(typeof session[Symbol.asyncDispose]).toBe('function');
      expect(counted.live.size).toBe(1);
      void embedder;
    }
    expect(counted.live.size).toBe(0);
  });
});
