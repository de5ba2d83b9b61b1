// Node entry of @mplug2/vision-encoder (the `node` condition): the browser-safe `index.ts` plus
// ffmpeg/ffprobe decoding, file loaders (explicit exports replace the browser `loadVideo`/`loadImage`)
// and the embedder.
export * from './index.js';
export * from './video/node.js';
export { loadImage, loadVideo, type LoadVideoOptions, type LoadedVideo } from './video/load.js';
export * from './embed.js';
export * from './linear-probe-file.js';
