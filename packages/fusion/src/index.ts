export * from './graph.js';
export * from './module.js';
export * from './heads.js';
