import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeError, loadProgress } from './cli.js';

/** A stream that says it is a terminal, recording what is written. */
function tty(): { stream: Writable & { isTTY: boolean; columns: number }; text: () => string } {
  let out = '';
  const stream = Object.assign(new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }), { isTTY: true, columns: 100 });
  return { stream, text: () => out };
}

describe('loadProgress', () => {
  it('draws download bytes in MiB on a terminal and ignores session events', () => {
    const t = tty();
    const on = loadProgress(t.stream);
    const base = {
      stage: 'download',
      file: 'vision.weights',
      phase: 'download',
      fileTotal: 4 << 20,
      totalBytes: 4 << 20,
      filesDone: 0,
      filesTotal: 1,
    } as const;
    on({ ...base, fileBytes: 1 << 20, loadedBytes: 1 << 20 });
    on({ stage: 'session', module: 'fusion', role: 'main', done: 1, total: 2 });
    on({ ...base, fileBytes: 4 << 20, loadedBytes: 4 << 20 });
    const frames = t
      .text()
      .split('\r')
      .filter(Boolean)
      .map((f) => f.trim());
    expect(frames).toEqual(['download [######..................] 1/4 MiB', 'download [########################] 4/4 MiB']);
  });

  it('is silent when stderr is not a terminal', () => {
    let out = '';
    const on = loadProgress(new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }));
    on({ stage: 'download', file: 'f', phase: 'download', fileBytes: 1, fileTotal: 2, loadedBytes: 1, totalBytes: 2, filesDone: 0, filesTotal: 1 });
    expect(out).toBe('');
  });
});

describe('describeError', () => {
  it('turns file-system errors into the path and what is wrong, with the errno as code', () => {
    const e = Object.assign(new Error("EACCES: permission denied, open '/x/y.pth'"), { code: 'EACCES', syscall: 'open', path: '/x/y.pth' });
    expect(describeError(e)).toEqual({ code: 'EACCES', message: '/x/y.pth: permission denied', expected: true });
    expect(describeError(new TypeError('boom'))).toEqual({ code: 'UNEXPECTED', message: 'boom', expected: false });
  });
});
