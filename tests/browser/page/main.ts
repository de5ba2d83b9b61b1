/**
 * The browser side of the browser test suite: bundled (esbuild, browser entries of the packages) and
 * loaded into headless Chromium by tests/browser/harness.ts. Exposes `window.mplug2Test`, which the
 * Node side calls with `page.evaluate`. Everything here uses only the browser-safe entries.
 */
import * as ort from 'onnxruntime-web';
import { availableBackends, BackendUnavailableError, openCheckpoint, openModel, probeBackend, webGpuAdapterInfo, type Backend, type Mplug2Error } from '@mplug2/core';
import { runParity } from '@mplug2/tasks';
import { loadVideo } from '@mplug2/vision-encoder';

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

/** Browser decoding + the reference transform vs the golden preprocessing fixtures. */
async function pixels(videoUrl: string, fixturesUrl: string, numFrames: number, size: number) {
  const fx = await openCheckpoint(fixturesUrl);
  const key = `f${numFrames}_r${size}`;
  const t0 = performance.now();
  const v = await loadVideo(videoUrl, { numFrames, size });
  const ms = performance.now() - t0;
  const ref = await fx.readFloat32(`${key}.pixel_values`);
  const got = v.pixelValues.data;
  const std = [0.26862954, 0.26130258, 0.27577711];
  const plane = numFrames * size * size;
  let maxAbs = 0;
  let sumAbsU8 = 0;
  let maxU8 = 0;
  const hist = new Map<number, number>();
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    maxAbs = Math.max(maxAbs, d);
    const u8 = Math.round(d * std[Math.floor(i / plane)] * 255);
    maxU8 = Math.max(maxU8, u8);
    sumAbsU8 += u8;
    hist.set(u8, (hist.get(u8) ?? 0) + 1);
  }
  return {
    frameIndices: v.frameIndices,
    info: v.info,
    shape: v.pixelValues.shape,
    maxAbsNormalized: maxAbs,
    maxAbsU8: maxU8,
    meanAbsU8: sumAbsU8 / ref.length,
    histogramU8: Object.fromEntries([...hist.entries()].sort((a, b) => a[0] - b[0])),
    ms,
  };
}

async function environment() {
  return { backends: await availableBackends(), webgpuProbe: await probeBackend('webgpu'), adapter: await webGpuAdapterInfo(), crossOriginIsolated: globalThis.crossOriginIsolated, userAgent: navigator.userAgent };
}

(globalThis as unknown as { mplug2Test: unknown }).mplug2Test = { parity, pixels, environment, sessionError };
document.title = 'mplug2 browser tests: ready';
