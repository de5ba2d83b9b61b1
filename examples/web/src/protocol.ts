/** Messages between the page (UI) and the worker (video decoding with WebCodecs, onnxruntime-web inference). */
import type { BrowserVideoInfo, RgbFrame } from '@mplug2/vision-encoder';

export type ToWorker =
  | { type: 'load'; modelUrl: string; backend: 'auto' | 'wasm' | 'webgpu' }
  /** Decode in the worker (WebCodecs); answered by `video` or, when the worker cannot decode it, `error`. */
  | { type: 'decode'; id: number; file: File; numFrames: number; size: number }
  /** Pixel values the page decoded itself (fallback: a `<video>` element), kept as the current video. */
  | { type: 'setVideo'; pixels: Float32Array; shape: number[] }
  /** Questions and captions are about the current video. */
  | { type: 'ask'; id: number; question: string }
  | { type: 'caption'; id: number };

export type FromWorker =
  | { type: 'progress'; loadedBytes: number; totalBytes: number; filesDone: number; filesTotal: number; file: string; phase: string }
  | { type: 'loaded'; backend: string; numFrames: number; size: number; ms: number }
  | { type: 'video'; id: number; frameIndices: number[]; info: BrowserVideoInfo; frames: RgbFrame[]; ms: number }
  | { type: 'result'; id: number; text: string; ms: number }
  | { type: 'error'; id?: number; message: string };
