import type * as OrtCommon from 'onnxruntime-common';
import { BackendUnavailableError, InvalidOptionError, Mplug2Error } from '../errors.js';
import { GraphBuilder, type ComputePrecision } from '../onnx/graph.js';
import { tensor, type DType, type Tensor } from '../tensor.js';
import { isDeviceTensor, newDeviceTensorOwner, releaseDeviceTensorOwner, wrapDeviceTensor, type DeviceTensor } from './device.js';

/**
 * Execution backends. In Node: `cpu`, `webgpu` (Dawn) and `cuda` run on onnxruntime-node, `wasm` on
 * onnxruntime-web. In a browser or worker: `wasm` and `webgpu` on onnxruntime-web.
 */
export type Backend = 'cpu' | 'wasm' | 'webgpu' | 'cuda';
export const BACKENDS: readonly Backend[] = ['cpu', 'wasm', 'webgpu', 'cuda'];

/** The onnxruntime package a backend runs on. */
export type OrtRuntime = 'onnxruntime-node' | 'onnxruntime-web';

export interface SessionOptions {
  /**
   * `auto` (default) picks `cpu` in Node (`wasm` when onnxruntime-node is not installed); in a browser `webgpu` when a hardware adapter exists (not
   * a software fallback such as SwiftShader, which is slower than wasm), else `wasm`.
   */
  readonly backend?: Backend | 'auto';
  /**
   * Intra-op threads (onnxruntime-node) / wasm threads (onnxruntime-web, set once per page before the
   * first session). Default in Node: every core the process may use (`os.availableParallelism()`) —
   * onnxruntime's own default counts physical cores and took one of a 2-vCPU machine's two.
   */
  readonly threads?: number;
  /** External data files the model references, by their location inside the model, when loading from bytes. */
  readonly externalData?: readonly { path: string; data: Uint8Array | string }[];
  /** Label used in errors (usually the module name). */
  readonly label?: string;
  /**
   * Outputs returned as `DeviceTensor`s (left in GPU memory, not downloaded): output names, or
   * `'all'`. Only the `webgpu` backend has device memory; other backends ignore it.
   */
  readonly deviceOutputs?: readonly string[] | 'all';
  /**
   * Throw `Mplug2Error` `NON_FINITE` when a float output downloaded to JS holds NaN or ±Inf (the
   * NaN guard, e.g. for fp16 weights that overflow). Default true; costs one pass over the outputs.
   */
  readonly checkFinite?: boolean;
  /**
   * onnxruntime-node: keep the CPU memory arena between runs (default true). Without it every run
   * allocates its activations from the OS again — buffers of tens of MB that glibc maps and unmaps,
   * so each run faults them in anew (large VideoQA, fp32: 2.1 M page faults and 5.4 s of system time
   * in the first call, 0.24 M in each later one); with it a session faults its activations in once and
   * keeps them: the resident size grows by the sum of its modules' activations instead of the largest
   * one's (large VideoQA: 6.1 GB peak instead of 5.0 GB). `false` trades that memory for the faults.
   */
  readonly memoryArena?: boolean;
  /**
   * The float type the graph computes in, for graphs loaded directly (model sources check their
   * manifest's `graphOptions.compute` when they pick the graph). `fp16` on webgpu needs the adapter
   * feature `shader-f16`: without it session creation is a `BackendUnavailableError`.
   */
  readonly compute?: ComputePrecision;
}

type OrtModule = typeof OrtCommon;

const isNode = typeof process !== 'undefined' && !!(process as { versions?: { node?: string } }).versions?.node;

/** Whether this code runs in Node (else a browser, worker or other web runtime). */
export function runningInNode(): boolean {
  return isNode;
}

// Hidden from bundlers: a browser bundle must never try to include onnxruntime-node (it is only
// imported when running in Node).
const ORT_NODE_PACKAGE = ['onnxruntime', 'node'].join('-');
const NODE_OS = ['node', 'os'].join(':');
let nodeCores: Promise<number> | undefined;

/** Cores this Node process may use (the default intra-op thread count). */
function defaultNodeThreads(): Promise<number> {
  nodeCores ??= (import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_OS) as Promise<typeof import('node:os')>).then((os) => Math.max(1, os.availableParallelism?.() ?? os.cpus().length));
  return nodeCores;
}
const ortModules = new Map<OrtRuntime, Promise<OrtModule>>();

