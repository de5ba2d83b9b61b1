import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '@mplug2/core';
import { queueConnection, queueProgress } from './queue-options.js';

/** A stream that says it is a terminal (the progress bar is silent otherwise). */
function tty(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = Object.assign(new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) }), { isTTY: true, columns: 200 });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => text };
}

describe('queue options', () => {
  it('progress on a TTY shows done/total and the queue counts: waiting, active, done, failed', () => {
    const t = tty();
    const bar = queueProgress({ stdout: t.stream, stderr: t.stream, stdin: process.stdin, verbose: false }, 'videos');
    bar({ waiting: 7, active: 3, done: 2, failed: 1, total: 12 });
    expect(t.text()).toContain('videos [');
    expect(t.text()).toContain('3/12 waiting 7 active 3 done 2 failed 1');
    bar({ waiting: 0, active: 0, done: 11, failed: 1, total: 12 });
    expect(t.text().endsWith('\n')).toBe(true);
  });

  it('--queue is required and checked; --queue-name and --reconnect-ms are validated', async () => {
    await expect(queueConnection({ queue: 'redis://h:1' })).resolves.toEqual({ url: 'redis://h:1', queueName: 'mplug2', retryForMs: 60_000 });
    await expect(queueConnection({ queue: 'rediss://h', 'queue-name': 'eval.v2', 'reconnect-ms': '0' })).resolves.toMatchObject({
      queueName: 'eval.v2',
      retryForMs: 0,
    });
    await expect(queueConnection({})).rejects.toThrow(InvalidOptionError);
    await expect(queueConnection({ queue: 'redis://h', 'queue-name': 'a:b' })).rejects.toThrow(/--queue-name/);
    await expect(queueConnection({ queue: 'redis://h', 'reconnect-ms': '-1' })).rejects.toThrow(/--reconnect-ms/);
  });
});
