/**
 * Opening checkpoint files (Node): `openCheckpoint(file)` and `fileSource` over the browser-safe
 * readers in `readers.ts`.
 */
import { stat } from 'node:fs/promises';
import { CheckpointFormatError } from '../errors.js';
import { fileSource } from './file-source.js';
import { openCheckpointSource } from './readers.js';
import type { Checkpoint, OpenCheckpointOptions } from './types.js';

export { fileSource } from './file-source.js';

/** Opens a checkpoint file; the format is detected from its leading bytes, not its name. */
export async function openCheckpoint(file: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  // Opening a directory succeeds on Linux and only its first read fails (EISDIR, without the path): say so up front.
  if ((await stat(file).catch(() => null))?.isDirectory()) throw new CheckpointFormatError(file, undefined, 'is a directory; pass a .pth or .safetensors file');
  return openCheckpointSource(await fileSource(file), file, options);
}
