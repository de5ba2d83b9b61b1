import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { VideoDecodeError } from '@mplug2/core';

/** Whether a video input is an http(s) URL (fetched) rather than a file path. */
export function isHttpUrl(input: string): boolean {
  return /^https?:\/\//i.test(input);
}

async function get(url: string): Promise<ReadableStream<Uint8Array>> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new VideoDecodeError(
      url,
      `cannot be fetched: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`,
    );
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new VideoDecodeError(url, `cannot be fetched: HTTP ${res.status} ${res.statusText}`);
  }
  return res.body;
}

/** sha256 of the bytes at `url`, streamed (nothing is kept). */
export async function sha256Url(url: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of Readable.fromWeb((await get(url)) as import('node:stream/web').ReadableStream<Uint8Array>)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Downloads `url` into a temporary file, runs `use` on it and removes it (ffmpeg then decodes a
 * local file, with the same frame indices as for a file). The content must hash to `sha256` (what
 * was planned / indexed): otherwise a `VideoDecodeError` saying it changed. Errors `use` throws
 * that name the temporary file name the URL instead.
 */
export async function withDownloaded<T>(url: string, sha256: string, use: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mplug2-video-'));
  const file = path.join(dir, `video${path.extname(new URL(url).pathname).slice(0, 8)}`);
  try {
    const h = createHash('sha256');
    const hashing = new Transform({ transform: (chunk, _e, cb) => (h.update(chunk as Buffer), cb(null, chunk)) });
    await pipeline(Readable.fromWeb((await get(url)) as import('node:stream/web').ReadableStream<Uint8Array>), hashing, createWriteStream(file));
    const got = h.digest('hex');
    if (got !== sha256) throw new VideoDecodeError(url, `content changed since it was planned (sha256 ${got.slice(0, 12)}… now, ${sha256.slice(0, 12)}… then)`);
    try {
      return await use(file);
    } catch (e) {
      if (e instanceof VideoDecodeError) e.message = e.message.split(file).join(url);
      throw e;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