/** onnxruntime-node is an optional peer dependency of @mplug2/core (browser installs skip it): say how to get it. */
function explainMissingOrtNode(e: unknown): never {
  const code = (e as { code?: string })?.code;
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((e as Error).message).includes(ORT_NODE_PACKAGE))
    throw new Error(
      `${ORT_NODE_PACKAGE} is not installed (an optional peer dependency of @mplug2/core, needed for the cpu, webgpu and cuda backends in Node): run \`npm install ${ORT_NODE_PACKAGE}@1.30.0\`, or use backend 'wasm'`,
      { cause: e },
    );
  throw e;
}

function loadOrt(runtime: OrtRuntime): Promise<OrtModule> {
  let p = ortModules.get(runtime);
  if (!p) {
    p =
      runtime === 'onnxruntime-web'
        ? (import('onnxruntime-web') as unknown as Promise<OrtModule>)
        : (import(/* @vite-ignore */ /* webpackIgnore: true */ ORT_NODE_PACKAGE).catch(explainMissingOrtNode) as Promise<OrtModule>);
    p = p.then((m) => {
      const d = (m as unknown as { default?: OrtModule }).default;
      const ort = d?.InferenceSession ? d : m;
      // Failures reach callers as typed errors; onnxruntime's own logger would also print them (e.g.
      // the missing CUDA provider library whenever backends are probed).
      ort.env.logLevel = 'fatal';
      return ort;
    });
    ortModules.set(runtime, p);
    p.catch(() => ortModules.delete(runtime));
  }
  return p;
}

// onnxruntime-web initialises its wasm module once per backend family; two session creations racing
// on a fresh page (e.g. wasm and webgpu probes) fail with "multiple calls to 'initWasm()'". Session
// creation on onnxruntime-web is therefore serialized (it is not a hot path; runs are not affected).
let webCreateQueue: Promise<unknown> = Promise.resolve();

function createSession(ort: OrtModule, runtime: OrtRuntime, model: string | Uint8Array, options: OrtCommon.InferenceSession.SessionOptions): Promise<OrtCommon.InferenceSession> {
  if (runtime !== 'onnxruntime-web') return ort.InferenceSession.create(model as never, options);
  const p = webCreateQueue.then(() => ort.InferenceSession.create(model as never, options));
  webCreateQueue = p.catch(() => undefined);
  return p;
}

/** Backends this platform can name at all (before probing). */
export function platformBackends(): Backend[] {
  return isNode ? ['cpu', 'wasm', 'webgpu', 'cuda'] : ['wasm', 'webgpu'];
}

