import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** A free loopback TCP port (bound and released; the caller binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

export interface RedisServerOptions {
  /** AOF with fsync on every write, so a restart keeps the queue (as a production Redis with persistence). Default false (no persistence). */
  readonly persistent?: boolean;
  /** `requirepass` (user `default`). */
  readonly password?: string;
  /** TLS only (no plain port), with a self-signed certificate for localhost made with openssl: see `caFile`. */
  readonly tls?: boolean;
}

/**
 * A real `redis-server` on a random loopback port with its own temp dir. `restart()` stops it and
 * starts it again on the same port and dir; `stop()` kills it and removes the dir. Tests call
 * `stop()` in `afterAll`, so no server outlives its test file.
 */
export class RedisServer {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const s = new RedisServer(await freePort(), mkdtempSync(path.join(tmpdir(), 'mplug2-redis-')), options);
    await s.launch();
    return s;
  }

  get url(): string {
    const scheme = this.options.tls ? 'rediss' : 'redis';
    const host = this.options.tls ? 'localhost' : '127.0.0.1'; // the certificate's name
    return this.options.password ? `${scheme}://default:${encodeURIComponent(this.options.password)}@${host}:${this.port}` : `${scheme}://${host}:${this.port}`;
  }

  /** The self-signed certificate a TLS server presents (its own CA). */
  get caFile(): string {
    return path.join(this.dir, 'cert.pem');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async launch(): Promise<void> {
    if (this.options.tls && !existsSync(this.caFile))
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          path.join(this.dir, 'key.pem'),
          '-out',
          this.caFile,
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost',
        ],
        { stdio: 'ignore' },
      );
    const ports = this.options.tls
      ? [
          '--port',
          '0',
          '--tls-port',
          String(this.port),
          '--tls-cert-file',
          this.caFile,
          '--tls-key-file',
          path.join(this.dir, 'key.pem'),
          '--tls-auth-clients',
          'no',
        ]
      : ['--port', String(this.port)];
    const args = [...ports, '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning'];
    if (this.options.persistent) args.push('--appendonly', 'yes', '--appendfsync', 'always');
    if (this.options.password) args.push('--requirepass', this.options.password);
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    this.child = child;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    for (let i = 0; i < 200; i++) {
      if (await canConnect(this.port)) return;
      const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 25))]);
      if (code !== 'running') throw new Error(`redis-server exited (${code}) on port ${this.port}: ${stderr}`);
    }
    throw new Error(`redis-server did not listen on ${this.port} within 5 s: ${stderr}`);
  }

  /** Stops the server (SIGTERM: with AOF, what was written survives). */
  async shutdown(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** Stops and starts again on the same port and dir (the AOF, if persistent, is reloaded). */
  async restart(downMs = 0): Promise<void> {
    await this.shutdown();
    if (downMs) await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.shutdown('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
