import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { Manifest } from '@mplug2/core';
import { convertCheckpoint, type ParityReport } from '@mplug2/converter';
import { GOLDENS } from '../helpers/golden';
import { openTestPage, type TestPage } from './harness';
import type { StaticServer } from './server';

/**
 * A model whose data files are split into chunks (320 KiB, just above the golden's largest tensor),
 * loaded in headless Chromium through `RemoteModel` and run on onnxruntime-web wasm: every chunk is
 * fetched, verified and handed to the sessions as external data.
 */
let testPage: TestPage;
let server: StaticServer;
let page: Page;
let manifest: Manifest;

beforeAll(async () => {
  const out = mkdtempSync(path.join(tmpdir(), 'mplug2-chunked-browser-'));
  const name = 'videoqa_tiny';
  ({ manifest } = await convertCheckpoint({
    checkpoint: path.join(GOLDENS, name, 'checkpoint.pth'),
    config: path.join(GOLDENS, name, 'config.json'),
    out,
    maxDataFileBytes: 320 << 10,
  }));
  testPage = await openTestPage({ '/goldens/': GOLDENS, '/chunked/': out });
  ({ page, server } = testPage);
}, 300_000);

afterAll(() => testPage?.close());

describe('chunked data files in the browser', () => {
  it('videoqa_tiny on wasm matches the reference (1e-4, ids exact) with every chunk fetched', async () => {
    const report: ParityReport & { ms: number } = await page.evaluate(([m, f]) => (globalThis as any).mplug2Test.parity(m, f, 'wasm'), [
      '/chunked/',
      '/goldens/videoqa_tiny/fixtures.safetensors',
    ] as const);
    process.stdout.write(`[browser wasm] chunked videoqa_tiny: ${Math.round(report.ms)} ms\n`);
    expect(report.missing).toEqual([]);
    for (const t of report.tensors) expect(t.maxAbsDiff, t.name).toBeLessThanOrEqual(/ids|lengths/.test(t.name) ? 0 : 1e-4);
    expect(report.ok).toBe(true);

    const chunks = manifest.files.map((f) => f.path).filter((p) => p.endsWith('.weights'));
    expect(chunks.filter((p) => /\.\d+\.weights$/.test(p)).length).toBeGreaterThan(4);
    const fetched = new Set(server.requests.filter((r) => r.status < 300).map((r) => r.url.replace(/^\/chunked\//, '')));
    for (const c of chunks) expect(fetched.has(c), c).toBe(true);
  });
});
