/**
 * Node-only: probe and decode videos (and still images) with the ffmpeg / ffprobe command-line
 * tools, streaming, so memory is bounded by the frames that are kept, not by the video's length.
 *
 * Binaries: `options.ffmpegPath` / `options.ffprobePath`, else env `MPLUG2_FFMPEG` /
 * `MPLUG2_FFPROBE`, else `ffmpeg` / `ffprobe` on PATH.
 *
 * Decoding matches the reference's golden (`fixtures/goldens/preprocess`): `-f rawvideo
 * -pix_fmt rgb24` with ffmpeg's default swscale YUV->RGB conversion, plus
 *  - `-fps_mode passthrough` (`-vsync passthrough` on ffmpeg < 5.1): exactly one output frame per
 *    decoded frame. Without it the rawvideo muxer runs in CFR mode and duplicates/drops frames of
 *    variable-frame-rate videos, so frame index N would not be the N-th decoded frame (decord's
 *    frame N).
 *  - `-noautorotate`: frames come out in coded orientation and size, like decord (which ignores
 *    rotation metadata), and the frame size equals the probed width x height.
 */
import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { InvalidOptionError, VideoDecodeError } from '@mplug2/core';
import { resizeNearest, type RgbFrame } from './transform.js';

/** Default guard on decoded frame size (pixels per frame). */
export const DEFAULT_MAX_PIXELS = 8192 * 8192;
export const DEFAULT_PROBE_TIMEOUT_MS = 30_000;
export const DEFAULT_DECODE_TIMEOUT_MS = 300_000;

const INSTALL_REMEDY =
  'install ffmpeg: apt-get install ffmpeg / brew install ffmpeg, or set MPLUG2_FFMPEG / MPLUG2_FFPROBE (or the ffmpegPath / ffprobePath options) to the binaries';

export interface FfmpegBinaries {
  /** ffmpeg executable; default env MPLUG2_FFMPEG, else `ffmpeg` on PATH. */
  ffmpegPath?: string;
  /** ffprobe executable; default env MPLUG2_FFPROBE, else `ffprobe` on PATH. */
  ffprobePath?: string;
}

export interface ProbeOptions extends FfmpegBinaries {
  /** Kill ffprobe (SIGKILL) and throw VideoDecodeError after this long. Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Refuse videos whose frames have more pixels than this. Default 8192 * 8192. */
  maxPixels?: number;
}

/** What `probeVideo` found about the first (non cover-art) video stream. */
export interface VideoInfo {
  /** `vlen`: frames in the stream; see `frameCountSource`. */
  frameCount: number;
  /**
   * `'container'`: the stream's `nb_frames` (the container's frame count, what decord's
   * `len(reader)` reports for mp4/mov/avi...). `'packets'`: the container has no count (webm/mkv,
   * gif, images...), so packets of the stream were counted (`ffprobe -count_packets`, demuxing
   * only, no decoding; one packet = one frame for video codecs).
   */
  frameCountSource: 'container' | 'packets';
  /** Average frame rate (`avg_frame_rate`, decord's `get_avg_fps()`), falling back to `r_frame_rate`; 0 if unknown. */
  fps: number;
  width: number;
  height: number;
  /** Stream duration, else container duration, else frameCount / fps; 0 if unknown. */
  durationS: number;
  /** Index of the stream in the file (what is decoded). */
  streamIndex: number;
  codec: string;
  /** Container format as ffprobe names it (e.g. `mov,mp4,m4a,3gp,3g2,mj2`, `png_pipe`). */
  format: string;
  /**
   * Display rotation in degrees from the stream's metadata (0 if none). Decoded frames are NOT
   * rotated (coded orientation, `width x height`), like decord in the reference.
   */
  rotation: number;
}

