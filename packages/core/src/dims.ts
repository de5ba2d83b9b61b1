import type { ModelDims } from './config.js';
import type { Manifest } from './manifest.js';

/** The dims recorded in a manifest, typed. */
export function manifestDims(manifest: Manifest): ModelDims {
  return manifest.dims as unknown as ModelDims;
}
