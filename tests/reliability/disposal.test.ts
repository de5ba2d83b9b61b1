import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoModel } from '../helpers/demo-model';

// Runs in a child process against the built packages so that RSS reflects only this loop.
const SCRIPT = `
import { VideoQA } from '@mplug2/tasks';
import { tensor } from '@mplug2/core';
const dir = process.argv[2];
const pixels = tensor('float32', ['channels', 'frames', 'height', 'width'], [3, 4, 56, 56], new Float32Array(3 * 4 * 56 * 56).fill(0.5));
const rss = [];
for (let i = 0; i < 50; i++) {
  const qa = await VideoQA.load(dir);
  await qa.ask(pixels, 'what is it?', { maxLength: 3 });
  await qa.dispose();
  globalThis.gc();
  if (i === 9 || i === 49) rss.push(process.memoryUsage().rss);
}
let disposedError = '';
const qa = await VideoQA.load(dir);
await qa.dispose();
try { await qa.ask(pixels, 'what?'); } catch (e) { disposedError = e.code; }
console.log(JSON.stringify({ rss, disposedError }));
`;

describe('disposal', () => {
  it('loading and disposing a model 50 times does not grow memory; a disposed model refuses work', async () => {
    const dir = await demoModel();
    const script = path.join(path.resolve(__dirname, '../..'), 'tests', `.disposal-${process.pid}.mjs`);
    writeFileSync(script, SCRIPT);
    try {
      const out = execFileSync(process.execPath, ['--expose-gc', script, dir], { encoding: 'utf8', timeout: 120_000 });
      const { rss, disposedError } = JSON.parse(out.trim().split('\n').pop()!);
      const growthMb = (rss[1] - rss[0]) / 2 ** 20;
      // 40 more load/ask/dispose cycles after warm-up: a leak of one model (~26 MB of weights + sessions) per cycle would show as > 1 GB.
      expect(growthMb).toBeLessThan(64);
      expect(disposedError).toBe('SESSION_DISPOSED');
    } finally {
      rmSync(script, { force: true });
    }
  }, 180_000);
});
