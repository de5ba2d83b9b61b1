import { defineConfig } from 'tsup';

// Built only so the benchmarks (bench/fuzz-checkpoint.mjs) can import the fuzzers like any package;
// tests import the sources through the vitest alias.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest'],
});
