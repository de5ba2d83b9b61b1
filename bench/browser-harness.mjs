// The browser tests' harness (Chromium flags, page bundling, the Range + COOP/COEP server) for the
// benches that drive headless Chromium (bench/browser.mjs, bench/kernels.mjs), compiled from its
// TypeScript source so the benches use the same code as the tests.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * `{ harness, cleanup }`: the compiled harness module (`openTestPage` bundles, serves and opens a page),
 * written inside the repository (node_modules/.cache) so it resolves playwright-core and esbuild.
 */
export async function loadBrowserHarness(name) {
  mkdirSync(path.join(ROOT, 'node_modules/.cache'), { recursive: true });
  const dir = mkdtempSync(path.join(ROOT, `node_modules/.cache/mplug2-bench-${name}-`));
  try {
    await build({
      entryPoints: [path.join(ROOT, 'tests/browser/harness.ts')],
      outfile: path.join(dir, 'harness.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      define: { __dirname: JSON.stringify(path.join(ROOT, 'tests/browser')) },
      logLevel: 'warning',
    });
    const harness = await import(pathToFileURL(path.join(dir, 'harness.mjs')).href);
    return { harness, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
