import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The built `mplug2` binary (npm test builds the packages first). */
export const CLI_BIN = path.resolve(__dirname, '../../packages/cli/dist/bin.js');

/** A child process of the built CLI, with its output and the JSON lines (`--json` events) it wrote to stderr. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly events: Record<string, unknown>[];
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

/**
 * Starts and tracks CLI child processes; `killAll()` (in `afterAll`) SIGKILLs every one still
 * running, whatever a test did, so none outlives its test file.
 */
export class CliProcesses {
  private readonly running = new Set<ChildProcess>();

  start(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.running.add(child);
    const p: CliProcess = {
      child,
      events: [],
      stdout: '',
      stderr: '',
      exited: new Promise((resolve) => child.once('exit', (code) => (this.running.delete(child), resolve(code)))),
    };
    child.stdout!.on('data', (d) => (p.stdout += String(d)));
    let partial = '';
    child.stderr!.on('data', (d) => {
      p.stderr += String(d);
      const lines = (partial + String(d)).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith('{')) p.events.push(JSON.parse(line));
    });
    return p;
  }

  killAll(): void {
    for (const c of this.running) c.kill('SIGKILL');
  }
}

/**
 * The exit code, with the process's stderr when it is not `expected`: a failed assertion in CI
 * then says why the child exited as it did (its typed error), not only the code.
 */
export async function exitCode(p: CliProcess, expected: number | null): Promise<number | null | string> {
  const code = await p.exited;
  return code === expected ? code : `exit ${code}${p.child.signalCode ? ` (${p.child.signalCode})` : ''}; stderr:\n${p.stderr.slice(-4000)}`;
}

/** Polls `probe` every 20 ms until it returns a truthy value (or rejects after `timeoutMs`). */
export async function until<T>(what: string, probe: () => T | undefined | false | null, timeoutMs = 40_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `mplug2 worker` processes on one queue (short lock and stalled-check times, so a killed worker's job moves on within ~3 s). */
export async function startWorkers(procs: CliProcesses, model: string, url: string, queueName: string, n: number, extra: string[] = []): Promise<CliProcess[]> {
  const ws = Array.from({ length: n }, () =>
    procs.start(['worker', model, '--queue', url, '--queue-name', queueName, '--lock-ms', '2000', '--stalled-ms', '1000', '--json', ...extra]),
  );
  for (const w of ws) {
    await until('a worker to be ready', () => {
      if (w.child.exitCode !== null) throw new Error(`worker exited: ${w.stderr}`);
      return w.events.some((e) => e.type === 'ready');
    });
  }
  return ws;
}

/** SIGTERM (finish the job in flight) and wait. */
export async function stopWorkers(ws: readonly CliProcess[]): Promise<void> {
  for (const w of ws) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  await Promise.all(ws.map((w) => w.exited));
}

/** Job ids the workers reported completed (with repeats, if a job ran twice). */
export function completedJobs(ws: readonly CliProcess[]): string[] {
  return ws.flatMap((w) => w.events.filter((e) => e.type === 'completed').map((e) => String(e.jobId)));
}

/** The first job reported active by any of `ws`, and the worker holding it. */
export function firstActive(ws: readonly CliProcess[]): { worker: CliProcess; job: string } | undefined {
  for (const w of ws) {
    const e = w.events.find((x) => x.type === 'active');
    if (e) return { worker: w, job: String(e.jobId) };
  }
  return undefined;
}
