// Reads the vitest JSON reports (the Node suite and the browser suite) into the one plain closing line CI
// reads: "N passed, N failed, N skipped". As a script (`node tests/report-summary.mjs a.json b.json`) it
// prints that line and exits non-zero when any run failed or left no report; tests/run-all.mjs imports it.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Sums the reports; `problems` lists every report that is missing or says the run did not succeed. */
export function summarize(files) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const problems = [];
  for (const file of files) {
    if (!existsSync(file)) {
      problems.push(`no test report ${file}: that vitest run did not finish`);
      continue;
    }
    const r = JSON.parse(readFileSync(file, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests + r.numTodoTests;
    // `success` is false for failed tests and suites; unhandled errors only show in vitest's exit code,
    // which tests/run-all.mjs checks separately.
    if (!r.success) problems.push(`${file}: the run did not succeed (${r.numFailedTestSuites} failed suite(s), ${r.numFailedTests} failed test(s))`);
  }
  return { passed, failed, skipped, line: `${passed} passed, ${failed} failed, ${skipped} skipped`, problems };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = summarize(process.argv.slice(2));
  for (const p of s.problems) console.error(p);
  console.log(s.line);
  process.exit(s.problems.length === 0 && s.failed === 0 ? 0 : 1);
}
