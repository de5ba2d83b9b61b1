// Packs workspace packages with `npm pack` and installs them into a fresh project outside the monorepo, as a
// user's project would get them. Plain ESM so both the tests (tests/*.test.ts) and bench/install-footprint.mjs
// use it. Needs the built packages (`npx turbo run build`) and the npm registry (or its cache).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `npm pack`s `packages/<name>` for each name; returns `{ '@mplug2/<name>': 'file:<tarball>' }`. */
export function packPackages(names) {
  const packDir = mkdtempSync(path.join(tmpdir(), 'mplug2-pack-'));
  return Object.fromEntries(
    names.map((p) => {
      const file = execFileSync('npm', ['pack', '--pack-destination', packDir, '--silent'], { cwd: path.join(ROOT, 'packages', p), encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop();
      return [`@mplug2/${p}`, `file:${path.join(packDir, file)}`];
    }),
  );
}

/**
 * Creates a project in a new temporary directory (never inside the monorepo), writes its package.json and
 * `files` (name → content), runs `npm install`; returns the directory. onnxruntime-node's CUDA download is skipped.
 */
export function installApp(prefix, packageJson, files = {}, options = {}) {
  const app = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  if (!path.relative(ROOT, app).startsWith('..')) throw new Error(`${app} is inside the monorepo`);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify(packageJson, null, 2));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(app, name), content);
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...(options.args ?? [])], {
    cwd: app,
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    stdio: 'pipe',
    timeout: options.timeout ?? 170_000,
  });
  return app;
}
