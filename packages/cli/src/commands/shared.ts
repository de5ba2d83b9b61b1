import { BACKENDS, InvalidOptionError, type Backend } from '@mplug2/core';
import { intOption, loadProgress, type CommandContext } from '../cli.js';

export function backendOption(values: Record<string, unknown>): Backend | 'auto' {
  const b = (values.backend as string | undefined) ?? 'auto';
  if (b !== 'auto' && !BACKENDS.includes(b as Backend)) throw new InvalidOptionError('--backend', `'${b}' is not one of auto, ${BACKENDS.join(', ')}`);
  return b as Backend | 'auto';
}

/** Load options of a task from the command line: the backend, and a download progress bar on a terminal. */
export function loadOptions(
  values: Record<string, unknown>,
  ctx: CommandContext,
): { backend: Backend | 'auto'; threads?: number; onProgress: ReturnType<typeof loadProgress> } {
  return { backend: backendOption(values), threads: intOption(values, 'threads'), onProgress: loadProgress(ctx.stderr) };
}
