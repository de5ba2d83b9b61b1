/**
 * The format-independent half of a `Checkpoint`: the validated tensor table (`list`/`has`/`info`),
 * lookups that fail with a typed error naming the tensor, the closed state and `close`.
 * The pth and safetensors readers extend it with how a tensor's bytes are read and located.
 */
import { CheckpointFormatError } from '../errors.js';
import { type CheckpointArray, checkpointArrayToFloat32 } from './dtype.js';
import type { TensorLayout } from './materialize.js';
import type { ByteSource } from './source.js';
import type { Checkpoint, CheckpointTensorInfo, OpenCheckpointOptions } from './types.js';

export abstract class TensorTableCheckpoint<T extends TensorLayout> implements Checkpoint {
  abstract readonly format: Checkpoint['format'];
  abstract readonly wrapper: string | null;
  private closed = false;

  constructor(
    protected readonly source: ByteSource,
    readonly file: string,
    protected readonly tensors: ReadonlyMap<string, T>,
    protected readonly opts: Required<OpenCheckpointOptions>,
  ) {}

  list(): CheckpointTensorInfo[] {
    return [...this.tensors.values()].map(tensorInfo);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): CheckpointTensorInfo {
    return tensorInfo(this.get(name));
  }

  abstract read(name: string): Promise<CheckpointArray>;
  abstract sharesStorage(a: string, b: string): boolean;
  abstract rawLocation(name: string): { offset: number; byteLength: number } | null;

  async readFloat32(name: string): Promise<Float32Array> {
    return checkpointArrayToFloat32(this.get(name).dtype, await this.read(name));
  }

  /** For `await using`: the same as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.source.close();
  }

  protected get(name: string): T {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointFormatError(this.file, undefined, `no tensor named '${name}' in the checkpoint`);
    return t;
  }

  /** `get` for a data read: an absent tensor is reported before a closed checkpoint. */
  protected getReadable(name: string): T {
    const t = this.get(name);
    if (this.closed) throw new CheckpointFormatError(this.file, undefined, `cannot read '${name}': the checkpoint is closed`);
    return t;
  }
}

function tensorInfo(t: TensorLayout): CheckpointTensorInfo {
  return { name: t.name, dtype: t.dtype, shape: [...t.shape] };
}
