import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

// `npm run test:browser`: the suites that drive headless Chromium (system Chromium only; see
// tests/browser/harness.ts). Kept out of the default run (`*.browser.ts`) because they need a browser.
export default defineConfig({
  resolve: base.resolve,
  test: {
    include: ['tests/browser/**/*.browser.ts'],
    globalSetup: base.test?.globalSetup,
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 300_000,
  },
});
