/**
 * The browser side of the browser test suite: bundled (esbuild, browser entries of the packages) and
 * loaded into headless Chromium by tests/browser/harness.ts. Exposes `window.mplug2Test`, which the
 * Node side calls with `page.evaluate`. Everything here uses only the browser-safe entries.
 */
import * as ort from 'onnxruntime-web';
import { availableBackends, BackendUnavailableError, openModel, probeBackend, webGpuAdapterInfo, type Backend, type Mplug2Error } from '@mplug2/core';
import { runParity } from '@mplug2/converter';

ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;

async function parity(modelUrl: string, fixturesUrl: string, backend: Backend) {
  const t0 = performance.now();
  const report = await runParity(modelUrl, fixturesUrl, { backend });
  return { ...report, ms: performance.now() - t0 };
}

/** What opening a session for `module` of a model on `backend` throws (null when it loads). */
async function sessionError(modelUrl: string, module: 'vision_encoder', backend: Backend) {
  try {
    const session = await (await openModel(modelUrl)).session(module, 'main', { backend });
    await session.dispose();
    return null;
  } catch (e) {
    return { backendUnavailable: e instanceof BackendUnavailableError, code: (e as Mplug2Error).code, message: (e as Error).message };
  }
}

async function environment() {
  return {
    backends: await availableBackends(),
    webgpuProbe: await probeBackend('webgpu'),
    adapter: await webGpuAdapterInfo(),
    crossOriginIsolated: globalThis.crossOriginIsolated,
    userAgent: navigator.userAgent,
  };
}

(globalThis as unknown as { mplug2Test: unknown }).mplug2Test = { parity, environment, sessionError };
document.title = 'mplug2 browser tests: ready';
