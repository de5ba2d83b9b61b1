export * from './convert.js';
export * from './presets.js';
export * from './parity.js';
