import { AbortError } from '@mplug2/core';

/** One request in a batch: its input, and its own signal (a client that went away). */
export interface BatchEntry<I> {
  readonly input: I;
  readonly signal: AbortSignal;
}

export interface BatcherOptions<I, R> {
  /** Most rows (e.g. questions) one model call takes. */
  readonly maxBatch: number;
  /** How long the first waiting request of a group waits for others before its call runs anyway. */
  readonly maxWaitMs: number;
  /** Requests with equal keys can share a model call (same generation options, same answer list). */
  readonly keyOf: (input: I) => string;
  /** Rows an input adds to a call (its number of questions, texts...). */
  readonly sizeOf: (input: I) => number;
  /**
   * Runs one model call for `entries` (one result per entry, in order). `signal` aborts only once
   * every entry's client has gone: the others still want their results.
   */
  readonly run: (entries: readonly BatchEntry<I>[], signal: AbortSignal) => Promise<R[]>;
}

interface Waiting<I, R> extends BatchEntry<I> {
  readonly size: number;
  readonly since: number;
  readonly resolve: (r: R) => void;
  readonly reject: (e: unknown) => void;
  readonly onStart?: () => void;
  detach?: () => void;
}

/** What one finished (or failed) model call reports, for metrics. */
export interface BatchReport {
  readonly batcher: string;
  readonly requests: number;
  readonly rows: number;
  readonly seconds: number;
  readonly aborted: boolean;
}

/**
 * Dynamic batching for one task: requests with equal keys wait (at most `maxWaitMs`, or until
 * `maxBatch` rows are waiting) and then run as one model call. Calls run one at a time per
 * `BatchScheduler` (onnxruntime uses every core for one call), so under load the requests that
 * arrive while a call runs form the next one.
 */
/** What the scheduler needs of a batcher. */
interface Schedulable {
  readonly waiting: number;
  readyIn(now: number): { key: string; in: number; since: number } | undefined;
  runGroup(key: string): Promise<void>;
}

export class Batcher<I, R> implements Schedulable {
  private readonly groups = new Map<string, Waiting<I, R>[]>();

  constructor(
    readonly name: string,
    private readonly scheduler: BatchScheduler,
    private readonly options: BatcherOptions<I, R>,
  ) {
    scheduler.add(this);
  }

  /** Requests waiting (not yet in a running call). */
  get waiting(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.length;
    return n;
  }

  /**
   * Queues `input`; resolves with its result. `onStart` runs when its call starts. An abort of
   * `signal` rejects at once with `AbortError` (a waiting request leaves the queue; a running one's
   * result is dropped, and its call is aborted if no other client of the call is left).
   */
  submit(input: I, signal: AbortSignal, onStart?: () => void): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (signal.aborted) return reject(new AbortError(this.name, signal.reason));
      const key = this.options.keyOf(input);
      const entry: Waiting<I, R> = { input, signal, size: this.options.sizeOf(input), since: performance.now(), resolve, reject, onStart };
      let group = this.groups.get(key);
      if (!group) this.groups.set(key, (group = []));
      group.push(entry);
      const onAbort = () => {
        const g = this.groups.get(key);
        const i = g?.indexOf(entry) ?? -1;
        if (g && i >= 0) {
          g.splice(i, 1);
          if (g.length === 0) this.groups.delete(key);
          this.scheduler.report({ batcher: this.name, requests: 1, rows: 0, seconds: 0, aborted: true });
        }
        reject(new AbortError(this.name, signal.reason));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry.detach = () => signal.removeEventListener('abort', onAbort);
      this.scheduler.poke();
    });
  }

  /** When the oldest waiting group becomes ready (ms from now; 0 = ready), or undefined when idle. */
  readyIn(now: number): { key: string; in: number; since: number } | undefined {
    let best: { key: string; in: number; since: number } | undefined;
    for (const [key, g] of this.groups) {
      const rows = g.reduce((s, e) => s + e.size, 0);
      const since = g[0].since;
      const wait = rows >= this.options.maxBatch ? 0 : Math.max(0, since + this.options.maxWaitMs - now);
      if (!best || wait < best.in || (wait === best.in && since < best.since)) best = { key, in: wait, since };
    }
    return best;
  }

  /** Takes up to `maxBatch` rows of group `key` (at least one request) and runs them as one call. */
  async runGroup(key: string): Promise<void> {
    const g = this.groups.get(key);
    if (!g?.length) return;
    const taken: Waiting<I, R>[] = [];
    let rows = 0;
    while (g.length && (taken.length === 0 || rows + g[0].size <= this.options.maxBatch)) {
      const e = g.shift() as Waiting<I, R>;
      rows += e.size;
      taken.push(e);
    }
    if (g.length === 0) this.groups.delete(key);
    for (const e of taken) e.onStart?.();
    // The call is aborted only when every client of it has gone.
    const controller = new AbortController();
    let left = taken.length;
    for (const e of taken) {
      e.detach?.();
      const gone = () => {
        e.reject(new AbortError(this.name, e.signal.reason));
        if (--left === 0) controller.abort(new AbortError(this.name, 'every client of the call has gone'));
      };
      if (e.signal.aborted) gone();
      else e.signal.addEventListener('abort', gone, { once: true });
      e.detach = () => e.signal.removeEventListener('abort', gone);
    }
    const start = performance.now();
    try {
      const results = await this.options.run(taken, controller.signal);
      taken.forEach((e, i) => e.resolve(results[i]));
    } catch (err) {
      for (const e of taken) e.reject(err);
    } finally {
      for (const e of taken) e.detach?.();
      this.scheduler.report({
        batcher: this.name,
        requests: taken.length,
        rows,
        seconds: (performance.now() - start) / 1000,
        aborted: controller.signal.aborted,
      });
    }
  }
}

/**
 * Runs the ready groups of its batchers one call at a time, oldest first. `onReport` sees every
 * finished call and every request that left the queue aborted.
 */
export class BatchScheduler {
  private readonly batchers: Schedulable[] = [];
  private busy = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly onReport: (r: BatchReport) => void = () => undefined) {}

  add(b: Schedulable): void {
    this.batchers.push(b);
  }

  get waiting(): number {
    return this.batchers.reduce((s, b) => s + b.waiting, 0);
  }

  report(r: BatchReport): void {
    this.onReport(r);
  }

  /** Something was queued or a call ended: run the next ready group, or wake up when one will be. */
  poke(): void {
    if (this.busy) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = performance.now();
    let next: { b: Schedulable; key: string; in: number; since: number } | undefined;
    for (const b of this.batchers) {
      const r = b.readyIn(now);
      if (r && (!next || r.in < next.in || (r.in === next.in && r.since < next.since))) next = { b, ...r };
    }
    if (!next) return;
    if (next.in > 0) {
      this.timer = setTimeout(() => this.poke(), next.in);
      return;
    }
    this.busy = true;
    const { b, key } = next;
    void b.runGroup(key).finally(() => {
      this.busy = false;
      this.poke();
    });
  }

  /** Stops the wake-up timer (queued requests stay queued; `poke` restarts). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
