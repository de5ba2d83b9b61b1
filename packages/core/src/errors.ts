/**
 * One error class per failure kind. Every error carries a stable `code` and the
 * names of what is at fault (file, entry, tensor, port, dim, option) so callers
 * can react programmatically and the CLI can print one clear line.
 */
/**
 * Every `code` an `Mplug2Error` can carry: one list, so a typo is a compile error and callers can
 * switch over the codes exhaustively. A new failure kind adds its code here.
 */
export const MPLUG2_ERROR_CODES = [
  // checkpoints
  'CHECKPOINT_FORMAT',
  'UNSAFE_PICKLE',
  'MISSING_TENSOR',
  'TENSOR_TOO_LARGE',
  // configuration and options
  'CONFIG',
  'INVALID_OPTION',
  // models on disk or over HTTP
  'MODEL_INTEGRITY',
  'MODEL_URL',
  'MODEL_DOWNLOAD',
  'MODEL_TOO_LARGE',
  'MODULE_MISSING',
  'NO_CRYPTO',
  // composition and ports
  'PORT_MISMATCH',
  'PIPELINE_INPUT',
  // runtime
  'BACKEND_UNAVAILABLE',
  'SESSION_CREATE',
  'SESSION_RUN',
  'SESSION_DISPOSED',
  'NON_FINITE',
  'TENSOR_ON_DEVICE',
  'TENSOR_DISPOSED',
  // inputs
  'VIDEO_DECODE',
  'SEQUENCE_TOO_LONG',
  // retrieval store
  'STORE_UNAVAILABLE',
  'STORE_UNREADABLE',
  // cancellation (AbortSignal)
  'ABORTED',
  // dataset evaluation (@mplug2/eval)
  'EVAL_ANNOTATIONS',
  'EVAL_RUN_MISMATCH',
  'JAVA_SCORER',
  // job queue (@mplug2/queue)
  'QUEUE_UNAVAILABLE',
  'QUEUE_JOB_FAILED',
  'MODEL_MISMATCH',
  'UNKNOWN_JOB_KIND',
  // HTTP serving (@mplug2/server)
  'QUEUE_FULL',
  'UPLOAD_TOO_LARGE',
  'UNAUTHORIZED',
  'NOT_READY',
  'NOT_SERVED',
] as const;
export type Mplug2ErrorCode = (typeof MPLUG2_ERROR_CODES)[number];

