import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidOptionError, Mplug2Error, type LoadProgressEvent } from '@mplug2/core';

export interface CommandContext {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WriteStream | NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly verbose: boolean;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** One line per option for `--help` (option name without dashes → description); see also `option-help.ts`. */
  readonly optionHelp?: Readonly<Record<string, string>>;
  run(args: { positionals: string[]; values: Record<string, unknown> }, ctx: CommandContext): Promise<number | void>;
}

/** Parses `argv` for one command; unknown options and missing values are typed errors naming the option. */
export function parseCommandArgs(cmd: Command, argv: string[]): { positionals: string[]; values: Record<string, unknown> } {
  try {
    const { positionals, values } = parseArgs({
      args: argv,
      options: { ...cmd.options, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { positionals, values };
  } catch (e) {
    const msg = (e as Error).message;
    const m = /'(-{1,2}[^' ]+)/.exec(msg);
    throw new InvalidOptionError(m ? m[1] : cmd.name, `${msg.replace(/\. To specify.*$/s, '')} (usage: ${cmd.usage})`);
  }
}

/** Reads a positive integer option. */
export function intOption(values: Record<string, unknown>, name: string, fallback?: number, min = 1): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new InvalidOptionError(`--${name}`, `'${String(raw)}' is not an integer >= ${min}`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };

/** A size option: plain bytes or a binary suffix (`64K`, `512M`, `1G` = KiB, MiB, GiB). */
export function parseByteSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(text.trim());
  const bytes = m ? Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()]) : NaN;
  if (!(bytes > 0) || !Number.isSafeInteger(bytes))
    throw new InvalidOptionError(option, `'${text}' is not a positive size (bytes, or with a K/M/G suffix: 64K, 512M, 1G)`);
  return bytes;
}

export function requirePositional(cmd: Command, positionals: string[], index: number, what: string): string {
  const v = positionals[index];
  if (v === undefined) throw new InvalidOptionError(what, `missing (usage: ${cmd.usage})`);
  return v;
}

/** A one-line progress bar on a terminal; silent when stderr is not a TTY (piped, CI). */
export function progressBar(stream: CommandContext['stderr'], label: string): (done: number, total: number, detail?: string) => void {
  const tty = (stream as NodeJS.WriteStream).isTTY;
  if (!tty) return () => undefined;
  return (done, total, detail) => {
    const width = 24;
    const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
    const columns = Math.max((stream as NodeJS.WriteStream).columns || 100, 40) - 1;
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}${detail ? ` ${detail}` : ''}`;
    stream.write(`\r${line.slice(0, columns).padEnd(Math.min(columns, 100))}`);
    if (done >= total) stream.write('\n');
  };
}

/** Error fields the CLI prints: a stable code and a one-line message. */
export function describeError(e: unknown): { code: string; message: string; expected: boolean } {
  // One line: multi-line details (e.g. a tool's stderr) are joined.
  const oneLine = (s: string) => s.trim().replace(/\s*\n\s*/g, '; ');
  if (e instanceof Mplug2Error) return { code: e.code, message: oneLine(e.message), expected: true };
  // File-system errors name the path and say what is wrong, without Node's "ENOENT: ..., open '…'" wrapper.
  const errno = e as NodeJS.ErrnoException;
  if (errno && typeof errno.code === 'string' && typeof errno.syscall === 'string') {
    const what = ERRNO_TEXT[errno.code] ?? oneLine(errno.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, ''));
    return { code: errno.code, message: errno.path ? `${errno.path}: ${what}` : what, expected: errno.code in ERRNO_TEXT };
  }
  return { code: 'UNEXPECTED', message: oneLine((e as Error)?.message ?? String(e)), expected: false };
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a component of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EEXIST: 'already exists',
};

/** The one line printed for an error: plain text, or with `json` a JSON object `{ "error": { code, message } }`. */
export function formatError(e: unknown, verbose: boolean, json = false): string {
  const d = describeError(e);
  if (json) return JSON.stringify({ error: { code: d.code, message: d.message, ...(verbose ? { stack: (e as Error)?.stack } : {}) } });
  if (verbose) return (e as Error)?.stack ?? String(e);
  return d.expected ? `mplug2: ${d.message}` : `mplug2: unexpected error: ${d.message} (run with --verbose for details)`;
}

/** One progress bar per task stage (decode, encode, generate); silent when not on a terminal. */
export function stageProgress(stream: CommandContext['stderr']): (e: { stage: string; done: number; total: number }) => void {
  const bars = new Map<string, ReturnType<typeof progressBar>>();
  return (e) => {
    let bar = bars.get(e.stage);
    if (!bar) bars.set(e.stage, (bar = progressBar(stream, e.stage.padEnd(8))));
    bar(e.done, e.total);
  };
}

/** Model load progress for a terminal: one bar over the bytes of a download (models at URLs), in MiB; silent otherwise. */
export function loadProgress(stream: CommandContext['stderr']): (e: LoadProgressEvent) => void {
  const bar = progressBar(stream, 'download');
  const mib = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
  return (e) => {
    if (e.stage === 'download' && e.totalBytes > 0) bar(mib(e.loadedBytes), mib(e.totalBytes), 'MiB');
  };
}
