import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { serveStatic, type StaticServer } from './server';

/**
 * Headless Chromium for the browser tests: the system Chromium (never a downloaded one), software
 * WebGPU (SwiftShader, via --enable-unsafe-webgpu), a fresh profile per launch, no network
 * side-channels. `CHROMIUM` overrides the executable.
 */
export const ROOT = path.resolve(__dirname, '../..');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
];

export interface Browser {
  readonly context: BrowserContext;
  /** The profile directory (named in the browser process's command line: how benches find its processes). */
  readonly profile: string;
  newPage(url: string): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'mplug2-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 900 },
  });
  const logs: string[] = [];
  return {
    context,
    profile,
    async newPage(url: string) {
      const page = await context.newPage();
      page.on('console', (m) => {
        logs.push(`[${m.type()}] ${m.text()}`);
        if (process.env.MPLUG2_BROWSER_LOG || m.type() === 'error') process.stderr.write(`[browser ${m.type()}] ${m.text()}\n`);
      });
      page.on('pageerror', (e) => process.stderr.write(`[browser pageerror] ${e.message}\n`));
      await page.goto(url);
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Bundles a test page (`pageDir`: index.html, main.ts and any `extraEntries`, e.g. a worker) from the
 * packages' browser-safe source entries.
 */
export async function buildTestPage(outDir: string, pageDir = 'tests/browser/page', extraEntries: string[] = []): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: ['main.ts', ...extraEntries].map((f) => path.join(ROOT, pageDir, f)),
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    absWorkingDir: ROOT,
    tsconfigRaw: '{}',
    plugins: [
      {
        name: 'mplug2-browser-sources',
        setup(b) {
          b.onResolve({ filter: /^@mplug2\/[a-z-]+(\/browser|\/onnx)?$/ }, (a) => ({
            path: path.join(ROOT, 'packages', a.path.split('/')[1], a.path.endsWith('/onnx') ? 'src/onnx/index.ts' : 'src/index.ts'),
          }));
        },
      },
    ],
  });
  const { copyFileSync } = await import('node:fs');
  copyFileSync(path.join(ROOT, pageDir, 'index.html'), path.join(outDir, 'index.html'));
}

/** The page, onnxruntime-web's wasm files and extra mounts, served with Range + COOP/COEP. */
export async function serveTestPage(pageDir: string, mounts: Record<string, string>): Promise<StaticServer> {
  return serveStatic({ mounts: { '/': pageDir, '/ort/': path.join(ROOT, 'node_modules/onnxruntime-web/dist'), ...mounts } });
}

export interface TestPage {
  readonly server: StaticServer;
  readonly browser: Browser;
  readonly page: Page;
  close(): Promise<void>;
}

/**
 * Bundles a test page (see `buildTestPage`) into a temporary folder, serves it with `mounts` (see
 * `serveTestPage`), launches Chromium and opens the page once its title reports it ready.
 */
export async function openTestPage(mounts: Record<string, string>, pageDir = 'tests/browser/page', extraEntries: string[] = []): Promise<TestPage> {
  const out = mkdtempSync(path.join(tmpdir(), 'mplug2-testpage-'));
  await buildTestPage(out, pageDir, extraEntries);
  const server = await serveTestPage(out, mounts);
  const browser = await launchBrowser();
  const page = await browser.newPage(`${server.url}/`);
  await page.waitForFunction(() => document.title.endsWith('ready'));
  return {
    server,
    browser,
    page,
    async close() {
      await browser.close();
      await server.close();
      rmSync(out, { recursive: true, force: true });
    },
  };
}
