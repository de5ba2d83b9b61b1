import { Mplug2Error } from '@mplug2/core';

/** Redis could not be reached (or was lost) and the bounded retries ran out. Never names the password. */
export class QueueUnavailableError extends Mplug2Error {
  constructor(
    readonly url: string,
    readonly reason: string,
    readonly retriedMs: number,
  ) {
    super(
      'QUEUE_UNAVAILABLE',
      `queue ${url}: Redis unreachable after retrying for ${(retriedMs / 1000).toFixed(1)} s (${reason}); check that redis-server runs there and that host, port, password and TLS (rediss://) are right`,
    );
  }
}

/** A job was computed for another model than the worker serves (the message is the job's failure reason). */
export class ModelMismatchError extends Mplug2Error {
  constructor(
    readonly jobId: string,
    readonly jobModelId: string,
    readonly workerModelId: string,
  ) {
    super('MODEL_MISMATCH', `job ${jobId} needs model '${jobModelId}' but this worker serves '${workerModelId}'; start workers with the coordinator's model`);
  }
}

/** A job kind this worker has no processor for. */
export class UnknownJobKindError extends Mplug2Error {
  constructor(
    readonly jobId: string,
    readonly kind: string,
    readonly known: readonly string[],
  ) {
    super('UNKNOWN_JOB_KIND', `job ${jobId} is of kind '${kind}', which this worker does not process (it processes: ${known.join(', ') || 'nothing'})`);
  }
}

/** A job followed with `QueueCoordinator.call` failed on the workers for good (after its retries). */
export class JobFailedError extends Mplug2Error {
  constructor(
    readonly kind: string,
    readonly jobId: string,
    readonly reason: string,
  ) {
    super('QUEUE_JOB_FAILED', `${kind} job ${jobId}: ${reason}`);
  }
}
