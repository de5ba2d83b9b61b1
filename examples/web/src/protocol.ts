/** Messages between the page (decoding, UI) and the inference worker (onnxruntime-web). */
export type ToWorker =
  | { type: 'load'; modelUrl: string; backend: 'auto' | 'wasm' | 'webgpu' }
  | { type: 'ask'; id: number; pixels: Float32Array; shape: number[]; question: string }
  | { type: 'caption'; id: number; pixels: Float32Array; shape: number[] };

export type FromWorker =
  | { type: 'progress'; loadedBytes: number; totalBytes: number; filesDone: number; filesTotal: number; file: string; phase: string }
  | { type: 'loaded'; backend: string; numFrames: number; size: number; ms: number }
  | { type: 'result'; id: number; text: string; ms: number }
  | { type: 'error'; id?: number; message: string };
