// Browser-safe entry of @mplug2/core (the package's default and `browser` condition): nothing here
// may import a Node built-in, statically or dynamically. Node-only APIs (files, model directories)
// are exported by `node.ts` (the `node` condition), which re-exports everything below.
// `tests/browser/entries.test.ts` bundles this entry for the browser and fails on any Node import.
export * from './errors.js';
export * from './tensor.js';
export * from './ports.js';
export * from './config.js';
export * from './onnx/index.js';
export * from './runtime/session.js';
export * from './runtime/device.js';
export * from './runtime/gather.js';
export * from './manifest.js';
export * from './model-source.js';
export * from './module.js';
export * from './composer.js';
export * from './dims.js';
export * from './util.js';
export * from './checkpoint/readers.js';
export * from './safetensors-write.js';
export * from './probe.js';
export * from './browser/remote-model.js';
export * from './browser/open.js';
export { abortable, controlledLoad, type LoadControlOptions, type LoadProgressEvent, type SessionLoadProgress } from './load-control.js';
