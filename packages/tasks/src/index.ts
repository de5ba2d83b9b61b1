// Browser-safe entry of @mplug2/tasks (default and `browser` condition): no Node built-ins. Tasks
// take a model location (a URL here) or any `ModelSource` (e.g. `RemoteModel`). Node-only APIs
// (converter, synthetic checkpoints, retrieval store) are in `node.ts` (the `node` condition).
export * from './presets.js';
export * from './parity.js';
export * from './common.js';
export * from './videoqa.js';
export * from './caption.js';
export { streamSteps, type StreamEnd, type StreamStep, type StreamUpdate } from './stream.js';
