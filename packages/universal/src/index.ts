export * from './graph.js';
export * from './module.js';
