/**
 * Node-only: file -> model input, composing probe, 'middle' sampling, streaming decode and the
 * reference's test transform.
 */
import { InvalidOptionError, type Tensor } from '@mplug2/core';
import {
  DEFAULT_DECODE_TIMEOUT_MS,
  VideoFrameCountError,
  decodeWithin,
  makeBudget,
  probeWithin,
  type Budget,
  type FfmpegBinaries,
  type VideoInfo,
} from './ffmpeg.js';
import { sampleFrameIndices } from './sampling.js';
import { preprocessSampledFrames } from './transform.js';

export interface LoadVideoOptions extends FfmpegBinaries {
  /** Frames the model takes (`model_num_frames`; 16 for the released large models). */
  numFrames: number;
  /** Square output side (`image_res`; 224 for the released models). */
  size: number;
  /** Budget for probing + decoding together; the running tool is killed (SIGKILL) when it runs out. Default 300 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Refuse frames with more pixels than this. Default 8192 * 8192. */
  maxPixels?: number;
  /**
   * What to do when the decoder yields fewer frames than the container reports and a sampled
   * index is among the missing ones (truncated/corrupt file):
   * - `'error'` (default): throw `VideoFrameCountError`. The reference (decord) has no defined
   *   behaviour here, so there is nothing to be faithful to.
   * - `'resample'`: sample again with `vlen` = the number of frames that did decode and decode
   *   again (a second pass; deterministic, since the decoder is). `frameIndices` and
   *   `info.frameCount` then describe the decodable frames.
   */
  onShortDecode?: 'error' | 'resample';
}

export interface LoadedVideo {
  /** float32 `(channels=3, frames=numFrames, height=size, width=size)`. */
  pixelValues: Tensor<'float32'>;
  /** Source frame index of every output frame (padding repeats the last index). */
  frameIndices: number[];
  info: VideoInfo;
}

function checkLoadOptions(o: LoadVideoOptions): void {
  if (!o || typeof o !== 'object') throw new InvalidOptionError('options', 'needs {numFrames, size}');
  for (const k of ['numFrames', 'size'] as const)
    if (!Number.isSafeInteger(o[k]) || o[k] < 1) throw new InvalidOptionError(k, `must be an integer >= 1, got ${String(o[k])}`);
  if (o.onShortDecode !== undefined && o.onShortDecode !== 'error' && o.onShortDecode !== 'resample')
    throw new InvalidOptionError('onShortDecode', `must be 'error' or 'resample', got ${String(o.onShortDecode)}`);
}

async function decodeAndTransform(file: string, frameIndices: number[], info: VideoInfo, o: LoadVideoOptions, budget: Budget): Promise<LoadedVideo> {
  const { frames } = await decodeWithin(file, frameIndices, { ...o, info, resize: { width: o.size, height: o.size } }, budget);
  return { pixelValues: preprocessSampledFrames(frames, { size: o.size }), frameIndices, info };
}

/**
 * Loads a video the way the reference's test datasets do: `vlen` = the container's frame count,
 * `numFrames` indices by 'middle' sampling, those frames decoded (RGB, native size), nearest
 * resized to `size x size` and CLIP-normalised. Images work too (a 1-frame video).
 */
export async function loadVideo(file: string, options: LoadVideoOptions): Promise<LoadedVideo> {
  checkLoadOptions(options);
  const budget = makeBudget(options.timeoutMs, DEFAULT_DECODE_TIMEOUT_MS);
  const info = await probeWithin(file, options, budget);
  const frameIndices = sampleFrameIndices(options.numFrames, info.frameCount);
  try {
    return await decodeAndTransform(file, frameIndices, info, options, budget);
  } catch (e) {
    if (!(e instanceof VideoFrameCountError) || options.onShortDecode !== 'resample' || e.decodedFrames < 1) throw e;
    const shortInfo: VideoInfo = { ...info, frameCount: e.decodedFrames };
    return decodeAndTransform(file, sampleFrameIndices(options.numFrames, e.decodedFrames), shortInfo, options, budget);
  }
}

/**
 * Loads a still image (png, jpg, webp, bmp... anything ffmpeg reads) as a 1-frame video:
 * its first frame, repeated `numFrames` times by the same sampling path (`vlen = 1`).
 */
export async function loadImage(file: string, options: LoadVideoOptions): Promise<LoadedVideo> {
  checkLoadOptions(options);
  const budget = makeBudget(options.timeoutMs, DEFAULT_DECODE_TIMEOUT_MS);
  const probed = await probeWithin(file, options, budget);
  const info: VideoInfo = { ...probed, frameCount: 1 };
  return decodeAndTransform(file, sampleFrameIndices(options.numFrames, 1), info, options, budget);
}
