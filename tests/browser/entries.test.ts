import { existsSync } from 'node:fs';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * Every package's browser entry must bundle for the browser: no Node built-in (static or dynamic
 * import), no onnxruntime-node. Checked twice: from the sources (what `index.ts` files reach) and
 * through the built packages' `exports` (the `browser` condition must pick `dist/index.js`).
 * A failure here usually means a Node-only export was added to a package's `src/index.ts`: export it
 * from `src/node.ts` instead (core, vision-encoder, tasks), which re-exports the browser entry.
 */
const ROOT = path.resolve(__dirname, '../..');
// Every browser-safe entry: each package's main entry, plus subpaths (`core/onnx`: the graph builder).
const PACKAGES = ['core', 'core/onnx', 'vision-encoder', 'text-encoder', 'universal', 'fusion', 'decoder', 'tasks', 'converter', 'eval'];
/** The source and built file of an entry (`<pkg>` or `<pkg>/<subpath>`). */
const entryFiles = (entry: string) => {
  const [pkg, sub] = entry.split('/');
  return {
    pkg,
    src: path.join(ROOT, 'packages', pkg, sub ? `src/${sub}/index.ts` : 'src/index.ts'),
    dist: path.join(ROOT, 'packages', pkg, `dist/${sub ?? 'index'}.js`),
  };
};

const FORBIDDEN = /^(node:|fs$|fs\/|path$|os$|child_process$|crypto$|zlib$|url$|worker_threads$|stream$)|onnxruntime-node|@lancedb/;

/** Resolves `@mplug2/<pkg>` to its source entry, and records every import esbuild resolves. */
function sourcesPlugin(seen: { importer: string; path: string }[]): Plugin {
  return {
    name: 'mplug2-sources',
    setup(b) {
      b.onResolve({ filter: /^@mplug2\/[a-z-]+(\/onnx)?$/ }, (args) => ({ path: entryFiles(args.path.slice('@mplug2/'.length)).src }));
      b.onResolve({ filter: /.*/ }, (args) => {
        seen.push({ importer: path.relative(ROOT, args.importer), path: args.path });
        return undefined;
      });
    },
  };
}

async function bundle(entry: string | { contents: string }, fromSources: boolean): Promise<{ importer: string; path: string }[]> {
  const seen: { importer: string; path: string }[] = [];
  await build({
    ...(typeof entry === 'string' ? { entryPoints: [entry] } : { stdin: { contents: entry.contents, resolveDir: ROOT, loader: 'js' as const } }),
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    logLevel: 'silent',
    // onnxruntime-web is a browser package; it is resolved (checked to exist) but not re-bundled here.
    external: ['onnxruntime-web', 'onnxruntime-common'],
    absWorkingDir: ROOT,
    // Ignore the root tsconfig.json `paths` (they map @mplug2/* to the Node entries for typechecking).
    tsconfigRaw: '{}',
    plugins: fromSources
      ? [sourcesPlugin(seen)]
      : [
          {
            name: 'record',
            setup: (b) => b.onResolve({ filter: /.*/ }, (a) => (seen.push({ importer: path.relative(ROOT, a.importer), path: a.path }), undefined)),
          },
        ],
  });
  return seen;
}

describe.each(PACKAGES)('@mplug2/%s in a browser bundle', (pkg) => {
  it('its source entry reaches no Node built-in and no onnxruntime-node', async () => {
    const { src } = entryFiles(pkg);
    const seen = await bundle(src, true);
    const bad = seen.filter((s) => FORBIDDEN.test(s.path));
    expect(bad, `Node-only imports reachable from ${path.relative(ROOT, src)}`).toEqual([]);
  });

  it('its package exports pick the browser entry of the build', async () => {
    const { dist } = entryFiles(pkg);
    expect(existsSync(dist), `${dist} is missing: run npm run build`).toBe(true);
    const seen = await bundle({ contents: `export * from '@mplug2/${pkg}';\n` }, false);
    expect(seen.filter((s) => FORBIDDEN.test(s.path))).toEqual([]);
    expect(seen.some((s) => s.path === `@mplug2/${pkg}`)).toBe(true);
  });
});
