import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_MAX_DATA_FILE_BYTES, DataFileLayout, type WeightSink } from './onnx/weights.js';

/** Offsets are 64-byte aligned so a data file can be memory-mapped tensor by tensor. */
const ALIGN = 64;

/**
 * Streams weight bytes into data files inside a model directory (one tensor in memory at a time); a
 * family rolls over into numbered chunk files so none exceeds `maxFileBytes`.
 */
export class FileWeightSink implements WeightSink {
  private readonly handles = new Map<string, FileHandle>();
  private readonly layout: DataFileLayout;

  constructor(
    readonly dir: string,
    readonly maxFileBytes = DEFAULT_MAX_DATA_FILE_BYTES,
  ) {
    this.layout = new DataFileLayout(maxFileBytes, ALIGN);
  }

  async append(family: string, bytes: Uint8Array, tensor: string): Promise<{ file: string; offset: number }> {
    const { file, offset, size } = this.layout.place(family, bytes.byteLength, tensor);
    let fh = this.handles.get(file);
    if (!fh) {
      fh = await open(path.join(this.dir, file), 'w');
      this.handles.set(file, fh);
    }
    if (offset > size) await fh.write(new Uint8Array(offset - size), 0, offset - size, size);
    let written = 0;
    while (written < bytes.byteLength) {
      const { bytesWritten } = await fh.write(bytes, written, Math.min(bytes.byteLength - written, 1 << 30), offset + written);
      written += bytesWritten;
    }
    return { file, offset };
  }

  files(): string[] {
    return [...this.handles.keys()];
  }

  /** For `await using`: the same as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async close(): Promise<void> {
    for (const fh of this.handles.values()) await fh.close();
    this.handles.clear();
  }
}
