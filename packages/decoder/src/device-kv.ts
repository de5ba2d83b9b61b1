import { DeviceRowGather, disposeDeviceTensors, isDeviceTensor, type Tensor } from '@mplug2/core';
import type { DecoderCache } from './decoder.js';

/**
 * Keeps the decoder's attention keys/values in GPU memory on the `webgpu` backend:
 * - the cross-attention K/V come out of the memory graph as device tensors and feed every decoding
 *   step from there; selecting memory samples (finished beam-search samples, blocks of ranked
 *   answers) is a `Gather` on the GPU;
 * - the self-attention cache (`present_*` → `past_*`) never leaves the GPU: beam reordering is a
 *   `Gather` on the GPU, applied lazily by the next step.
 * A device cache is consumed by the step it is fed to (its buffers are released afterwards) unless
 * it is `shared`.
 */
export class DeviceKv {
  private constructor(
    private readonly reorder: DeviceRowGather,
    private readonly memory: DeviceRowGather,
  ) {}

  /** GPU gathers for the cache tensors `cacheNames` and the cross K/V `crossNames` (`[rows, heads, tokens, head_dim]` each). */
  static async create(cacheNames: readonly string[], crossNames: readonly string[]): Promise<DeviceKv> {
    const inputs = (names: readonly string[]) => names.map((name) => ({ name, dtype: 'float32' as const, rank: 4 }));
    const [reorder, memory] = await Promise.all([
      DeviceRowGather.create('decoder.reorder', inputs(cacheNames)),
      DeviceRowGather.create('decoder.select_memory', inputs(crossNames)),
    ]);
    return new DeviceKv(reorder, memory);
  }

  /** Rows `samples` of the cross K/V, gathered into new device tensors (the sources are left as they are). */
  async selectMemory(cross: Readonly<Record<string, Tensor>>, samples: readonly number[]): Promise<Record<string, Tensor<'float32'>>> {
    return (await this.memory.select(cross, samples)) as Record<string, Tensor<'float32'>>;
  }

  /** The cache's tensors with a pending reorder applied (on the GPU); unless the cache is shared, the unordered buffers are released. */
  async past(cache: DecoderCache): Promise<Record<string, Tensor>> {
    if (!cache.order) return { ...cache.past };
    const out = await this.reorder.select(cache.past, cache.order);
    if (!cache.shared) disposeDeviceTensors(cache.past);
    return out;
  }

  /** After a step: releases the past tensors fed to it (`fed`, from `past`) except a shared cache's own buffers. */
  consumed(cache: DecoderCache, fed: Record<string, Tensor>): void {
    if (!cache.shared || cache.order) disposeDeviceTensors(fed);
  }

  /** Whether a cache lives on the GPU (then `reorder` is lazy). */
  static isDeviceCache(cache: DecoderCache): boolean {
    return Object.values(cache.past).some((t) => isDeviceTensor(t));
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async dispose(): Promise<void> {
    await Promise.all([this.reorder.dispose(), this.memory.dispose()]);
  }
}
