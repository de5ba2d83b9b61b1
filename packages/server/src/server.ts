import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import multipart from '@fastify/multipart';
import { InvalidOptionError, Mplug2Error, type Backend } from '@mplug2/core';
import type { CaptionResult, ModelInput, QAResult } from '@mplug2/tasks';
import { VideoDecodeTimeoutError } from '@mplug2/vision-encoder';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { LocalBackend, type CallContext, type InferenceBackend, type ServerTasks, type StepUpdate, type TaskName } from './backend.js';
import { NotServedError, QueueFullError, UnauthorizedError, UploadTooLargeError } from './errors.js';
import { ServerMetrics } from './metrics.js';
import { QueueBackend, QueueJobError, type QueueBackendOptions } from './queue-backend.js';
import { openApiDocument } from './openapi.js';
import { VideoDecoder, decoderOptions, intField, readForm, textFields, type UploadForm } from './uploads.js';

export interface ServerOptions {
  /** onnxruntime backend for a model the server loads. Default `auto`. */
  readonly backend?: Backend | 'auto';
  /** Intra-op threads for a model the server loads. */
  readonly threads?: number;
  /** Tasks to load from a model; default every task the model supports. */
  readonly tasks?: readonly TaskName[];
  /** Most questions / videos / texts per model call. Default 8. */
  readonly maxBatch?: number;
  /** Longest wait for more requests before a call runs anyway (ms). Default 10. */
  readonly maxWaitMs?: number;
  /** Requests admitted and waiting beyond which new ones get 429. Default 64. */
  readonly maxQueue?: number;
  /**
   * Uploads decoded (ffmpeg) at once; more wait in arrival order, holding their admission slot.
   * Default: the machine's cores (`os.availableParallelism()`).
   */
  readonly decodeConcurrency?: number;
  /**
   * Longest decode of one upload, from when it starts (ms); past it ffmpeg is killed and the request
   * gets 503 (the file may be fine: the machine may be too loaded). Default 300 000.
   */
  readonly decodeTimeoutMs?: number;
  /** Largest upload in bytes (413 beyond). Default 256 MiB. */
  readonly maxUpload?: number;
  /** When set, every route but `/health` needs `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Fastify's logger option. Default off. */
  readonly logger?: boolean;
  /**
   * Hand requests to the workers of this queue (`redis://…`, or the URL with coordinator options)
   * instead of running the model here; `model` must then be a model location or `ModelSource`.
   */
  readonly queue?: string | ({ readonly url: string } & QueueBackendOptions);
}

/** The Fastify instance, plus the model load and the metrics. `close()` drains and releases the model. */
export type Mplug2Server = FastifyInstance & {
  /** Resolves once the model is loaded (`/health` answers 200 from then on); rejects if it failed. */
  readonly modelLoaded: Promise<void>;
  readonly metrics: ServerMetrics;
  /** The private directory uploads are written to (removed on close). */
  readonly uploadDir: string;
};

function isBackend(x: unknown): x is InferenceBackend {
  return typeof x === 'object' && x !== null && 'ask' in x && 'caption' in x && 'embed' in x && 'waiting' in x;
}

function isTasks(x: unknown): x is ServerTasks {
  return typeof x === 'object' && x !== null && ('videoqa' in x || 'captioner' in x || 'retriever' in x) && !('manifest' in x);
}

function sameToken(header: string | undefined, token: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return header !== undefined && timingSafeEqual(digest(header), digest(`Bearer ${token}`));
}

/** HTTP status of an error the handlers throw. */
function statusOf(e: unknown): number {
  if (e instanceof QueueFullError) return 429;
  if (e instanceof UploadTooLargeError) return 413;
  if (e instanceof UnauthorizedError) return 401;
  if (e instanceof NotServedError) return e.status;
  if (e instanceof QueueJobError) return 502;
  // A decode that ran out of time says nothing certain about the upload (a loaded machine decodes slowly): 503, not 400.
  if (e instanceof VideoDecodeTimeoutError) return 503;
  if (e instanceof Mplug2Error)
    return e.code === 'ABORTED' ? 499 : e.code === 'VIDEO_DECODE' || e.code === 'INVALID_OPTION' ? 400 : e.code === 'QUEUE_UNAVAILABLE' ? 503 : 500;
  const s = (e as { statusCode?: number }).statusCode;
  return typeof s === 'number' && s >= 400 && s < 600 ? s : 500;
}

