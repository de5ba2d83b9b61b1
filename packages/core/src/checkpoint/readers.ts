/**
 * Safe, lazy checkpoint readers: torch.save zip archives (.pth / .pt / .bin) and safetensors.
 *
 * Nothing in a checkpoint is executed (see pickle.ts), nothing is read before it is needed
 * (listing reads only directories and headers), and every size or offset is checked against the
 * real file before it is used. Failures are CheckpointFormatError / UnsafePickleError.
 *
 * This module is browser-safe (sources: memory, HTTP Range); `index.ts` adds files (Node).
 */
import { CheckpointFormatError } from '../errors.js';
import { openPth } from './pth.js';
import { MAX_SAFETENSORS_HEADER, openSafetensors, safetensorsHeaderLength } from './safetensors.js';
import { type ByteSource, bytesSource, readExact } from './source.js';
import type { Checkpoint, OpenCheckpointOptions } from './types.js';

export type { Checkpoint, CheckpointTensorInfo, OpenCheckpointOptions } from './types.js';
export {
  type CheckpointArray,
  type CheckpointArrays,
  type CheckpointDType,
  DTYPE_BYTES,
  bfloat16ToFloat32,
  bfloat16ToNumber,
  checkpointArrayToFloat32,
} from './dtype.js';
export { type ByteSource, bytesSource } from './source.js';
export { urlSource, type UrlSourceOptions } from './url-source.js';

export type CheckpointFormat = 'pth' | 'safetensors' | 'legacy-pickle' | 'unknown';

/** Recognises a file from its first bytes (at least 9 are needed for safetensors). */
export function detectCheckpointFormat(head: Uint8Array, size = head.length): CheckpointFormat {
  if (head.length >= 2 && head[0] === 0x50 && head[1] === 0x4b) return 'pth'; // "PK"
  if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'legacy-pickle';
  if (head.length >= 9 && size >= 9) {
    const n = safetensorsHeaderLength(head);
    if (n !== null && n >= 2 && n <= MAX_SAFETENSORS_HEADER && head[8] === 0x7b) return 'safetensors'; // "{"
  }
  return 'unknown';
}

/** Opens a checkpoint held in memory (browser File contents, tests). */
export function openCheckpointBytes(bytes: Uint8Array, name = '<memory>', options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  return openCheckpointSource(bytesSource(bytes), name, options);
}

/**
 * Opens a checkpoint from any random-access source. The source is closed by `Checkpoint.close()`,
 * or right away when opening fails.
 */
export async function openCheckpointSource(source: ByteSource, file: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  try {
    if (source.size === 0) throw new CheckpointFormatError(file, undefined, 'not a PyTorch checkpoint or safetensors file: the file is empty');
    const head = await readExact(source, 0, Math.min(16, source.size), { file }, 'file signature');
    switch (detectCheckpointFormat(head, source.size)) {
      case 'pth':
        return await openPth(source, file, options);
      case 'safetensors':
        return await openSafetensors(source, file, options);
      case 'legacy-pickle':
        throw new CheckpointFormatError(
          file,
          undefined,
          'legacy (pre-1.6, non-zip) torch.save format is not supported. Re-save it with PyTorch >= 1.6, e.g. ' +
            `python -c "import torch; torch.save(torch.load('old.pth', map_location='cpu', weights_only=True), 'new.pth')" ` +
            '(the zip format is the default; do not pass _use_new_zipfile_serialization=False)',
        );
      default: {
        const hex = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
        throw new CheckpointFormatError(
          file,
          undefined,
          `not a PyTorch checkpoint (torch.save zip archive) or safetensors file: unrecognised leading bytes ${hex}`,
        );
      }
    }
  } catch (e) {
    await source.close().catch(() => {});
    throw e;
  }
}
