/**
 * Browser video input, two decoders: WebCodecs (webcodecs.ts: MP4/MOV with H.264, VP9 or AV1; no
 * document needed, so it also runs in a Web Worker) and a `<video>` element (any format the browser
 * plays; needs a document), chosen automatically or forced with `decoder`. Frame indices follow the
 * reference exactly: `vlen` is the container's frame count read from the MP4/MOV sample tables
 * (what decord reports) and 'middle' sampling picks the indices; WebCodecs decodes those samples,
 * the element seeks to the middle of each one's display interval. After decoding, the reference
 * transform runs unchanged (nearest resize, /255, CLIP normalisation), so the only difference from
 * the ffmpeg path is the browser's YUV→RGB conversion (measured in tests/browser: see README "Browser").
 */
import { InvalidOptionError, VideoDecodeError, type Tensor } from '@mplug2/core';
import { readMp4FrameTable, type ByteReader, type Mp4FrameTable } from './mp4-frames.js';
import { sampleFrameIndices } from './sampling.js';
import { preprocessSampledFrames, rgbaToRgb, type RgbFrame } from './transform.js';
import { decodeFramesWebCodecs, webCodecsSupport } from './webcodecs.js';

export { readMp4FrameTable, type ByteReader, type Mp4FrameTable, type Mp4Samples } from './mp4-frames.js';
export { decodeFramesWebCodecs, webCodecsConfig, webCodecsSupport, type WebCodecsSupport } from './webcodecs.js';

/**
 * `webcodecs`: `VideoDecoder` on the MP4/MOV samples (pages and workers); `element`: a `<video>`
 * element seeked to each frame (pages only; any format the browser plays); `auto`: WebCodecs when
 * the file is an MP4/MOV whose codec `VideoDecoder.isConfigSupported` accepts, else the element.
 */
export type BrowserVideoDecoder = 'auto' | 'webcodecs' | 'element';

/** What the browser knows about a video. */
export interface BrowserVideoInfo {
  /** `vlen`: the container's frame count (MP4/MOV), else an estimate (see `frameCountSource`). */
  frameCount: number;
  /** `container`: MP4/MOV sample table (exact, as decord); `estimate`: duration × frame rate; `option`: given by the caller. */
  frameCountSource: 'container' | 'estimate' | 'option';
  fps: number;
  width: number;
  height: number;
  durationS: number;
  codec: string;
  format: string;
  /** The decoder that produced the frames (`image`: `loadImage`'s `createImageBitmap`). */
  decoder: Exclude<BrowserVideoDecoder, 'auto'> | 'image';
}

export interface BrowserLoadVideoOptions {
  /** Frames the model takes (`model_num_frames`). */
  numFrames: number;
  /** Square output side (`image_res`). */
  size: number;
  /** Keep the sampled frames at their native size (RGB) in the result, e.g. to show them. */
  keepFrames?: boolean;
  /** Frame count and rate for containers without a sample table the reader understands (webm, ...). */
  frameCount?: number;
  fps?: number;
  /** Which browser decoder to use (see `BrowserVideoDecoder`). Default `auto`. */
  decoder?: BrowserVideoDecoder;
  /** Longest wait for one seek (element) or one keyframe group (WebCodecs). Default 10 s. */
  timeoutMs?: number;
}

export interface BrowserLoadedVideo {
  /** float32 `(channels=3, frames=numFrames, height=size, width=size)`. */
  pixelValues: Tensor<'float32'>;
  /** Source frame index of every output frame (padding repeats the last index). */
  frameIndices: number[];
  info: BrowserVideoInfo;
  /** With `keepFrames`: the sampled frames, native size, packed RGB (one per distinct index, in order). */
  frames?: RgbFrame[];
}

type VideoSource = string | Blob;

interface Doc {
  createElement(tag: 'video'): HTMLVideoElement;
  createElement(tag: 'canvas'): HTMLCanvasElement;
}

const documentOf = () => (globalThis as { document?: Doc }).document;

function documentOrThrow(what: string): Doc {
  const doc = documentOf();
  if (!doc)
    throw new VideoDecodeError(
      what,
      'the <video> element decoder needs a document',
      'use an MP4/MOV (H.264, VP9, AV1) so WebCodecs decodes it in the worker, or decode on the page and post the pixel values',
    );
  return doc;
}

