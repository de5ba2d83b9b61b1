/**
 * Opening checkpoint files (Node): `openCheckpoint(file)` and `fileSource` over the browser-safe
 * readers in `readers.ts`.
 */
import { fileSource } from './file-source.js';
import { openCheckpointSource } from './readers.js';
import type { Checkpoint, OpenCheckpointOptions } from './types.js';

export { fileSource } from './file-source.js';

/** Opens a checkpoint file; the format is detected from its leading bytes, not its name. */
export async function openCheckpoint(file: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  return openCheckpointSource(await fileSource(file), file, options);
}
