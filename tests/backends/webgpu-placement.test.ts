import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Mplug2Error, ModuleSession, probeBackend, tensor } from '@mplug2/core';
import { GraphBuilder } from '@mplug2/core/onnx';
import { goldenModel, type GoldenName } from '../helpers/golden';
import { useSwiftShaderVulkan } from './webgpu-env';

/**
 * Proves the webgpu parity cases (node.test.ts) measure onnxruntime's WebGPU kernels, not its silent
 * CPU fallback. onnxruntime-node 1.30's WebGPU provider has no int64 kernels (its `enableInt64` option
 * is not accepted by the Node binding), so the graphs' int64 shape arithmetic (Shape/Slice/Concat/
 * Cast/Add/Gather on shapes) lands on the CPU provider and `cpuFallback: false`
 * (`session.disable_cpu_ep_fallback`) refuses every module graph. Instead each graph webgpu runs is
 * loaded in a child process with onnxruntime's verbose log, which lists every node's provider; the
 * test requires every CPU-placed node to be one the WebGPU provider declared it has no kernel for
 * (non-float types) or one onnxruntime moved to the CPU as shape computation, and no compute op there.
 */
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');
const skip = webgpuError ? webgpuError.split('\n')[0].slice(0, 160) : null;

/** Float compute that must run on the GPU whenever a graph has it. */
const COMPUTE_OPS = new Set([
  'MatMul',
  'Gemm',
  'Conv',
  'Softmax',
  'LayerNormalization',
  'SkipLayerNormalization',
  'Erf',
  'Gelu',
  'FastGelu',
  'BiasGelu',
  'Attention',
  'MultiHeadAttention',
  'ReduceMean',
  'Sqrt',
  'Pow',
  'Tanh',
]);

interface Placement {
  readonly cpu: { op: string; name: string }[];
  readonly gpu: { op: string; name: string }[];
  /** Nodes the WebGPU provider has no kernel for, and nodes onnxruntime moved to the CPU as shape computation. */
  readonly explained: Set<string>;
  /** onnxruntime's one-line verdict when every node went to the WebGPU provider (no per-node list then). */
  readonly allOnGpu: boolean;
}

// Native logging goes to the process's stderr, out of reach in-process: one child per graph.
const CHILD = `
import ort from 'onnxruntime-node';
ort.env.logLevel = 'verbose';
const s = await ort.InferenceSession.create(process.argv[1], { executionProviders: ['webgpu'], logSeverityLevel: 0, logVerbosityLevel: 0 });
await s.release();
`;

function placement(graph: string): Placement {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, graph], { encoding: 'utf8', env: process.env, maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`loading ${graph} on webgpu failed: ${r.stderr.slice(-2000)}`);
  const log = `${r.stdout}\n${r.stderr}`;
  const cpu: Placement['cpu'] = [];
  const gpu: Placement['gpu'] = [];
  let into: Placement['cpu'] | null = null;
  const explained = new Set<string>();
  const allOnGpu = /All nodes placed on \[WebGpuExecutionProvider\]/.test(log);
  for (const line of log.split('\n')) {
    const placed = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (placed) {
      into = placed[1] === 'CPUExecutionProvider' ? cpu : placed[1] === 'WebGpuExecutionProvider' ? gpu : null;
      continue;
    }
    const node = /VerifyEachNodeIsAssignedToAnEp\]\s+(\w+) \((.*)\)\s*$/.exec(line);
    if (node && into) into.push({ op: node[1], name: node[2] });
    else if (!/VerifyEachNodeIsAssignedToAnEp/.test(line)) into = null;
    const none = /webgpu kernel not found in registries for Op type: \w+ node name: (.*)$/.exec(line);
    if (none) explained.add(none[1].trim());
    const shape = /Candidate for fallback CPU execution: (.*)$/.exec(line);
    if (shape) explained.add(shape[1].trim());
  }
  if (!allOnGpu && !gpu.length && !cpu.length) throw new Error(`no node placements in onnxruntime's log for ${graph}`);
  return { cpu, gpu, explained, allOnGpu };
}

/** The graphs webgpu runs: a fused-attention model's portable graphs, else the graphs as they are. */
function webgpuGraphs(dir: string): string[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.onnx'));
  return files.filter((f) => f.endsWith('.portable.onnx') || !files.includes(f.replace(/\.onnx$/, '.portable.onnx'))).map((f) => path.join(dir, f));
}

describe('node webgpu: every compute node runs on the WebGPU provider', () => {
  const cases: { name: GoldenName; fusedAttention: boolean }[] = (['videoqa_tiny', 'videocaption_tiny'] as const).flatMap((name) =>
    [true, false].map((f) => ({ name, fusedAttention: f })),
  );
  for (const c of cases)
    it.skipIf(skip !== null)(
      skip === null ? `${c.name} (fused attention: ${c.fusedAttention})` : `skipped: webgpu unavailable here (${skip})`,
      async () => {
        const dir = (await goldenModel(c.name, { fusedAttention: c.fusedAttention })).location;
        const graphs = webgpuGraphs(dir);
        expect(graphs.length).toBeGreaterThanOrEqual(3);
        const cpuOps: Record<string, string[]> = {};
        for (const g of graphs) {
          const p = placement(g);
          const label = path.basename(g);
          expect(p.allOnGpu || p.gpu.some((n) => COMPUTE_OPS.has(n.op)), `${label}: no compute node on webgpu`).toBe(true);
          expect(
            p.cpu.filter((n) => COMPUTE_OPS.has(n.op)),
            `${label}: compute on the CPU provider`,
          ).toEqual([]);
          expect(
            p.cpu.filter((n) => !p.explained.has(n.name)),
            `${label}: CPU nodes the WebGPU provider could have run`,
          ).toEqual([]);
          cpuOps[label] = [...new Set(p.cpu.map((n) => n.op))].sort();
        }
        process.stdout.write(`[webgpu placement] ${c.name}${c.fusedAttention ? '' : ' (primitive)'} CPU-placed ops: ${JSON.stringify(cpuOps)}\n`);
      },
      180_000,
    );

  it.skipIf(skip !== null)(
    skip === null ? 'cpuFallback: false refuses a graph with CPU nodes, runs an all-GPU graph' : `skipped: webgpu unavailable here (${skip})`,
    async () => {
      const gpuOnly = new GraphBuilder('gpu_only');
      const x = gpuOnly.input('x', 'float32', ['n']);
      gpuOnly.output(gpuOnly.op('Add', [x, gpuOnly.scalar(1)]), 'y', 'float32', ['n']);
      const s = await ModuleSession.create(gpuOnly.toBytes(), { backend: 'webgpu', cpuFallback: false });
      const { y } = await s.run({ x: tensor('float32', ['n'], [2], new Float32Array([1, 2])) });
      expect(Array.from(y.data as Float32Array)).toEqual([2, 3]);
      await s.dispose();

      // int64 arithmetic: no WebGPU kernel, so onnxruntime would run it on the CPU.
      const shapeOps = new GraphBuilder('shape_ops');
      const v = shapeOps.input('v', 'int64', ['n']);
      shapeOps.output(shapeOps.op('Add', [v, v]), 'sum', 'int64', ['n']);
      const refused = await ModuleSession.create(shapeOps.toBytes(), { backend: 'webgpu', cpuFallback: false, label: 'shape_ops' }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Mplug2Error);
      expect((refused as Mplug2Error).code).toBe('SESSION_CREATE');
      expect((refused as Error).message).toMatch(/shape_ops: .*fallback to CPU EP has been explicitly disabled/);
    },
  );
});
