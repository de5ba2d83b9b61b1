import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortError, InvalidOptionError, VideoDecodeError, abortable, throwIfAborted } from '@mplug2/core';
import { VideoDecodeTimeoutError, loadVideo, type LoadedVideo } from '@mplug2/vision-encoder';
import type { FastifyRequest } from 'fastify';
import type { DecodedVideo } from './backend.js';
import { UploadTooLargeError } from './errors.js';

/** A multipart form: text fields (every value of repeated names) and at most one file, written to the temp dir. */
export interface UploadForm {
  readonly fields: Map<string, string[]>;
  readonly file?: { readonly field: string; readonly filename: string; readonly path: string; readonly sha256: string; readonly bytes: number };
}

/**
 * Reads a multipart request: fields in memory (small), the file streamed to a private temp file
 * while hashing it. Past `maxUpload` bytes the read stops with `UploadTooLargeError` and the
 * partial file is removed; so is the file on any other failure.
 */
export async function readForm(request: FastifyRequest, tmpDir: string, maxUpload: number): Promise<UploadForm> {
  const fields = new Map<string, string[]>();
  let file: UploadForm['file'];
  let partial: string | undefined;
  try {
    for await (const part of request.parts({ limits: { fileSize: maxUpload, files: 1, fields: 256, fieldSize: 64 * 1024 } })) {
      if (part.type === 'field') {
        const list = fields.get(part.fieldname) ?? [];
        list.push(String(part.value));
        fields.set(part.fieldname, list);
        continue;
      }
      const target = path.join(tmpDir, randomUUID());
      partial = target;
      const hash = createHash('sha256');
      let bytes = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          bytes += chunk.length;
          cb(null, chunk);
        },
      });
      await pipeline(part.file, tap, createWriteStream(target, { mode: 0o600 }));
      if (part.file.truncated) throw new UploadTooLargeError(part.fieldname, maxUpload);
      file = { field: part.fieldname, filename: part.filename || part.fieldname, path: target, sha256: hash.digest('hex'), bytes };
    }
    return { fields, file };
  } catch (e) {
    if (partial) await rm(partial, { force: true });
    const code = (e as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw new UploadTooLargeError(file?.field ?? 'video', maxUpload);
    if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') throw new InvalidOptionError('content-type', 'send multipart/form-data (a video file and text fields)');
    if (code === 'FST_FILES_LIMIT') throw new InvalidOptionError('video', 'send one file per request');
    if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') throw new InvalidOptionError('form', 'too many fields');
    throw e;
  }
}

export interface DecoderOptions {
  /** Decodes at once. Default: the machine's cores. */
  readonly concurrency?: number;
  /** Budget of one decode (probe + decode), from when it starts; default `loadVideo`'s (300 s). */
  readonly timeoutMs?: number;
}

/**
 * `DecoderOptions` with defaults, checked; errors name the server's options (`createServer` checks
 * them with this before the model loads, since its decoder is made after).
 */
export function decoderOptions(o: DecoderOptions): { concurrency: number; timeoutMs: number | undefined } {
  const concurrency = o.concurrency ?? Math.max(1, availableParallelism());
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidOptionError('decodeConcurrency', `must be an integer >= 1, got ${concurrency}`);
  if (o.timeoutMs !== undefined && !(Number.isFinite(o.timeoutMs) && o.timeoutMs > 0))
    throw new InvalidOptionError('decodeTimeoutMs', `must be a number > 0, got ${o.timeoutMs}`);
  return { concurrency, timeoutMs: o.timeoutMs };
}

/**
 * Decodes uploaded videos with ffmpeg, at most `concurrency` at once (default: the machine's cores);
 * further decodes wait in arrival order, and ffmpeg's timeout counts from when a decode starts, so
 * a burst of uploads queues instead of overloading the CPU until decodes time out. Uploads with
 * equal bytes (sha256) decoded at the same time share one decode, which works on its own hard link
 * of the upload (a request that leaves early removes its file without breaking the others). A
 * decode whose requests have all left (their clients disconnected) is cancelled: dropped from the
 * wait, or ffmpeg killed. Decode errors name the uploaded file name, not the temp path.
 */
