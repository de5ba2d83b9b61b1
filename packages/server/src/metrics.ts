import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchReport } from './batcher.js';

/** The server's Prometheus metrics, in their own registry (several servers in one process stay apart). */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly batchSize: Histogram<'task'>;
  readonly batchSeconds: Histogram<'task'>;
  readonly aborted: Counter<'task' | 'where'>;

  constructor(waiting: () => number, decodes: () => { running: number; waiting: number } = () => ({ running: 0, waiting: 0 })) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'mplug2_' });
    this.requests = new Counter({
      name: 'mplug2_http_requests_total',
      help: 'HTTP requests by route and status code',
      labelNames: ['route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'mplug2_http_request_duration_seconds',
      help: 'HTTP request latency by route (upload, queue, model call, response)',
      labelNames: ['route'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'mplug2_batch_requests',
      help: 'Requests per model call',
      labelNames: ['task'],
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    this.batchSeconds = new Histogram({
      name: 'mplug2_batch_duration_seconds',
      help: 'Duration of one model call',
      labelNames: ['task'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.aborted = new Counter({
      name: 'mplug2_aborted_total',
      help: 'Requests whose client went away: while queued, or during a model call (the call stops once all its clients are gone)',
      labelNames: ['task', 'where'],
      registers,
    });
    new Gauge({
      name: 'mplug2_queue_depth',
      help: 'Requests admitted and waiting for a model call',
      registers,
      collect() {
        this.set(waiting());
      },
    });
    new Gauge({
      name: 'mplug2_decodes',
      help: 'Uploads being decoded (state="running", at most decodeConcurrency) and waiting for a decode slot (state="waiting")',
      labelNames: ['state'],
      registers,
      collect() {
        const d = decodes();
        this.set({ state: 'running' }, d.running);
        this.set({ state: 'waiting' }, d.waiting);
      },
    });
  }

  /** Records a finished model call or a request that left the queue aborted. */
  batch(r: BatchReport): void {
    if (r.rows === 0) {
      this.aborted.inc({ task: r.batcher, where: 'queued' });
      return;
    }
    this.batchSize.observe({ task: r.batcher }, r.requests);
    this.batchSeconds.observe({ task: r.batcher }, r.seconds);
    if (r.aborted) this.aborted.inc({ task: r.batcher, where: 'running' }, r.requests);
  }
}
