import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MANIFEST_FILE, MANIFEST_HASH_FILE, ModelTooLargeError, WASM_WEIGHT_LIMIT_BYTES, type Manifest } from '@mplug2/core';
import { Captioner, VideoQA } from '@mplug2/tasks';
import { demoModel } from './helpers/demo-model';

/**
 * A copy of the tiny demo model whose vision weights file is grown (sparse zeros past the tensors the
 * graphs reference, so it still loads) until the VideoQA modules weigh more than the wasm heap takes:
 * what a user sees loading the released fp32 model (≈ 3.8 GiB for VideoQA) on wasm.
 */
async function oversizedModel(): Promise<{ dir: string; bytes: number }> {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-too-large-')), 'model');
  cpSync(await demoModel(), dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
  const vision = manifest.files.find((f) => f.path === 'vision.weights')!;
  const grown = WASM_WEIGHT_LIMIT_BYTES + 2 ** 28;
  truncateSync(path.join(dir, vision.path), grown);
  (vision as { bytes: number }).bytes = statSync(path.join(dir, vision.path)).size;
  const json = JSON.stringify(manifest, null, 2) + '\n';
  writeFileSync(path.join(dir, MANIFEST_FILE), json);
  writeFileSync(path.join(dir, MANIFEST_HASH_FILE), createHash('sha256').update(json).digest('hex') + '\n');
  const used = new Set(
    ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder'].flatMap((m) => manifest.modules[m as keyof Manifest['modules']]?.data ?? []),
  );
  return { dir, bytes: manifest.files.filter((f) => used.has(f.path)).reduce((s, f) => s + f.bytes, 0) };
}

describe('weights too large for the wasm heap', () => {
  it('VideoQA and Captioner on wasm refuse before loading, naming the sizes and the smaller dtypes; cpu loads the same model', async () => {
    const { dir, bytes } = await oversizedModel();
    const err = await VideoQA.load(dir, { backend: 'wasm' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelTooLargeError);
    const e = err as ModelTooLargeError;
    expect(e.code).toBe('MODEL_TOO_LARGE');
    expect(e.weightBytes).toBe(bytes);
    expect(e.message).toContain(`${(bytes / 2 ** 30).toFixed(2)} GiB`);
    expect(e.message).toMatch(/--dtype q4/);
    await expect(Captioner.load(dir, { backend: 'wasm' })).rejects.toThrow(ModelTooLargeError);
    const qa = await VideoQA.load(dir, { backend: 'cpu' });
    await qa.dispose();
  });

  it('a model under the limit loads on wasm', async () => {
    const qa = await VideoQA.load(await demoModel(), { backend: 'wasm' });
    await qa.dispose();
  });
});
