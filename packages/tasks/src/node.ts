// Node entry of @mplug2/tasks (the `node` condition): the browser-safe `index.ts` plus retrieval
// (files, native vector store).
export * from './index.js';
export * from './store.js';
export * from './retrieval.js';
