// Node entry of @mplug2/core (the package's `node` condition): everything the browser-safe
// `index.ts` exports plus the Node-only APIs (files, model directories on disk, checkpoint files).
// Explicit re-exports below replace the browser versions of the same names (`openModel`,
// `openCheckpoint`): a path means a file here, a URL in the browser build.
export * from './index.js';
export { ModelDirectory, openModel, sha256File } from './model-dir.js';
export * from './file-sink.js';
export { fileSource, openCheckpoint } from './checkpoint/index.js';
export * from './safetensors-file.js';
