// Browser-safe entry of @mplug2/vision-encoder (default and `browser` condition): no Node built-ins.
// `loadVideo`/`loadImage` here decode with the browser (video element / image bitmap); `node.ts`
// (the `node` condition) exports everything below plus the ffmpeg decoders under the same names.
export { buildVisionEncoderGraph, resizePositionEmbedding, VISION_PREFIX } from './graph.js';
export { loadVisionEncoder, visionEncoderPorts } from './module.js';
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
} from './video/index.js';
export {
  type BrowserLoadedVideo,
  type BrowserLoadVideoOptions,
  BrowserVideo,
  type BrowserVideoDecoder,
  type BrowserVideoInfo,
  type ByteReader,
  decodeFramesWebCodecs,
  type LoadedVideo,
  loadImage,
  loadVideo,
  type LoadVideoOptions,
  type Mp4FrameTable,
  type Mp4Samples,
  readMp4FrameTable,
  webCodecsConfig,
  webCodecsSupport,
  type WebCodecsSupport,
} from './video/browser.js';
export {
  fitLinearProbe,
  type FitProbeOptions,
  parseProbeHead,
  predictProbe,
  PROBE_FORMAT,
  type ProbeHead,
  ProbeHeadSchema,
  type ProbePrediction,
  probeProbabilities,
} from './linear-probe.js';
