import { describe, expect, it } from 'vitest';
import type { Backend } from '../runtime/backends.js';
import { ModuleSession } from '../runtime/session.js';
import { tensor } from '../tensor.js';
import { GraphBuilder } from './graph.js';
import { ATTENTION_QUERY_CHUNK, unmaskedAttention } from './nn.js';
import { WeightPlan } from './weights.js';
import { tinyWeightSource } from './tiny-weights.testutil.js';

/** Fused unmasked attention `[1, S, 32]` over 4 heads, built for `queryTokens` (0 = one call). */
function attentionGraph(queryTokens: number): Uint8Array {
  const g = new GraphBuilder('attention');
  const ctx = { g, plan: new WeightPlan(tinyWeightSource), file: 'w.bin', fusedAttention: true };
  const [q, k, v] = ['q', 'k', 'v'].map((n) => g.input(n, 'float32', [1, n === 'q' ? 'queries' : 'keys', 32]));
  g.output(unmaskedAttention(ctx, q, k, v, 4, 32, false, queryTokens), 'y', 'float32', [1, 'queries', 32]);
  return g.toBytes();
}

describe('unmaskedAttention query chunks', () => {
  // Chunk count comes from the tokens the graph is built for; bounds from the actual length, so a
  // 3-chunk graph fed 7 or 40 query rows splits them 2/2/3 or 13/13/14 — same result as one call.
  it.each(['cpu', 'wasm'] as Backend[])('chunked fused attention equals one call on %s', async (backend) => {
    const whole = await ModuleSession.create(attentionGraph(0), { backend });
    const chunked = await ModuleSession.create(attentionGraph(3 * ATTENTION_QUERY_CHUNK), { backend });
    for (const [S, T] of [
      [7, 5],
      [40, 33],
    ]) {
      const r = (n: number, seed: number) => Float32Array.from({ length: n * 32 }, (_, i) => Math.sin(i * 0.37 + seed));
      const feeds = {
        q: tensor('float32', ['b', 's', 'c'], [1, S, 32], r(S, 1)),
        k: tensor('float32', ['b', 't', 'c'], [1, T, 32], r(T, 2)),
        v: tensor('float32', ['b', 't', 'c'], [1, T, 32], r(T, 3)),
      };
      const a = (await whole.run(feeds)).y;
      const b = (await chunked.run(feeds)).y;
      expect(b.shape).toEqual([1, S, 32]);
      const d = Array.from(a.data as Float32Array, (x, i) => Math.abs(x - (b.data as Float32Array)[i]));
      expect(Math.max(...d)).toBeLessThan(1e-5);
    }
    await Promise.all([whole.dispose(), chunked.dispose()]);
  });
});