export interface DecodeOptions extends ProbeOptions {
  /** Kill ffmpeg (SIGKILL) and throw VideoDecodeError after this long. Default 300 s. */
  timeoutMs?: number;
  /** A `probeVideo` result for this file, to skip probing again. */
  info?: VideoInfo;
  /**
   * Nearest-resize (the reference's `Resize`) every kept frame as soon as it is decoded, so only
   * one native-size frame is ever held. Without it kept frames are native size.
   */
  resize?: { width: number; height: number };
}

export interface DecodeStats {
  /** Complete frames received from ffmpeg (including the ones discarded). */
  framesRead: number;
  /** Bytes of raw RGB received from ffmpeg's stdout. */
  bytesRead: number;
  /** ffmpeg was stopped (or told to stop) before the end of the video. */
  stoppedEarly: boolean;
  /** Which flag gave one output frame per decoded frame. */
  fpsModeFlag: '-fps_mode' | '-vsync';
}

export interface DecodeResult {
  /** One frame per requested index, same order. Repeated indices share the same frame object. */
  frames: RgbFrame[];
  info: VideoInfo;
  stats: DecodeStats;
}

/**
 * The decoder produced fewer frames than a requested index needs (truncated or corrupt file, or a
 * container whose frame count is wrong). `decodedFrames` is how many complete frames it produced
 * before the end of the stream.
 */
export class VideoFrameCountError extends VideoDecodeError {
  constructor(
    file: string,
    readonly decodedFrames: number,
    readonly expectedFrames: number,
    readonly requestedIndex: number,
  ) {
    super(
      file,
      `the decoder produced only ${decodedFrames} frame(s) but the container reports ${expectedFrames} and frame ${requestedIndex} was requested; the file is probably truncated or corrupt`,
      're-download or re-encode the video (ffmpeg -i in.mp4 -c:v libx264 out.mp4), or load it with onShortDecode: "resample" to sample from the frames that do decode',
    );
  }
}

/**
 * ffprobe or ffmpeg ran past the time budget of the call (`timeoutMs`) and was killed: a very long
 * or pathological file — or a machine too loaded to decode in time, which is why a server reports
 * it as 503 rather than as a bad upload.
 */
export class VideoDecodeTimeoutError extends VideoDecodeError {
  constructor(
    file: string,
    readonly tool: string,
    readonly timeoutMs: number,
  ) {
    super(
      file,
      `${tool} did not finish within the ${timeoutMs} ms timeout and was killed`,
      'pass a larger timeoutMs, or check that the file is a complete local video file',
    );
  }
}

function ffmpegBin(o: FfmpegBinaries | undefined): string {
  return o?.ffmpegPath || process.env.MPLUG2_FFMPEG || 'ffmpeg';
}
function ffprobeBin(o: FfmpegBinaries | undefined): string {
  return o?.ffprobePath || process.env.MPLUG2_FFPROBE || 'ffprobe';
}

function checkTimeout(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0)) throw new InvalidOptionError('timeoutMs', `must be a positive number of milliseconds, got ${String(value)}`);
  return value;
}

/**
 * A time budget shared by every tool run of one call (probe + decode, or a whole loadVideo).
 * @internal
 */
export interface Budget {
  readonly totalMs: number;
  readonly deadline: number;
}
/** @internal */
export function makeBudget(timeoutMs: number | undefined, fallback: number): Budget {
  const totalMs = checkTimeout(timeoutMs, fallback);
  return { totalMs, deadline: Date.now() + totalMs };
}
function left(b: Budget): number {
  return Math.max(1, b.deadline - Date.now());
}

/** Resolves the path and checks it is a non-empty regular file; returns the absolute path. */
async function checkFile(file: string): Promise<string> {
  if (typeof file !== 'string' || file.length === 0) throw new InvalidOptionError('file', 'must be a non-empty path');
  const abs = resolvePath(file);
  let st;
  try {
    st = await stat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new VideoDecodeError(file, 'file does not exist', `check the path (resolved to ${abs})`, { cause: e });
    throw new VideoDecodeError(file, `cannot read the file (${code ?? String(e)})`, 'check the path and its permissions', {
      cause: e,
    });
  }
  if (st.isDirectory()) throw new VideoDecodeError(file, 'is a directory, not a video file', 'pass the path of a video file');
  if (!st.isFile()) throw new VideoDecodeError(file, 'is not a regular file', 'copy the stream to a regular file first');
  if (st.size === 0) throw new VideoDecodeError(file, 'file is empty (0 bytes)', 'the download or recording did not complete; get the file again');
  return abs;
}

