import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InvalidOptionError, Mplug2Error } from '@mplug2/core';
import { npMean } from './metrics/ngrams.js';
import { scoreCaptions, tokenizeCaptionResults, type CaptionScoreOptions } from './score.js';
import type { CaptionMetrics, CaptionResultRecord } from './types.js';

/** The jars pycocoevalcap runs for METEOR and SPICE (it downloads them; here the user passes them). */
export interface JavaScorerOptions extends CaptionScoreOptions {
  /** `meteor-1.5.jar` (run as `java -jar -Xmx2G <jar> - - -stdio -l en -norm`). */
  readonly meteorJar?: string;
  /** `spice-1.0.jar` (run as `java -jar -Xmx8G <jar> <in.json> -cache <dir> -out <out.json> -subset -silent`). */
  readonly spiceJar?: string;
  /** The Java executable (default `java` on the PATH). */
  readonly java?: string;
}

/** A Java scorer failed to start, exited with an error, or answered outside its protocol. */
export class JavaScorerError extends Mplug2Error {
  constructor(
    readonly jar: string,
    detail: string,
  ) {
    super('JAVA_SCORER', `${jar}: ${detail}`);
  }
}

async function checkJar(option: string, jar: string): Promise<void> {
  const s = await stat(jar).catch(() => null);
  if (!s?.isFile()) throw new InvalidOptionError(option, `${jar} is not a file`);
}

/** Runs `java args`, writing `input` to stdin; resolves with stdout. */
function runJava(java: string, jar: string, args: readonly string[], input: string, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(java, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('error', (e) => reject(new JavaScorerError(jar, `cannot run ${java}: ${e.message} (install Java or put it on the PATH)`)));
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new JavaScorerError(jar, `exited with code ${code}: ${err.trim().slice(-500)}`))));
    p.stdin.on('error', () => undefined);
    p.stdin.end(input);
  });
}

/**
 * METEOR 1.5 through its `-stdio` protocol, as pycocoevalcap's `Meteor`: one `SCORE ||| refs… ||| hyp`
 * line per video (answered by its statistics), then one `EVAL ||| stats…` line answered by the
 * per-video scores and the corpus score. The whole conversation is written at once (the jar
 * answers line by line, in order).
 */
export async function meteorScore(
  candidates: readonly string[],
  references: readonly (readonly string[])[],
  jar: string,
  java = 'java',
): Promise<{ corpus: number; perSentence: number[] }> {
  await checkJar('--meteor-jar', jar);
  // Pass 1: statistics per video; pass 2: scores from the statistics.
  const score = candidates.map((c, i) => `SCORE ||| ${references[i].join(' ||| ')} ||| ${c.replaceAll('|||', '').replaceAll('  ', ' ')}`).join('\n') + '\n';
  const args = ['-jar', '-Xmx2G', jar, '-', '-', '-stdio', '-l', 'en', '-norm'];
  const stats = (await runJava(java, jar, args, score, path.dirname(jar))).split('\n').filter((l) => l.trim() !== '');
  if (stats.length !== candidates.length) throw new JavaScorerError(jar, `answered ${stats.length} statistics lines for ${candidates.length} videos`);
  const evalLine = `EVAL ||| ${stats.map((s) => s.trim()).join(' ||| ')}\n`;
  const nums = (await runJava(java, jar, args, evalLine, path.dirname(jar)))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Number(l.trim()));
  if (nums.length !== candidates.length + 1 || nums.some((n) => !Number.isFinite(n)))
    throw new JavaScorerError(jar, `expected ${candidates.length + 1} scores, got ${nums.length}`);
  return { corpus: nums[candidates.length], perSentence: nums.slice(0, candidates.length) };
}

/** SPICE 1.0 as pycocoevalcap's `Spice`: a JSON input file, the jar's JSON output, the mean of each video's `All.f`. */
export async function spiceScore(
  candidates: readonly string[],
  references: readonly (readonly string[])[],
  jar: string,
  java = 'java',
): Promise<{ corpus: number; perSentence: number[] }> {
  await checkJar('--spice-jar', jar);
  const dir = await mkdtemp(path.join(tmpdir(), 'mplug2-spice-'));
  try {
    const input = path.join(dir, 'in.json');
    const output = path.join(dir, 'out.json');
    await writeFile(input, JSON.stringify(candidates.map((test, i) => ({ image_id: i, test, refs: references[i] }))));
    await runJava(java, jar, ['-jar', '-Xmx8G', jar, input, '-cache', path.join(dir, 'cache'), '-out', output, '-subset', '-silent'], '', path.dirname(jar));
    let items: { image_id: number; scores: { All: { f: number } } }[];
    try {
      items = JSON.parse(await readFile(output, 'utf8'));
    } catch (e) {
      throw new JavaScorerError(jar, `no readable output: ${(e as Error).message}`);
    }
    const byId = new Map(items.map((it) => [it.image_id, Number(it.scores?.All?.f)]));
    const perSentence = candidates.map((_, i) => byId.get(i) ?? NaN);
    if (perSentence.some((f) => !Number.isFinite(f))) throw new JavaScorerError(jar, 'output lacks a score (scores.All.f) for some video');
    return { corpus: npMean(perSentence), perSentence };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * {@link scoreCaptions} plus METEOR and SPICE from their jars when given (on the PTB-tokenized
 * captions, as pycocoevalcap). A metric whose jar is not given stays null with the reason.
 */
export async function scoreCaptionsWithJava(results: readonly CaptionResultRecord[], options: JavaScorerOptions = {}): Promise<CaptionMetrics> {
  const base = scoreCaptions(results, options);
  if (!options.meteorJar && !options.spiceJar) return base;
  const { candidates, references } = tokenizeCaptionResults(results, options);
  const unavailable: Record<string, string> = { ...base.unavailable };
  let METEOR = base.METEOR;
  let SPICE = base.SPICE;
  if (options.meteorJar) {
    METEOR = (await meteorScore(candidates, references, options.meteorJar, options.java)).corpus;
    delete unavailable.METEOR;
  }
  if (options.spiceJar) {
    SPICE = (await spiceScore(candidates, references, options.spiceJar, options.java)).corpus;
    delete unavailable.SPICE;
  }
  return { ...base, METEOR, SPICE, ...(Object.keys(unavailable).length ? { unavailable } : { unavailable: undefined }) };
}
