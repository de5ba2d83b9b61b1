import { GraphBuilder, ModuleSession, disposeDeviceTensors, isDeviceTensor, tensor, type Tensor } from '@mplug2/core';
import type { DecoderCache, DecoderMemory } from './decoder.js';

/**
 * Keeps the decoder's attention keys/values in GPU memory on the `webgpu` backend:
 * - the cross-attention K/V of a memory are uploaded once and fed to every decoding step
 *   (the JS copy in `DecoderMemory` stays for row selection on the CPU);
 * - the self-attention cache (`present_*` → `past_*`) never leaves the GPU: beam reordering is a
 *   `Gather` on the GPU, applied lazily by the next step.
 * A device cache is consumed by the step it is fed to (its buffers are released afterwards).
 */
export class DeviceKv {
  private readonly uploads = new WeakMap<Tensor, Promise<Tensor>>();

  private constructor(
    private readonly gather: ModuleSession,
    private readonly names: readonly string[],
  ) {}

  /** A GPU gather graph for the cache tensors `names` (`[rows, heads, tokens, head_dim]` each). */
  static async create(names: readonly string[]): Promise<DeviceKv> {
    const g = new GraphBuilder('mplug2_decoder_reorder');
    const order = g.input('order', 'int64', ['rows_out']);
    for (const n of names) {
      const x = g.input(n, 'float32', ['rows', 'heads', 'tokens', 'head_dim']);
      g.output(g.op('Gather', [x, order], { axis: 0 }), `reordered_${n}`, 'float32', ['rows_out', 'heads', 'tokens', 'head_dim']);
    }
    const session = await ModuleSession.create(g.toBytes(), { backend: 'webgpu', deviceOutputs: 'all', label: 'decoder.reorder' });
    return new DeviceKv(session, names);
  }

  /** The GPU copy of a memory's cross K/V (uploaded on first use, then reused by every step). */
  async cross(memory: DecoderMemory): Promise<Record<string, Tensor>> {
    const out: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(memory.cross)) {
      let p = this.uploads.get(t);
      if (!p) {
        p = ModuleSession.upload(t, 'webgpu', `decoder.${name}`);
        this.uploads.set(t, p);
      }
      out[name] = await p;
    }
    return out;
  }

  /** The cache's tensors with a pending reorder applied (on the GPU); the unordered buffers are released. */
  async past(cache: DecoderCache): Promise<Record<string, Tensor>> {
    if (!cache.order) return { ...cache.past };
    const feeds: Record<string, Tensor> = { order: tensor('int64', ['rows_out'], [cache.order.length], BigInt64Array.from(cache.order, BigInt)) };
    for (const n of this.names) feeds[n] = cache.past[n];
    const out = await this.gather.run(feeds);
    disposeDeviceTensors(cache.past);
    return Object.fromEntries(this.names.map((n) => [n, out[`reordered_${n}`]]));
  }

  /** Whether a cache lives on the GPU (then `reorder` is lazy). */
  static isDeviceCache(cache: DecoderCache): boolean {
    return Object.values(cache.past).some((t) => isDeviceTensor(t));
  }

  dispose(): Promise<void> {
    return this.gather.dispose();
  }
}