/** The video as a Blob (a URL is fetched once: its bytes serve both the frame table and the decoder). */
async function asBlob(src: VideoSource): Promise<Blob> {
  if (typeof src !== 'string') return src;
  const res = await fetch(src);
  if (!res.ok) throw new VideoDecodeError(src, `HTTP ${res.status} ${res.statusText}`);
  return res.blob();
}

/** A fetched video with its MP4/MOV frame table (null for other containers or an unreadable table). */
interface VideoBytes {
  name: string;
  blob: Blob;
  read: ByteReader;
  table: Mp4FrameTable | null;
}

async function readVideoBytes(src: VideoSource): Promise<VideoBytes> {
  const name = typeof src === 'string' ? src : ((src as File).name ?? 'video');
  const blob = await asBlob(src);
  const read: ByteReader = async (s, e) => new Uint8Array(await blob.slice(s, e).arrayBuffer());
  // A table that does not parse (not MP4, or a truncated moov box) leaves the element decoder to judge the file.
  const table = await readMp4FrameTable(read, blob.size).catch(() => null);
  return { name, blob, read, table };
}

function waitFor(el: HTMLVideoElement, event: string, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => done(new VideoDecodeError(what, `timed out waiting for '${event}' after ${timeoutMs} ms`)), timeoutMs);
    const onErr = () =>
      done(
        new VideoDecodeError(
          what,
          `the browser cannot decode it (${el.error?.message || `media error ${el.error?.code ?? '?'}`})`,
          'check the codec: browsers decode H.264, VP8/VP9 and AV1',
        ),
      );
    const onOk = () => done();
    function done(e?: Error) {
      clearTimeout(t);
      el.removeEventListener(event, onOk);
      el.removeEventListener('error', onErr);
      if (e) reject(e);
      else resolve();
    }
    el.addEventListener(event, onOk, { once: true });
    el.addEventListener('error', onErr, { once: true });
  });
}

/**
 * How long `frame` waits for the seeked frame's `requestVideoFrameCallback` after 'seeked' (the
 * callback normally follows within a frame or two; this bounds a browser that does not fire it for a
 * paused element).
 */
const FRAME_CALLBACK_WAIT_MS = 500;

type FrameCallbackVideo = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: () => void) => number;
  cancelVideoFrameCallback?: (handle: number) => void;
};

