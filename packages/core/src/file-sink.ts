import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { WeightSink } from './onnx/weights.js';

/** Offsets are 64-byte aligned so a data file can be memory-mapped tensor by tensor. */
const ALIGN = 64;

/** Streams weight bytes into data files inside a model directory (one tensor in memory at a time). */
export class FileWeightSink implements WeightSink {
  private readonly handles = new Map<string, { fh: FileHandle; size: number }>();

  constructor(readonly dir: string) {}

  async append(file: string, bytes: Uint8Array): Promise<number> {
    let h = this.handles.get(file);
    if (!h) {
      h = { fh: await open(path.join(this.dir, file), 'w'), size: 0 };
      this.handles.set(file, h);
    }
    const offset = Math.ceil(h.size / ALIGN) * ALIGN;
    if (offset > h.size) await h.fh.write(new Uint8Array(offset - h.size), 0, offset - h.size, h.size);
    let written = 0;
    while (written < bytes.byteLength) {
      const { bytesWritten } = await h.fh.write(bytes, written, Math.min(bytes.byteLength - written, 1 << 30), offset + written);
      written += bytesWritten;
    }
    h.size = offset + bytes.byteLength;
    return offset;
  }

  files(): string[] {
    return [...this.handles.keys()];
  }

  async close(): Promise<void> {
    for (const h of this.handles.values()) await h.fh.close();
    this.handles.clear();
  }
}
