import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests import the packages' sources directly, so a test run never depends on a stale build.
export default defineConfig({
  resolve: {
    alias: {
      '@mplug2/core': pkg('core'),
      '@mplug2/vision-encoder': pkg('vision-encoder'),
      '@mplug2/text-encoder': pkg('text-encoder'),
      '@mplug2/universal': pkg('universal'),
      '@mplug2/fusion': pkg('fusion'),
      '@mplug2/decoder': pkg('decoder'),
      '@mplug2/tasks': pkg('tasks'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
