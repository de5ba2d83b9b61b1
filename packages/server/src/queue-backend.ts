import { randomUUID } from 'node:crypto';
import { openModel, tensor, throwIfAborted, type ModelSource } from '@mplug2/core';
import {
  JobFailedError,
  QueueCoordinator,
  decodeFloat32,
  encodeFloat32,
  jobId,
  permanentFailure,
  type CoordinatorOptions,
  type JobContext,
  type JobProcessor,
} from '@mplug2/queue';
import type { CaptionResult, Captioner, QAResult, Retriever, VideoQA } from '@mplug2/tasks';
import {
  LocalBackend,
  supportedTasks,
  type AskRequest,
  type CallContext,
  type CaptionRequest,
  type DecodedVideo,
  type EmbedRequest,
  type EmbedResult,
  type InferenceBackend,
  type LocalBackendOptions,
  type StepUpdate,
  type TaskName,
} from './backend.js';

/** Job kinds of the server's requests on the queue (`mplug2 worker` processes them). */
export const SERVE_KINDS = { videoqa: 'serve-videoqa', caption: 'serve-caption', embed: 'serve-embed' } as const satisfies Record<TaskName, string>;

/** A decoded video on the wire: pixel values as base64 float32 (the workers need no ffmpeg and see no upload). */
interface WireVideo {
  readonly sha256: string;
  readonly shape: number[];
  readonly pixels: string;
}

/** `stream`: the client wants the steps; the worker then reports them as the job's progress (`StepProgress`). */
type WireAsk = Omit<AskRequest, 'video'> & { readonly video: WireVideo; readonly stream?: boolean };
type WireCaption = Omit<CaptionRequest, 'video'> & { readonly video: WireVideo; readonly stream?: boolean };
type WireEmbed = { readonly video?: WireVideo; readonly texts?: readonly string[] };

function toWire(v: DecodedVideo): WireVideo {
  return { sha256: v.sha256, shape: [...v.pixels.shape], pixels: encodeFloat32(v.pixels.data) };
}

function fromWire(v: WireVideo): DecodedVideo {
  return { sha256: v.sha256, pixels: tensor('float32', ['channels', 'frames', 'height', 'width'], v.shape, decodeFloat32(v.pixels)) };
}

/** A streamed job's progress value: the step updates of one decoding step (all its questions), in order. */
interface StepProgress {
  readonly steps: readonly StepUpdate[];
}

/** A queued request failed on the workers (after the coordinator's retries): the queue's `JobFailedError` (HTTP 502). */
export { JobFailedError as QueueJobError };

export interface QueueBackendOptions extends CoordinatorOptions {
  /** Tasks to serve; default every task the model supports. */
  readonly tasks?: readonly TaskName[];
}

/**
 * Hands each request to the queue's workers (`mplug2 worker <model> --queue …`, which batch the
 * jobs they run at once) instead of running the model: the HTTP front holds no weights (it reads
 * the model's manifest for its id, tasks and input size) and scales horizontally. Uploads are
 * decoded here (bad ones are a 400 before anything is queued) and travel as pixel values.
 *
 * Each request is one job followed with `QueueCoordinator.call`, through the queue's event stream
 * (no polling per request). A streaming request's worker reports each decoding step as the job's
 * progress, forwarded as the same `StepUpdate`s the local backend gives (in order; a job retried
 * on another worker does not repeat the steps already sent). Progress goes through the Redis
 * stream BullMQ writes every job event to, not a pub/sub channel per job: a stream is read from a
 * position, so a front whose connection drops reads on where it stopped, and a job's steps and its
 * completion are entries of one stream, so the steps always arrive before the result. A client that leaves cancels its job:
 * a waiting job is removed and never runs; a running one is aborted on its worker (the model call
 * stops as with the local backend), is not retried and leaves nothing in the queue.
 */
export class QueueBackend implements InferenceBackend {
  private inFlight = 0;

  private constructor(
    readonly coordinator: QueueCoordinator,
    readonly modelId: string,
    readonly tasks: readonly TaskName[],
    readonly input: { readonly frames: number; readonly size: number },
  ) {}

  static async connect(model: string | ModelSource, url: string, options: QueueBackendOptions = {}): Promise<QueueBackend> {
    const source = typeof model === 'string' ? await openModel(model) : model;
    const cfg = source.manifest.config.model_config;
    const coordinator = await QueueCoordinator.connect(url, options);
    return new QueueBackend(coordinator, source.manifest.modelId, options.tasks ?? supportedTasks(source), {
      frames: cfg.model_num_frames,
      size: cfg.image_res,
    });
  }

  get waiting(): number {
    return this.inFlight;
  }

