import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export const ROOT = path.resolve(__dirname, '../..');

export interface WorkspacePackage {
  /** Folder under packages/. */
  readonly dir: string;
  readonly name: string;
  readonly private: boolean;
  readonly json: Record<string, any>;
}

/** Every package under packages/ (new ones included automatically). */
export function workspacePackages(): WorkspacePackage[] {
  return readdirSync(path.join(ROOT, 'packages'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(ROOT, 'packages', d.name, 'package.json')))
    .map((d) => {
      const json = JSON.parse(readFileSync(path.join(ROOT, 'packages', d.name, 'package.json'), 'utf8'));
      return { dir: d.name, name: json.name, private: json.private === true, json };
    })
    .sort((a, b) => a.dir.localeCompare(b.dir));
}

/** The first `default` file of an exports condition tree (`./dist/onnx.js`). */
function firstDefault(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (typeof o.default === 'string') return o.default;
  for (const [k, x] of Object.entries(o)) if (k !== 'types' && firstDefault(x)) return firstDefault(x);
  return null;
}

/**
 * The public entries of a package (`@mplug2/core`, `@mplug2/core/node`, `@mplug2/core/onnx`, ...) with the
 * source file each is built from (`dist/<name>.js` ← `src/<name>.ts` or `src/<name>/index.ts`, as tsup names them).
 */
export function packageEntries(pkg: WorkspacePackage): { entry: string; source: string }[] {
  const exportsMap: Record<string, unknown> = pkg.json.exports ?? { '.': pkg.json.main };
  const out: { entry: string; source: string }[] = [];
  for (const [sub, target] of Object.entries(exportsMap)) {
    if (sub === './package.json') continue;
    const file = firstDefault(target);
    if (!file) continue;
    const base = path.basename(file).replace(/\.(c|m)?js$/, '');
    const src = [`src/${base}.ts`, `src/${base}/index.ts`].map((f) => path.join(ROOT, 'packages', pkg.dir, f)).find((f) => existsSync(f));
    if (!src) throw new Error(`${pkg.name}: no source for export '${sub}' (${file})`);
    out.push({ entry: sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`, source: src });
  }
  return out;
}

/** Names (values and types, sorted; types prefixed `type `) a source entry exports, from the TypeScript checker. */
export function exportedNames(sources: string[]): Map<string, string[]> {
  const config = ts.parseJsonConfigFileContent(ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile).config, ts.sys, ROOT);
  const program = ts.createProgram(sources, { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const result = new Map<string, string[]>();
  for (const s of sources) {
    const sf = program.getSourceFile(s);
    const sym = sf && checker.getSymbolAtLocation(sf);
    if (!sym) throw new Error(`cannot read the exports of ${s}`);
    const names = checker.getExportsOfModule(sym).map((e) => {
      const target = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
      return target.flags & ts.SymbolFlags.Value ? e.getName() : `type ${e.getName()}`;
    });
    result.set(
      s,
      names.sort((a, b) => a.replace(/^type /, '').localeCompare(b.replace(/^type /, ''))),
    );
  }
  return result;
}