/** Resolves when `el` next presents a frame (`requestVideoFrameCallback`), after `ms` at most; at once without the API. */
function nextPresentedFrame(el: HTMLVideoElement, ms: number): Promise<void> {
  const v = el as FrameCallbackVideo;
  if (!v.requestVideoFrameCallback) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      v.cancelVideoFrameCallback?.(handle);
      resolve();
    }, ms);
    const handle = v.requestVideoFrameCallback!(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Frame rate measured from presented frames (`requestVideoFrameCallback`), for containers without a sample table. */
async function measureFps(el: HTMLVideoElement): Promise<number> {
  const rvfc = (el as HTMLVideoElement & { requestVideoFrameCallback?: (cb: (now: number, meta: { mediaTime: number }) => void) => number })
    .requestVideoFrameCallback;
  if (!rvfc) return 0;
  const times: number[] = [];
  el.muted = true;
  await new Promise<void>((resolve) => {
    const step = (_: number, meta: { mediaTime: number }) => {
      times.push(meta.mediaTime);
      if (times.length >= 8) resolve();
      else rvfc.call(el, step);
    };
    rvfc.call(el, step);
    void el.play().catch(() => resolve());
    setTimeout(resolve, 3000);
  });
  el.pause();
  const d = times
    .slice(1)
    .map((t, i) => t - times[i])
    .filter((x) => x > 0)
    .sort((a, b) => a - b);
  return d.length ? 1 / d[Math.floor(d.length / 2)] : 0;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** An open video: its frame table and a video element to seek in. */
export class BrowserVideo {
  private constructor(
    readonly info: BrowserVideoInfo,
    private readonly el: HTMLVideoElement,
    private readonly table: Mp4FrameTable | null,
    private readonly objectUrl: string,
    private readonly timeoutMs: number,
    private readonly name: string,
  ) {}

  static async open(src: VideoSource, options: Pick<BrowserLoadVideoOptions, 'frameCount' | 'fps' | 'timeoutMs'> = {}): Promise<BrowserVideo> {
    return BrowserVideo.openBytes(await readVideoBytes(src), options);
  }

  private static async openBytes(
    { name, blob, table }: VideoBytes,
    options: Pick<BrowserLoadVideoOptions, 'frameCount' | 'fps' | 'timeoutMs'>,
  ): Promise<BrowserVideo> {
    const doc = documentOrThrow(name);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const objectUrl = URL.createObjectURL(blob);
    const el = doc.createElement('video');
    el.muted = true;
    el.playsInline = true;
    el.preload = 'auto';
    const loaded = waitFor(el, 'loadeddata', name, timeoutMs);
    el.src = objectUrl;
    try {
      await loaded;
    } catch (e) {
      URL.revokeObjectURL(objectUrl);
      throw e;
    }
    let frameCount = options.frameCount ?? table?.frameCount ?? 0;
    let fps = options.fps ?? table?.fps ?? 0;
    const source: BrowserVideoInfo['frameCountSource'] = options.frameCount ? 'option' : table ? 'container' : 'estimate';
    const durationS = table?.durationS ?? (Number.isFinite(el.duration) ? el.duration : 0);
    if (!frameCount) {
      if (!fps) fps = await measureFps(el);
      frameCount = Math.max(1, Math.round(durationS * fps));
    }
    const info: BrowserVideoInfo = {
      frameCount,
      frameCountSource: source,
      fps,
      width: el.videoWidth,
      height: el.videoHeight,
      durationS,
      codec: table?.codec ?? '',
      format: table ? 'mp4' : blob.type,
      decoder: 'element',
    };
    if (!info.width || !info.height) throw new VideoDecodeError(name, 'no video track (width/height 0)');
    return new BrowserVideo(info, el, table, objectUrl, timeoutMs, name);
  }

  /** Presentation time (s) inside frame `index`: the middle of its display interval. */
  timeOf(index: number): number {
    if (this.table) return this.table.times[index] + this.table.durations[index] / 2;
    return (index + 0.5) / (this.info.fps || 1);
  }

  /** Decodes frame `index` (native size, packed RGB). */
  async frame(index: number): Promise<RgbFrame> {
    if (!Number.isInteger(index) || index < 0 || index >= this.info.frameCount)
      throw new InvalidOptionError('index', `frame ${index} is outside 0..${this.info.frameCount - 1}`);
    const t = this.timeOf(index);
    if (Math.abs(this.el.currentTime - t) > 1e-6 || this.el.readyState < 2) {
      // 'seeked' says the element has the new position, not that the frame drawImage reads is the new one
      // yet: under load Chromium still drew the previous frame now and then. The frame callback fires once
      // the seeked frame is presented, so both are awaited.
      const presented = nextPresentedFrame(this.el, FRAME_CALLBACK_WAIT_MS);
      const seeked = waitFor(this.el, 'seeked', this.name, this.timeoutMs);
      this.el.currentTime = t;
      try {
        await seeked;
      } finally {
        await presented;
      }
    }
    const { videoWidth: w, videoHeight: h } = this.el;
    const canvas =
      typeof OffscreenCanvas !== 'undefined'
        ? new OffscreenCanvas(w, h)
        : Object.assign(documentOrThrow(this.name).createElement('canvas'), { width: w, height: h });
    const ctx = (canvas as HTMLCanvasElement).getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D | null;
    if (!ctx) throw new VideoDecodeError(this.name, 'no 2D canvas context');
    ctx.drawImage(this.el, 0, 0, w, h);
    const img = ctx.getImageData(0, 0, w, h);
    return rgbaToRgb({ data: img.data, width: w, height: h });
  }

  close(): void {
    this.el.removeAttribute('src');
    this.el.load();
    URL.revokeObjectURL(this.objectUrl);
  }
}

/**
 * Loads a video (URL or `File`/`Blob`) the way the reference's test datasets do: 'middle' sampling
 * over the container's frame count, those frames decoded by the browser (WebCodecs or a `<video>`
 * element: see `decoder`), nearest resize and CLIP normalisation. The browser counterpart of the
 * Node `loadVideo` (ffmpeg).
 */
export async function loadVideo(src: VideoSource, options: BrowserLoadVideoOptions): Promise<BrowserLoadedVideo> {
  if (!options || !Number.isSafeInteger(options.numFrames) || options.numFrames < 1) throw new InvalidOptionError('numFrames', 'must be an integer >= 1');
  if (!Number.isSafeInteger(options.size) || options.size < 1) throw new InvalidOptionError('size', 'must be an integer >= 1');
  const choice = options.decoder ?? 'auto';
  if (!['auto', 'webcodecs', 'element'].includes(choice)) throw new InvalidOptionError('decoder', `'${choice}' is not one of auto, webcodecs, element`);
  const bytes = await readVideoBytes(src);
  if (choice !== 'element') {
    const support = bytes.table
      ? await webCodecsSupport(bytes.table)
      : ({ supported: false, reason: 'WebCodecs decoding reads MP4/MOV files and this is not one (or its moov box is missing)' } as const);
    if (support.supported) return loadWithWebCodecs(bytes as VideoBytes & { table: Mp4FrameTable }, support.config, options);
    if (choice === 'webcodecs' || !documentOf())
      throw new VideoDecodeError(
        bytes.name,
        support.reason,
        choice === 'webcodecs'
          ? "decoder: 'element' decodes with a <video> element on a page"
          : 'decode on the page (a <video> element) and post the pixel values to the worker',
      );
  }
  // The module-internal entry that takes the bytes already read (bracket access reaches the private static).
  const video = await BrowserVideo['openBytes'](bytes, options);
  try {
    const frameIndices = sampleFrameIndices(options.numFrames, video.info.frameCount);
    const decoded = new Map<number, RgbFrame>();
    for (const i of frameIndices) if (!decoded.has(i)) decoded.set(i, await video.frame(i));
    const pixelValues = preprocessSampledFrames(
      frameIndices.map((i) => decoded.get(i)!),
      { size: options.size },
    );
    return { pixelValues, frameIndices, info: video.info, ...(options.keepFrames ? { frames: [...decoded.values()] } : {}) };
  } finally {
    video.close();
  }
}

async function loadWithWebCodecs(
  bytes: VideoBytes & { table: Mp4FrameTable },
  config: VideoDecoderConfig,
  options: BrowserLoadVideoOptions,
): Promise<BrowserLoadedVideo> {
  const { table } = bytes;
  const frameCount = options.frameCount ?? table.frameCount;
  if (frameCount > table.frameCount) throw new InvalidOptionError('frameCount', `${frameCount} exceeds the ${table.frameCount} frames of ${bytes.name}`);
  const frameIndices = sampleFrameIndices(options.numFrames, frameCount);
  const decoded = await decodeFramesWebCodecs(bytes.read, bytes.blob.size, table, config, frameIndices, {
    file: bytes.name,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
  const distinct = [...new Set(frameIndices)];
  const first = decoded.get(distinct[0])!;
  const info: BrowserVideoInfo = {
    frameCount,
    frameCountSource: options.frameCount ? 'option' : 'container',
    fps: options.fps ?? table.fps,
    width: first.width,
    height: first.height,
    durationS: table.durationS,
    codec: table.codec,
    format: 'mp4',
    decoder: 'webcodecs',
  };
  return {
    pixelValues: preprocessSampledFrames(
      frameIndices.map((i) => decoded.get(i)!),
      { size: options.size },
    ),
    frameIndices,
    info,
    ...(options.keepFrames ? { frames: distinct.map((i) => decoded.get(i)!) } : {}),
  };
}

/** Loads a still image (URL or `File`/`Blob`) as a 1-frame video, repeated `numFrames` times. */
export async function loadImage(src: VideoSource, options: BrowserLoadVideoOptions): Promise<BrowserLoadedVideo> {
  const blob = typeof src === 'string' ? await (await fetch(src)).blob() : src;
  const bitmap = await createImageBitmap(blob);
  const { width: w, height: h } = bitmap;
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new VideoDecodeError(String(src), 'no 2D canvas context');
  ctx.drawImage(bitmap, 0, 0);
  const frame = rgbaToRgb({ data: ctx.getImageData(0, 0, w, h).data, width: w, height: h });
  const frameIndices = sampleFrameIndices(options.numFrames, 1);
  return {
    pixelValues: preprocessSampledFrames(
      frameIndices.map(() => frame),
      { size: options.size },
    ),
    frameIndices,
    info: { frameCount: 1, frameCountSource: 'container', fps: 0, width: w, height: h, durationS: 0, codec: '', format: blob.type, decoder: 'image' },
    ...(options.keepFrames ? { frames: [frame] } : {}),
  };
}

export type { BrowserLoadedVideo as LoadedVideo, BrowserLoadVideoOptions as LoadVideoOptions };
