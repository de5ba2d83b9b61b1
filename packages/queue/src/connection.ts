import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError } from '@mplug2/core';
import { QueueUnavailableError } from './errors.js';

/** A parsed `redis://` / `rediss://` address; `display` is safe to print (the password is masked). */
export interface QueueAddress {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
  /** The URL with the password replaced by `***`. */
  readonly display: string;
}

const MASK = '***';

/**
 * Parses `redis://[user[:password]@]host[:port][/db]` and `rediss://…` (TLS). Errors never contain
 * the password: they name the masked URL.
 */
export function parseQueueUrl(url: string, option = '--queue'): QueueAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidOptionError(option, `'${maskUrlText(url)}' is not a URL (expected redis://[user:password@]host[:port][/db] or rediss://… for TLS)`);
  }
  const display = maskUrl(u);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new InvalidOptionError(option, `'${display}': scheme must be redis:// or rediss:// (TLS), got ${u.protocol}//`);
  if (!u.hostname) throw new InvalidOptionError(option, `'${display}' names no host`);
  const port = u.port ? Number(u.port) : 6379;
  const dbPart = u.pathname.replace(/^\/+/, '');
  const db = dbPart === '' ? 0 : Number(dbPart);
  if (!Number.isInteger(db) || db < 0) throw new InvalidOptionError(option, `'${display}': database '${dbPart}' is not an integer >= 0`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:',
    display,
  };
}

function maskUrl(u: URL): string {
  if (!u.password) return u.href;
  const c = new URL(u.href);
  c.password = MASK;
  return c.href;
}

/** A URL that could not be parsed: everything before its last '@' (credentials) is masked. */
function maskUrlText(s: string): string {
  const at = s.lastIndexOf('@');
  return at < 0 ? s : `${MASK}@${s.slice(at + 1)}`;
}

/** Replaces every occurrence of the address's password (raw and URL-encoded) in `text`. */
export function redact(text: string, address: Pick<QueueAddress, 'password'>): string {
  const p = address.password;
  if (!p) return text;
  let out = text;
  for (const form of new Set([p, encodeURIComponent(p)])) out = out.split(form).join(MASK);
  return out;
}

export interface ConnectOptions {
  /**
   * How long to keep retrying while Redis is unreachable — when connecting, and again each time a
   * connection drops — before failing with `QueueUnavailableError`. Default 60 000 ms.
   */
  readonly retryForMs?: number;
  /**
   * Extra TLS settings for `rediss://` (e.g. `{ ca }` for a private CA). The CLI has none: it trusts
   * the system CAs plus `NODE_EXTRA_CA_CERTS`, as any Node program does.
   */
  readonly tls?: TlsOptions;
}

/** Delay before reconnect attempt `times` (1-based): exponential from 100 ms, capped at 2 s. */
function retryDelay(times: number): number {
  return Math.min(100 * 2 ** Math.min(times - 1, 10), 2000);
}

/** ioredis retry strategy that gives up (null) once the summed delays pass `retryForMs`. */
export function boundedRetry(retryForMs: number): (times: number) => number | null {
  return (times) => {
    let waited = 0;
    for (let i = 1; i < times; i++) waited += retryDelay(i);
    return waited >= retryForMs ? null : Math.min(retryDelay(times), Math.max(retryForMs - waited, 1));
  };
}

export function redisOptions(address: QueueAddress, options: ConnectOptions = {}): RedisOptions {
  const retryForMs = options.retryForMs ?? 60_000;
  if (!(retryForMs >= 0)) throw new InvalidOptionError('retryForMs', `must be >= 0, got ${retryForMs}`);
  return {
    host: address.host,
    port: address.port,
    db: address.db,
    username: address.username,
    password: address.password,
    tls: address.tls ? { servername: address.host, ...options.tls } : undefined,
    // BullMQ's blocking commands need this: a command waits for the reconnect instead of failing.
    maxRetriesPerRequest: null,
    retryStrategy: boundedRetry(retryForMs),
    connectTimeout: Math.min(10_000, Math.max(retryForMs, 1000)),
    lazyConnect: true,
  };
}

/**
 * A connection to the queue's Redis, connected (or a `QueueUnavailableError` after the bounded
 * retries). It also watches the connection for the whole run: once a dropped connection cannot be
 * re-established within `retryForMs`, `failure` resolves with the error (BullMQ's own connections,
 * duplicated from this one, retry on the same schedule).
 */
export class QueueConnection {
  private constructor(
    readonly address: QueueAddress,
    readonly client: Redis,
    readonly failure: Promise<QueueUnavailableError>,
    private readonly state: { failed: QueueUnavailableError | null; lastError: string },
  ) {}

  static async open(url: string | QueueAddress, options: ConnectOptions = {}): Promise<QueueConnection> {
    const address = typeof url === 'string' ? parseQueueUrl(url) : url;
    const client = new Redis(redisOptions(address, options));
    const state = { failed: null as QueueUnavailableError | null, lastError: '' };
    client.on('error', (e: Error) => {
      state.lastError = redact(e.message, address);
    });
    const failure = new Promise<QueueUnavailableError>((resolve) => {
      client.once('end', () => {
        state.failed = new QueueUnavailableError(address.display, state.lastError || 'connection closed', options.retryForMs ?? 60_000);
        resolve(state.failed);
      });
    });
    const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
    client.connect().catch(() => undefined); // failures arrive as 'error' / 'end' events
    const first = await Promise.race([ready.then(() => null), failure]);
    if (first) throw first;
    return new QueueConnection(address, client, failure, state);
  }

  /** The error once the connection is given up, else null. */
  get failed(): QueueUnavailableError | null {
    return this.state.failed;
  }

  async close(): Promise<void> {
    if (this.client.status === 'end') return;
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
