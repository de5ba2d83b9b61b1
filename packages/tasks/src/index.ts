export * from './convert.js';
export * from './presets.js';
export * from './parity.js';
export * from './common.js';
export * from './videoqa.js';
export * from './caption.js';
export * from './synthetic/index.js';
