import type { ModelLoadProgress } from './browser/remote-model.js';
import { AbortError, throwIfAborted } from './errors.js';
import type { ModuleName } from './manifest.js';
import type { ModelSource } from './model-source.js';
import type { ModuleSession, SessionOptions } from './runtime/session.js';

/** One onnxruntime session of a model load is ready (`done` of `total` sessions so far). */
export interface SessionLoadProgress {
  readonly stage: 'session';
  readonly module: ModuleName;
  readonly role: string;
  readonly done: number;
  /** Graphs of the modules being loaded; the last event of a load has `done === total`. */
  readonly total: number;
}

/** Progress of a model load: `download` events (bytes, files; models at URLs) and `session` events. */
export type LoadProgressEvent = ModelLoadProgress | SessionLoadProgress;

/** Progress and cancellation of a model load (every task's `load`, `pipeline()`). */
export interface LoadControlOptions {
  readonly onProgress?: (event: LoadProgressEvent) => void;
  /**
   * Cancels the load: it rejects with `AbortError` (code `ABORTED`) at once, every session created so
   * far is released, and a session still being created is released when onnxruntime returns it.
   */
  readonly signal?: AbortSignal;
}

/**
 * Runs `build` (which creates the sessions of `modules` through the source it is given) under
 * `options`: session progress, and on abort or on any failure every session created so far is released
 * — no half-loaded task keeps memory (or GPU buffers) alive. `what` names the load in the `AbortError`.
 */
export async function controlledLoad<T>(
  model: ModelSource,
  modules: readonly ModuleName[],
  what: string,
  options: LoadControlOptions,
  build: (source: ModelSource) => Promise<T>,
): Promise<T> {
  const { signal, onProgress } = options;
  throwIfAborted(signal, what);
  const total = modules.reduce((n, m) => n + Object.keys(model.manifest.modules[m]?.graphs ?? {}).length, 0);
  const created: ModuleSession[] = [];
  let last: SessionLoadProgress | undefined;
  let failed = false;
  const source: ModelSource = {
    location: model.location,
    manifest: model.manifest,
    has: (m) => model.has(m),
    async session(module: ModuleName, role: string, sessionOptions?: SessionOptions) {
      throwIfAborted(signal, what);
      if (failed) throw new AbortError(what, 'another part of the load failed');
      const s = await model.session(module, role, sessionOptions);
      // Created after the load was given up: nobody will own it.
      if (failed || signal?.aborted) {
        await s.dispose();
        throw new AbortError(what, signal?.reason ?? 'another part of the load failed');
      }
      created.push(s);
      last = { stage: 'session', module, role, done: created.length, total: Math.max(total, created.length) };
      onProgress?.(last);
      return s;
    },
  };
  try {
    const result = await abortable(build(source), signal, what);
    // Not every graph of a module is always loaded (the decoder's prefill shares the step graph when it can).
    if (last && last.done < last.total) onProgress?.({ ...last, total: last.done });
    return result;
  } catch (e) {
    failed = true;
    await Promise.all(created.splice(0).map((s) => s.dispose().catch(() => {})));
    throw e;
  }
}

/**
 * Settles with `work`, or rejects with `AbortError` naming `what` as soon as `signal` aborts (`work` goes on
 * in the background: its own signal handling, if any, stops it). A rejection of `work` after the abort
 * (a fetch's DOMException) is reported as the same `AbortError`.
 */
export async function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => {});
    throw new AbortError(what, signal.reason);
  }
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new AbortError(what, signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } catch (e) {
    if (signal.aborted && !(e instanceof AbortError)) throw new AbortError(what, signal.reason);
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
    work.catch(() => {});
  }
}
