// Sessions: one onnxruntime session per module graph (ModuleSession), moving tensors to and from the
// device, the NaN guard. Loading onnxruntime is loading.ts; which backends work is backends.ts.
import type * as OrtCommon from 'onnxruntime-common';
import { Mplug2Error } from '../errors.js';
import type { ComputePrecision } from '../onnx/graph.js';
import { tensor, type DType, type Tensor } from '../tensor.js';
import { checkComputeSupport, platformBackends, resolveBackend, unavailable, webGpuAdapterInfo, type Backend } from './backends.js';
import {
  baseSessionOptions,
  createSession,
  defaultNodeThreads,
  identityModel,
  isNode,
  loadOrt,
  runtimeOf,
  type OrtModule,
  type OrtRuntime,
} from './loading.js';
import { isDeviceTensor, newDeviceTensorOwner, releaseDeviceTensorOwner, wrapDeviceTensor, type DeviceTensor } from './device.js';

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
  /**
   * Let onnxruntime place nodes its execution provider has no kernel for on its CPU provider (default
   * true). `false` makes session creation fail instead (`SESSION_CREATE` naming the CPU-assigned nodes),
   * proving a webgpu/cuda session runs every node on the device — the backend tests use it so a silent
   * CPU fallback cannot pass as GPU parity.
   */
  readonly cpuFallback?: boolean;
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
    if (!isNode && backend === 'webgpu' && !(await webGpuAdapterInfo()))
      throw await unavailable(backend, 'no WebGPU adapter (navigator.gpu missing or requestAdapter() returned null)');
    await checkComputeSupport(backend, options.compute, label);
    if (runtime === 'onnxruntime-web' && options.threads) (ort.env.wasm as { numThreads?: number }).numThreads = options.threads;
    const device = backend === 'webgpu' ? options.deviceOutputs : undefined;
    const sessionOptions: OrtCommon.InferenceSession.SessionOptions = {
      ...baseSessionOptions(backend),
      ...(runtime === 'onnxruntime-node' && (options.threads || backend === 'cpu')
        ? { intraOpNumThreads: options.threads || (await defaultNodeThreads()) }
        : {}),
      ...(runtime === 'onnxruntime-node' ? { enableCpuMemArena: options.memoryArena ?? true } : {}),
      ...(options.cpuFallback === false ? { extra: { session: { disable_cpu_ep_fallback: '1' } } } : {}),
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
  async run(feeds: Record<string, Tensor>, outputDims: Record<string, readonly string[]> = {}, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
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
        if (this.backend !== 'webgpu')
          throw new Mplug2Error('TENSOR_ON_DEVICE', `${this.label}.${name}: ${t.label} is in GPU memory but this session runs on ${this.backend}`);
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

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
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
