import type { CacheLike } from '@mplug2/core';

/** An in-memory stand-in for the browser's Cache API (RemoteModel in Node). */
export class MemoryCache implements CacheLike {
  readonly entries = new Map<string, Uint8Array>();
  async match(k: string) {
    const v = this.entries.get(k);
    return v ? new Response(v.slice()) : undefined;
  }
  async put(k: string, r: Response) {
    this.entries.set(k, new Uint8Array(await r.arrayBuffer()));
  }
  async delete(k: string) {
    return this.entries.delete(k);
  }
}
