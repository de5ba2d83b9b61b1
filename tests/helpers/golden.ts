import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ModelDirectory, openCheckpoint, tensor, type Checkpoint, type Tensor } from '@mplug2/core';
import { type WeightStorage } from '@mplug2/core/onnx';
import { convertCheckpoint } from '@mplug2/converter';

export const GOLDENS = path.resolve(__dirname, '../../fixtures/goldens');
export type GoldenName = 'videoqa_tiny' | 'videocaption_tiny';

const converted = new Map<string, Promise<ModelDirectory>>();

/**
 * Converts a golden checkpoint with the real converter (once per test file) and opens the model
 * directory; `fusedAttention: false` emits primitive ONNX ops instead of onnxruntime's fused attention;
 * `dtype` is the converter's weight storage.
 */
export function goldenModel(name: GoldenName, options: { fusedAttention?: boolean; dtype?: WeightStorage } = {}): Promise<ModelDirectory> {
  const key = `${name}:${options.fusedAttention ?? true}:${options.dtype ?? 'fp32'}`;
  let p = converted.get(key);
  if (!p) {
    const out = mkdtempSync(path.join(tmpdir(), `mplug2-${name}-`));
    p = convertCheckpoint({
      checkpoint: path.join(GOLDENS, name, 'checkpoint.pth'),
      config: path.join(GOLDENS, name, 'config.json'),
      out,
      fusedAttention: options.fusedAttention,
      dtype: options.dtype,
    }).then(() => ModelDirectory.open(out));
    converted.set(key, p);
  }
  return p;
}

/** The golden fixture tensors of a model (inputs, module boundaries, generated ids). */
export class Fixtures {
  private constructor(private readonly ckpt: Checkpoint) {}

  static async open(name: GoldenName | 'preprocess'): Promise<Fixtures> {
    return new Fixtures(await openCheckpoint(path.join(GOLDENS, name, 'fixtures.safetensors')));
  }

  has(name: string): boolean {
    return this.ckpt.has(name);
  }

  shape(name: string): readonly number[] {
    return this.ckpt.info(name).shape;
  }

  async float(name: string): Promise<Tensor<'float32'>> {
    const s = this.shape(name);
    return tensor(
      'float32',
      s.map((_, i) => `d${i}`),
      s,
      await this.ckpt.readFloat32(name),
    );
  }

  async int64(name: string): Promise<Tensor<'int64'>> {
    const s = this.shape(name);
    return tensor(
      'int64',
      s.map((_, i) => `d${i}`),
      s,
      (await this.ckpt.read(name)) as BigInt64Array,
    );
  }

  /** int64 fixture as a nested JS number array (rows of the last axis). */
  async ids(name: string): Promise<number[][]> {
    const t = await this.int64(name);
    const width = t.shape[t.shape.length - 1];
    const flat = Array.from(t.data, Number);
    return Array.from({ length: flat.length / width }, (_, i) => flat.slice(i * width, (i + 1) * width));
  }

  close(): Promise<void> {
    return this.ckpt.close();
  }
}