/** Whether the file starts with an ISO-BMFF (mp4/mov) box, to tell a cut mp4 from a non-video named .mp4. */
async function looksLikeIsoMedia(abs: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(abs, 'r');
    const head = new Uint8Array(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    const type = bytesRead === 8 ? String.fromCharCode(...head.subarray(4, 8)) : '';
    return ['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot'].includes(type);
  } catch {
    return false;
  } finally {
    await fh?.close();
  }
}

/** ffmpeg/ffprobe input argument: the `file:` protocol, so names with ':' or a leading '-' are taken literally. */
function inputArg(abs: string): string {
  return `file:${abs}`;
}

interface RunOptions {
  budget: Budget;
  signal?: AbortSignal;
  /** Receives stdout; return true to stop the process (SIGKILL) because everything needed arrived. */
  onStdout?: (chunk: Buffer) => boolean;
  /** Collect stdout as text (probe); capped. */
  collectStdout?: boolean;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** We killed it because onStdout said it had everything. */
  stopped: boolean;
}

const MAX_TEXT = 1 << 20;
const STDERR_TAIL = 16 * 1024;

function lastLines(text: string, max = 600): string {
  const t = text.trim();
  return t.length > max ? `...${t.slice(t.length - max)}` : t;
}

function run(tool: 'ffmpeg' | 'ffprobe', bin: string, args: string[], file: string, o: RunOptions): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    if (o.signal?.aborted) {
      reject(o.signal.reason);
      return;
    }
    let settled = false;
    let stopped = false;
    let stdout = '';
    let stderr = '';
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const finish = (err: unknown, result?: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) {
        kill();
        reject(err);
      } else resolve(result!);
    };
    const timer = setTimeout(() => {
      finish(new VideoDecodeTimeoutError(file, tool, o.budget.totalMs));
    }, left(o.budget));
    const onAbort = () => finish(o.signal!.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });

    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') finish(new VideoDecodeError(file, `${tool} not found (tried '${bin}')`, INSTALL_REMEDY, { cause: e }));
      else if (e.code === 'EACCES') finish(new VideoDecodeError(file, `${tool} at '${bin}' is not executable`, INSTALL_REMEDY, { cause: e }));
      else finish(new VideoDecodeError(file, `could not run ${tool} ('${bin}'): ${e.message}`, INSTALL_REMEDY, { cause: e }));
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      stderr += s;
      if (stderr.length > 2 * STDERR_TAIL) stderr = stderr.slice(stderr.length - STDERR_TAIL);
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      if (settled || stopped) return;
      if (o.collectStdout) {
        if (stdout.length < MAX_TEXT) stdout += chunk.toString('utf8');
      }
      if (o.onStdout?.(chunk)) {
        stopped = true;
        child.stdout!.destroy();
        kill();
      }
    });
    child.on('close', (code) => finish(undefined, { code, stdout, stderr, stopped }));
  });
}

/**
 * Checks that ffmpeg and ffprobe run (`-version`), so a command can fail before any work with the install hint
 * rather than half-way. Throws VideoDecodeError (file: the binary) naming what is missing.
 */
export async function checkFfmpeg(options: FfmpegBinaries & { timeoutMs?: number } = {}): Promise<void> {
  const budget = makeBudget(options.timeoutMs, DEFAULT_PROBE_TIMEOUT_MS);
  for (const [tool, bin] of [
    ['ffmpeg', ffmpegBin(options)],
    ['ffprobe', ffprobeBin(options)],
  ] as const) {
    const r = await run(tool, bin, ['-version'], bin, { budget });
    if (r.code !== 0) throw new VideoDecodeError(bin, `${tool} -version exited with code ${r.code}: ${lastLines(r.stderr, 200)}`, INSTALL_REMEDY);
  }
}

