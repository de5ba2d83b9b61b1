import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { convertCheckpoint, generateCheckpoint, tinyDemoConfig } from '@mplug2/converter';

let cached: Promise<string> | undefined;

/** A tiny random-weight model with the full BERT vocabulary (real questions tokenize), converted once per test file. */
export function demoModel(): Promise<string> {
  cached ??= (async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-demo-model-'));
    const config = tinyDemoConfig('pretrain');
    await generateCheckpoint(path.join(dir, 'c.pth'), config, { seed: 11, withRetrievalHeads: true });
    await convertCheckpoint({ checkpoint: path.join(dir, 'c.pth'), config, out: path.join(dir, 'model'), task: 'pretrain' });
    return path.join(dir, 'model');
  })();
  return cached;
}

export const SAMPLE_VIDEO = path.resolve(__dirname, '../../packages/cli/assets/sample.mp4');
