export * from './graph.js';
export * from './decoder.js';
