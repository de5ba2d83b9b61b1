/**
 * Disposal: every onnxruntime session a task creates is released by `dispose()`, creating, using and
 * disposing models 50 times in one process does not grow its memory, and a disposed model refuses work
 * with a typed error (also when disposed while a call is in flight).
 *
 * Vitest runs this file in its own worker process; `gc` is exposed at run time so RSS is measured after
 * collection. Sessions are counted by wrapping onnxruntime's `InferenceSession.create` / `release`
 * (the same module instance the runtime loads).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ortModule from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Mplug2Error, tensor } from '@mplug2/core';
import { Captioner, VideoQA } from '@mplug2/tasks';
import { demoModel } from '../helpers/demo-model';
import { goldenModel } from '../helpers/golden';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type SessionClass = { create: (...args: unknown[]) => Promise<unknown>; prototype: { release: () => Promise<void> } };
const ort = ((ortModule as unknown as { default?: { InferenceSession?: SessionClass } }).default ?? ortModule) as unknown as { InferenceSession: SessionClass };
const live = new Set<unknown>();
let created = 0;
{
  const create = ort.InferenceSession.create.bind(ort.InferenceSession);
  ort.InferenceSession.create = async (...args: unknown[]) => {
    const s = await create(...args);
    created++;
    live.add(s);
    return s;
  };
  const release = ort.InferenceSession.prototype.release;
  ort.InferenceSession.prototype.release = function (this: unknown) {
    live.delete(this);
    return release.call(this);
  };
}

const pixels = tensor(
  'float32',
  ['channels', 'frames', 'height', 'width'],
  [3, 4, 56, 56],
  Float32Array.from({ length: 3 * 4 * 56 * 56 }, (_, i) => Math.sin(i) * 0.5),
);
const rssMb = () => process.memoryUsage().rss / 2 ** 20;
function settle(): number {
  for (let i = 0; i < 3; i++) gc();
  return rssMb();
}

describe('disposal', () => {
  it('50 load / use / dispose cycles release every session and do not grow memory', async () => {
    const [demo, golden] = await Promise.all([demoModel(), goldenModel('videocaption_tiny')]);
    const before = live.size;
    const rss: number[] = [];
    const created0 = created;
    for (let i = 0; i < 50; i++) {
      // alternately the two tasks, each run once so its sessions allocate their buffers (one intra-op
      // thread: creating a thread pool per session dominates the cycle on a small shared machine)
      if (i % 2 === 0) {
        const qa = await VideoQA.load(demo, { threads: 1 });
        await qa.ask(pixels, 'what is it?', { maxLength: 2, beamSize: 1 });
        await qa.dispose();
      } else {
        const cap = await Captioner.load(golden, { threads: 1 });
        await cap.caption(pixels, { maxLength: 3, beamSize: 2 });
        await cap.dispose();
      }
      expect(live.size, `cycle ${i}: sessions left open`).toBe(before);
      if (i === 9 || i === 29 || i === 49) rss.push(settle());
    }
    expect(created - created0).toBeGreaterThanOrEqual(50 * 3); // the wrapper saw the task's sessions
    console.log(`RSS after 10 / 30 / 50 cycles: ${rss.map((r) => r.toFixed(0)).join(' / ')} MB; ${created - created0} sessions created and released`);
    // 40 cycles after warm-up; one leaked model (weights + sessions + arenas) per cycle would add > 1 GB
    expect(rss[2] - rss[0]).toBeLessThan(64);
  }, 180_000);

  it('a disposed model refuses work with SESSION_DISPOSED; dispose is idempotent and safe mid-call', async () => {
    const demo = await demoModel();
    const qa = await VideoQA.load(demo);
    await qa.dispose();
    await qa.dispose();
    const e = await qa.ask(pixels, 'what is it?').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Mplug2Error);
    expect((e as Mplug2Error).code).toBe('SESSION_DISPOSED');

    // disposed while calls are in flight: they finish or fail typed, nothing stays open
    const open = live.size;
    const qa2 = await VideoQA.load(demo);
    const inFlight = Array.from({ length: 4 }, (_, i) =>
      qa2.ask(pixels, `question ${i}?`, { maxLength: 4 }).then(
        () => 'ok',
        (x: unknown) => (x instanceof Mplug2Error ? x.code : `untyped ${String(x)}`),
      ),
    );
    await new Promise((r) => setTimeout(r, 20));
    await qa2.dispose();
    for (const outcome of await Promise.all(inFlight)) expect(['ok', 'SESSION_DISPOSED']).toContain(outcome);
    expect(live.size).toBe(open);
  });
});
