/** Node-only video API: everything in `./index.js` plus ffmpeg/ffprobe decoding and file loaders. */
export {
  CLIP_MEAN,
  CLIP_STD,
  nearestSourceIndex,
  normalizationTable,
  normalizeFrames,
  preprocessFrames,
  type PreprocessOptions,
  preprocessSampledFrames,
  resizeNearest,
  rgbaToRgb,
  type RgbFrame,
  type SampleAndPreprocessOptions,
  sampleFrameIndices,
  stackVideos,
  VIDEO_BATCH_DIMS,
  VIDEO_DIMS,
} from './index.js';
export {
  DEFAULT_DECODE_TIMEOUT_MS,
  DEFAULT_MAX_PIXELS,
  DEFAULT_PROBE_TIMEOUT_MS,
  VideoFrameCountError,
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
