export * from './graph.js';
export * from './decoder.js';
export * from './generation/index.js';
