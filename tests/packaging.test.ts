/**
 * onnxruntime-node is an optional peer dependency of @mplug2/core (and @lancedb/lancedb, which brings another
 * onnxruntime-node through its optional @huggingface/transformers, one of @mplug2/tasks): a browser project
 * installing the packed @mplug2/tasks gets neither (nor their install scripts). Run in Node anyway, that
 * install still works on wasm (onnxruntime-web; `auto` picks it) and names the missing package for cpu / webgpu / cuda, from
 * both the ESM and the CommonJS build; the retrieval store names @lancedb/lancedb likewise. Needs the built packages (npx turbo run build; `npm test` builds first)
 * and a reachable registry (or the npm cache).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { installApp, packPackages } from './helpers/packed.mjs';

const NAMES = '{ BackendUnavailableError, ModuleSession, availableBackends, probeBackend, resolveBackend }';

/** After `importLine`: probes every backend and creates a cpu session; prints what happened as one JSON line. */
const probeScript = (importLine: string) => `${importLine}
(async () => {
  const available = await availableBackends();
  const cpuProbe = await probeBackend('cpu');
  const auto = await resolveBackend('auto');
  const created = await ModuleSession.create(new Uint8Array(0), { backend: 'cpu' }).then(
    () => ({ typed: false, message: 'created' }),
    (e) => ({ typed: e instanceof BackendUnavailableError, message: e.message, available: e.available }),
  );
  console.log(JSON.stringify({ available, cpuProbe, auto, created }));
})();
`;

/** Runs `call` (an expression giving a promise) in the installed app; returns the error's code and message ({} if none). */
function errorOf(app: string, importLine: string, call: string): { code?: string; message?: string } {
  writeFileSync(
    path.join(app, 'error-of.mjs'),
    `${importLine}\n${call}.then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));\n`,
  );
  return JSON.parse(execFileSync(process.execPath, ['error-of.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000 }).trim());
}

const PACKAGES = ['core', 'decoder', 'fusion', 'text-encoder', 'universal', 'vision-encoder', 'tasks'];

describe('@mplug2/tasks installed as in a browser project: no onnxruntime-node', () => {
  it('installs neither onnxruntime-node nor @lancedb/lancedb; in Node wasm works and cpu is a BackendUnavailableError saying to install it', async () => {
    const tarballs = packPackages(PACKAGES);
    // Every tarball carries the license text (prepack copies the root LICENSE in).
    for (const [name, spec] of Object.entries(tarballs))
      expect(execFileSync('tar', ['-tzf', spec.slice('file:'.length)], { encoding: 'utf8' }).split('\n'), `${name} has no LICENSE`).toContain(
        'package/LICENSE',
      );
    // onnxruntime-web is an optional peer of @mplug2/core: a browser project lists it, as the README says.
    const app = installApp('mplug2-browser-install', { name: 'browser-app', private: true, dependencies: { ...tarballs, 'onnxruntime-web': '1.30.0' } });
    // Every installed package, nested ones included, is in the lockfile npm wrote.
    const installed = Object.keys(JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8')).packages);
    expect(installed).toContain('node_modules/@mplug2/tasks');
    expect(installed).toContain('node_modules/onnxruntime-web');
    expect(installed.filter((p) => /(^|\/)node_modules\/(onnxruntime-node|@lancedb\/lancedb)$/.test(p))).toEqual([]);
    expect(existsSync(path.join(app, 'node_modules/onnxruntime-node'))).toBe(false);

    writeFileSync(path.join(app, 'probe.mjs'), probeScript(`import ${NAMES} from '@mplug2/core';`));
    writeFileSync(path.join(app, 'probe.cjs'), probeScript(`const ${NAMES} = require('@mplug2/core');`));
    for (const script of ['probe.mjs', 'probe.cjs']) {
      const out = execFileSync(process.execPath, [script], { cwd: app, encoding: 'utf8', timeout: 60_000 });
      const r = JSON.parse(out.trim().split('\n').pop()!);
      expect(r.available, script).toEqual(['wasm']);
      expect(r.auto, script).toBe('wasm');
      expect(r.cpuProbe, script).toMatch(/onnxruntime-node is not installed .*npm install onnxruntime-node@1\.30\.0/);
      expect(r.created.typed, script).toBe(true);
      expect(r.created.message, script).toMatch(
        /^backend 'cpu' is not available \(tried: cpu: onnxruntime-node could not be loaded: onnxruntime-node is not installed/,
      );
      expect(r.created.message, script).toContain("npm install onnxruntime-node@1.30.0`, or use backend 'wasm'");
      expect(r.created.available, script).toEqual(['wasm']);
    }

    // The retrieval store (Node entry of @mplug2/tasks) names its missing optional peer the same way.
    const store = errorOf(app, "import { LanceVectorStore } from '@mplug2/tasks';", "LanceVectorStore.open('db')");
    expect(store.code).toBe('STORE_UNAVAILABLE');
    expect(store.message).toContain('`npm install @lancedb/lancedb@0.31.0`');
  }, 240_000);
});

describe('@mplug2/cli installed as in a Node project: a lean install', () => {
  it('brings neither onnxruntime-web nor @lancedb/lancedb (nor sharp, transformers.js); the bin runs and names what a command lacks', async () => {
    const app = installApp('mplug2-cli-install', {
      name: 'node-app',
      private: true,
      dependencies: packPackages([...PACKAGES, 'converter', 'eval', 'queue', 'server', 'cli']),
    });
    const installed = Object.keys(JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8')).packages);
    expect(installed).toContain('node_modules/@mplug2/cli');
    expect(installed).toContain('node_modules/onnxruntime-node');
    expect(installed.filter((p) => /(^|\/)node_modules\/(onnxruntime-web|@lancedb\/lancedb|sharp|@huggingface\/transformers)$/.test(p))).toEqual([]);

    const bin = path.join(app, 'node_modules/.bin/mplug2');
    const version = JSON.parse(readFileSync(path.join(app, 'node_modules/@mplug2/cli/package.json'), 'utf8')).version;
    expect(execFileSync(bin, ['--version'], { cwd: app, encoding: 'utf8' })).toBe(`${version}\n`);
    const fail = (args: string[]) => {
      try {
        execFileSync(bin, args, { cwd: app, encoding: 'utf8', stdio: 'pipe' });
        return null;
      } catch (e) {
        return JSON.parse(String((e as { stderr: string }).stderr).trim()).error as { code: string; message: string };
      }
    };
    // Retrieval needs the optional @lancedb/lancedb: the store is opened first, so this fails before any model loads.
    const store = fail(['search', 'no-such-model', '--db', 'db', '--text', 'x', '--json']);
    expect(store?.code).toBe('STORE_UNAVAILABLE');
    expect(store?.message).toContain('`npm install @lancedb/lancedb@0.31.0`');
    // The wasm backend needs the optional onnxruntime-web.
    const wasm = errorOf(app, "import { ModuleSession } from '@mplug2/core';", "ModuleSession.create(new Uint8Array(0), { backend: 'wasm' })");
    expect(wasm.code).toBe('BACKEND_UNAVAILABLE');
    expect(wasm.message).toContain('onnxruntime-web is not installed');
    expect(wasm.message).toContain('`npm install onnxruntime-web@1.30.0`');
  }, 240_000);
});
