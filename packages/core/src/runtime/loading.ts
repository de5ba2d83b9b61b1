// Loading onnxruntime: which package runs a backend, importing it (onnxruntime-node is an optional peer,
// hidden from bundlers), and creating sessions on it. The backends (backends.ts) and sessions
// (session.ts) build on this.
import type * as OrtCommon from 'onnxruntime-common';
import { GraphBuilder } from '../onnx/graph.js';
import type { DType } from '../tensor.js';
import type { Backend } from './backends.js';

/** The onnxruntime package a backend runs on. */
export type OrtRuntime = 'onnxruntime-node' | 'onnxruntime-web';

export type OrtModule = typeof OrtCommon;

export const isNode = typeof process !== 'undefined' && !!(process as { versions?: { node?: string } }).versions?.node;

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
export function defaultNodeThreads(): Promise<number> {
  nodeCores ??= (import(/* @vite-ignore */ /* webpackIgnore: true */ NODE_OS) as Promise<typeof import('node:os')>).then((os) =>
    Math.max(1, os.availableParallelism?.() ?? os.cpus().length),
  );
  return nodeCores;
}
const ortModules = new Map<OrtRuntime, Promise<OrtModule>>();

/**
 * onnxruntime-node and onnxruntime-web are optional peer dependencies of @mplug2/core (a browser install skips
 * the first, a Node-only install the second): say which one is missing and how to get it.
 */
function explainMissingOrt(e: unknown, runtime: OrtRuntime): never {
  const code = (e as { code?: string })?.code;
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((e as Error).message).includes(runtime)) {
    const usage =
      runtime === 'onnxruntime-node'
        ? "needed for the cpu, webgpu and cuda backends in Node): run `npm install onnxruntime-node@1.30.0`, or use backend 'wasm'"
        : 'needed for the wasm backend, and for every backend in a browser): run `npm install onnxruntime-web@1.30.0`';
    throw new Error(`${runtime} is not installed (an optional peer dependency of @mplug2/core, ${usage}`, { cause: e });
  }
  throw e;
}

export function loadOrt(runtime: OrtRuntime): Promise<OrtModule> {
  let p = ortModules.get(runtime);
  if (!p) {
    p =
      runtime === 'onnxruntime-web'
        ? (import('onnxruntime-web').catch((e) => explainMissingOrt(e, runtime)) as unknown as Promise<OrtModule>)
        : (import(/* @vite-ignore */ /* webpackIgnore: true */ ORT_NODE_PACKAGE).catch((e) => explainMissingOrt(e, runtime)) as Promise<OrtModule>);
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

export function createSession(
  ort: OrtModule,
  runtime: OrtRuntime,
  model: string | Uint8Array,
  options: OrtCommon.InferenceSession.SessionOptions,
): Promise<OrtCommon.InferenceSession> {
  if (runtime !== 'onnxruntime-web') return ort.InferenceSession.create(model as never, options);
  const p = webCreateQueue.then(() => ort.InferenceSession.create(model as never, options));
  webCreateQueue = p.catch(() => undefined);
  return p;
}

export function runtimeOf(backend: Backend): OrtRuntime {
  if (!isNode || backend === 'wasm') return 'onnxruntime-web';
  return 'onnxruntime-node';
}

/** A tiny identity graph (one per dtype and rank): probes a backend, moves tensors to/from the device. */
export function identityModel(dtype: DType, rank: number): Uint8Array {
  const g = new GraphBuilder('mplug2_identity');
  const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
  const x = g.input('x', dtype, dims);
  g.output(g.op('Identity', [x]), 'y', dtype, dims);
  return g.toBytes();
}

export function baseSessionOptions(backend: Backend): OrtCommon.InferenceSession.SessionOptions {
  return { executionProviders: [backend], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
}
