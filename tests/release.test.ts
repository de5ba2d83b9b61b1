import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, workspacePackages } from './support/package-surface';

/**
 * Packaging hygiene of every package under packages/ and the release configuration. The first release
 * is 0.1.0, the version every package carries: until it is published (no CHANGELOG.md yet), changesets
 * use the bump `none` (a `minor` would make `changeset version` publish 0.2.0 first).
 */
const packages = workspacePackages();
const published = packages.filter((p) => !p.private);
const rootJson = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

describe('packaging', () => {
  it('the repository has a LICENSE (Apache-2.0)', () => {
    expect(readFileSync(path.join(ROOT, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0/);
  });

  it.each(published.map((p) => [p.name, p] as const))('%s: license, engines, repository, LICENSE in the tarball', (_, p) => {
    expect(p.json.license).toBe('Apache-2.0');
    expect(p.json.engines?.node).toBe(rootJson.engines.node);
    expect(p.json.repository).toEqual({ type: 'git', url: rootJson.repository.url, directory: `packages/${p.dir}` });
    // npm packs a package's own LICENSE file: prepack copies the root one in (git-ignored there).
    expect(p.json.scripts?.prepack).toMatch(/LICENSE/);
    expect(p.json.files).toContain('LICENSE');
  });

  it('private packages are not versioned or tagged by changesets; the published ones move together', () => {
    const config = JSON.parse(readFileSync(path.join(ROOT, '.changeset/config.json'), 'utf8'));
    expect(config.privatePackages).toEqual({ version: false, tag: false });
    expect(config.fixed).toEqual([['@mplug2/*']]);
  });

  it('the first release is 0.1.0', () => {
    const versions = new Set(published.map((p) => p.json.version));
    const released = published.some((p) => existsSync(path.join(ROOT, 'packages', p.dir, 'CHANGELOG.md')));
    if (released) return; // after the first `changeset version`, bumps are ordinary
    expect([...versions]).toEqual(['0.1.0']);
    const bumps = readdirSync(path.join(ROOT, '.changeset'))
      .filter((f) => f.endsWith('.md') && f !== 'README.md')
      .flatMap((f) =>
        [...readFileSync(path.join(ROOT, '.changeset', f), 'utf8').matchAll(/^['"]?(@mplug2\/[a-z-]+)['"]?:\s*(\w+)\s*$/gm)]
          .filter((m) => m[2] !== 'none')
          .map((m) => `.changeset/${f}: ${m[1]} ${m[2]}`),
      );
    expect(bumps, "before the first release changesets use the bump 'none' (the packages are already at 0.1.0)").toEqual([]);
  });
});