function parseRate(r: unknown): number {
  if (typeof r !== 'string') return 0;
  const [n, d] = r.split('/').map(Number);
  const v = d === undefined ? n : n / d;
  return Number.isFinite(v) && v > 0 ? v : 0;
}
function parseNum(v: unknown): number {
  const x = typeof v === 'string' ? Number.parseFloat(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(x) ? x : NaN;
}

interface ProbeStream {
  index?: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  nb_frames?: string;
  nb_read_packets?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  duration?: string;
  disposition?: { attached_pic?: number };
  side_data_list?: { rotation?: number }[];
}

async function ffprobeJson(
  file: string,
  abs: string,
  args: string[],
  o: ProbeOptions,
  budget: Budget,
): Promise<{ streams?: ProbeStream[]; format?: { format_name?: string; duration?: string } }> {
  const r = await run('ffprobe', ffprobeBin(o), ['-v', 'error', '-hide_banner', ...args, '-of', 'json', inputArg(abs)], file, {
    budget,
    signal: o.signal,
    collectStdout: true,
  });
  if (r.code !== 0) {
    const why = lastLines(r.stderr) || `exit code ${r.code}`;
    const notVideo = 'check that the file is a complete video (mp4, mov, webm, mkv, avi, gif...) or image, not another kind of file with a video extension';
    const truncated = 'the mp4/mov index (moov atom) is missing: the file is truncated or the recording was not finalised; re-download or re-export it';
    throw new VideoDecodeError(
      file,
      `is not a video or image ffprobe can read: ${why}`,
      /moov atom not found/.test(r.stderr) && (await looksLikeIsoMedia(abs)) ? truncated : notVideo,
    );
  }
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    throw new VideoDecodeError(file, `ffprobe printed unreadable output: ${lastLines(r.stdout, 200)}`, INSTALL_REMEDY, {
      cause: e,
    });
  }
}

/**
 * Probes the first video stream of `file` (cover art in audio files does not count).
 * The frame count is the container's `nb_frames` when it has one, else the number of packets of
 * the stream (demuxed, not decoded); see `VideoInfo.frameCountSource`.
 *
 * @throws VideoDecodeError (file missing, empty, unreadable, no video stream, zero frames, frames
 *   larger than `maxPixels`, ffprobe missing or timed out), InvalidOptionError.
 */
export async function probeVideo(file: string, options: ProbeOptions = {}): Promise<VideoInfo> {
  return probeWithin(file, options, makeBudget(options.timeoutMs, DEFAULT_PROBE_TIMEOUT_MS));
}

