/**
 * WebCodecs decoding of MP4/MOV video (no document needed, so it also runs in a Web Worker). The
 * container is demuxed by mp4-frames.ts (sample offsets, sizes, keyframes, composition times and the
 * codec configuration box); every requested frame is decoded from the keyframe before it, in
 * decode order, and picked out of the decoder's output (presentation order) by its timestamp.
 *
 * YUV → RGB is done here, not by the browser: 8-bit 4:2:0 frames (I420, NV12) are copied out
 * (`VideoFrame.copyTo`) and converted with the BT.601 limited-range matrix and each chroma sample
 * repeated over its 2×2 block, which is what swscale (decord's and the golden's ffmpeg) does by
 * default; H.264/VP9/AV1 decoding is bit-exact, so only swscale's integer rounding remains.
 * Chromium would draw unsignalled video as BT.709 (tens of units off the reference on saturated
 * colours). Other layouts (10-bit, 4:4:4, GPU-only frames) are drawn on an OffscreenCanvas, i.e.
 * converted by the browser.
 */
import { VideoDecodeError } from '@mplug2/core';
import type { ByteReader, Mp4FrameTable } from './mp4-frames.js';
import { rgbaToRgb, type RgbFrame } from './transform.js';

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
const dec2 = (n: number) => String(n).padStart(2, '0');

/**
 * The `VideoDecoder` configuration for the track: the codec string (RFC 6381 / the WebCodecs codec
 * registry) derived from the configuration box, which is also the `description` where the codec
 * takes one. Null for codecs this reader does not configure (HEVC, MPEG-4 part 2, ...).
 */
export function webCodecsConfig(table: Mp4FrameTable): VideoDecoderConfig | null {
  const box = table.codecConfig;
  const size = { codedWidth: table.width, codedHeight: table.height };
  if ((table.codec === 'avc1' || table.codec === 'avc3') && box?.type === 'avcC' && box.data.length >= 4)
    // avcC: configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication.
    return { codec: `${table.codec}.${hex2(box.data[1])}${hex2(box.data[2])}${hex2(box.data[3])}`, description: box.data, ...size };
  if (table.codec === 'vp09' && box?.type === 'vpcC' && box.data.length >= 7)
    // vpcC (a full box: version + flags first): profile, level, bitDepth in the high nibble.
    return { codec: `vp09.${dec2(box.data[4])}.${dec2(box.data[5])}.${dec2(box.data[6] >> 4)}`, ...size };
  if (table.codec === 'av01' && box?.type === 'av1C' && box.data.length >= 4) {
    // av1C: marker/version, seq_profile(3) seq_level_idx_0(5), seq_tier_0(1) high_bitdepth(1) twelve_bit(1) ...
    const profile = box.data[1] >> 5;
    const level = box.data[1] & 31;
    const tier = box.data[2] >> 7 ? 'H' : 'M';
    const bitDepth = (box.data[2] >> 6) & 1 ? ((box.data[2] >> 5) & 1 ? 12 : 10) : 8;
    return { codec: `av01.${profile}.${dec2(level)}${tier}.${dec2(bitDepth)}`, description: box.data, ...size };
  }
  return null;
}

export type WebCodecsSupport = { supported: true; config: VideoDecoderConfig } | { supported: false; reason: string };

/** Whether this context can decode the track with WebCodecs (`VideoDecoder` exists and `isConfigSupported` agrees). */
export async function webCodecsSupport(table: Mp4FrameTable): Promise<WebCodecsSupport> {
  if (typeof VideoDecoder === 'undefined') return { supported: false, reason: 'this browser has no WebCodecs VideoDecoder' };
  const config = webCodecsConfig(table);
  if (!config) return { supported: false, reason: `codec '${table.codec || 'none'}' has no WebCodecs configuration here (H.264, VP9 and AV1 in MP4/MOV do)` };
  const support = await VideoDecoder.isConfigSupported(config).catch(() => ({ supported: false }));
  if (!support.supported) return { supported: false, reason: `this browser's VideoDecoder does not support '${config.codec}'` };
  return { supported: true, config };
}

export interface WebCodecsDecodeOptions {
  /** Names the video in errors. */
  file: string;
  /** Longest wait for the decoder to finish one group of frames. */
  timeoutMs: number;
}

