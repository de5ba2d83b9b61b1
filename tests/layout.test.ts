import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, workspacePackages } from './support/package-surface';

/**
 * The house layout, for every package under packages/ (new ones included): published packages hold
 * product code only — their sources never import vitest or the private @mplug2/testing (test files
 * `*.test.ts` / `*.testutil.ts` may), no package holds Python, and no published package depends on a
 * private one.
 */
const packages = workspacePackages();
const privateNames = packages.filter((p) => p.private).map((p) => p.name);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.name === 'node_modules' || d.name === 'dist' ? [] : d.isDirectory() ? filesUnder(path.join(dir, d.name)) : [path.join(dir, d.name)],
  );
}

const isTestFile = (f: string) => /\.(test|testutil)\.ts$/.test(f);
const importsOf = (src: string) => [...src.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((m) => m[1]);

describe.each(packages.map((p) => [p.dir, p] as const))('packages/%s', (_, pkg) => {
  const files = filesUnder(path.join(ROOT, 'packages', pkg.dir));

  it('holds no Python', () => {
    expect(files.filter((f) => f.endsWith('.py')).map((f) => path.relative(ROOT, f))).toEqual([]);
  });

  it.skipIf(pkg.private)('product sources import neither vitest nor a private package', () => {
    const bad: string[] = [];
    for (const f of files.filter((f) => /\.(ts|tsx|js|mjs)$/.test(f) && f.includes(`${path.sep}src${path.sep}`) && !isTestFile(f)))
      for (const spec of importsOf(readFileSync(f, 'utf8')))
        if (spec === 'vitest' || spec.startsWith('vitest/') || privateNames.some((n) => spec === n || spec.startsWith(`${n}/`)))
          bad.push(`${path.relative(ROOT, f)} imports ${spec}`);
    expect(bad).toEqual([]);
  });

  it.skipIf(pkg.private)('depends on no private package', () => {
    const deps = { ...pkg.json.dependencies, ...pkg.json.peerDependencies, ...pkg.json.optionalDependencies };
    expect(Object.keys(deps).filter((d) => privateNames.includes(d))).toEqual([]);
  });
});
