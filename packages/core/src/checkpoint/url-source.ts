/**
 * A `ByteSource` over HTTP(S) Range requests (browser, workers, Node ≥ 18 `fetch`): a checkpoint
 * or fixture file on a server is read range by range, never downloaded as a whole.
 */
import { CheckpointFormatError } from '../errors.js';
import type { ByteSource } from './source.js';

export interface UrlSourceOptions {
  /** `fetch` to use (default: the global one). */
  readonly fetch?: typeof fetch;
  /** Extra request headers (e.g. authorization). */
  readonly headers?: Record<string, string>;
}

function totalFromContentRange(v: string | null): number | null {
  const m = v?.match(/\/(\d+)\s*$/);
  return m ? Number(m[1]) : null;
}

/**
 * Opens `url` for positional reads. The size comes from the first Range response
 * (`Content-Range: bytes 0-0/size`); a server without Range support is refused with a clear error
 * (reading a multi-GB checkpoint through full downloads per read would be unusable).
 */
export async function urlSource(url: string, options: UrlSourceOptions = {}): Promise<ByteSource> {
  const f = options.fetch ?? globalThis.fetch.bind(globalThis);
  const get = async (start: number, endInclusive: number): Promise<Response> => {
    const res = await f(url, { headers: { ...options.headers, Range: `bytes=${start}-${endInclusive}` } });
    if (res.status === 416) return res;
    if (!res.ok) throw new CheckpointFormatError(url, undefined, `HTTP ${res.status} ${res.statusText}`);
    if (res.status !== 206) {
      await res.body?.cancel();
      throw new CheckpointFormatError(url, undefined, 'the server ignores HTTP Range requests (status 200 instead of 206); random access needs Range support');
    }
    return res;
  };
  const head = await get(0, 0);
  let size: number;
  if (head.status === 416) {
    size = totalFromContentRange(head.headers.get('content-range')) ?? 0; // empty file
  } else {
    const total = totalFromContentRange(head.headers.get('content-range'));
    await head.arrayBuffer();
    if (total === null) throw new CheckpointFormatError(url, undefined, 'the Range response has no Content-Range total size');
    size = total;
  }
  return {
    size,
    async read(dst, position) {
      if (position >= size || dst.length === 0) return 0;
      const end = Math.min(size, position + dst.length) - 1;
      const res = await get(position, end);
      const bytes = new Uint8Array(await res.arrayBuffer());
      const n = Math.min(bytes.length, dst.length);
      dst.set(bytes.subarray(0, n));
      return n;
    },
    async close() {},
  };
}
