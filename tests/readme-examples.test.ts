// The module packages' README examples run as written (the `models/demo` model and `clip.mp4` they name are
// replaced by a converted tiny model and the bundled sample video). Imports are resolved to the packages' sources.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as core from '@mplug2/core';
import * as decoder from '@mplug2/decoder';
import * as fusion from '@mplug2/fusion';
import * as textEncoder from '@mplug2/text-encoder';
import * as universal from '@mplug2/universal';
import * as visionEncoder from '@mplug2/vision-encoder';
import { SAMPLE_VIDEO, demoModel } from './helpers/demo-model';

const MODULES: Record<string, Record<string, unknown>> = {
  '@mplug2/core': core,
  '@mplug2/decoder': decoder,
  '@mplug2/fusion': fusion,
  '@mplug2/text-encoder': textEncoder,
  '@mplug2/universal': universal,
  '@mplug2/vision-encoder': visionEncoder,
};
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<unknown>;

/** The first ```ts block of a README, its imports turned into parameters. */
function example(pkg: string, model: string): { run: () => Promise<unknown>; logs: unknown[][] } {
  const readme = readFileSync(path.resolve(__dirname, `../packages/${pkg}/README.md`), 'utf8');
  let code = /```ts\n([\s\S]*?)```/.exec(readme)![1];
  const names: string[] = [];
  const values: unknown[] = [];
  code = code.replace(/^import \{([^}]+)\} from '([^']+)';\n/gm, (_, list: string, from: string) => {
    for (const n of list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      expect(MODULES[from]?.[n], `${pkg} README imports ${n} from ${from}`).toBeDefined();
      names.push(n);
      values.push(MODULES[from][n]);
    }
    return '';
  });
  code = code.replaceAll("'models/demo'", JSON.stringify(model)).replaceAll("'clip.mp4'", JSON.stringify(SAMPLE_VIDEO));
  const logs: unknown[][] = [];
  const fn = new AsyncFunction(...names, 'console', code);
  return { run: () => fn(...values, { log: (...a: unknown[]) => logs.push(a) }), logs };
}

describe('module package README examples run', () => {
  it('@mplug2/universal: image_embeds of the video', async () => {
    const ex = example('universal', await demoModel());
    await ex.run();
    const [shape] = ex.logs.at(-1)! as [number[]];
    expect(shape[0]).toBe(1);
    expect(shape).toHaveLength(3);
  });

  it('@mplug2/fusion: merged [video; text] memory', async () => {
    const ex = example('fusion', await demoModel());
    await ex.run();
    const [states, mask] = ex.logs.at(-1)! as [number[], number[]];
    expect(states.slice(0, 2)).toEqual(mask);
  });

  it('@mplug2/decoder: beam search from the visual states', async () => {
    const ex = example('decoder', await demoModel());
    await ex.run();
    const [ids, score, text] = ex.logs.at(-1)! as [number[], number, string];
    expect(ids[0]).toBe(101);
    expect(Number.isFinite(score)).toBe(true);
    expect(typeof text).toBe('string');
    expect(ex.logs.length).toBeGreaterThan(1);
  });

  it('@mplug2/text-encoder: the tokenizer example prints what its comments say', async () => {
    const ex = example('text-encoder', await demoModel());
    await ex.run();
    expect(ex.logs).toEqual([['what is the man doing', [101, 2054, 2003, 1996, 2158, 2725]], ['playing']]);
  });
});
