import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelDirectory, ModelIntegrityError } from '@mplug2/core';
import { goldenModel } from '../helpers/golden';

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
    await expect(ModelDirectory.open(dir)).rejects.toThrow(ModelIntegrityError);
    await expect(ModelDirectory.open(dir)).rejects.toThrow(/fusion\.onnx: sha256 .* does not match/);
  });

  it('a truncated weights file is refused, naming the file', async () => {
    const dir = await copyOfGolden();
    const file = path.join(dir, 'decoder.weights');
    truncateSync(file, 1000);
    await expect(ModelDirectory.open(dir)).rejects.toThrow(/decoder\.weights: has 1000 bytes, the manifest says \d+/);
  });

  it('a same-size change to a weights file is caught by verify: full', async () => {
    const dir = await copyOfGolden();
    const file = path.join(dir, 'vision.weights');
    const bytes = readFileSync(file);
    bytes[123] ^= 0xff;
    writeFileSync(file, bytes);
    await expect(ModelDirectory.open(dir)).resolves.toBeInstanceOf(ModelDirectory);
    await expect(ModelDirectory.open(dir, { verify: 'full' })).rejects.toThrow(/vision\.weights: sha256/);
  });

  it('an edited manifest, a missing manifest hash and a missing file are refused', async () => {
    const edited = await copyOfGolden();
    const m = path.join(edited, 'manifest.json');
    writeFileSync(m, readFileSync(m, 'utf8').replace('"task": "qa"', '"task": "caption"'));
    await expect(ModelDirectory.open(edited)).rejects.toThrow(/manifest\.json: sha256 does not match/);

    const noHash = await copyOfGolden();
    rmSync(path.join(noHash, 'manifest.json.sha256'));
    await expect(ModelDirectory.open(noHash)).rejects.toThrow(/manifest\.json\.sha256 is missing/);

    const missing = await copyOfGolden();
    rmSync(path.join(missing, 'text_encoder.onnx'));
    await expect(ModelDirectory.open(missing)).rejects.toThrow(/text_encoder\.onnx: listed in the manifest but missing/);

    await expect(ModelDirectory.open(path.join(tmpdir(), 'no-such-model-dir'))).rejects.toThrow(/manifest\.json: not found/);
  });
});