/** @internal probeVideo within a budget shared with the caller. */
export async function probeWithin(file: string, options: ProbeOptions, budget: Budget): Promise<VideoInfo> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new InvalidOptionError('maxPixels', `must be a positive number, got ${String(maxPixels)}`);
  const abs = await checkFile(file);
  const probe = await ffprobeJson(
    file,
    abs,
    [
      '-show_entries',
      'stream=index,codec_type,codec_name,width,height,nb_frames,avg_frame_rate,r_frame_rate,duration:stream_disposition=attached_pic:stream_side_data=rotation:format=format_name,duration',
    ],
    options,
    budget,
  );
  const streams = probe.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  if (!video) {
    const found = streams.map((s) => `${s.codec_type ?? '?'}/${s.codec_name ?? '?'}${s.disposition?.attached_pic ? ' (cover art)' : ''}`);
    throw new VideoDecodeError(
      file,
      `has no video stream (streams: ${found.join(', ') || 'none'})`,
      'pass a video or image file; audio-only files (and their cover art) cannot be used',
    );
  }
  const width = video.width ?? 0;
  const height = video.height ?? 0;
  const streamIndex = video.index ?? 0;
  if (!(width > 0 && height > 0))
    throw new VideoDecodeError(file, `video stream ${streamIndex} has no frame size`, 'the stream is corrupt; re-encode the video');
  if (width * height > maxPixels)
    throw new VideoDecodeError(
      file,
      `frames are ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}`,
      'downscale the video first (ffmpeg -i in -vf scale=1920:-2 out.mp4) or raise maxPixels',
    );
  let frameCount = Number.parseInt(video.nb_frames ?? '', 10);
  let frameCountSource: VideoInfo['frameCountSource'] = 'container';
  if (!(frameCount > 0)) {
    frameCountSource = 'packets';
    const counted = await ffprobeJson(
      file,
      abs,
      ['-select_streams', String(streamIndex), '-count_packets', '-show_entries', 'stream=nb_read_packets'],
      options,
      budget,
    );
    frameCount = Number.parseInt(counted.streams?.[0]?.nb_read_packets ?? '', 10);
  }
  if (!(frameCount > 0)) throw new VideoDecodeError(file, 'the video stream has no frames', 'the file is empty or truncated; re-download or re-export it');
  const fps = parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate);
  let durationS = parseNum(video.duration);
  if (!(durationS > 0)) durationS = parseNum(probe.format?.duration);
  if (!(durationS > 0)) durationS = fps > 0 ? frameCount / fps : 0;
  return {
    frameCount,
    frameCountSource,
    fps,
    width,
    height,
    durationS,
    streamIndex,
    codec: video.codec_name ?? '',
    format: probe.format?.format_name ?? '',
    rotation: video.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation ?? 0,
  };
}

/** Per ffmpeg binary: whether it knows `-fps_mode` (5.1+); older ones need `-vsync`. */
const fpsModeSupport = new Map<string, boolean>();

function checkIndices(indices: readonly number[], frameCount: number): void {
  if (!indices || typeof indices.length !== 'number') throw new InvalidOptionError('indices', 'must be an array of frame indices');
  for (const i of indices) {
    if (!Number.isSafeInteger(i) || i < 0) throw new InvalidOptionError('indices', `frame indices must be integers >= 0, got ${String(i)}`);
    if (i >= frameCount) throw new InvalidOptionError('indices', `frame index ${i} is out of range: the video has ${frameCount} frame(s)`);
  }
}

/**
 * Decodes the frames at `indices` (0-based positions in the decoded frame sequence, e.g. from
 * `sampleFrameIndices`) as packed RGB, in one streaming pass:
 * ffmpeg writes every frame to a pipe; bytes of frames that are not requested are skipped without
 * being copied, requested frames are copied into their own buffers (or, with `resize`, into one
 * reusable native-size buffer and then resized), and ffmpeg is stopped (`-frames:v`, and SIGKILL
 * as soon as the last needed frame has arrived). Memory: the kept frames (+ one native frame with
 * `resize`), whatever the video's length. Time: linear in the last requested index (no seeking).
 *
 * When ffmpeg ends before producing a requested frame (truncated/corrupt file, wrong container
 * count), throws `VideoFrameCountError` with the number of frames that did decode.
 *
 * @throws VideoDecodeError, VideoFrameCountError, InvalidOptionError; `signal.reason` on abort.
 */
export async function decodeFrames(file: string, indices: readonly number[], options: DecodeOptions = {}): Promise<DecodeResult> {
  return decodeWithin(file, indices, options, makeBudget(options.timeoutMs, DEFAULT_DECODE_TIMEOUT_MS));
}

