import { BackendUnavailableError, ModelTooLargeError, Mplug2Error } from './errors.js';
import type { Manifest, ModuleName } from './manifest.js';
import { availableBackends, checkComputeSupport, resolveBackend, type Backend } from './runtime/backends.js';
import type { ModuleSession, SessionOptions } from './runtime/session.js';

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

/**
 * The graph of `module`/`role` to run, the backend it runs on and the data files it references
 * (`MODULE_MISSING` when the model lacks it). onnxruntime's WebGPU kernels for the fused attention op
 * (`com.microsoft.MultiHeadAttention`) compute wrong results (onnxruntime-node 1.30: from 32 key
 * tokens on; onnxruntime-web 1.30: "Mask not supported" for the decoder's masked attention; see
 * microsoft/onnxruntime#26064 and #27791), so on webgpu a model converted with fused attention runs
 * its `portableGraphs` (primitive ops, same weights). A model without them (converted before they
 * existed): `auto` falls back to another backend, an explicit `webgpu` is a `BackendUnavailableError`.
 * An fp16-compute model on webgpu without `shader-f16` is refused here too, before anything is loaded.
 */
export async function resolveGraph(
  manifest: Manifest,
  location: string,
  module: ModuleName,
  role: string,
  requested: SessionOptions['backend'],
): Promise<{ backend: Backend; file: string; data: readonly string[] }> {
  const entry = manifest.modules[module];
  const file = entry?.graphs[role];
  if (!entry || !file)
    throw new Mplug2Error(
      'MODULE_MISSING',
      `${location}: the model has no ${module}${entry ? ` graph '${role}'` : ''} (modules: ${Object.keys(manifest.modules).join(', ')})`,
    );
  const backend = await resolveBackend(requested);
  await checkComputeSupport(backend, manifest.graphOptions.compute, `${module}.${role}`);
  if (backend !== 'webgpu' || !manifest.graphOptions.fusedAttention) return { backend, file, data: entry.data };
  const portable = entry.portableGraphs?.[role];
  if (portable) return { backend, file: portable, data: entry.data };
  const fallback = (await availableBackends()).filter((b) => b !== 'webgpu');
  if ((requested ?? 'auto') === 'auto') return { backend: fallback[0] ?? 'wasm', file, data: entry.data };
  throw new BackendUnavailableError(
    'webgpu',
    [
      {
        backend: 'webgpu',
        error: `${location} has only fused-attention graphs, which onnxruntime's WebGPU kernels get wrong; convert it again (the converter now also writes primitive-op graphs) or with --primitive-attention`,
      },
    ],
    fallback,
  );
}

/** Weights onnxruntime-web's 32-bit wasm heap (4 GiB) takes, leaving 1 GiB for activations and the runtime. */
export const WASM_WEIGHT_LIMIT_BYTES = 3 * 2 ** 30;

/**
 * Refuses, before any weight is fetched, a set of modules whose data files cannot fit the backend
 * `requested` resolves to: on `wasm` their weights must stay under `WASM_WEIGHT_LIMIT_BYTES` (all
 * sessions of a page share one wasm heap). The error names the sizes and the smaller weight storages.
 */
export async function checkModelFits(
  manifest: Manifest,
  location: string,
  modules: readonly ModuleName[],
  requested: SessionOptions['backend'],
): Promise<void> {
  const backend = await resolveBackend(requested);
  if (backend !== 'wasm') return;
  const files = new Set(modules.flatMap((m) => manifest.modules[m]?.data ?? []));
  const bytes = manifest.files.filter((f) => files.has(f.path)).reduce((s, f) => s + f.bytes, 0);
  if (bytes <= WASM_WEIGHT_LIMIT_BYTES) return;
  throw new ModelTooLargeError(
    location,
    backend,
    bytes,
    WASM_WEIGHT_LIMIT_BYTES,
    'convert the checkpoint with smaller weights (`mplug2 convert … --dtype q4`, files ≈ 0.2× fp32, or `--dtype int8`, ≈ 0.3×), or run it in Node (backend cpu)',
  );
}
