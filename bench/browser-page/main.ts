/**
 * The page of bench/browser.mjs: bundled from the packages' browser entries by the browser tests'
 * harness and driven with `page.evaluate` through `window.mplug2Bench`. Runs VideoQA the way a web
 * app does (RemoteModel over HTTP, the video decoded by the browser) and times every call; failures
 * come back as data (`{ error }`) with the typed error's code.
 */
import * as ort from 'onnxruntime-web';
import * as core from '@mplug2/core';
import * as onnx from '@mplug2/core/onnx';
import { RemoteModel, type Backend, type Mplug2Error } from '@mplug2/core';
import { type KernelVariant, kernelThroughput } from '../kernel-graphs.mjs';
import { VideoQA } from '@mplug2/tasks';

ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;

// Where the tab's memory goes, seen from inside the page: onnxruntime-web's wasm heap (the
// WebAssembly.Memory its threaded build creates in JS, recorded as it is constructed; a wasm heap
// grows and never shrinks) and V8's JS heap (`performance.memory`, Chromium only), sampled every
// 100 ms; peaks per phase (loading, then each call).
const wasmMemories: WebAssembly.Memory[] = [];
WebAssembly.Memory = new Proxy(WebAssembly.Memory, {
  construct(target, args: [WebAssembly.MemoryDescriptor]) {
    const m = new target(...args);
    wasmMemories.push(m);
    return m;
  },
});
const wasmHeapBytes = () => wasmMemories.reduce((s, m) => s + m.buffer.byteLength, 0);
const jsHeapBytes = () => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0;
let phase = 'load';
const heapPeaks: Record<string, { wasm_heap_gb: number; js_heap_gb: number }> = {};
setInterval(() => {
  const p = (heapPeaks[phase] ??= { wasm_heap_gb: 0, js_heap_gb: 0 });
  p.wasm_heap_gb = Math.max(p.wasm_heap_gb, wasmHeapBytes() / 2 ** 30);
  p.js_heap_gb = Math.max(p.js_heap_gb, jsHeapBytes() / 2 ** 30);
}, 100);

interface Request {
  readonly modelUrl: string;
  readonly videoUrl: string;
  readonly question: string;
  readonly backend: Backend;
  readonly threads: number;
  /** Calls after the first (cold) one. */
  readonly repeat: number;
}

async function videoqa(req: Request) {
  // Each mark starts the next memory phase; bench/browser.mjs splits its outside samples at the same line.
  const mark = (label: string, next: string) => {
    phase = next;
    console.log(`[bench] ${label} at ${(performance.now() / 1000).toFixed(1)} s; phase ${next}`);
  };
  try {
    let t = performance.now();
    const model = await RemoteModel.open(req.modelUrl, { cache: false });
    const qa = await VideoQA.load(model, { backend: req.backend, threads: req.threads });
    const load_s = (performance.now() - t) / 1000;
    mark('loaded', 'call 0');
    const runs: { e2e_s: number; timings: Record<string, number>; answer: string }[] = [];
    for (let i = 0; i <= req.repeat; i++) {
      t = performance.now();
      const [r] = await qa.ask(req.videoUrl, req.question);
      runs.push({ e2e_s: (performance.now() - t) / 1000, timings: r.timings, answer: r.answer });
      mark(`call ${i}: ${runs[i].e2e_s.toFixed(1)} s`, `call ${i + 1}`);
    }
    await qa.dispose();
    return { load_s, runs, heapPeaks, crossOriginIsolated: globalThis.crossOriginIsolated, threads: (ort.env.wasm as { numThreads?: number }).numThreads };
  } catch (e) {
    return { error: { name: (e as Error).name, code: (e as Mplug2Error).code, message: (e as Error).message } };
  }
}

/** bench/kernels.mjs: the same one-op matmul graphs Node times, on this page's backend. */
async function kernels(req: { variants: KernelVariant[]; M: number; rounds: number; backend: Backend; threads: number }) {
  try {
    const gops = await kernelThroughput(core, onnx, req.variants, req);
    return { gops, crossOriginIsolated: globalThis.crossOriginIsolated, threads: (ort.env.wasm as { numThreads?: number }).numThreads };
  } catch (e) {
    return { error: { name: (e as Error).name, code: (e as Mplug2Error).code, message: (e as Error).message } };
  }
}

(globalThis as unknown as { mplug2Bench: unknown }).mplug2Bench = { videoqa, kernels };
document.title = 'mplug2 browser bench: ready';
