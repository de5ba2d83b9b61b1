import { createHash } from 'node:crypto';

/** The queue name coordinators and workers use unless told otherwise. */
export const DEFAULT_QUEUE_NAME = 'mplug2';

/**
 * The Redis pub/sub channel on which cancellations of queue `queueName`'s jobs are announced to its
 * workers (the message is the job id). Channels are not keys: no job or BullMQ key can collide.
 */
export function cancelChannel(queueName: string): string {
  return `mplug2:${queueName}:cancel`;
}

/** What every job carries around its kind-specific payload. */
export interface JobEnvelope<D = unknown> {
  /** `manifest.modelId` of the model the result must come from. */
  readonly modelId: string;
  readonly data: D;
}

/**
 * Deterministic job id: the kind plus a sha256 over the parts that define the result (model id,
 * file path and content hash, task, ...). The same work submitted twice (a coordinator restarted,
 * two coordinators) is the same job, so BullMQ keeps one.
 */
export function jobId(kind: string, parts: readonly string[]): string {
  const h = createHash('sha256')
    .update(JSON.stringify([kind, ...parts]))
    .digest('hex');
  return `${kind}-${h.slice(0, 40)}`;
}

/** Float32 values as base64 (exact, ~4/3 of the bytes; JSON numbers would be ~3× larger). */
export function encodeFloat32(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

export function decodeFloat32(text: string): Float32Array {
  const b = Buffer.from(text, 'base64');
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}