export class VideoDecoder {
  private readonly inFlight = new Map<string, SharedDecode>();
  private readonly queued: (() => void)[] = [];
  private active = 0;
  readonly concurrency: number;
  /** Budget of one decode (probe + decode), from when it starts; default `loadVideo`'s (300 s). */
  readonly timeoutMs: number | undefined;

  constructor(
    private readonly input: { readonly frames: number; readonly size: number },
    options: DecoderOptions = {},
  ) {
    ({ concurrency: this.concurrency, timeoutMs: this.timeoutMs } = decoderOptions(options));
  }

  /** Decodes running now. */
  get running(): number {
    return this.active;
  }

  /** Decodes waiting for a free slot. */
  get waiting(): number {
    return this.queued.length;
  }

  /** The upload's pixel values; `signal` (the client's) stops this request's wait, and the decode once nobody waits for it. */
  async decode(file: NonNullable<UploadForm['file']>, signal?: AbortSignal): Promise<DecodedVideo> {
    throwIfAborted(signal, `decoding ${file.filename}`);
    let shared = this.inFlight.get(file.sha256);
    // A decode cancelled a moment ago (its last request left) is settling: start a new one.
    if (!shared || shared.cancel.signal.aborted) {
      const cancel = new AbortController();
      shared = { users: 0, cancel, result: this.start(file, cancel.signal) };
      this.inFlight.set(file.sha256, shared);
      const forget = () => this.inFlight.get(file.sha256) === shared && this.inFlight.delete(file.sha256);
      shared.result.then(forget, forget);
    }
    const entry = shared;
    entry.users++;
    try {
      return { sha256: file.sha256, pixels: (await abortable(entry.result, signal, `decoding ${file.filename}`)).pixelValues };
    } finally {
      // The last request to leave before the decode settled cancels it (a no-op once it settled).
      if (--entry.users === 0) {
        if (this.inFlight.get(file.sha256) === entry) this.inFlight.delete(file.sha256);
        entry.cancel.abort(signal?.reason);
      }
    }
  }

  private async start(file: NonNullable<UploadForm['file']>, signal: AbortSignal): Promise<LoadedVideo> {
    const own = `${file.path}.decode`;
    await link(file.path, own);
    try {
      await this.slot(signal, file.filename);
      try {
        return await loadVideo(own, { numFrames: this.input.frames, size: this.input.size, signal, timeoutMs: this.timeoutMs });
      } finally {
        this.release();
      }
    } catch (e) {
      if (e instanceof VideoDecodeTimeoutError) throw new VideoDecodeTimeoutError(file.filename, e.tool, e.timeoutMs);
      if (e instanceof VideoDecodeError) {
        const message = e.message.split(own).join(file.filename);
        throw new VideoDecodeError(file.filename, message.startsWith(`${file.filename}: `) ? message.slice(file.filename.length + 2) : message, undefined, {
          cause: e,
        });
      }
      throw e;
    } finally {
      await rm(own, { force: true });
    }
  }

  /** Waits for a free decode slot (in arrival order), or rejects with `AbortError` when `signal` aborts first. */
  private slot(signal: AbortSignal, what: string): Promise<void> {
    throwIfAborted(signal, `decoding ${what}`);
    if (this.active < this.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const take = () => {
        signal.removeEventListener('abort', leave);
        this.active++;
        resolve();
      };
      const leave = () => {
        const at = this.queued.indexOf(take);
        if (at >= 0) this.queued.splice(at, 1);
        reject(new AbortError(`decoding ${what}`, signal.reason));
      };
      signal.addEventListener('abort', leave, { once: true });
      this.queued.push(take);
    });
  }

  private release(): void {
    this.active--;
    this.queued.shift()?.();
  }
}

interface SharedDecode {
  /** Requests waiting for this decode. */
  users: number;
  readonly cancel: AbortController;
  readonly result: Promise<LoadedVideo>;
}

/** One or more values of a text field. */
export function textFields(form: UploadForm, name: string): string[] {
  return (form.fields.get(name) ?? []).map((s) => s.trim()).filter((s) => s.length > 0);
}

/** An optional integer field in [min, max]. */
export function intField(form: UploadForm, name: string, min: number, max: number): number | undefined {
  const raw = form.fields.get(name);
  if (!raw?.length) return undefined;
  const n = Number(raw[raw.length - 1]);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidOptionError(name, `'${raw[raw.length - 1]}' is not an integer in [${min}, ${max}]`);
  return n;
}
