export * from './graph.js';
export * from './module.js';
export * from './video/node.js';
