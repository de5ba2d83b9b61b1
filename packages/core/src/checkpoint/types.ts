import type { CheckpointArray, CheckpointDType } from './dtype.js';

/** A tensor's name, element type and shape (a fresh copy on every call; storage details stay internal). */
export interface CheckpointTensorInfo {
  name: string;
  dtype: CheckpointDType;
  shape: number[];
}

export interface Checkpoint {
  readonly file: string;
  readonly format: 'pth' | 'safetensors';
  /** Top-level key that held the state dict ('model' | 'module' | 'state_dict'); null for a bare state dict or safetensors. */
  readonly wrapper: string | null;
  /** Every tensor, in state-dict (file) order. Reads no tensor data. */
  list(): CheckpointTensorInfo[];
  has(name: string): boolean;
  /** CheckpointFormatError naming the tensor when it is absent. */
  info(name: string): CheckpointTensorInfo;
  /** Logical row-major contiguous copy in the native dtype (fp16 / bf16 as raw Uint16Array bits). */
  read(name: string): Promise<CheckpointArray>;
  /** Like `read`, converted to float32 (fp16 / bf16 exactly; float64 and integers rounded). */
  readFloat32(name: string): Promise<Float32Array>;
  /** Whether two tensors are the same view of the same storage (tied weights): same storage, offset, shape and stride. */
  sharesStorage(a: string, b: string): boolean;
  /**
   * Where the tensor's raw little-endian bytes are in the file when it is contiguous and stored
   * uncompressed, so they can be referenced in place (e.g. ONNX external data); null otherwise.
   */
  rawLocation(name: string): { offset: number; byteLength: number } | null;
  close(): Promise<void>;
}

export interface OpenCheckpointOptions {
  /** Largest single read, in bytes (default and maximum 1 GiB). Tensors above it are read in several ranges. */
  chunkBytes?: number;
  /** Storage window used to gather non-contiguous tensors (default 256 MiB). */
  gatherWindowBytes?: number;
  /** Largest tensor `read` will materialise, in bytes (default 16 GiB, also bounded by what the runtime can allocate). */
  maxTensorBytes?: number;
  /** Largest data.pkl accepted, uncompressed (default 512 MiB). */
  maxPickleBytes?: number;
  /** Verify the ZIP CRC-32 of a storage when a read covers all of it (default true). */
  verifyCrc?: boolean;
}

export const DEFAULT_OPTIONS: Required<OpenCheckpointOptions> = {
  chunkBytes: 1 << 30,
  gatherWindowBytes: 256 * 1024 * 1024,
  maxTensorBytes: 16 * 1024 * 1024 * 1024,
  maxPickleBytes: 512 * 1024 * 1024,
  verifyCrc: true,
};
