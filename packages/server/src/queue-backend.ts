import { randomUUID } from 'node:crypto';
import { Mplug2Error, openModel, tensor, throwIfAborted, type ModelSource } from '@mplug2/core';
import { QueueCoordinator, decodeFloat32, encodeFloat32, jobId, permanentFailure, type CoordinatorOptions, type JobProcessor } from '@mplug2/queue';
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

type WireAsk = Omit<AskRequest, 'video'> & { readonly video: WireVideo };
type WireCaption = Omit<CaptionRequest, 'video'> & { readonly video: WireVideo };
type WireEmbed = { readonly video?: WireVideo; readonly texts?: readonly string[] };

function toWire(v: DecodedVideo): WireVideo {
  return { sha256: v.sha256, shape: [...v.pixels.shape], pixels: encodeFloat32(v.pixels.data) };
}

function fromWire(v: WireVideo): DecodedVideo {
  return { sha256: v.sha256, pixels: tensor('float32', ['channels', 'frames', 'height', 'width'], v.shape, decodeFloat32(v.pixels)) };
}

/** A queued request failed on the workers (after the coordinator's retries). */
export class QueueJobError extends Mplug2Error {
  constructor(
    readonly kind: string,
    readonly jobId: string,
    detail: string,
  ) {
    super('QUEUE_JOB_FAILED', `${kind} job ${jobId}: ${detail}`);
  }
}

export interface QueueBackendOptions extends Omit<CoordinatorOptions, 'pollMs'> {
  /** How often finished jobs are collected. Default 20 ms (a serving latency, not a batch run's). */
  readonly pollMs?: number;
  /** Tasks to serve; default every task the model supports. */
  readonly tasks?: readonly TaskName[];
}

/**
 * Hands each request to the queue's workers (`mplug2 worker <model> --queue …`, which batch the
 * jobs they run at once) instead of running the model: the HTTP front holds no weights (it reads
 * the model's manifest for its id, tasks and input size) and scales horizontally. Uploads are
 * decoded here (bad ones are a 400 before anything is queued) and travel as pixel values. No
 * per-step streaming (a streaming request gets its result event only); a client that leaves does
 * not cancel a job already queued.
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
    const coordinator = await QueueCoordinator.connect(url, { ...options, pollMs: options.pollMs ?? 20 });
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
    let result: R | undefined;
    this.inFlight++;
    ctx.onStart?.();
    try {
      const run = await this.coordinator.run<D, R>({
        kind,
        modelId: this.modelId,
        items: [{ id, data }],
        sink: async (done) => {
          result = done[0].result;
        },
      });
      if (run.failed.length) throw new QueueJobError(kind, id, run.failed[0].error);
      return result as R;
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
  const ctx = { signal: new AbortController().signal };
  return {
    [SERVE_KINDS.videoqa]: async (raw) => {
      const r = raw as WireAsk;
      return (await backend('videoqa')).ask({ ...r, video: fromWire(r.video) }, ctx);
    },
    [SERVE_KINDS.caption]: async (raw) => {
      const r = raw as WireCaption;
      return (await backend('captioner')).caption({ ...r, video: fromWire(r.video) }, ctx);
    },
    [SERVE_KINDS.embed]: async (raw) => {
      const r = raw as WireEmbed;
      return (await backend('retriever')).embed(r.video ? { video: fromWire(r.video) } : { texts: r.texts ?? [] }, ctx);
    },
  };
}
