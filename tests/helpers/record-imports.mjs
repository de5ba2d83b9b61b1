// `node --import ./tests/helpers/record-imports.mjs …`: writes every module URL the process resolves to the
// file named by MPLUG2_IMPORTS_LOG, one per line (what a command loads at start-up; tests/cli-first-run.test.ts).
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(process.env.MPLUG2_IMPORTS_LOG ?? '/dev/null')}, r.url + '\\n');
  return r;
}`)}`,
);
