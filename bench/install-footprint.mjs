// Install footprint: what `npm install` of the SDK brings into a fresh project outside the monorepo, from
// `npm pack` tarballs (as the registry would serve them). Prints a table, then one JSON line.
// usage: node bench/install-footprint.mjs [scenario...]   (scenarios: cli, tasks-node, tasks-browser)
// Needs the built packages (`npx turbo run build`) and the npm registry (or its cache).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installApp, packPackages } from '../tests/helpers/packed.mjs';

const LIBS = ['core', 'vision-encoder', 'text-encoder', 'universal', 'fusion', 'decoder', 'tasks'];
// The CLI's own workspace dependencies beyond the libraries.
const CLI_DEPS = ['converter', 'eval', 'queue', 'server'];
const SCENARIOS = {
  // `npm install @mplug2/cli`: the CLI's own dependency tree (the other tarballs stand in for the registry).
  cli: { packages: [...LIBS, ...CLI_DEPS, 'cli'], extra: {} },
  // The README's Node install: `npm install @mplug2/tasks onnxruntime-node@1.30.0`.
  'tasks-node': { packages: LIBS, extra: { 'onnxruntime-node': '1.30.0' } },
  // The README's browser install: `npm install @mplug2/tasks`.
  'tasks-browser': { packages: LIBS, extra: {} },
};

function bytesOf(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += bytesOf(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

const mb = (b) => (b / 2 ** 20).toFixed(1);
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(SCENARIOS);
const tarballs = packPackages([...LIBS, ...CLI_DEPS, 'cli']);
const results = [];
for (const name of wanted) {
  const s = SCENARIOS[name];
  if (!s) throw new Error(`unknown scenario ${name} (${Object.keys(SCENARIOS).join(', ')})`);
  const dependencies = { ...Object.fromEntries(s.packages.map((p) => [`@mplug2/${p}`, tarballs[`@mplug2/${p}`]])), ...s.extra };
  const t0 = performance.now();
  const app = installApp(`mplug2-footprint-${name}`, { name: `footprint-${name}`, private: true, dependencies }, {}, { timeout: 600_000 });
  const seconds = (performance.now() - t0) / 1000;
  const nm = path.join(app, 'node_modules');
  const lock = JSON.parse(readFileSync(path.join(app, 'package-lock.json'), 'utf8'));
  const installed = Object.keys(lock.packages).filter((p) => p.startsWith('node_modules/'));
  // Biggest packages, scoped ones by their full name.
  const top = [];
  for (const e of readdirSync(nm, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const names = e.name.startsWith('@') ? readdirSync(path.join(nm, e.name)).map((n) => `${e.name}/${n}`) : [e.name];
    for (const n of names) top.push({ name: n, bytes: bytesOf(path.join(nm, n)) });
  }
  top.sort((a, b) => b.bytes - a.bytes);
  const total = bytesOf(nm);
  const warnings = execFileSync('npm', ['install-scripts', 'ls'], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  results.push({ scenario: name, bytes: total, packages: installed.length, seconds, top: top.slice(0, 8), installScripts: warnings });
}

console.log('scenario        node_modules    packages  biggest');
for (const r of results)
  console.log(
    `${r.scenario.padEnd(15)} ${`${mb(r.bytes)} MiB`.padStart(12)}  ${String(r.packages).padStart(8)}  ${r.top
      .slice(0, 5)
      .map((t) => `${t.name} ${mb(t.bytes)}`)
      .join(', ')}`,
  );
console.log(
  JSON.stringify({
    bench: 'install-footprint',
    loadavg: os.loadavg(),
    node: process.version,
    results: results.map(({ installScripts, ...r }) => ({ ...r, installScripts: installScripts.split('\n').filter(Boolean) })),
  }),
);
