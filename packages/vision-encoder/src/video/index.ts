/** Browser-safe video preprocessing (no Node built-ins): sampling, resize, normalisation, batching. */
export { sampleFrameIndices } from './sampling.js';
export {
  CLIP_MEAN,
  CLIP_STD,
  VIDEO_BATCH_DIMS,
  VIDEO_DIMS,
  nearestSourceIndex,
  normalizationTable,
  normalizeFrames,
  preprocessFrames,
  preprocessSampledFrames,
  resizeNearest,
  rgbaToRgb,
  stackVideos,
  type PreprocessOptions,
  type RgbFrame,
  type SampleAndPreprocessOptions,
} from './transform.js';
