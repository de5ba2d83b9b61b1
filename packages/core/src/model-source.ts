import { BackendUnavailableError, Mplug2Error } from './errors.js';
import type { Manifest, ModuleName } from './manifest.js';
import { availableBackends, resolveBackend, type Backend, type ModuleSession, type SessionOptions } from './runtime/session.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_HASH_FILE = 'manifest.json.sha256';

export type VerifyLevel = 'full' | 'graphs' | 'none';

export interface OpenModelOptions {
  /**
   * `graphs` (default): hash the manifest and every ONNX graph, check every data file's size.
   * `full`: also hash the weight files (seconds per GB). `none`: trust the directory.
   */
  readonly verify?: VerifyLevel;
}

/**
 * Where a converted model comes from: its manifest and sessions for its graphs. `ModelDirectory`
 * reads a directory on disk (Node); `RemoteModel` fetches one over HTTP (browser).
 */
export interface ModelSource {
  readonly location: string;
  readonly manifest: Manifest;
  has(module: ModuleName): boolean;
  session(module: ModuleName, role: string, options?: SessionOptions): Promise<ModuleSession>;
}

/** The graph file of `module`/`role` and the data files it references; `MODULE_MISSING` when absent. */
export function graphEntry(manifest: Manifest, location: string, module: ModuleName, role: string): { file: string; data: readonly string[] } {
  const entry = manifest.modules[module];
  const file = entry?.graphs[role];
  if (!entry || !file)
    throw new Mplug2Error('MODULE_MISSING', `${location}: the model has no ${module}${entry ? ` graph '${role}'` : ''} (modules: ${Object.keys(manifest.modules).join(', ')})`);
  return { file, data: entry.data };
}

/**
 * The backend a model's graphs run on. Graphs converted with fused attention
 * (`com.microsoft.MultiHeadAttention`) are not run on WebGPU: onnxruntime's WebGPU kernels compute
 * them wrongly (onnxruntime-node 1.30: wrong results from 32 key tokens on; onnxruntime-web 1.30:
 * "Mask not supported" for the decoder's masked attention). `auto` then falls back to the default
 * CPU backend; an explicit `webgpu` is a `BackendUnavailableError` naming the fix
 * (`mplug2 convert --primitive-attention`).
 */
export async function backendForModel(manifest: Manifest, location: string, requested: SessionOptions['backend']): Promise<Backend> {
  const backend = await resolveBackend(requested);
  if (backend !== 'webgpu' || !manifest.graphOptions.fusedAttention) return backend;
  const fallback = (await availableBackends()).filter((b) => b !== 'webgpu');
  if ((requested ?? 'auto') === 'auto') return fallback[0] ?? 'wasm';
  throw new BackendUnavailableError(
    'webgpu',
    [{ backend: 'webgpu', error: `${location} was converted with fused attention, which onnxruntime's WebGPU kernels get wrong; convert it with --primitive-attention to run on webgpu` }],
    fallback,
  );
}
