import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidOptionError, VideoDecodeError } from '@mplug2/core';
import { loadVideo, type LoadedVideo } from '@mplug2/vision-encoder';
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

/**
 * Decodes uploaded videos with ffmpeg; uploads with equal bytes (sha256) being decoded at the same
 * time share one decode. Decode errors name the uploaded file name, not the temp path.
 */
export class VideoDecoder {
  private readonly inFlight = new Map<string, Promise<LoadedVideo>>();

  constructor(private readonly input: { readonly frames: number; readonly size: number }) {}

  // No abort signal: a decode may be shared by requests of several clients, and it is short.
  async decode(file: NonNullable<UploadForm['file']>): Promise<DecodedVideo> {
    let p = this.inFlight.get(file.sha256);
    if (!p) {
      p = loadVideo(file.path, { numFrames: this.input.frames, size: this.input.size }).catch((e: unknown) => {
        if (e instanceof VideoDecodeError) {
          const message = e.message.split(file.path).join(file.filename);
          throw new VideoDecodeError(file.filename, message.startsWith(`${file.filename}: `) ? message.slice(file.filename.length + 2) : message, undefined, {
            cause: e,
          });
        }
        throw e;
      });
      this.inFlight.set(file.sha256, p);
      const forget = () => this.inFlight.delete(file.sha256);
      p.then(forget, forget);
    }
    return { sha256: file.sha256, pixels: (await p).pixelValues };
  }
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
