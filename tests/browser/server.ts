import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/**
 * A static file server for browser tests and the web example: URL prefixes mapped to directories,
 * HTTP Range requests (video seeking and resumable model downloads need them), and COOP/COEP
 * headers so pages are cross-origin isolated (onnxruntime-web's wasm threads need
 * SharedArrayBuffer). Records every request so tests can check what was fetched.
 */
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

export interface StaticServer {
  readonly url: string;
  readonly requests: { method: string; url: string; range: string | null; status: number; bytes: number }[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /** URL prefix (starting and ending with `/`) → directory. The longest matching prefix wins. */
  readonly mounts: Record<string, string>;
  /** Disable Range support (to test fallbacks). */
  readonly noRange?: boolean;
  readonly port?: number;
  /**
   * Simulates a dropped connection: for a request this returns a number n for, the server sends the headers
   * and n bytes of the body, then destroys the socket.
   */
  readonly dropAfter?: (request: { url: string; range: string | null }) => number | undefined;
}

export function serveStatic(options: ServeOptions): Promise<StaticServer> {
  const mounts = Object.entries(options.mounts).sort((a, b) => b[0].length - a[0].length);
  const requests: StaticServer['requests'] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const rec = { method: req.method ?? 'GET', url: url.pathname, range: (req.headers.range as string | undefined) ?? null, status: 0, bytes: 0 };
    requests.push(rec);
    const send = (status: number, body = '') => {
      rec.status = status;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    };
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405);
    let pathname = decodeURIComponent(url.pathname);
    if (pathname.endsWith('/')) pathname += 'index.html';
    const mount = mounts.find(([prefix]) => pathname.startsWith(prefix));
    if (!mount) return send(404, 'no mount');
    const root = path.resolve(mount[1]);
    const file = path.resolve(root, '.' + pathname.slice(mount[0].length - 1));
    if (file !== root && !file.startsWith(root + path.sep)) return send(403);
    let size: number;
    try {
      const s = statSync(file);
      if (!s.isFile()) return send(404);
      size = s.size;
    } catch {
      return send(404);
    }
    const headers: Record<string, string | number> = {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      ...(options.noRange ? {} : { 'accept-ranges': 'bytes' }),
    };
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = options.noRange ? undefined : req.headers.range;
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (!m || (m[1] === '' && m[2] === '')) return send(416);
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(size - 1, Number(m[2]));
      }
      if (start >= size || start > end) {
        rec.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['content-length'] = size === 0 ? 0 : end - start + 1;
    rec.status = status;
    rec.bytes = size === 0 ? 0 : end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || size === 0) return res.end();
    const drop = options.dropAfter?.({ url: url.pathname, range: rec.range });
    if (drop !== undefined) {
      rec.status = -1;
      res.flushHeaders();
      createReadStream(file, { start, end: Math.min(end, start + drop - 1) })
        .on('data', (c) => res.write(c))
        .on('end', () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    createReadStream(file, { start, end }).pipe(res);
  };
  return new Promise((resolve) => {
    const server: Server = createServer(handler);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}