  private async submit<D, R>(kind: string, data: D, ctx: CallContext): Promise<R> {
    throwIfAborted(ctx.signal, kind);
    const id = jobId(kind, [this.modelId, randomUUID()]);
    const onStep = ctx.onStep;
    // Only a streaming request has its steps reported (each is a Redis write on the worker).
    const sent = new Map<number, number>();
    const onProgress = onStep
      ? (value: unknown) => {
          for (const u of (value as StepProgress | null)?.steps ?? []) {
            // A job retried after its worker died reports its steps again from the start: skip those already sent.
            if (u.step <= (sent.get(u.index) ?? -1)) continue;
            sent.set(u.index, u.step);
            onStep(u);
          }
        }
      : undefined;
    this.inFlight++;
    ctx.onStart?.();
    try {
      return await this.coordinator.call<D, R>({
        kind,
        modelId: this.modelId,
        id,
        data: onStep ? { ...data, stream: true } : data,
        signal: ctx.signal,
        onProgress,
      });
    } finally {
      this.inFlight--;
    }
  }

  ask(request: AskRequest, ctx: CallContext): Promise<QAResult[]> {
    return this.submit<WireAsk, QAResult[]>(SERVE_KINDS.videoqa, { ...request, video: toWire(request.video) }, ctx);
  }

  caption(request: CaptionRequest, ctx: CallContext): Promise<CaptionResult> {
    return this.submit<WireCaption, CaptionResult>(SERVE_KINDS.caption, { ...request, video: toWire(request.video) }, ctx);
  }

  embed(request: EmbedRequest, ctx: CallContext): Promise<EmbedResult> {
    return this.submit<WireEmbed, EmbedResult>(SERVE_KINDS.embed, request.video ? { video: toWire(request.video) } : { texts: request.texts }, ctx);
  }

  async close(): Promise<void> {
    await this.coordinator.close();
  }
}

/** Loaders of the tasks a worker serves (each called on the first job that needs it). */
export interface ServeTaskLoaders {
  readonly videoqa?: () => Promise<VideoQA>;
  readonly captioner?: () => Promise<Captioner>;
  readonly retriever?: () => Promise<Retriever>;
}

/**
 * Worker side: processors of the server's job kinds, running the jobs through a `LocalBackend`
 * per task, so the jobs a worker runs at once (`--concurrency`) share model calls.
 */
export function serveProcessors(loaders: ServeTaskLoaders, options: LocalBackendOptions = {}): Record<string, JobProcessor> {
  const backends = new Map<string, Promise<LocalBackend>>();
  const backend = (key: keyof ServeTaskLoaders) => {
    let b = backends.get(key);
    if (!b) {
      const load = loaders[key];
      // Retrying on another attempt cannot help: fail the job at once.
      if (!load) throw permanentFailure(`this worker does not serve ${key}`);
      b = load().then((task) => new LocalBackend({ [key]: task }, options));
      backends.set(key, b);
    }
    return b;
  };
  return {
    [SERVE_KINDS.videoqa]: async (raw, job) => {
      const { stream, ...r } = raw as WireAsk;
      const b = await backend('videoqa');
      return withSteps(job, stream, (ctx) => b.ask({ ...r, video: fromWire(r.video) }, ctx));
    },
    [SERVE_KINDS.caption]: async (raw, job) => {
      const { stream, ...r } = raw as WireCaption;
      const b = await backend('captioner');
      return withSteps(job, stream, (ctx) => b.caption({ ...r, video: fromWire(r.video) }, ctx));
    },
    [SERVE_KINDS.embed]: async (raw, job) => {
      const r = raw as WireEmbed;
      return (await backend('retriever')).embed(r.video ? { video: fromWire(r.video) } : { texts: r.texts ?? [] }, { signal: job.signal });
    },
  };
}

/**
 * Runs `call` with the job's signal (a cancelled job's model call stops) and, for a streaming
 * request, reports its steps as job progress: the updates of one decoding step (every question's,
 * given synchronously) go out as one progress value, so a step costs one Redis write.
 */
async function withSteps<R>(job: JobContext, stream: boolean | undefined, call: (ctx: CallContext) => Promise<R>): Promise<R> {
  if (!stream) return call({ signal: job.signal });
  let pending: StepUpdate[] = [];
  let sent: Promise<void> = Promise.resolve();
  const flush = () => {
    if (pending.length) sent = job.progress({ steps: pending } satisfies StepProgress);
    pending = [];
  };
  try {
    return await call({
      signal: job.signal,
      onStep: (u) => {
        if (pending.length === 0) queueMicrotask(flush);
        pending.push(u);
      },
    });
  } finally {
    flush();
    await sent;
  }
}
