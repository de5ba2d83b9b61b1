// Browser-safe entry of @mplug2/tasks (default and `browser` condition): no Node built-ins. Tasks
// take a model location (a URL here) or any `ModelSource` (e.g. `RemoteModel`). Node-only APIs
// (retrieval store, indexing files) are in `node.ts` (the `node` condition); the converter, presets,
// parity and synthetic checkpoints are in @mplug2/converter.
export * from './common.js';
export * from './videoqa.js';
export * from './caption.js';
