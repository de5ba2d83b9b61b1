import { readFile, writeFile } from 'node:fs/promises';
import { ConfigError } from '@mplug2/core';
import { parseProbeHead, type ProbeHead } from './linear-probe.js';

// Node-only file I/O of probe heads (split from linear-probe.ts so that the probe math stays browser-safe).

export async function saveProbeHead(file: string, head: ProbeHead): Promise<void> {
  await writeFile(file, JSON.stringify(head) + '\n');
}

export async function loadProbeHead(file: string): Promise<ProbeHead> {
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, `cannot read probe head (${(e as NodeJS.ErrnoException).code})`);
  }
  try {
    return parseProbeHead(JSON.parse(raw), file);
  } catch (e) {
    if (e instanceof SyntaxError) throw new ConfigError(file, `not valid JSON: ${e.message}`);
    throw e;
  }
}
