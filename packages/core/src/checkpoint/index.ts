/**
 * Checkpoint readers with file access (Node): everything in `readers.ts` (browser-safe) plus
 * `openCheckpoint(file)` and `fileSource`.
 */
import { fileSource } from './file-source.js';
import { openCheckpointSource } from './readers.js';
import type { Checkpoint, OpenCheckpointOptions } from './types.js';

export {
  bfloat16ToFloat32,
  bfloat16ToNumber,
  type ByteSource,
  bytesSource,
  type Checkpoint,
  type CheckpointArray,
  type CheckpointArrays,
  checkpointArrayToFloat32,
  type CheckpointDType,
  type CheckpointFormat,
  type CheckpointTensorInfo,
  detectCheckpointFormat,
  DTYPE_BYTES,
  openCheckpointBytes,
  type OpenCheckpointOptions,
  openCheckpointSource,
  urlSource,
  type UrlSourceOptions,
} from './readers.js';
export { fileSource } from './file-source.js';

/** Opens a checkpoint file; the format is detected from its leading bytes, not its name. */
export async function openCheckpoint(file: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  return openCheckpointSource(await fileSource(file), file, options);
}
