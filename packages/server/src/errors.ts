import { Mplug2Error } from '@mplug2/core';

/** More requests are waiting than the server's `maxQueue`: retry after `retryAfterS` seconds (HTTP 429). */
export class QueueFullError extends Mplug2Error {
  constructor(
    readonly waiting: number,
    readonly maxQueue: number,
    readonly retryAfterS: number,
  ) {
    super('QUEUE_FULL', `${waiting} requests are waiting (maxQueue ${maxQueue}); retry in ${retryAfterS} s`);
  }
}

/** An upload is larger than the server's `maxUpload` (HTTP 413); nothing more of it is read. */
export class UploadTooLargeError extends Mplug2Error {
  constructor(
    readonly field: string,
    readonly maxUpload: number,
  ) {
    super('UPLOAD_TOO_LARGE', `${field}: the upload is larger than maxUpload (${maxUpload} bytes)`);
  }
}

/** The request lacks `Authorization: Bearer <token>` with the server's token (HTTP 401). */
export class UnauthorizedError extends Mplug2Error {
  constructor() {
    super('UNAUTHORIZED', 'missing or wrong bearer token (send Authorization: Bearer <token>)');
  }
}

/** The model is not loaded (yet), or the route's task is not served by this model (HTTP 503 / 404). */
export class NotServedError extends Mplug2Error {
  constructor(
    readonly route: string,
    detail: string,
    readonly status: 404 | 503,
  ) {
    super(status === 503 ? 'NOT_READY' : 'NOT_SERVED', `${route}: ${detail}`);
  }
}