function runtimeOf(backend: Backend): OrtRuntime {
  if (!isNode || backend === 'wasm') return 'onnxruntime-web';
  return 'onnxruntime-node';
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

/** A tiny identity graph (one per dtype and rank): probes a backend, moves tensors to/from the device. */
function identityModel(dtype: DType, rank: number): Uint8Array {
  const g = new GraphBuilder('mplug2_identity');
  const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
  const x = g.input('x', dtype, dims);
  g.output(g.op('Identity', [x]), 'y', dtype, dims);
  return g.toBytes();
}

function baseSessionOptions(backend: Backend): OrtCommon.InferenceSession.SessionOptions {
  return { executionProviders: [backend], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
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
      return info?.features.includes('shader-f16') ? null : `the WebGPU adapter (${info?.vendor || 'unknown vendor'} ${info?.architecture ?? ''}) lacks the shader-f16 feature`;
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

async function unavailable(backend: Backend, error: string): Promise<BackendUnavailableError> {
  const others = (await Promise.all(platformBackends().filter((b) => b !== backend).map(async (b) => ((await probeBackend(b)) === null ? b : null)))).filter(
    (b): b is Backend => b !== null,
  );
  return new BackendUnavailableError(backend, [{ backend, error }], others);
}

const ORT_DTYPE: Record<DType, OrtCommon.Tensor.Type> = {
  float32: 'float32',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  uint8: 'uint8',
  bool: 'bool',
};

/** `{index, count}` of non-finite values in a float output (fp16 as raw bits). */
function nonFinite(dtype: DType, data: ArrayLike<number>): { first: number; count: number } | null {
  let first = -1;
  let count = 0;
  if (dtype === 'float32') {
    const d = data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v - v !== 0) {
        if (first < 0) first = i;
        count++;
      }
    }
  } else if (dtype === 'float16') {
    const d = data as Uint16Array;
    for (let i = 0; i < d.length; i++)
      if ((d[i] & 0x7c00) === 0x7c00) {
        if (first < 0) first = i;
        count++;
      }
  }
  return count ? { first, count } : null;
}

/** Identity sessions used to move tensors between JS memory and a device, per runtime/backend/dtype/rank/direction. */
const movers = new Map<string, Promise<OrtCommon.InferenceSession>>();

async function mover(backend: Backend, dtype: DType, rank: number, toDevice: boolean): Promise<{ ort: OrtModule; session: OrtCommon.InferenceSession }> {
  const ort = await loadOrt(runtimeOf(backend));
  const key = `${backend}:${dtype}:${rank}:${toDevice}`;
  let s = movers.get(key);
  if (!s) {
    s = createSession(ort, runtimeOf(backend), identityModel(dtype, rank), {
      ...baseSessionOptions(backend),
      ...(toDevice ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
    });
    movers.set(key, s);
    s.catch(() => movers.delete(key));
  }
  return { ort, session: await s };
}

/**
 * One onnxruntime session for one module graph. Runs are serialized per session (onnxruntime
 * rejects overlapping runs on one session), so a session can be shared by concurrent callers.
 */
export class ModuleSession {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private readonly deviceOwner = newDeviceTensorOwner();

  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtCommon.InferenceSession,
    readonly backend: Backend,
    readonly label: string,
    private readonly checkFinite: boolean,
  ) {}

  static async create(model: string | Uint8Array, options: SessionOptions = {}): Promise<ModuleSession> {
    const backend = await resolveBackend(options.backend);
    const label = options.label ?? (typeof model === 'string' ? model : 'model');
    if (!platformBackends().includes(backend)) throw await unavailable(backend, `${backend} needs onnxruntime-node (Node.js); in a browser use wasm or webgpu`);
    const runtime = runtimeOf(backend);
    let ort: OrtModule;
    try {
      ort = await loadOrt(runtime);
    } catch (e) {
      throw await unavailable(backend, `${runtime} could not be loaded: ${(e as Error).message}`);
    }
    if (!isNode && backend === 'webgpu' && !(await webGpuAdapterInfo())) throw await unavailable(backend, 'no WebGPU adapter (navigator.gpu missing or requestAdapter() returned null)');
    await checkComputeSupport(backend, options.compute, label);
    if (runtime === 'onnxruntime-web' && options.threads) (ort.env.wasm as { numThreads?: number }).numThreads = options.threads;
    const device = backend === 'webgpu' ? options.deviceOutputs : undefined;
    const sessionOptions: OrtCommon.InferenceSession.SessionOptions = {
      ...baseSessionOptions(backend),
      ...(runtime === 'onnxruntime-node' && (options.threads || backend === 'cpu') ? { intraOpNumThreads: options.threads || (await defaultNodeThreads()) } : {}),
      ...(runtime === 'onnxruntime-node' ? { enableCpuMemArena: options.memoryArena ?? true } : {}),
      ...(options.externalData ? { externalData: options.externalData.map((e) => ({ path: e.path, data: e.data })) as never } : {}),
      ...(device === 'all'
        ? { preferredOutputLocation: 'gpu-buffer' as const }
        : device?.length
          ? { preferredOutputLocation: Object.fromEntries(device.map((n) => [n, 'gpu-buffer' as const])) }
          : {}),
    };
    try {
      const session = await createSession(ort, runtime, model, sessionOptions);
      return new ModuleSession(ort, session, backend, label, options.checkFinite ?? true);
    } catch (e) {
      const msg = (e as Error)?.message ?? String(e);
      if (/backend|execution provider|shared library|adapter|webgpu.*not|not.*webgpu|no available/i.test(msg)) throw await unavailable(backend, msg);
      throw new Mplug2Error('SESSION_CREATE', `${label}: onnxruntime could not load the model: ${msg}`, { cause: e });
    }
  }

  /** Moves a JS tensor into device memory of `backend` (webgpu). */
  static async upload<D extends DType>(t: Tensor<D>, backend: Backend = 'webgpu', label = 'tensor'): Promise<DeviceTensor<D>> {
    if (isDeviceTensor(t)) return t as DeviceTensor<D>;
    const { ort, session } = await mover(backend, t.dtype, t.shape.length, true);
    const out = await session.run({ x: new ort.Tensor(ORT_DTYPE[t.dtype], t.data as never, [...t.shape]) });
    return wrapDeviceTensor(t.dtype, t.dims, out.y as never, label);
  }

  /** Copies a device tensor back into JS memory (a no-op for JS tensors). */
  static async download<D extends DType>(t: Tensor<D>): Promise<Tensor<D>> {
    if (!isDeviceTensor(t)) return t;
    const { session } = await mover(t.backend, t.dtype, t.shape.length, false);
    const out = await session.run({ x: t.handle as never });
    return tensor(t.dtype, t.dims, t.shape, out.y.data as never, t.label);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Which onnxruntime package runs this session. */
  get runtime(): OrtRuntime {
    return runtimeOf(this.backend);
  }

  /**
   * Runs the graph. Output dims are named by `outputDims` when given, else `d0, d1, …`. Feeds may be
   * device tensors (from sessions on the same device); outputs listed in `deviceOutputs` at creation
   * come back as device tensors, owned by the caller (dispose them when done).
   */
  async run(
    feeds: Record<string, Tensor>,
    outputDims: Record<string, readonly string[]> = {},
    fetches?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const job = this.queue.then(() => this.runNow(feeds, outputDims, fetches));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private async runNow(
    feeds: Record<string, Tensor>,
    outputDims: Record<string, readonly string[]>,
    fetches?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    if (this.disposed) throw new Mplug2Error('SESSION_DISPOSED', `${this.label}: session was disposed`);
    const ortFeeds: Record<string, OrtCommon.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      if (isDeviceTensor(t)) {
        if (this.backend !== 'webgpu') throw new Mplug2Error('TENSOR_ON_DEVICE', `${this.label}.${name}: ${t.label} is in GPU memory but this session runs on ${this.backend}`);
        ortFeeds[name] = t.handle as OrtCommon.Tensor;
      } else {
        ortFeeds[name] = new this.ort.Tensor(ORT_DTYPE[t.dtype], t.data as never, [...t.shape]);
      }
    }
    let out: OrtCommon.InferenceSession.ReturnType;
    try {
      out = fetches ? await this.session.run(ortFeeds, [...fetches]) : await this.session.run(ortFeeds);
    } catch (e) {
      throw new Mplug2Error('SESSION_RUN', `${this.label}: ${(e as Error).message}`, { cause: e });
    }
    const result: Record<string, Tensor> = {};
    for (const [name, v] of Object.entries(out)) {
      const dtype = v.type as DType;
      const shape = v.dims.map(Number);
      const dims = outputDims[name] ?? shape.map((_, i) => `d${i}`);
      if (v.location === 'gpu-buffer') {
        result[name] = wrapDeviceTensor(dtype, dims, v as never, `${this.label}.${name}`, this.deviceOwner);
        continue;
      }
      if (this.checkFinite) {
        const bad = nonFinite(dtype, v.data as ArrayLike<number>);
        if (bad) {
          for (const r of Object.values(result)) if (isDeviceTensor(r)) r.dispose();
          throw new Mplug2Error(
            'NON_FINITE',
            `${this.label}.${name}: ${bad.count} NaN/Inf value(s) (first at flat index ${bad.first}); with fp16 weights or fp16 compute this is an overflow past ±65504 — use an fp32 model`,
          );
        }
      }
      result[name] = tensor(dtype, dims, shape, v.data as never, `${this.label}.${name}`);
    }
    return result;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    // Device outputs still alive are released with the session (onnxruntime frees their buffers).
    releaseDeviceTensorOwner(this.deviceOwner);
    await this.session.release();
  }
}

/** Copies a device tensor (e.g. a `deviceOutputs` output) back into JS memory; JS tensors are returned as they are. */
export function downloadTensor<D extends DType>(t: Tensor<D>): Promise<Tensor<D>> {
  return ModuleSession.download(t);
}