function errorBody(e: unknown): { error: { code: string; message: string } } {
  const code = (e as { code?: unknown }).code;
  return { error: { code: typeof code === 'string' ? code : 'INTERNAL', message: (e as Error)?.message ?? String(e) } };
}

function qaJson(r: QAResult) {
  return { question: r.question, answer: r.answer, ids: r.ids, score: r.score, ...(r.ranked ? { ranked: r.ranked } : {}), timings: r.timings };
}

function captionJson(video: string, r: CaptionResult) {
  return { video, caption: r.caption, ids: r.ids, score: r.score, timings: r.timings };
}

/**
 * An HTTP server for a model: `POST /v1/videoqa`, `/v1/caption`, `/v1/embed` (multipart uploads),
 * `GET /health`, `/metrics` (Prometheus), `/openapi.json`. `model` is a model location, tasks
 * already loaded, or any `InferenceBackend`. The model loads in the background (`modelLoaded`);
 * call `listen()` on the result. Concurrent requests are batched (see `LocalBackend`).
 */
export function createServer(model: ModelInput | ServerTasks | InferenceBackend, options: ServerOptions = {}): Mplug2Server {
  const maxQueue = options.maxQueue ?? 64;
  const maxUpload = options.maxUpload ?? 256 * 1024 ** 2;
  const maxBatch = options.maxBatch ?? 8;
  if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new InvalidOptionError('maxQueue', `must be an integer >= 1, got ${maxQueue}`);
  if (!Number.isInteger(maxUpload) || maxUpload < 1) throw new InvalidOptionError('maxUpload', `must be an integer >= 1, got ${maxUpload}`);
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new InvalidOptionError('maxBatch', `must be an integer >= 1, got ${maxBatch}`);
  if (options.maxWaitMs !== undefined && !(Number.isFinite(options.maxWaitMs) && options.maxWaitMs >= 0))
    throw new InvalidOptionError('maxWaitMs', `must be a number >= 0, got ${options.maxWaitMs}`);
  const decoding = decoderOptions({ concurrency: options.decodeConcurrency, timeoutMs: options.decodeTimeoutMs });
  if (options.token !== undefined && options.token.length === 0) throw new InvalidOptionError('token', 'must not be empty');

  const app = Fastify({ logger: options.logger ?? false, forceCloseConnections: 'idle', bodyLimit: 1024 ** 2 });
  // Uploads live in a directory only this process can read, removed as soon as they are decoded.
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'mplug2-serve-'));
  let admitted = 0;
  let callSeconds = 1;
  let decoder: VideoDecoder | undefined;
  const metrics = new ServerMetrics(
    () => admitted,
    () => ({ running: decoder?.running ?? 0, waiting: decoder?.waiting ?? 0 }),
  );
  let backend: InferenceBackend | undefined;
  let loadError: unknown;
  const onReport = (r: Parameters<ServerMetrics['batch']>[0]) => {
    metrics.batch(r);
    if (r.rows > 0 && !r.aborted) callSeconds = 0.8 * callSeconds + 0.2 * r.seconds;
  };
  const modelLoaded = (async () => {
    if (options.queue !== undefined) {
      if (typeof model !== 'string' && (isBackend(model) || isTasks(model)))
        throw new InvalidOptionError('queue', 'needs a model location (or ModelSource), not loaded tasks or a backend');
      const { url, ...queue } = typeof options.queue === 'string' ? { url: options.queue } : options.queue;
      backend = await QueueBackend.connect(model, url, { ...queue, tasks: queue.tasks ?? options.tasks });
    } else
      backend = isBackend(model)
        ? model
        : isTasks(model)
          ? new LocalBackend(model, { maxBatch, maxWaitMs: options.maxWaitMs, onReport })
          : await LocalBackend.load(model, {
              maxBatch,
              maxWaitMs: options.maxWaitMs,
              onReport,
              backend: options.backend,
              threads: options.threads,
              tasks: options.tasks,
            });
    decoder = new VideoDecoder(backend.input, decoding);
  })();
  modelLoaded.catch((e: unknown) => {
    loadError = e;
    app.log.error(e);
  });

  app.decorate('modelLoaded', modelLoaded);
  app.decorate('metrics', metrics);
  app.decorate('uploadDir', tmpDir);
  void app.register(multipart, { limits: { fileSize: maxUpload, files: 1 } });

  app.setErrorHandler((e, _request, reply) => {
    const status = statusOf(e);
    if (e instanceof QueueFullError) void reply.header('retry-after', String(e.retryAfterS));
    if (status === 413) void reply.header('connection', 'close');
    if (status >= 500) app.log.error(e);
    void reply.code(status).send(errorBody(e));
  });
  app.setNotFoundHandler((request, reply) => void reply.code(404).send(errorBody(new NotServedError(request.url, 'no such route', 404))));

  app.addHook('onRequest', async (request) => {
    if (options.token !== undefined && request.url !== '/health' && !sameToken(request.headers.authorization, options.token)) throw new UnauthorizedError();
  });
  // Streamed (hijacked) responses record their own status: errors travel inside the event stream.
  const streamed = new WeakSet<FastifyRequest>();
  app.addHook('onResponse', async (request, reply) => {
    if (streamed.has(request)) return;
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });
  app.addHook('onClose', async () => {
    await backend?.close();
    rmSync(tmpDir, { recursive: true, force: true });
  });

  function ready(route: string, task: TaskName): { backend: InferenceBackend; decoder: VideoDecoder } {
    if (loadError) throw new NotServedError(route, `the model failed to load: ${(loadError as Error).message}`, 503);
    if (!backend || !decoder) throw new NotServedError(route, 'the model is still loading', 503);
    if (!backend.tasks.includes(task)) throw new NotServedError(route, `this model does not serve '${task}' (it serves: ${backend.tasks.join(', ')})`, 404);
    return { backend, decoder };
  }

  /** Admission: a request holds a queue slot from before its upload is read until its model call starts. */
  function admit(request: FastifyRequest): () => void {
    if (admitted >= maxQueue) throw new QueueFullError(admitted, maxQueue, Math.max(1, Math.ceil(callSeconds * (admitted / maxBatch + 1))));
    const length = Number(request.headers['content-length']);
    // Form overhead (boundaries, fields) is small: a body this much larger than maxUpload is refused unread.
    if (Number.isFinite(length) && length > maxUpload + 1024 ** 2) throw new UploadTooLargeError('video', maxUpload);
    admitted++;
    let held = true;
    return () => {
      if (held) admitted--;
      held = false;
    };
  }

  /** The request's signal: aborted when its client disconnects before the response is complete. */
  function clientSignal(reply: FastifyReply): AbortSignal {
    const controller = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort(new Error('the client disconnected'));
    });
    return controller.signal;
  }

  async function withUpload<T>(
    request: FastifyRequest,
    route: string,
    task: TaskName,
    body: (form: UploadForm, ctx: { backend: InferenceBackend; decoder: VideoDecoder; release: () => void }) => Promise<T>,
  ): Promise<T> {
    const deps = ready(route, task);
    const release = admit(request);
    let form: UploadForm | undefined;
    try {
      form = await readForm(request, tmpDir, maxUpload);
      return await body(form, { ...deps, release });
    } finally {
      release();
      if (form?.file) await rm(form.file.path, { force: true });
    }
  }

  function wantsStream(request: FastifyRequest): boolean {
    return (request.headers.accept ?? '').includes('text/event-stream');
  }

  /** Server-sent events: `step` per question and decoding step, then `result` (or `error`). */
  async function stream(
    request: FastifyRequest,
    reply: FastifyReply,
    route: string,
    work: (ctx: CallContext) => Promise<unknown>,
    release: () => void,
    signal: AbortSignal,
  ): Promise<void> {
    streamed.add(request);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => {
      if (!res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let status = 200;
    try {
      send('result', await work({ signal, onStart: release, onStep: (u: StepUpdate) => send('step', u) }));
    } catch (e) {
      status = statusOf(e);
      send('error', errorBody(e));
    } finally {
      res.end();
      metrics.requests.inc({ route, status: String(signal.aborted ? 499 : status) });
      metrics.latency.observe({ route }, reply.elapsedTime / 1000);
    }
  }

  function videoOf(form: UploadForm, route: string): NonNullable<UploadForm['file']> {
    if (!form.file) throw new InvalidOptionError('video', `${route} needs a video file in the form field 'video'`);
    if (form.file.field !== 'video') throw new InvalidOptionError(form.file.field, `unexpected file field (send the video as 'video')`);
    return form.file;
  }

  function generateParams(form: UploadForm) {
    return { beamSize: intField(form, 'beam', 1, 64), minLength: intField(form, 'min_length', 0, 512), maxLength: intField(form, 'max_length', 1, 512) };
  }

  app.get('/health', async (_request, reply) => {
    if (loadError) return reply.code(503).send({ status: 'error', ...errorBody(loadError) });
    if (!backend) return reply.code(503).send({ status: 'loading' });
    return { status: 'ok', tasks: backend.tasks, waiting: admitted };
  });

  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/openapi.json', async () => openApiDocument());

  app.post('/v1/videoqa', async (request, reply) => {
    const route = '/v1/videoqa';
    return withUpload(request, route, 'videoqa', async (form, { backend, decoder, release }) => {
      const questions = textFields(form, 'question');
      if (questions.length === 0) throw new InvalidOptionError('question', `${route} needs at least one 'question' field`);
      if (questions.length > maxBatch)
        throw new InvalidOptionError('question', `${questions.length} questions in one request; this server takes at most ${maxBatch} (maxBatch)`);
      const answers = textFields(form, 'answers');
      const params = { ...generateParams(form), answers: answers.length ? answers : undefined, k: intField(form, 'k', 1, Math.max(1, answers.length)) };
      const file = videoOf(form, route);
      const signal = clientSignal(reply);
      const video = await decoder.decode(file, signal);
      await rm(file.path, { force: true });
      const run = async (ctx: CallContext) => ({ results: (await backend.ask({ video, questions, ...params }, ctx)).map(qaJson) });
      if (wantsStream(request)) return stream(request, reply, route, run, release, signal);
      return run({ signal, onStart: release });
    });
  });

  app.post('/v1/caption', async (request, reply) => {
    const route = '/v1/caption';
    return withUpload(request, route, 'caption', async (form, { backend, decoder, release }) => {
      const params = generateParams(form);
      const file = videoOf(form, route);
      const signal = clientSignal(reply);
      const video = await decoder.decode(file, signal);
      await rm(file.path, { force: true });
      const run = async (ctx: CallContext) => ({ results: [captionJson(file.filename, await backend.caption({ video, ...params }, ctx))] });
      if (wantsStream(request)) return stream(request, reply, route, run, release, signal);
      return run({ signal, onStart: release });
    });
  });

  app.post('/v1/embed', async (request, reply) => {
    const route = '/v1/embed';
    return withUpload(request, route, 'embed', async (form, { backend, decoder, release }) => {
      const texts = textFields(form, 'text');
      if (form.file && texts.length) throw new InvalidOptionError('text', `${route} embeds a video or texts, not both in one request`);
      if (texts.length > maxBatch)
        throw new InvalidOptionError('text', `${texts.length} texts in one request; this server takes at most ${maxBatch} (maxBatch)`);
      const ctx = { signal: clientSignal(reply), onStart: release };
      if (texts.length) return backend.embed({ texts }, ctx);
      const file = videoOf(form, route);
      const video = await decoder.decode(file, ctx.signal);
      await rm(file.path, { force: true });
      return backend.embed({ video }, ctx);
    });
  });

  return app as unknown as Mplug2Server;
}
