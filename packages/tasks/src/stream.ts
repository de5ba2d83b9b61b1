import { AbortError } from '@mplug2/core';
import type { BeamStepEvent } from '@mplug2/decoder';

/** The best hypothesis after one decoding step of a streamed call. */
export interface StreamStep {
  readonly done: false;
  /** 0-based decoding step. */
  readonly step: number;
  /** `ids` decoded as the task decodes its final result (answer, or caption without the prompt). */
  readonly text: string;
  /** The rank-0 beam (with the leading `[CLS]`). */
  readonly ids: readonly number[];
  /** Its running score (log-prob / length penalty of this step). */
  readonly score: number;
}

/** The last update of a stream: the call's final result, as the non-streaming method returns it. */
export interface StreamEnd<R> {
  readonly done: true;
  readonly result: R;
}

export type StreamUpdate<R> = StreamStep | StreamEnd<R>;

/**
 * Runs one single-sample generation call and yields its best hypothesis after every decoding step,
 * then `{ done: true, result }`. Steps are buffered, so a slow consumer never stalls the search.
 * Leaving the loop early (`break`, `return()`) or aborting `signal` aborts the call; `return()`
 * resolves once the call has released its memory.
 */
export async function* streamSteps<R>(
  run: (onStep: (event: BeamStepEvent) => void, signal: AbortSignal) => Promise<R>,
  decode: (ids: readonly number[]) => string,
  signal: AbortSignal | undefined,
  what: string,
): AsyncGenerator<StreamUpdate<R>, void, undefined> {
  const controller = new AbortController();
  const forward = () => controller.abort(signal?.reason);
  if (signal?.aborted) forward();
  else signal?.addEventListener('abort', forward, { once: true });
  const steps: StreamStep[] = [];
  let wake: (() => void) | undefined;
  let outcome: { ok: true; value: R } | { ok: false; error: unknown } | undefined;
  const task = run((event) => {
    const s = event.samples[0];
    // A retired sample's update is the final result, yielded once the call returns.
    if (s.done) return;
    steps.push({ done: false, step: event.step, text: decode(s.bestIds), ids: [...s.bestIds], score: s.bestScore });
    wake?.();
  }, controller.signal).then(
    (value) => {
      outcome = { ok: true, value };
      wake?.();
    },
    (error: unknown) => {
      outcome = { ok: false, error };
      wake?.();
    },
  );
  try {
    for (;;) {
      const next = steps.shift();
      if (next) {
        yield next;
        continue;
      }
      if (outcome) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    if (!outcome.ok) throw outcome.error;
    yield { done: true, result: outcome.value };
  } finally {
    signal?.removeEventListener('abort', forward);
    if (!outcome) {
      controller.abort(new AbortError(what, 'the stream was closed by its consumer'));
      await task;
    }
  }
}
