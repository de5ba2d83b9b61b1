import type * as OrtCommon from 'onnxruntime-common';
import { BackendUnavailableError, InvalidOptionError, Mplug2Error } from '../errors.js';
import { tensor, type DType, type Tensor } from '../tensor.js';

/** Execution backends: `cpu`, `webgpu`, `cuda` run on onnxruntime-node; `wasm` (and `webgpu` in a browser) on onnxruntime-web. */
export type Backend = 'cpu' | 'wasm' | 'webgpu' | 'cuda';
export const BACKENDS: readonly Backend[] = ['cpu', 'wasm', 'webgpu', 'cuda'];

export interface SessionOptions {
  /** `auto` picks `cpu` in Node and `wasm` in a browser. */
  readonly backend?: Backend | 'auto';
  /** Intra-op threads; default = all cores (onnxruntime's default). */
  readonly threads?: number;
  /** External data files the model references, by their location inside the model, when loading from bytes. */
  readonly externalData?: readonly { path: string; data: Uint8Array | string }[];
  /** Label used in errors (usually the module name). */
  readonly label?: string;
}

type OrtModule = typeof OrtCommon;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

async function loadOrt(backend: Backend): Promise<OrtModule> {
  if (backend === 'wasm' || !isNode) return (await import('onnxruntime-web')) as unknown as OrtModule;
  return (await import('onnxruntime-node')) as unknown as OrtModule;
}

function resolveBackend(backend: SessionOptions['backend']): Backend {
  const b = backend ?? 'auto';
  if (b === 'auto') return isNode ? 'cpu' : 'wasm';
  if (!BACKENDS.includes(b)) throw new InvalidOptionError('backend', `'${String(b)}' is not one of auto, ${BACKENDS.join(', ')}`);
  return b;
}

const ORT_DTYPE: Record<DType, OrtCommon.Tensor.Type> = {
  float32: 'float32',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  uint8: 'uint8',
  bool: 'bool',
};

/**
 * One onnxruntime session for one module graph. Runs are serialized per session (onnxruntime
 * rejects overlapping runs on one session), so a session can be shared by concurrent callers.
 */
export class ModuleSession {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly ort: OrtModule,
    private readonly session: OrtCommon.InferenceSession,
    readonly backend: Backend,
    readonly label: string,
  ) {}

  static async create(model: string | Uint8Array, options: SessionOptions = {}): Promise<ModuleSession> {
    const backend = resolveBackend(options.backend);
    const label = options.label ?? (typeof model === 'string' ? model : 'model');
    let ort: OrtModule;
    try {
      ort = await loadOrt(backend);
    } catch (e) {
      throw new BackendUnavailableError(backend, [{ backend, error: (e as Error).message }], isNode ? ['cpu', 'wasm'] : ['wasm']);
    }
    const sessionOptions: OrtCommon.InferenceSession.SessionOptions = {
      executionProviders: [backend === 'cpu' ? 'cpu' : backend],
      graphOptimizationLevel: 'all',
      ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
      ...(options.externalData ? { externalData: options.externalData.map((e) => ({ path: e.path, data: e.data })) as never } : {}),
    };
    try {
      const session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, sessionOptions)
          : await ort.InferenceSession.create(model, sessionOptions);
      return new ModuleSession(ort, session, backend, label);
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (/backend|execution provider|shared library|adapter/i.test(msg))
        throw new BackendUnavailableError(backend, [{ backend, error: msg }], isNode ? ['cpu', 'wasm'] : ['wasm']);
      throw new Mplug2Error('SESSION_CREATE', `${label}: onnxruntime could not load the model: ${msg}`, { cause: e });
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Runs the graph. Output dims are named by `outputDims` when given, else `d0, d1, …`. */
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
      ortFeeds[name] = new this.ort.Tensor(ORT_DTYPE[t.dtype], t.data as never, [...t.shape]);
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
      result[name] = tensor(dtype, outputDims[name] ?? shape.map((_, i) => `d${i}`), shape, v.data as never, `${this.label}.${name}`);
    }
    return result;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.session.release();
  }
}
