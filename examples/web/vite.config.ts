import { defineConfig } from 'vite';

// COOP/COEP make the page cross-origin isolated (SharedArrayBuffer: onnxruntime-web wasm threads).
// onnxruntime-web's wasm file is found by Vite through its `new URL(..., import.meta.url)` and
// emitted as an asset of the worker bundle; no copying needed.
const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  base: './',
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { headers },
  preview: { headers },
});