/** @internal decodeFrames within a budget shared with the caller. */
export async function decodeWithin(file: string, indices: readonly number[], options: DecodeOptions, budget: Budget): Promise<DecodeResult> {
  const resize = options.resize;
  if (resize !== undefined) {
    for (const k of ['width', 'height'] as const)
      if (!Number.isSafeInteger(resize[k]) || resize[k] < 1) throw new InvalidOptionError(`resize.${k}`, `must be an integer >= 1, got ${String(resize[k])}`);
  }
  const info = options.info ?? (await probeWithin(file, options, budget));
  const abs = await checkFile(file);
  checkIndices(indices, info.frameCount);
  const stats: DecodeStats = { framesRead: 0, bytesRead: 0, stoppedEarly: false, fpsModeFlag: '-fps_mode' };
  if (indices.length === 0) return { frames: [], info, stats };

  const { width, height } = info;
  const frameBytes = width * height * 3;
  const last = indices.reduce((m, i) => (i > m ? i : m), 0);
  const kept = new Map<number, RgbFrame>();
  for (const i of indices) kept.set(i, { data: new Uint8Array(0), width, height });
  const scratch = resize ? new Uint8Array(frameBytes) : undefined;

  const bin = ffmpegBin(options);
  const attempt = async (flag: DecodeStats['fpsModeFlag']) => {
    stats.framesRead = 0;
    stats.bytesRead = 0;
    stats.fpsModeFlag = flag;
    let frame = 0; // index of the frame the next byte belongs to
    let offset = 0; // bytes of that frame received so far
    let target: Uint8Array | undefined; // where the current frame's bytes go (undefined: skipped)
    const startFrame = () => {
      if (!kept.has(frame)) target = undefined;
      else if (scratch) target = scratch;
      else target = new Uint8Array(frameBytes);
    };
    startFrame();
    const onStdout = (chunk: Buffer): boolean => {
      stats.bytesRead += chunk.length;
      let pos = 0;
      while (pos < chunk.length) {
        const take = Math.min(frameBytes - offset, chunk.length - pos);
        if (target) target.set(chunk.subarray(pos, pos + take), offset);
        pos += take;
        offset += take;
        if (offset === frameBytes) {
          if (target) {
            const data = resize ? resizeNearest({ data: target, width, height }, resize.height, resize.width).data : target;
            kept.set(frame, { data, width: resize ? resize.width : width, height: resize ? resize.height : height });
          }
          stats.framesRead = ++frame;
          offset = 0;
          if (frame > last) return true; // everything needed has arrived
          startFrame();
        }
      }
      return false;
    };
    const args = [
      '-nostdin',
      '-hide_banner',
      '-loglevel',
      'error',
      '-noautorotate',
      '-i',
      inputArg(abs),
      '-map',
      `0:${info.streamIndex}`,
      flag,
      'passthrough',
      '-frames:v',
      String(last + 1),
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ];
    return run('ffmpeg', bin, args, file, { budget, signal: options.signal, onStdout });
  };

  let flag: DecodeStats['fpsModeFlag'] = fpsModeSupport.get(bin) === false ? '-vsync' : '-fps_mode';
  let r = await attempt(flag);
  if (flag === '-fps_mode' && r.code !== 0 && /Unrecognized option 'fps_mode'/.test(r.stderr)) {
    fpsModeSupport.set(bin, false);
    flag = '-vsync';
    r = await attempt(flag);
  } else if (flag === '-fps_mode' && r.code === 0) fpsModeSupport.set(bin, true);

  const got = stats.framesRead;
  stats.stoppedEarly = got < info.frameCount;
  if (got <= last) {
    if (r.code !== 0 && !r.stopped)
      throw new VideoDecodeError(
        file,
        `ffmpeg failed after ${got} frame(s) (exit code ${r.code}): ${lastLines(r.stderr) || 'no message'}`,
        'the file is probably corrupt; re-download or re-encode it (ffmpeg -i in.mp4 -c:v libx264 out.mp4)',
      );
    const missing = indices.find((i) => i >= got)!;
    throw new VideoFrameCountError(file, got, info.frameCount, missing);
  }
  return { frames: indices.map((i) => kept.get(i)!), info, stats };
}
