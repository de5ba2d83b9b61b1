/**
 * Random-access byte sources. Checkpoints are read by (position, length) ranges only; nothing
 * reads a whole file. Browser-safe: the file source (Node's `fs`) lives in `file-source.ts`, the
 * HTTP Range source in `url-source.ts`.
 */
import { CheckpointFormatError } from '../errors.js';

/** The largest single read handed to the underlying source (Node's fs limit is 2 GiB - 1). */
export const MAX_READ_CHUNK = 1 << 30;

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads up to `dst.length` bytes starting at `position` into `dst` and returns how many were read
   * (fewer only at the end of the data). `dst.length` is never above {@link MAX_READ_CHUNK}.
   */
  read(dst: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/** An in-memory source (tests, browser `File` contents already in memory, fuzzing). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    async read(dst, position) {
      if (position >= bytes.length) return 0;
      const n = Math.min(dst.length, bytes.length - position);
      dst.set(bytes.subarray(position, position + n));
      return n;
    },
    async close() {},
  };
}

/** Where a read happens, for error messages. */
export interface ReadContext {
  readonly file: string;
  readonly entry?: string;
}

/** Checks that [position, position + length) lies inside the source, before anything is allocated. */
export function checkRange(src: ByteSource, position: number, length: number, ctx: ReadContext, what: string): void {
  if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0)
    throw new CheckpointFormatError(ctx.file, ctx.entry, `${what}: invalid byte range (position ${position}, length ${length})`);
  if (position + length > src.size)
    throw new CheckpointFormatError(ctx.file, ctx.entry, `truncated: ${what} needs bytes ${position}..${position + length} but the file has ${src.size} bytes`);
}

/** Fills `dst` from `position`, in chunks of at most `chunkBytes`. */
export async function readInto(src: ByteSource, dst: Uint8Array, position: number, ctx: ReadContext, what: string, chunkBytes = MAX_READ_CHUNK): Promise<void> {
  checkRange(src, position, dst.length, ctx, what);
  const chunk = Math.max(1, Math.min(chunkBytes, MAX_READ_CHUNK));
  for (let done = 0; done < dst.length; ) {
    const n = Math.min(chunk, dst.length - done);
    const got = await src.read(dst.subarray(done, done + n), position + done);
    if (got !== n)
      throw new CheckpointFormatError(ctx.file, ctx.entry, `truncated: unexpected end of file at byte ${position + done + got} while reading ${what}`);
    done += n;
  }
}

/** Reads exactly `length` bytes at `position` (range checked before allocating). */
export async function readExact(src: ByteSource, position: number, length: number, ctx: ReadContext, what: string): Promise<Uint8Array> {
  checkRange(src, position, length, ctx, what);
  const out = new Uint8Array(length);
  await readInto(src, out, position, ctx, what);
  return out;
}