/** Rejects with a VideoDecodeError when `promise` has not settled after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, file: string, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new VideoDecodeError(file, `${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The last keyframe at or before sample `s` in decode order that is not presented after it (open GOPs). */
function keyframeBefore(table: Mp4FrameTable, s: number): number {
  const { sync, pts } = table.samples;
  for (let k = s; k >= 0; k--) if (sync[k] && pts[k] <= pts[s]) return k;
  return 0;
}

// BT.601 (Kr, Kb) limited range: Y in 16..235, chroma in 16..240 around 128.
const KR = 0.299;
const KB = 0.114;
const KG = 1 - KR - KB;
const Y_GAIN = 255 / 219;
const C_GAIN = 255 / 224;
const R_FROM_V = C_GAIN * 2 * (1 - KR);
const G_FROM_U = (C_GAIN * 2 * (1 - KB) * KB) / KG;
const G_FROM_V = (C_GAIN * 2 * (1 - KR) * KR) / KG;
const B_FROM_U = C_GAIN * 2 * (1 - KB);

/**
 * 8-bit 4:2:0 planes → packed RGB (BT.601 limited range, chroma repeated over 2×2 blocks), clamped.
 * Results are truncated, not rounded, like swscale's fixed-point shifts: on the golden this halves
 * the mean difference to ffmpeg (0.28 vs 0.46 per value) and lowers the largest from 3 to 2.
 */
export function yuv420ToRgb(
  y: Uint8Array,
  u: Uint8Array,
  v: Uint8Array,
  layout: { width: number; height: number; yStride: number; cStride: number; cStep: number },
): RgbFrame {
  const { width, height, yStride, cStride, cStep } = layout;
  const data = new Uint8Array(width * height * 3);
  for (let row = 0, o = 0; row < height; row++) {
    const yRow = row * yStride;
    const cRow = (row >> 1) * cStride;
    for (let col = 0; col < width; col++, o += 3) {
      const luma = Y_GAIN * (y[yRow + col] - 16);
      const c = cRow + (col >> 1) * cStep;
      const cb = u[c] - 128;
      const cr = v[c] - 128;
      data[o] = Math.min(255, Math.max(0, Math.floor(luma + R_FROM_V * cr)));
      data[o + 1] = Math.min(255, Math.max(0, Math.floor(luma - G_FROM_U * cb - G_FROM_V * cr)));
      data[o + 2] = Math.min(255, Math.max(0, Math.floor(luma + B_FROM_U * cb)));
    }
  }
  return { data, width, height };
}

/** `VideoFrame` → packed RGB at its visible size (as decord and ffmpeg output it). */
class FrameReader {
  private canvas: OffscreenCanvas | null = null;
  private ctx: OffscreenCanvasRenderingContext2D | null = null;

  constructor(private readonly file: string) {}

  async read(frame: VideoFrame): Promise<RgbFrame> {
    if (frame.format === 'I420' || frame.format === 'I420A' || frame.format === 'NV12') return this.convert(frame);
    return this.draw(frame);
  }

  private async convert(frame: VideoFrame): Promise<RgbFrame> {
    const { width, height } = frame.visibleRect!;
    const buffer = new Uint8Array(frame.allocationSize());
    const [yPlane, uPlane, vPlane] = await frame.copyTo(buffer);
    const planes = { width, height, yStride: yPlane.stride, cStride: uPlane.stride };
    if (frame.format === 'NV12')
      return yuv420ToRgb(buffer.subarray(yPlane.offset), buffer.subarray(uPlane.offset), buffer.subarray(uPlane.offset + 1), { ...planes, cStep: 2 });
    return yuv420ToRgb(buffer.subarray(yPlane.offset), buffer.subarray(uPlane.offset), buffer.subarray(vPlane.offset), { ...planes, cStep: 1 });
  }

  private draw(frame: VideoFrame): RgbFrame {
    const { width: w, height: h } = frame.visibleRect!;
    if (!this.canvas || this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas = new OffscreenCanvas(w, h);
      this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    }
    if (!this.ctx) throw new VideoDecodeError(this.file, 'no 2D OffscreenCanvas context to read decoded frames');
    this.ctx.drawImage(frame, 0, 0, w, h);
    return rgbaToRgb({ data: this.ctx.getImageData(0, 0, w, h).data, width: w, height: h });
  }
}

