import { InvalidOptionError } from '@mplug2/core';
// @mplug2/queue (BullMQ, ioredis) is imported when a queue is used: every other command starts without it.
import type { QueueCoordinator, QueueProgress } from '@mplug2/queue';
import { intOption, progressBar, type CommandContext } from '../cli.js';

/** Options every queue-aware command takes (coordinators and workers). */
export const QUEUE_CONNECTION_OPTIONS = {
  queue: { type: 'string' },
  'queue-name': { type: 'string' },
  'reconnect-ms': { type: 'string' },
} as const;

/** Coordinator options: how jobs are retried. */
export const QUEUE_COORDINATOR_OPTIONS = {
  ...QUEUE_CONNECTION_OPTIONS,
  attempts: { type: 'string' },
  'backoff-ms': { type: 'string' },
} as const;

export const QUEUE_COORDINATOR_USAGE =
  '[--queue redis://[user:password@]host:port [--queue-name mplug2] [--attempts 3] [--backoff-ms 1000] [--reconnect-ms 60000]]';

export async function queueConnection(values: Record<string, unknown>): Promise<{ url: string; queueName: string; retryForMs: number }> {
  const url = values.queue as string | undefined;
  if (!url) throw new InvalidOptionError('--queue', 'is required (redis://[user:password@]host:port or rediss://… for TLS)');
  const { DEFAULT_QUEUE_NAME, parseQueueUrl } = await import('@mplug2/queue');
  parseQueueUrl(url); // a typed error naming --queue now, before anything loads
  const queueName = (values['queue-name'] as string | undefined) ?? DEFAULT_QUEUE_NAME;
  if (!/^[A-Za-z0-9_.-]+$/.test(queueName)) throw new InvalidOptionError('--queue-name', `'${queueName}' may only contain letters, digits, '_', '.' and '-'`);
  return { url, queueName, retryForMs: intOption(values, 'reconnect-ms', 60_000, 0)! };
}

export async function connectCoordinator(values: Record<string, unknown>): Promise<QueueCoordinator> {
  const { url, ...rest } = await queueConnection(values);
  const { QueueCoordinator } = await import('@mplug2/queue');
  return QueueCoordinator.connect(url, { ...rest, attempts: intOption(values, 'attempts', 3), backoffMs: intOption(values, 'backoff-ms', 1000, 0) });
}

/** The progress bar of a coordinator: done/total, with the queue's waiting and active counts. */
export function queueProgress(ctx: CommandContext, label: string): (p: QueueProgress) => void {
  const bar = progressBar(ctx.stderr, label);
  return (p) => bar(p.done + p.failed, p.total, `waiting ${p.waiting} active ${p.active} done ${p.done} failed ${p.failed}`);
}
