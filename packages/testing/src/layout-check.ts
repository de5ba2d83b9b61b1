/**
 * Test helper: runs `tests/fixtures-gen/check_torch_layout.py` (Python stdlib only, kept out of the
 * TypeScript packages) on a checkpoint and returns its JSON report. Fails loudly when python3 is
 * missing — the layout check is never skipped.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const LAYOUT_CHECK_SCRIPT = fileURLToPath(new URL('../../../tests/fixtures-gen/check_torch_layout.py', import.meta.url));

export interface LayoutTensor {
  name: string;
  dtype: string;
  shape: number[];
  stride: number[];
  offset: number;
  key: string;
  numel: number;
}

export interface LayoutReport {
  ok: true;
  archive: string;
  wrapper: string | null;
  entries: string[];
  zip64: boolean;
  tensors: LayoutTensor[];
  tied: string[][];
  values?: Record<string, number[]>;
  stats?: Record<string, { finite: boolean; min: number | null; max: number | null; mean: number | null; std: number | null; head: number[] | null }>;
  sha256?: Record<string, string>;
}

export function checkTorchLayout(file: string, flags: string[] = []): LayoutReport {
  let out: string;
  try {
    out = execFileSync('python3', [LAYOUT_CHECK_SCRIPT, file, ...flags], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; status?: number };
    if (err.code === 'ENOENT')
      throw new Error('python3 was not found on PATH: the torch.save layout check needs Python 3 (standard library only). Install python3 to run these tests.');
    throw new Error(`torch.save layout check failed for ${file} (exit ${err.status}): ${err.stderr?.trim() || err.message}`);
  }
  return JSON.parse(out) as LayoutReport;
}