export class Mplug2Error extends Error {
  readonly code: Mplug2ErrorCode;
  constructor(code: Mplug2ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A checkpoint (.pth / .safetensors) is truncated, corrupt or not a checkpoint. */
export class CheckpointFormatError extends Mplug2Error {
  constructor(
    readonly file: string,
    readonly entry: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('CHECKPOINT_FORMAT', `${file}${entry ? ` [${entry}]` : ''}: ${detail}`, options);
  }
}

/** A pickle asked for something outside the allow-list (a global, a call, an opcode). Nothing was executed. */
export class UnsafePickleError extends Mplug2Error {
  constructor(
    readonly file: string,
    readonly entry: string,
    readonly what: string,
  ) {
    super('UNSAFE_PICKLE', `${file} [${entry}]: refused ${what}; only state-dict content is allowed, nothing was executed`);
  }
}

/** Tensors a module needs are absent or have the wrong shape. Lists all of them at once. */
export class MissingTensorError extends Mplug2Error {
  constructor(
    readonly source: string,
    readonly missing: readonly string[],
    readonly wrongShape: readonly { name: string; expected: readonly number[]; actual: readonly number[] }[] = [],
  ) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing ${missing.length} tensor(s): ${missing.join(', ')}`);
    if (wrongShape.length) parts.push(`wrong shape: ${wrongShape.map((w) => `${w.name} expected [${w.expected}] got [${w.actual}]`).join('; ')}`);
    super('MISSING_TENSOR', `${source}: ${parts.join('; ')}`);
  }
}

/** A tensor handed to a port (or a composed connection) does not fit its dtype or dims. */
export class PortMismatchError extends Mplug2Error {
  constructor(
    readonly port: string,
    detail: string,
    readonly dim?: string,
  ) {
    super('PORT_MISMATCH', `${port}: ${detail}`);
  }
}

/** A configuration or model file is inconsistent (config vs. tensor shapes, manifest content). */
export class ConfigError extends Mplug2Error {
  constructor(
    readonly source: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('CONFIG', `${source}: ${detail}`, options);
  }
}

/** A model directory file does not match the sha256 in its manifest, or is missing. */
export class ModelIntegrityError extends Mplug2Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super('MODEL_INTEGRITY', `${file}: ${detail}`);
  }
}

/** The requested execution backend is not available; says what was tried and what exists. */
export class BackendUnavailableError extends Mplug2Error {
  constructor(
    readonly requested: string,
    readonly tried: readonly { backend: string; error: string }[],
    readonly available: readonly string[],
  ) {
    super(
      'BACKEND_UNAVAILABLE',
      `backend '${requested}' is not available (tried: ${tried.map((t) => `${t.backend}: ${t.error}`).join('; ') || 'none'}; available here: ${available.join(', ') || 'none'})`,
    );
  }
}

/** An option has an unknown name or an invalid value. */
export class InvalidOptionError extends Mplug2Error {
  constructor(
    readonly option: string,
    detail: string,
  ) {
    super('INVALID_OPTION', `option '${option}': ${detail}`);
  }
}

/** One converted tensor is larger than the data-file size limit (a tensor never spans two files). */
export class TensorTooLargeError extends Mplug2Error {
  constructor(
    readonly tensor: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      'TENSOR_TOO_LARGE',
      `tensor ${tensor} is ${bytes} bytes, more than the ${limit}-byte data-file limit (maxDataFileBytes / --max-file-bytes); raise the limit or store the weights as fp16/int8`,
    );
  }
}

/**
 * A model's weights cannot fit the memory the backend has (onnxruntime-web's wasm heap is 32-bit:
 * at most 4 GiB for weights, activations and the runtime together). Refused before anything is fetched.
 */
export class ModelTooLargeError extends Mplug2Error {
  constructor(
    readonly model: string,
    readonly backend: string,
    readonly weightBytes: number,
    readonly limitBytes: number,
    remedy: string,
  ) {
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
    super(
      'MODEL_TOO_LARGE',
      `${model}: ${gib(weightBytes)} of weights cannot run on ${backend}, which has room for ${gib(limitBytes)} of weights (a 4 GiB wasm heap less room for activations); ${remedy}`,
    );
  }
}

/** A video (or image) could not be probed or decoded. `remedy` says what to do. */
export class VideoDecodeError extends Mplug2Error {
  constructor(
    readonly file: string,
    detail: string,
    readonly remedy?: string,
    options?: { cause?: unknown },
  ) {
    super('VIDEO_DECODE', `${file}: ${detail}${remedy ? ` (${remedy})` : ''}`, options);
  }
}

/**
 * An operation was cancelled through its AbortSignal. `what` names the operation (a model load, an
 * answer, a caption...); `cause` is the signal's `reason`, so callers can tell their own reasons apart.
 */
export class AbortError extends Mplug2Error {
  constructor(
    readonly what: string,
    reason?: unknown,
  ) {
    super('ABORTED', `${what} was aborted${abortReasonText(reason)}`, { cause: reason });
  }
}

function abortReasonText(reason: unknown): string {
  if (reason === undefined) return '';
  // The DOM's default reason is itself an 'AbortError' DOMException with a generic message: say nothing more.
  if (reason instanceof Error) return reason.name === 'AbortError' ? '' : `: ${reason.message}`;
  return `: ${String(reason)}`;
}

/** Throws an {@link AbortError} naming `what` when `signal` has been aborted; does nothing otherwise. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(what, signal.reason);
}
