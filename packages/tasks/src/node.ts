// Node entry of @mplug2/tasks (the `node` condition): the browser-safe `index.ts` plus the
// converter, synthetic checkpoints and retrieval (files, native vector store).
export * from './index.js';
export * from './convert.js';
export * from './synthetic/index.js';
export * from './store.js';
export * from './retrieval.js';
export { isHttpUrl, sha256Url, withDownloaded } from './remote-video.js';
