import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportedNames, packageEntries, ROOT, workspacePackages } from './support/package-surface';

/**
 * The public surface changes only on purpose: every entry of every published package (each key of its
 * `exports` map, new packages included) is compared with tests/exports.snapshot.json, name by name
 * (values and types). After an intended change run `npm run test:update-exports` and commit the file.
 */
const SNAPSHOT = path.join(ROOT, 'tests/exports.snapshot.json');
const UPDATE = 'npm run test:update-exports';

const entries = workspacePackages()
  .filter((p) => !p.private)
  .flatMap((p) => packageEntries(p));
const actual = exportedNames(entries.map((e) => e.source));
const surface: Record<string, string[]> = Object.fromEntries(entries.map((e) => [e.entry, actual.get(e.source)!]));

if (process.env.UPDATE_EXPORTS) writeFileSync(SNAPSHOT, `${JSON.stringify(surface, null, 2)}\n`);
const snapshot: Record<string, string[]> = JSON.parse(readFileSync(SNAPSHOT, 'utf8'));

describe('public exports', () => {
  it.each(entries.map((e) => e.entry))('%s exports exactly its recorded names', (entry) => {
    expect(snapshot[entry], `${entry} is not in tests/exports.snapshot.json (a new package or entry): run \`${UPDATE}\` and commit it`).toBeDefined();
    const now = surface[entry];
    const added = now.filter((n) => !snapshot[entry].includes(n));
    const removed = snapshot[entry].filter((n) => !now.includes(n));
    expect({ added, removed }, `${entry}'s exports changed; if on purpose, run \`${UPDATE}\` and commit tests/exports.snapshot.json`).toEqual({
      added: [],
      removed: [],
    });
  });

  it('records no entry that no longer exists', () => {
    expect(
      Object.keys(snapshot).filter((e) => !(e in surface)),
      `run \`${UPDATE}\``,
    ).toEqual([]);
  });

  it('entries re-export named bindings, never `export *`', () => {
    const star = entries.filter((e) => /^\s*export \*/m.test(readFileSync(e.source, 'utf8'))).map((e) => path.relative(ROOT, e.source));
    expect(star).toEqual([]);
  });
});
