// What a new user meets first: the linked bin, --version, per-option help, one-line (or JSON) errors, a closed pipe,
// and the demo's ffmpeg check. The bin tests run the built CLI (`npm run build` first), like tests/cli.test.ts.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../packages/cli/src/index';
import { commandHelp } from '../packages/cli/src/option-help';
import { runCli } from './helpers/cli';
import { GOLDENS } from './helpers/golden';

const run = promisify(execFile);
const SHIM = path.resolve(__dirname, '../packages/cli/bin/mplug2.js');
const CHECKPOINT = path.join(GOLDENS, 'videoqa_tiny', 'checkpoint.pth');

describe('mplug2 --version and --help', () => {
  it('--version prints the package version', async () => {
    const version = JSON.parse(readFileSync(path.resolve(__dirname, '../packages/cli/package.json'), 'utf8')).version;
    for (const flag of ['--version', '-V']) expect(await runCli([flag])).toEqual({ code: 0, out: `${version}\n`, err: '' });
  });

  it('every option of every command has a description in its --help', () => {
    for (const cmd of COMMANDS) {
      const help = commandHelp(cmd);
      // Only the option lines (the usage line names most options too).
      const optionLines = help.split('\n').slice(help.split('\n').indexOf('options:') + 1);
      expect(optionLines.length, `${cmd.name} --help has an options section`).toBeGreaterThan(1);
      for (const name of [...Object.keys(cmd.options), 'verbose', 'help']) {
        const line = optionLines.find((l) => l.includes(`--${name} `) || l.endsWith(`--${name}`));
        expect(line, `${cmd.name} --${name}`).toBeDefined();
        expect(line!.replace(/^\s*(-\w, )?--\S+( <value>)?/, '').trim().length, `${cmd.name} --${name} has no description`).toBeGreaterThan(5);
      }
    }
  });

  it('--help of a command with --backend lists cuda', async () => {
    const { code, out } = await runCli(['qa', '--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/--backend <value> +execution backend: auto \(cpu in Node\), cpu, wasm, webgpu, cuda/);
  });
});

describe('start-up', () => {
  it('qa / caption / --version start without the queue, server and eval stacks (imported only by the commands that use them)', async () => {
    const log = path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-imports-')), 'imports.txt');
    await run(process.execPath, ['--import', path.resolve(__dirname, 'helpers/record-imports.mjs'), SHIM, '--version'], {
      env: { ...process.env, MPLUG2_IMPORTS_LOG: log },
    });
    const urls = readFileSync(log, 'utf8').split('\n');
    // The command table itself was loaded (the check sees the CLI's own modules)...
    expect(urls.some((u) => /packages\/cli\/dist\/chunk-[\w-]+\.js$/.test(u))).toBe(true);
    expect(urls.some((u) => /packages\/tasks\/dist\//.test(u))).toBe(true);
    // ...but none of the stacks only `serve`, `worker`, `eval` and `--queue` need.
    expect(urls.filter((u) => /\/(bullmq|ioredis|fastify|prom-client)\/|packages\/(queue|server|eval)\//.test(u))).toEqual([]);
  });
});

describe('errors are one line', () => {
  it('inspect <directory> names the directory (not "unexpected error: EISDIR")', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-cli-dir-'));
    const { code, err } = await runCli(['inspect', dir]);
    expect(code).toBe(1);
    expect(err).toBe(`mplug2: ${dir}: is a directory; pass a .pth or .safetensors file\n`);
  });

  it('a missing file names the path without the errno wrapper', async () => {
    const file = path.join(tmpdir(), 'mplug2-no-such-file.pth');
    const { code, err } = await runCli(['inspect', file]);
    expect(code).toBe(1);
    expect(err).toBe(`mplug2: ${file}: no such file or directory\n`);
  });

  it('with --json the error is one JSON line on stderr with a stable code', async () => {
    const bad = await runCli(['qa', 'model', 'v.mp4', '--json']);
    expect(bad.code).toBe(2);
    expect(bad.out).toBe('');
    expect(bad.err.endsWith('\n') && bad.err.trim().split('\n')).toHaveLength(1);
    const parsed = JSON.parse(bad.err);
    expect(parsed.error.code).toBe('INVALID_OPTION');
    expect(parsed.error.message).toMatch(/^option '--question': is required/);
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-cli-dir-'));
    expect(JSON.parse((await runCli(['inspect', dir, '--json'])).err).error.code).toBe('CHECKPOINT_FORMAT');
  });
});

describe('mplug2 demo without ffmpeg', () => {
  it('fails first, before creating anything, with the install hint', async () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-demo-noffmpeg-')), 'model');
    const saved = process.env.MPLUG2_FFMPEG;
    process.env.MPLUG2_FFMPEG = '/nonexistent/ffmpeg';
    try {
      const { code, err } = await runCli(['demo', '--out', out]);
      expect(code).toBe(1);
      expect(err.trim().split('\n')).toHaveLength(1);
      expect(err).toMatch(/ffmpeg not found \(tried '\/nonexistent\/ffmpeg'\).*apt-get install ffmpeg/);
      expect(existsSync(out)).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.MPLUG2_FFMPEG;
      else process.env.MPLUG2_FFMPEG = saved;
    }
  });
});

describe('the committed bin shim (packages/cli/bin/mplug2.js)', () => {
  it('runs the build: --version', async () => {
    const { stdout } = await run(process.execPath, [SHIM, '--version']);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('without a build it says in one line how to make one', async () => {
    const pkg = mkdtempSync(path.join(tmpdir(), 'mplug2-shim-'));
    mkdirSync(path.join(pkg, 'bin'));
    copyFileSync(SHIM, path.join(pkg, 'bin', 'mplug2.js'));
    const r = await run(process.execPath, [path.join(pkg, 'bin', 'mplug2.js'), '--version']).catch((e) => e);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('mplug2: the CLI is not built yet (packages/cli/dist is missing): run `npm run build` in the repository root\n');
  });

  it('a reader that closes the pipe early (| head -2) ends quietly, exit 0, no EPIPE trace', async () => {
    // Repeat the output so it outgrows the pipe buffer: the write after head exits must hit EPIPE.
    const { stdout, stderr } = await run('bash', [
      '-o',
      'pipefail',
      '-c',
      `"${process.execPath}" "${SHIM}" inspect "${CHECKPOINT}" | head -2; for i in 1 2 3 4 5 6 7 8; do "${process.execPath}" "${SHIM}" inspect "${CHECKPOINT}"; done | head -1 >/dev/null`,
    ]);
    expect(stdout.split('\n').slice(0, 2)[0]).toMatch(/checkpoint\.pth: pth, wrapper model, 333 tensors/);
    expect(stdout.trim().split('\n')).toHaveLength(2);
    expect(stderr).toBe('');
  });
});
