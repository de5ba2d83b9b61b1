/**
 * Browser versions of the "open by location" functions: a location is a URL here (relative URLs
 * resolve against the page). The Node entry exports the same names for file paths.
 */
import { openCheckpointSource } from '../checkpoint/readers.js';
import type { Checkpoint, OpenCheckpointOptions } from '../checkpoint/types.js';
import { urlSource } from '../checkpoint/url-source.js';
import type { ModelSource } from '../model-source.js';
import { RemoteModel, type RemoteModelOptions } from './remote-model.js';

function absolute(url: string): string {
  const here = (globalThis as { location?: { href?: string } }).location?.href;
  return here ? new URL(url, here).href : url;
}

/** Opens a converted model at a URL (`RemoteModel`). */
export function openModel(location: string, options: RemoteModelOptions = {}): Promise<ModelSource> {
  return RemoteModel.open(location, options);
}

/** Opens a checkpoint (or fixture) file at a URL by HTTP Range reads; nothing is downloaded as a whole. */
export async function openCheckpoint(url: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  return openCheckpointSource(await urlSource(absolute(url)), url, options);
}
