import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelDirectory, ModelIntegrityError } from '@mplug2/core';
import { Captioner } from '@mplug2/tasks';
import { goldenModel } from '../helpers/golden';

/** Expects a ModelIntegrityError naming `file` (its `file` field and its message). */
async function integrityError(p: Promise<unknown>, file: string, detail: RegExp): Promise<void> {
  const e = await p.then(
    () => new Error('opened, but a ModelIntegrityError was expected'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ModelIntegrityError);
  expect((e as ModelIntegrityError).file).toBe(file);
  expect((e as Error).message).toMatch(detail);
}

async function copyOfGolden(): Promise<string> {
  const src = (await goldenModel('videoqa_tiny')).dir;
  const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-tamper-'));
  cpSync(src, dir, { recursive: true });
  return dir;
}

describe('model directory integrity', () => {
  it('opens an intact directory at every verification level', async () => {
    const dir = await copyOfGolden();
    for (const verify of ['none', 'graphs', 'full'] as const) await expect(ModelDirectory.open(dir, { verify })).resolves.toBeInstanceOf(ModelDirectory);
  });

  it('a flipped byte in an ONNX graph is refused, naming the file', async () => {
    const dir = await copyOfGolden();
    const file = path.join(dir, 'fusion.onnx');
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0x01;
    writeFileSync(file, bytes);
    await integrityError(ModelDirectory.open(dir), file, /fusion\.onnx: sha256 .* does not match/);
    // also when a task opens the directory itself
    await integrityError(Captioner.load(dir), file, /sha256/);
  });

  it('a truncated weights file is refused, naming the file', async () => {
    const dir = await copyOfGolden();
    const file = path.join(dir, 'decoder.weights');
    truncateSync(file, 1000);
    await integrityError(ModelDirectory.open(dir), file, /decoder\.weights: has 1000 bytes, the manifest says \d+/);
  });

  it('a same-size change to a weights file is caught by verify: full', async () => {
    const dir = await copyOfGolden();
    const file = path.join(dir, 'vision.weights');
    const bytes = readFileSync(file);
    bytes[123] ^= 0xff;
    writeFileSync(file, bytes);
    await expect(ModelDirectory.open(dir)).resolves.toBeInstanceOf(ModelDirectory);
    await integrityError(ModelDirectory.open(dir, { verify: 'full' }), file, /vision\.weights: sha256/);
  });

  it('an edited manifest, a missing manifest hash and a missing file are refused', async () => {
    const edited = await copyOfGolden();
    const m = path.join(edited, 'manifest.json');
    writeFileSync(m, readFileSync(m, 'utf8').replace('"task": "qa"', '"task": "caption"'));
    await integrityError(ModelDirectory.open(edited), m, /manifest\.json: sha256 does not match/);

    const noHash = await copyOfGolden();
    rmSync(path.join(noHash, 'manifest.json.sha256'));
    await integrityError(ModelDirectory.open(noHash), path.join(noHash, 'manifest.json'), /manifest\.json\.sha256 is missing/);

    const missing = await copyOfGolden();
    rmSync(path.join(missing, 'text_encoder.onnx'));
    await integrityError(ModelDirectory.open(missing), path.join(missing, 'text_encoder.onnx'), /text_encoder\.onnx: listed in the manifest but missing/);

    const nowhere = path.join(tmpdir(), 'no-such-model-dir');
    await integrityError(ModelDirectory.open(nowhere), path.join(nowhere, 'manifest.json'), /manifest\.json: not found/);
  });
});
