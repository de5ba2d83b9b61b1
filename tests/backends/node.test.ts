import path from 'node:path';
import { afterAll } from 'vitest';
import { probeBackend } from '@mplug2/core';
import { runParity } from '@mplug2/converter';
import { GOLDENS, goldenModel } from '../helpers/golden';
import { defineBackendSuite, measured } from './suite';
import { useSwiftShaderVulkan } from './webgpu-env';

// Node: cpu and webgpu on onnxruntime-node, wasm on onnxruntime-web. WebGPU runs on whatever
// adapter Dawn finds (SwiftShader's Vulkan ICD from Chromium when there is no GPU).
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');
if (webgpuError) process.stderr.write(`[backends] node webgpu unavailable, its cases are skipped: ${webgpuError}\n`);
// Kept short for the test name: the first line of the probe's error.
const webgpuSkip = webgpuError ? webgpuError.split('\n')[0].slice(0, 160) : null;

defineBackendSuite({
  name: 'node',
  backends: [
    { backend: 'cpu', fusedAttention: [true, false] },
    { backend: 'wasm', fusedAttention: [true, false] },
    // A fused-attention model runs its portable graphs on webgpu (onnxruntime's WebGPU
    // MultiHeadAttention is wrong, see README "Backends"); --primitive-attention models run as they are.
    // Always registered: skipped, with the probe's reason, where webgpu does not run.
    { backend: 'webgpu', fusedAttention: [true, false], unavailable: webgpuSkip },
  ],
  // onnxruntime's CPU fallback stays on: its WebGPU provider has no int64 kernels, so the graphs' shape
  // arithmetic runs on the CPU (`cpuFallback: false` refuses every module graph). webgpu-placement.test.ts
  // proves from onnxruntime's node placements that only that shape arithmetic, and no compute, leaves the GPU.
  run: async (c) =>
    runParity(await goldenModel(c.name, { fusedAttention: c.fusedAttention }), path.join(GOLDENS, c.name, 'fixtures.safetensors'), { backend: c.backend }),
  timeoutMs: 180_000,
});

afterAll(() => {
  process.stdout.write(`[backends] measured max abs float diffs: ${JSON.stringify(measured)}\n`);
});
