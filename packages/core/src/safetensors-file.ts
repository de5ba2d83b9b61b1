import { writeFile } from 'node:fs/promises';
import { encodeSafetensors } from './safetensors-write.js';
import type { Tensor } from './tensor.js';

/** Node-only: writes named tensors to a safetensors file. */
export async function writeSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  await writeFile(file, encodeSafetensors(tensors, metadata));
}
