// Which backends exist here and work: platform lists, probes (each once, cached), WebGPU adapter facts
// and fp16 support, resolving `auto`, and the BackendUnavailableError that lists the working ones.
import { BackendUnavailableError, InvalidOptionError } from '../errors.js';
import { GraphBuilder, type ComputePrecision } from '../onnx/graph.js';
import { baseSessionOptions, createSession, identityModel, isNode, loadOrt, runtimeOf } from './loading.js';
import type { SessionOptions } from './session.js';

/**
 * Execution backends. In Node: `cpu`, `webgpu` (Dawn) and `cuda` run on onnxruntime-node, `wasm` on
 * onnxruntime-web. In a browser or worker: `wasm` and `webgpu` on onnxruntime-web.
 */
export type Backend = 'cpu' | 'wasm' | 'webgpu' | 'cuda';
export const BACKENDS: readonly Backend[] = ['cpu', 'wasm', 'webgpu', 'cuda'];

/** Backends this platform can name at all (before probing). */
export function platformBackends(): Backend[] {
  return isNode ? ['cpu', 'wasm', 'webgpu', 'cuda'] : ['wasm', 'webgpu'];
}

/** Facts about the WebGPU adapter a browser offers (null in Node, where Dawn is inside onnxruntime-node). */
export interface WebGpuAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  /** A software adapter (SwiftShader): correct but slow. */
  readonly isFallbackAdapter: boolean;
  /** Adapter features, e.g. `shader-f16` (fp16 arithmetic in shaders). */
  readonly features: readonly string[];
}

let adapterInfo: Promise<WebGpuAdapterInfo | null> | undefined;

/** The browser's WebGPU adapter, or null when there is none (or in Node). */
export function webGpuAdapterInfo(): Promise<WebGpuAdapterInfo | null> {
  adapterInfo ??= (async () => {
    const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
    if (isNode || !gpu) return null;
    const adapter = (await gpu.requestAdapter().catch(() => null)) as {
      info?: { vendor?: string; architecture?: string; isFallbackAdapter?: boolean };
      isFallbackAdapter?: boolean;
      features?: Iterable<string>;
    } | null;
    if (!adapter) return null;
    return {
      vendor: adapter.info?.vendor ?? '',
      architecture: adapter.info?.architecture ?? '',
      isFallbackAdapter: !!(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter) || adapter.info?.architecture === 'swiftshader',
      features: [...(adapter.features ?? [])].sort(),
    };
  })();
  return adapterInfo;
}

const probes = new Map<Backend, Promise<string | null>>();
let float16Probe: Promise<string | null> | undefined;

/**
 * Whether WebGPU here runs fp16 arithmetic: null when it does, else why not. A browser reports the
 * adapter feature `shader-f16`; onnxruntime-node's Dawn exposes no adapter, so a one-Cast float16
 * graph is run (without the feature it fails with "requires f16 but the device does not support it").
 */
export function webGpuFloat16Support(): Promise<string | null> {
  float16Probe ??= (async () => {
    const base = await probeBackend('webgpu');
    if (base) return base;
    if (!isNode) {
      const info = await webGpuAdapterInfo();
      return info?.features.includes('shader-f16')
        ? null
        : `the WebGPU adapter (${info?.vendor || 'unknown vendor'} ${info?.architecture ?? ''}) lacks the shader-f16 feature`;
    }
    const g = new GraphBuilder('mplug2_f16_probe', 'fp16');
    const x = g.input('x', 'float32', ['n']);
    g.output(g.op('Add', [x, g.scalar(1)]), 'y', 'float32', ['n']);
    try {
      const ort = await loadOrt('onnxruntime-node');
      const s = await createSession(ort, 'onnxruntime-node', g.toBytes(), baseSessionOptions('webgpu'));
      try {
        const out = await s.run({ x: new ort.Tensor('float32', new Float32Array([1, 2]), [2]) });
        return (out.y.data as Float32Array)[1] === 3 ? null : 'the float16 probe computed a wrong value';
      } finally {
        await s.release();
      }
    } catch (e) {
      return `the WebGPU device runs no fp16 shaders (shader-f16 missing): ${(e as Error)?.message ?? String(e)}`;
    }
  })();
  return float16Probe;
}

/**
 * Refuses an fp16-compute graph on a webgpu backend without `shader-f16` (cpu, wasm and cuda run
 * float16 graphs: onnxruntime casts around the kernels it lacks in fp16).
 */
export async function checkComputeSupport(backend: Backend, compute: ComputePrecision = 'fp32', label = 'model'): Promise<void> {
  if (compute !== 'fp16' || backend !== 'webgpu') return;
  const reason = await webGpuFloat16Support();
  if (reason)
    throw await unavailable(
      backend,
      `${label} computes in fp16 (converted with --compute fp16), which needs the WebGPU feature shader-f16, but ${reason}; use an fp32 model or storage-only fp16 weights (convert --dtype fp16), or another backend`,
    );
}

/** Tries `backend` with an identity graph; resolves to null when it works, else the reason. */
export function probeBackend(backend: Backend): Promise<string | null> {
  let p = probes.get(backend);
  if (!p) {
    p = (async () => {
      if (!platformBackends().includes(backend)) return `${backend} needs onnxruntime-node (Node.js); in a browser use wasm or webgpu`;
      if (!isNode && backend === 'webgpu' && !(await webGpuAdapterInfo())) return 'no WebGPU adapter (navigator.gpu missing or requestAdapter() returned null)';
      try {
        const ort = await loadOrt(runtimeOf(backend));
        const s = await createSession(ort, runtimeOf(backend), identityModel('float32', 1), baseSessionOptions(backend));
        const out = await s.run({ x: new ort.Tensor('float32', new Float32Array([1, 2]), [2]) });
        await s.release();
        return out.y ? null : 'identity probe returned nothing';
      } catch (e) {
        return (e as Error)?.message ?? String(e);
      }
    })();
    probes.set(backend, p);
  }
  return p;
}

/** Backends that work here (each probed once with a tiny graph; results are cached). */
export async function availableBackends(): Promise<Backend[]> {
  const list = platformBackends();
  const errors: (string | null)[] = [];
  for (const b of list) errors.push(await probeBackend(b));
  return list.filter((_, i) => errors[i] === null);
}

/**
 * Resolves `auto` (see `SessionOptions.backend`) and validates a backend name. Does not probe an
 * explicitly named backend: `ModuleSession.create` reports it unavailable with the reason.
 */
export async function resolveBackend(backend: SessionOptions['backend']): Promise<Backend> {
  const b = backend ?? 'auto';
  if (b === 'auto') {
    // onnxruntime-node is an optional peer: without it, Node runs on onnxruntime-web's wasm.
    if (isNode) return (await probeBackend('cpu')) === null ? 'cpu' : 'wasm';
    const info = await webGpuAdapterInfo();
    return info && !info.isFallbackAdapter && (await probeBackend('webgpu')) === null ? 'webgpu' : 'wasm';
  }
  if (!BACKENDS.includes(b)) throw new InvalidOptionError('backend', `'${String(b)}' is not one of auto, ${BACKENDS.join(', ')}`);
  return b;
}

export async function unavailable(backend: Backend, error: string): Promise<BackendUnavailableError> {
  const others = (
    await Promise.all(
      platformBackends()
        .filter((b) => b !== backend)
        .map(async (b) => ((await probeBackend(b)) === null ? b : null)),
    )
  ).filter((b): b is Backend => b !== null);
  return new BackendUnavailableError(backend, [{ backend, error }], others);
}
