import { Readable, Writable } from 'node:stream';
import { main } from '../../packages/cli/src/index';

/** Runs the `mplug2` CLI in-process and captures its streams. */
export async function runCli(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) });
  const code = await main(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), stdin: Readable.from([stdin]) });
  return { code, out, err };
}
