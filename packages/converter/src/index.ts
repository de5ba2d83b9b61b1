// Browser-safe entry of @mplug2/converter (default and `browser` condition): the presets and parity,
// which also run in a browser (a converted model served over HTTP against fixtures read by Range
// requests: tests/browser/backends.browser.ts). Converting checkpoints and writing synthetic ones need
// files: `node.ts` (the `node` condition).

// Released mPLUG-2 configurations by name (`mplug2 convert --preset`).
export { PRESETS } from './presets.js';
// Parity: reference inputs through a converted model, every module boundary and generated id compared.
export { FixtureFile, FLOAT_TOLERANCE, flattenHypotheses, type ParityEntry, ParityRecorder, type ParityReport, runParity } from './parity.js';
