import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Prefix of a test run's temporary directory (tests/run-tmpdir.test.ts checks the run uses one). */
export const RUN_TMPDIR_PREFIX = 'mplug2-test-run-';

/**
 * Vitest global setup: every temporary file of the run — test files' `mkdtemp(os.tmpdir())`, converted
 * models, uploads, redis-server and Chromium profiles of child processes — goes under one directory
 * (`TMPDIR`, read by `os.tmpdir()` and inherited by the test workers and their children), removed when
 * the run ends. Without it each `npm test` left ~2-3 GB of models and videos behind in the system temp
 * directory.
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(path.join(tmpdir(), RUN_TMPDIR_PREFIX));
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  };
}
