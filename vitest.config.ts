import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string, entry = 'index') => fileURLToPath(new URL(`./packages/${name}/src/${entry}.ts`, import.meta.url));

// Tests import the packages' sources directly, so a test run never depends on a stale build.
// Tests run in Node, so packages with a browser-safe `index.ts` and a Node `node.ts` resolve to the
// Node entry (as the `node` export condition does for the built packages).
export default defineConfig({
  resolve: {
    alias: {
      '@mplug2/core': pkg('core', 'node'),
      '@mplug2/vision-encoder': pkg('vision-encoder', 'node'),
      '@mplug2/text-encoder': pkg('text-encoder'),
      '@mplug2/universal': pkg('universal'),
      '@mplug2/fusion': pkg('fusion'),
      '@mplug2/decoder': pkg('decoder'),
      '@mplug2/tasks': pkg('tasks', 'node'),
      '@mplug2/server': pkg('server'),
      '@mplug2/queue': pkg('queue'),
      '@mplug2/eval': pkg('eval', 'node'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
