import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUN_TMPDIR_PREFIX } from './helpers/run-tmpdir';

describe('test run temporary directory', () => {
  it("tests and their child processes write temporary files under the run's own directory (removed when the run ends)", () => {
    const dir = tmpdir();
    expect(path.basename(dir).startsWith(RUN_TMPDIR_PREFIX)).toBe(true);
    expect(existsSync(dir)).toBe(true);
    expect(process.env.TMPDIR).toBe(dir);
  });
});
