/**
 * Node-only: a directory that stands in for the browser's Cache API under `RemoteModel`, so models at
 * http(s) URLs load in Node through the same downloader (Range chunks, sha256 checks, resume) and are
 * fetched once per machine. Every entry is one file named by the sha256 of its key (RemoteModel's keys
 * carry the file's sha256, so entries are content-addressed); writes go to a temporary file first and
 * are renamed into place, so an interrupted process never leaves a half-written entry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import type { CacheLike } from './browser/remote-model.js';

/** `MPLUG2_CACHE_DIR`, else `$XDG_CACHE_HOME/mplug2`, else `~/.cache/mplug2`. */
export function defaultCacheDir(): string {
  const env = process.env;
  if (env.MPLUG2_CACHE_DIR) return path.resolve(env.MPLUG2_CACHE_DIR);
  return path.join(env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(homedir(), '.cache'), 'mplug2');
}

export class DiskCache implements CacheLike {
  /** Entries live in `<dir>/entries`. */
  constructor(readonly dir: string = defaultCacheDir()) {}

  private file(key: string): string {
    return path.join(this.dir, 'entries', createHash('sha256').update(key).digest('hex'));
  }

  async match(key: string): Promise<Response | undefined> {
    try {
      return new Response((await readFile(this.file(key))) as Uint8Array<ArrayBuffer>);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, response: Response): Promise<void> {
    const bytes = new Uint8Array(await response.arrayBuffer());
    const file = this.file(key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async delete(key: string): Promise<boolean> {
    try {
      await rm(this.file(key));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }
}
