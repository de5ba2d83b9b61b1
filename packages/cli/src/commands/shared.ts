import { BACKENDS, InvalidOptionError, type Backend } from '@mplug2/core';

export function backendOption(values: Record<string, unknown>): Backend | 'auto' {
  const b = (values.backend as string | undefined) ?? 'auto';
  if (b !== 'auto' && !BACKENDS.includes(b as Backend)) throw new InvalidOptionError('--backend', `'${b}' is not one of auto, ${BACKENDS.join(', ')}`);
  return b as Backend | 'auto';
}
