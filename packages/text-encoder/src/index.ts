export * from './graph.js';
export * from './module.js';
export * from './tokenizer/index.js';
export * from './heads.js';
