import { InvalidOptionError } from '@mplug2/core';
// @mplug2/server (Fastify) is imported by this command's run: other commands start without it.
import type { TaskName } from '@mplug2/server';
import { intOption, parseByteSize, requirePositional, type Command } from '../cli.js';
import { QUEUE_COORDINATOR_OPTIONS, QUEUE_COORDINATOR_USAGE, queueConnection } from './queue-options.js';
import { backendOption } from './shared.js';

const TASKS: readonly TaskName[] = ['videoqa', 'caption', 'embed'];

function tasksOption(values: Record<string, unknown>): TaskName[] | undefined {
  const raw = values.tasks as string | undefined;
  if (raw === undefined) return undefined;
  const list = raw.split(',').map((s) => s.trim());
  for (const t of list) if (!TASKS.includes(t as TaskName)) throw new InvalidOptionError('--tasks', `'${t}' is not one of ${TASKS.join(', ')}`);
  return list as TaskName[];
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a model over HTTP (videoqa, caption, embed; batching, streaming, metrics)',
  usage: `mplug2 serve <model-dir> [--port 8080] [--host 127.0.0.1] [--backend cpu|wasm|webgpu] [--threads N] [--tasks videoqa,caption,embed] [--max-batch 8] [--max-wait-ms 10] [--max-queue 64] [--decode-concurrency N] [--decode-timeout-ms 300000] [--max-upload <n|256M|1G>] [--token T] [--drain-timeout-ms 30000] ${QUEUE_COORDINATOR_USAGE}`,
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    backend: { type: 'string' },
    threads: { type: 'string' },
    tasks: { type: 'string' },
    'max-batch': { type: 'string' },
    'max-wait-ms': { type: 'string' },
    'max-queue': { type: 'string' },
    'decode-concurrency': { type: 'string' },
    'decode-timeout-ms': { type: 'string' },
    'max-upload': { type: 'string' },
    token: { type: 'string' },
    'drain-timeout-ms': { type: 'string' },
    ...QUEUE_COORDINATOR_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(this, positionals, 0, 'model-dir');
    // With --queue the workers (`mplug2 worker <model> --queue …`) run the model; this process only reads its manifest.
    const queue =
      values.queue === undefined
        ? undefined
        : { ...(await queueConnection(values)), attempts: intOption(values, 'attempts', 3), backoffMs: intOption(values, 'backoff-ms', 1000, 0) };
    const port = intOption(values, 'port', 8080, 0) as number;
    if (port > 65535) throw new InvalidOptionError('--port', `${port} is not a port number`);
    const host = (values.host as string | undefined) ?? '127.0.0.1';
    const drainMs = intOption(values, 'drain-timeout-ms', 30_000, 0) as number;
    // The token may come from the environment, so it need not show in the process list.
    const token = (values.token as string | undefined) ?? process.env.MPLUG2_SERVE_TOKEN;
    const { createServer } = await import('@mplug2/server');
    const app = createServer(dir, {
      backend: backendOption(values),
      threads: intOption(values, 'threads'),
      tasks: tasksOption(values),
      maxBatch: intOption(values, 'max-batch'),
      maxWaitMs: intOption(values, 'max-wait-ms', undefined, 0),
      maxQueue: intOption(values, 'max-queue'),
      decodeConcurrency: intOption(values, 'decode-concurrency'),
      decodeTimeoutMs: intOption(values, 'decode-timeout-ms'),
      maxUpload: values['max-upload'] === undefined ? undefined : parseByteSize(values['max-upload'] as string, '--max-upload'),
      token: token || undefined,
      queue,
    });
    const address = await app.listen({ port, host });
    ctx.stderr.write(`mplug2 serve: listening on ${address}, loading ${dir}\n`);
    // Stops on SIGTERM / SIGINT: no new connections; in-flight requests finish within the drain timeout.
    let onTerm = () => undefined as void;
    let onInt = () => undefined as void;
    const stopped = new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        ctx.stderr.write(`mplug2 serve: ${signal}, draining (up to ${drainMs} ms)\n`);
        const timer = setTimeout(() => {
          ctx.stderr.write('mplug2 serve: drain timeout, closing the remaining connections\n');
          app.server.closeAllConnections();
          resolve(1);
        }, drainMs);
        app.close().then(
          () => {
            clearTimeout(timer);
            resolve(0);
          },
          () => resolve(1),
        );
      };
      onTerm = () => stop('SIGTERM');
      onInt = () => stop('SIGINT');
      process.once('SIGTERM', onTerm);
      process.once('SIGINT', onInt);
    });
    try {
      await app.modelLoaded;
    } catch (e) {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      await app.close();
      throw e;
    }
    ctx.stdout.write(`${JSON.stringify({ listening: address, status: 'ready' })}\n`);
    return stopped;
  },
};
