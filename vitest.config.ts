import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string, entry = 'index') => fileURLToPath(new URL(`./packages/${name}/src/${entry}.ts`, import.meta.url));

// Tests import the packages' sources directly, so a test run never depends on a stale build.
// Tests run in Node, so packages with a browser-safe `index.ts` and a Node `node.ts` resolve to the
// Node entry (as the `node` export condition does for the built packages).
export default defineConfig({
  resolve: {
    // Exact matches (regexes): a plain '@mplug2/core' key would also rewrite '@mplug2/core/onnx'.
    alias: [
      { find: /^@mplug2\/core\/onnx$/, replacement: pkg('core', 'onnx/index') },
      { find: /^@mplug2\/core$/, replacement: pkg('core', 'node') },
      { find: /^@mplug2\/vision-encoder$/, replacement: pkg('vision-encoder', 'node') },
      { find: /^@mplug2\/text-encoder$/, replacement: pkg('text-encoder') },
      { find: /^@mplug2\/universal$/, replacement: pkg('universal') },
      { find: /^@mplug2\/fusion$/, replacement: pkg('fusion') },
      { find: /^@mplug2\/decoder$/, replacement: pkg('decoder') },
      { find: /^@mplug2\/tasks$/, replacement: pkg('tasks', 'node') },
      { find: /^@mplug2\/converter$/, replacement: pkg('converter', 'node') },
      { find: /^@mplug2\/testing$/, replacement: pkg('testing') },
      { find: /^@mplug2\/server$/, replacement: pkg('server') },
      { find: /^@mplug2\/queue$/, replacement: pkg('queue') },
      { find: /^@mplug2\/eval$/, replacement: pkg('eval', 'node') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    // One temporary directory per run, removed at its end (see the file).
    globalSetup: ['tests/helpers/run-tmpdir.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
