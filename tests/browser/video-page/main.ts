/**
 * The page of tests/browser/video.browser.ts: bundled by the harness and driven with
 * `page.evaluate` through `window.mplug2Video`. Measures browser decoding against the preprocessing
 * golden on the page and in a worker; failures come back as plain data (`{ error }`).
 */
import { describeError, frameHashes, measure, type MeasureRequest } from './measure';

async function onPage(req: MeasureRequest) {
  try {
    return await measure(req);
  } catch (e) {
    return describeError(e);
  }
}

function inWorker(req: MeasureRequest) {
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return new Promise((resolve) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => resolve({ error: { name: 'WorkerError', message: e.message } });
    worker.postMessage(req);
  }).finally(() => worker.terminate());
}

/** A page without WebCodecs (as in browsers that lack it): `VideoDecoder` hidden while `req` runs. */
async function onPageWithoutWebCodecs(req: MeasureRequest) {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'VideoDecoder')!;
  Object.defineProperty(globalThis, 'VideoDecoder', { value: undefined, configurable: true, writable: true });
  try {
    return await onPage(req);
  } finally {
    Object.defineProperty(globalThis, 'VideoDecoder', saved);
  }
}

async function hashesOnPage(req: Omit<MeasureRequest, 'fixturesUrl'>) {
  try {
    return await frameHashes(req);
  } catch (e) {
    return describeError(e);
  }
}

(globalThis as unknown as { mplug2Video: unknown }).mplug2Video = { onPage, inWorker, onPageWithoutWebCodecs, hashesOnPage };
document.title = 'mplug2 video tests: ready';
