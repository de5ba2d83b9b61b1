#!/usr/bin/env node
// The `mplug2` bin is this committed file, not dist/bin.js: npm links a workspace's bin at install time only if the
// file exists then, and in a fresh clone dist/ is built after `npm ci`. Without the link, `npx mplug2` would ask the
// registry for an unrelated unscoped package. This shim runs the build, or says in one line how to make one.
import { existsSync } from 'node:fs';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write('mplug2: the CLI is not built yet (packages/cli/dist is missing): run `npm run build` in the repository root\n');
  process.exitCode = 1;
} else {
  await import(built.href);
}