/**
 * Decodes frames (presentation-order indices, as decord counts them) of an MP4/MOV track with
 * WebCodecs. Frames sharing a keyframe are decoded in one pass from that keyframe to the last of
 * them, then the decoder is flushed (which outputs every frame held back for reordering).
 */
export async function decodeFramesWebCodecs(
  read: ByteReader,
  fileSize: number,
  table: Mp4FrameTable,
  config: VideoDecoderConfig,
  frameIndices: readonly number[],
  options: WebCodecsDecodeOptions,
): Promise<Map<number, RgbFrame>> {
  const { file, timeoutMs } = options;
  const { offset, size, pts, sync } = table.samples;
  const micros = (s: number) => Math.round((pts[s] * 1e6) / table.timescale);
  const frameOfTimestamp = new Map<number, number>();
  // Last sample to decode for each keyframe, visited in decode order.
  const lastSampleOfKeyframe = new Map<number, number>();
  for (const i of [...new Set(frameIndices)].sort((a, b) => table.sampleOfFrame[a] - table.sampleOfFrame[b])) {
    const s = table.sampleOfFrame[i];
    frameOfTimestamp.set(micros(s), i);
    const k = keyframeBefore(table, s);
    lastSampleOfKeyframe.set(k, Math.max(s, lastSampleOfKeyframe.get(k) ?? 0));
  }

  const frames = new Map<number, RgbFrame>();
  const reader = new FrameReader(file);
  // Conversions still running (copyTo is asynchronous); each closes its frame when done.
  const conversions: Promise<void>[] = [];
  let failure: Error | undefined;
  const decoder = new VideoDecoder({
    output(frame) {
      const i = frameOfTimestamp.get(frame.timestamp);
      if (i === undefined || frames.has(i)) return frame.close();
      conversions.push(
        reader
          .read(frame)
          .then((rgb) => void frames.set(i, rgb))
          .catch((e: Error) => void (failure ??= e))
          .finally(() => frame.close()),
      );
    },
    error(e) {
      failure ??= new VideoDecodeError(
        file,
        `the WebCodecs decoder failed (${e.message})`,
        'the file is corrupt or uses a profile this browser cannot decode',
        { cause: e },
      );
    },
  });
  try {
    decoder.configure(config);
    for (const [first, last] of [...lastSampleOfKeyframe].sort((a, b) => a[0] - b[0])) {
      // One read for the whole run of samples (they may be interleaved with other tracks' data).
      let start = Infinity;
      let end = 0;
      for (let s = first; s <= last; s++) {
        if (!Number.isFinite(offset[s])) throw new VideoDecodeError(file, `sample ${s} has no location in the MP4 chunk tables`, 'the file is corrupt');
        start = Math.min(start, offset[s]);
        end = Math.max(end, offset[s] + size[s]);
      }
      if (end > fileSize)
        throw new VideoDecodeError(file, `sample data up to byte ${end} lies beyond the end of the file (${fileSize} bytes)`, 'the file is truncated');
      const bytes = await read(start, end);
      if (bytes.length < end - start)
        throw new VideoDecodeError(file, `read ${bytes.length} of ${end - start} bytes at offset ${start}`, 'the file is truncated');
      for (let s = first; s <= last && !failure; s++)
        decoder.decode(
          new EncodedVideoChunk({
            type: sync[s] ? 'key' : 'delta',
            timestamp: micros(s),
            data: bytes.subarray(offset[s] - start, offset[s] - start + size[s]),
          }),
        );
      await withTimeout(decoder.flush(), timeoutMs, file, `WebCodecs decoding of samples ${first}..${last}`).catch((e: Error) => {
        throw (
          failure ?? (e instanceof VideoDecodeError ? e : new VideoDecodeError(file, `the WebCodecs decoder failed (${e.message})`, undefined, { cause: e }))
        );
      });
      await Promise.all(conversions);
      if (failure) throw failure;
    }
  } catch (e) {
    if (e instanceof VideoDecodeError) throw e;
    // configure()/decode() throw DOMExceptions synchronously for configurations or chunks they reject.
    throw new VideoDecodeError(file, `WebCodecs rejected the stream (${(e as Error).message})`, undefined, { cause: e });
  } finally {
    if (decoder.state !== 'closed') decoder.close();
  }
  for (const i of frameIndices) if (!frames.has(i)) throw new VideoDecodeError(file, `the WebCodecs decoder produced no frame ${i}`, 'the file is corrupt');
  return frames;
}
