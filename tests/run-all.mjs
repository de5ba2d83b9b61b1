// `npm test` after the build: the Node suite, the browser suite and the format check, each run to the end
// (one failing does not hide the others), then the summed "N passed, N failed, N skipped" line.
// Exits non-zero when any step exits non-zero (vitest exits 1 on failed tests AND on unhandled errors,
// which its JSON report does not count), is killed by a signal (a crashed run), leaves no report, or
// its report says it failed.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from './report-summary.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');

const runs = [
  { name: 'node suite', report: 'test-report.json', args: [] },
  { name: 'browser suite', report: 'test-report-browser.json', args: ['-c', 'vitest.browser.config.ts'] },
];

const problems = [];

/** Runs one child to the end with inherited output; records a problem for any non-zero exit or signal. */
function step(name, command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.error) problems.push(`${name}: could not start (${r.error.message})`);
  else if (r.signal) problems.push(`${name}: crashed (killed by ${r.signal})`);
  else if (r.status !== 0) problems.push(`${name}: exited with code ${r.status}`);
}

for (const run of runs) {
  rmSync(path.join(root, run.report), { force: true });
  step(run.name, process.execPath, [vitest, 'run', ...run.args, '--reporter=default', '--reporter=json', `--outputFile.json=${run.report}`]);
}
step('format check', process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', 'format:check']);

const summary = summarize(runs.map((r) => path.join(root, r.report)));
problems.push(...summary.problems);
for (const p of problems) console.error(`[npm test] ${p}`);
console.log(summary.line);
process.exit(problems.length === 0 && summary.failed === 0 ? 0 : 1);
