// Browser-safe entry of @mplug2/vision-encoder (default and `browser` condition): no Node built-ins.
// `loadVideo`/`loadImage` here decode with the browser (video element / image bitmap); `node.ts`
// (the `node` condition) exports everything below plus the ffmpeg decoders under the same names.
export * from './graph.js';
export * from './module.js';
export * from './video/index.js';
export * from './video/browser.js';
export * from './linear-probe.js';
