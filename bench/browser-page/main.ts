/**
 * The page of bench/browser.mjs: bundled from the packages' browser entries by the browser tests'
 * harness and driven with `page.evaluate` through `window.mplug2Bench`. Runs VideoQA the way a web
 * app does (RemoteModel over HTTP, the video decoded by the browser) and times every call; failures
 * come back as data (`{ error }`) with the typed error's code.
 */
import * as ort from 'onnxruntime-web';
import { RemoteModel, type Backend, type Mplug2Error } from '@mplug2/core';
import { VideoQA } from '@mplug2/tasks';

ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;

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
  const mark = (label: string) => console.log(`[bench] ${label} at ${(performance.now() / 1000).toFixed(1)} s`);
  try {
    let t = performance.now();
    const model = await RemoteModel.open(req.modelUrl, { cache: false });
    const qa = await VideoQA.load(model, { backend: req.backend, threads: req.threads });
    const load_s = (performance.now() - t) / 1000;
    mark('loaded');
    const runs: { e2e_s: number; timings: Record<string, number>; answer: string }[] = [];
    for (let i = 0; i <= req.repeat; i++) {
      t = performance.now();
      const [r] = await qa.ask(req.videoUrl, req.question);
      runs.push({ e2e_s: (performance.now() - t) / 1000, timings: r.timings, answer: r.answer });
      mark(`call ${i}: ${runs[i].e2e_s.toFixed(1)} s`);
    }
    await qa.dispose();
    return { load_s, runs, crossOriginIsolated: globalThis.crossOriginIsolated, threads: (ort.env.wasm as { numThreads?: number }).numThreads };
  } catch (e) {
    return { error: { name: (e as Error).name, code: (e as Mplug2Error).code, message: (e as Error).message } };
  }
}

(globalThis as unknown as { mplug2Bench: unknown }).mplug2Bench = { videoqa };
document.title = 'mplug2 browser bench: ready';
