/** Node-only video API: everything in `./index.js` plus ffmpeg/ffprobe decoding and file loaders. */
export * from './index.js';
export {
  DEFAULT_DECODE_TIMEOUT_MS,
  DEFAULT_MAX_PIXELS,
  DEFAULT_PROBE_TIMEOUT_MS,
  VideoFrameCountError,
  checkFfmpeg,
  decodeFrames,
  probeVideo,
  type DecodeOptions,
  type DecodeResult,
  type DecodeStats,
  type FfmpegBinaries,
  type ProbeOptions,
  type VideoInfo,
} from './ffmpeg.js';
export { loadImage, loadVideo, type LoadVideoOptions, type LoadedVideo } from './load.js';
