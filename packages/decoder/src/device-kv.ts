import { GraphBuilder, ModuleSession, disposeDeviceTensors, isDeviceTensor, tensor, type Tensor } from '@mplug2/core';
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
    private readonly reorderSession: ModuleSession,
    private readonly cacheNames: readonly string[],
    private readonly memorySession: ModuleSession,
    private readonly crossNames: readonly string[],
  ) {}

  /** GPU gather graphs for the cache tensors `cacheNames` and the cross K/V `crossNames` (`[rows, heads, tokens, head_dim]` each). */
  static async create(cacheNames: readonly string[], crossNames: readonly string[]): Promise<DeviceKv> {
    const [reorder, memory] = await Promise.all([gatherRows('decoder.reorder', cacheNames), gatherRows('decoder.select_memory', crossNames)]);
    return new DeviceKv(reorder, cacheNames, memory, crossNames);
  }

  /** Rows `samples` of the cross K/V, gathered into new device tensors (the sources are left as they are). */
  async selectMemory(cross: Readonly<Record<string, Tensor>>, samples: readonly number[]): Promise<Record<string, Tensor<'float32'>>> {
    return (await runGather(this.memorySession, this.crossNames, cross, samples)) as Record<string, Tensor<'float32'>>;
  }

  /** The cache's tensors with a pending reorder applied (on the GPU); unless the cache is shared, the unordered buffers are released. */
  async past(cache: DecoderCache): Promise<Record<string, Tensor>> {
    if (!cache.order) return { ...cache.past };
    const out = await runGather(this.reorderSession, this.cacheNames, cache.past, cache.order);
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

  async dispose(): Promise<void> {
    await Promise.all([this.reorderSession.dispose(), this.memorySession.dispose()]);
  }
}

/** A webgpu session gathering rows `index` (axis 0) of every tensor `names`, outputs kept in GPU memory. */
async function gatherRows(label: string, names: readonly string[]): Promise<ModuleSession> {
  const g = new GraphBuilder(`mplug2_${label.replace('.', '_')}`);
  const index = g.input('index', 'int64', ['rows_out']);
  for (const n of names) {
    const x = g.input(n, 'float32', ['rows', 'heads', 'tokens', 'head_dim']);
    g.output(g.op('Gather', [x, index], { axis: 0 }), `gathered_${n}`, 'float32', ['rows_out', 'heads', 'tokens', 'head_dim']);
  }
  return ModuleSession.create(g.toBytes(), { backend: 'webgpu', deviceOutputs: 'all', label });
}

async function runGather(session: ModuleSession, names: readonly string[], tensors: Readonly<Record<string, Tensor>>, rows: readonly number[]): Promise<Record<string, Tensor>> {
  const feeds: Record<string, Tensor> = { index: tensor('int64', ['rows_out'], [rows.length], BigInt64Array.from(rows, BigInt)) };
  for (const n of names) feeds[n] = tensors[n];
  const out = await session.run(feeds);
  return Object.fromEntries(names.map((n) => [n, out[`gathered_${n}`]]));
}
