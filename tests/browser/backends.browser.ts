import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { convertCheckpoint, type ParityReport } from '@mplug2/converter';
import { GOLDENS, goldenModel } from '../helpers/golden';
import { defineBackendSuite, measured, type BackendCase } from '../backends/suite';
import { openTestPage, type TestPage } from './harness';
import type { StaticServer } from './server';

/**
 * The shared backend suite in headless Chromium (onnxruntime-web): wasm and webgpu (SwiftShader).
 * The golden models are converted in Node by the real converter, served over HTTP and loaded in the
 * page through `RemoteModel` (fetch + Cache API + sha256); fixtures are read by HTTP Range.
 */
let testPage: TestPage;
let server: StaticServer;
let page: Page;
const models = new Map<string, string>();
// The default (fused-attention) conversion everywhere: webgpu runs its portable graphs (see tests/backends/node.test.ts).
const BACKENDS = [
  { backend: 'wasm', fusedAttention: [true] },
  { backend: 'webgpu', fusedAttention: [true] },
] as const;

beforeAll(async () => {
  const mounts: Record<string, string> = { '/goldens/': GOLDENS };
  for (const name of ['videoqa_tiny', 'videocaption_tiny'] as const)
    for (const fused of new Set(BACKENDS.flatMap((b) => b.fusedAttention))) {
      const dir = await goldenModel(name, { fusedAttention: fused });
      const key = `${name}-${fused ? 'fused' : 'primitive'}`;
      mounts[`/models/${key}/`] = dir.location;
      models.set(key, `/models/${key}/`);
    }
  const fp16Compute = mkdtempSync(path.join(tmpdir(), 'mplug2-fp16-compute-'));
  const caption = path.join(GOLDENS, 'videocaption_tiny');
  await convertCheckpoint({ checkpoint: path.join(caption, 'checkpoint.pth'), config: path.join(caption, 'config.json'), out: fp16Compute, compute: 'fp16' });
  mounts['/models/fp16-compute/'] = fp16Compute;
  testPage = await openTestPage(mounts);
  ({ page, server } = testPage);
  const env = await page.evaluate(() => (globalThis as any).mplug2Test.environment());
  process.stdout.write(`[browser] ${JSON.stringify(env)}\n`);
}, 300_000);

afterAll(async () => {
  await testPage?.close();
  process.stdout.write(`[browser backends] measured max abs float diffs: ${JSON.stringify(measured)}\n`);
});

defineBackendSuite({
  name: 'browser',
  backends: BACKENDS,
  async run(c: BackendCase): Promise<ParityReport> {
    const model = models.get(`${c.name}-${c.fusedAttention ? 'fused' : 'primitive'}`)!;
    const r = await page.evaluate(([m, f, b]) => (globalThis as any).mplug2Test.parity(m, f, b), [
      model,
      `/goldens/${c.name}/fixtures.safetensors`,
      c.backend,
    ] as const);
    process.stdout.write(`[browser ${c.backend}] ${c.name}: ${Math.round(r.ms)} ms\n`);
    return r;
  },
  timeoutMs: 240_000,
});

describe('fp16-compute model on webgpu without shader-f16 (SwiftShader)', () => {
  it('is refused with BackendUnavailableError naming shader-f16, before any weight is fetched', async () => {
    const env = await page.evaluate(() => (globalThis as any).mplug2Test.environment());
    expect(env.adapter.features).not.toContain('shader-f16');
    const err = await page.evaluate(([m]) => (globalThis as any).mplug2Test.sessionError(m, 'vision_encoder', 'webgpu'), ['/models/fp16-compute/'] as const);
    expect(err).toMatchObject({ backendUnavailable: true, code: 'BACKEND_UNAVAILABLE' });
    expect(err.message).toMatch(/shader-f16/);
    expect(err.message).toMatch(/--dtype fp16/);
    expect(server.requests.filter((r) => r.url.startsWith('/models/fp16-compute/') && r.url.endsWith('.weights'))).toEqual([]);
  });
});
