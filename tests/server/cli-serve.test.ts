import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoModel } from '../helpers/demo-model';
import { runCli } from '../helpers/cli';
import { formData, readEvents } from '../helpers/http';
import { CLI_BIN, CliProcesses, exitCode, until } from '../helpers/processes';

/** A request on a new connection (no pool): resolves with the status, or the connection error's code. */
function freshGet(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('mplug2 serve options', () => {
  it('bad options are usage errors (exit 2) naming the option, before anything loads or listens', async () => {
    for (const [args, option] of [
      [['--max-upload', '12X'], '--max-upload'],
      [['--tasks', 'videoqa,translate'], '--tasks'],
      [['--port', '70000'], '--port'],
      [['--max-batch', '0'], '--max-batch'],
      [['--decode-concurrency', '0'], '--decode-concurrency'],
      [['--decode-timeout-ms', 'soon'], '--decode-timeout-ms'],
      [['--queue', 'http://example.com'], '--queue'],
    ] as const) {
      const r = await runCli(['serve', '/nonexistent-model', ...args]);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(option);
    }
  });
});

describe('mplug2 serve (the built CLI as a child process)', () => {
  const procs = new CliProcesses();
  afterAll(() => procs.killAll());

  it('SIGTERM: stops accepting connections, finishes the in-flight request, exits 0', async () => {
    expect(existsSync(CLI_BIN), `${CLI_BIN} missing: build the packages first (npx turbo run build)`).toBe(true);
    const serve = procs.start(['serve', await demoModel(), '--port', '0', '--threads', '1', '--max-wait-ms', '0']);
    const base = await until(
      'serve to be ready',
      () => {
        if (serve.child.exitCode !== null) throw new Error(`serve exited ${serve.child.exitCode}: ${serve.stderr}`);
        const line = serve.stdout.split('\n').find((l) => l.startsWith('{'));
        return line ? (JSON.parse(line).listening as string) : undefined;
      },
      120_000,
    );
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await freshGet(`${base}/health`)).toBe(200);

    const res = await fetch(`${base}/v1/caption`, {
      method: 'POST',
      body: formData({
        video: path.resolve(__dirname, '../../packages/cli/assets/sample.mp4'),
        fields: [
          ['min_length', '40'],
          ['max_length', '40'],
        ],
      }),
      headers: { accept: 'text/event-stream' },
    });
    let firstStep!: () => void;
    const stepped = new Promise<void>((r) => (firstStep = r));
    const events = readEvents(res, (e) => void (e.event === 'step' && firstStep()));
    await stepped;
    serve.child.kill('SIGTERM');
    // New connections are refused while the in-flight request still streams (a request on a
    // connection accepted just before the close may get Fastify's 503).
    let refused: number | string = 200;
    for (let i = 0; i < 50 && typeof refused === 'number'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      refused = await freshGet(`${base}/health`);
    }
    expect(refused).toBe('ECONNREFUSED');
    const all = await events;
    expect(all.at(-1)!.event).toBe('result');
    expect(all.at(-1)!.data.results[0].ids.length).toBe(41);
    expect(await exitCode(serve, 0)).toBe(0);
    expect(serve.stderr).toContain('SIGTERM, draining');
  }, 300_000);
});
