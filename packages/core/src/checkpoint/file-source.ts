/** Node-only: a positional-read `ByteSource` over a file (`node:fs/promises` FileHandle). */
import { open } from 'node:fs/promises';
import type { ByteSource } from './source.js';

/** Opens a file for positional reads. Errors from the file system (ENOENT, EACCES…) propagate as they are. */
export async function fileSource(path: string): Promise<ByteSource> {
  const fh = await open(path, 'r');
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (e) {
    await fh.close();
    throw e;
  }
  let closed = false;
  return {
    size,
    async read(dst, position) {
      let done = 0;
      while (done < dst.length) {
        const { bytesRead } = await fh.read(dst, done, dst.length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done;
    },
    async close() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}
