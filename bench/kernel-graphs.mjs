// One-op graphs of the matrix products the converted models run — activations [M, K] times a
// constant weight at the large model's layer shapes — for each weight format: fp32 `MatMul`, int8
// `DynamicQuantizeMatMul`, 4-bit `MatMulNBits`. Shared by bench/q4-scheme.mjs (Node) and
// bench/kernels.mjs (Node and the browser page), so both sides time the same graphs. `core` and `onnx`
// are the caller's @mplug2/core and @mplug2/core/onnx (the Node build or the page's browser bundle).

/** The large model's matmul shapes [K, N]: FFN in, FFN out, attention projection. */
export const KERNEL_SHAPES = [
  [1024, 4096],
  [4096, 1024],
  [1024, 1024],
];

/** Deterministic weight / activation values in [-0.5, 0.5). */
export const kernelValues = (n) => Float32Array.from({ length: n }, (_, i) => (((i * 7919) % 1000) - 500) / 1000);

const inline = (v) => ({ kind: 'inline', bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) });

/**
 * Model bytes of one variant: `{ kind: 'fp32' | 'int8' | 'q4', blockSize?, symmetric?, accuracyLevel? }`
 * (q4: blocks along K, zero points unless `symmetric`; `accuracyLevel` 4 = int8 compute where the
 * runtime has it).
 */
export function kernelGraph(onnx, variant, M, K, N) {
  const g = new onnx.GraphBuilder('matmul');
  const a = g.input('a', 'float32', [M, K]);
  const w = kernelValues(K * N);
  let y;
  if (variant.kind === 'fp32') y = g.op('MatMul', [a, g.initializer('w', 'float32', [K, N], inline(w))]);
  else if (variant.kind === 'int8') {
    const { q, scale } = onnx.quantizeColumns(w, K, N);
    y = g.op(
      'DynamicQuantizeMatMul',
      [a, g.initializer('w', 'int8', [K, N], inline(q)), g.initializer('s', 'float32', [N], inline(scale))],
      {},
      'com.microsoft',
    );
  } else {
    const s = { blockSize: variant.blockSize, symmetric: variant.symmetric };
    const { q, scale, zeroPoint } = onnx.quantizeBlocks4(w, K, N, s);
    const blocks = Math.ceil(K / s.blockSize);
    const ins = [a, g.initializer('w', 'uint8', [N, blocks, s.blockSize / 2], inline(q)), g.initializer('s', 'float32', [N * blocks], inline(scale))];
    if (zeroPoint) ins.push(g.initializer('z', 'uint8', [zeroPoint.length], inline(zeroPoint)));
    y = g.op('MatMulNBits', ins, { K, N, bits: 4, block_size: s.blockSize, accuracy_level: variant.accuracyLevel ?? 4 }, 'com.microsoft');
  }
  g.output(y, 'c', 'float32', [M, N]);
  return g.toBytes();
}

/**
 * Best GOP/s (2·M·K·N per run) of every variant over the layer shapes, timed in interleaved rounds
 * so every variant sees the same background load. `backend` / `threads` go to `ModuleSession.create`.
 */
export async function kernelThroughput(core, onnx, variants, { M, rounds = 3, backend, threads, shapes = KERNEL_SHAPES }) {
  const best = Object.fromEntries(variants.map((v) => [v.name, 0]));
  for (const [K, N] of shapes) {
    const sessions = [];
    for (const v of variants) sessions.push(await core.ModuleSession.create(kernelGraph(onnx, v, M, K, N), { backend, threads, label: v.name }));
    const x = core.tensor('float32', ['r', 'c'], [M, K], kernelValues(M * K));
    for (const s of sessions) await s.run({ a: x });
    for (let r = 0; r < rounds; r++)
      for (const [i, v] of variants.entries()) {
        const t = performance.now();
        await sessions[i].run({ a: x });
        best[v.name] = Math.max(best[v.name], (2 * M * K * N) / ((performance.now() - t) / 1000) / 1e9);
      }
    for (const s of sessions) await s.dispose();
  }
  return best;
}
