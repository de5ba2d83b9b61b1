import { defineConfig } from 'tsup';

export default defineConfig({
  // `onnx`: the graph builder subpath (@mplug2/core/onnx), browser-safe like the main entry.
  entry: { index: 'src/index.ts', node: 'src/node.ts', onnx: 'src/onnx/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
