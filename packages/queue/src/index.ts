// Coordinator side
export {
  QueueCoordinator,
  type CallOptions,
  type CoordinatorOptions,
  type QueueProgress,
  type ResultSink,
  type RunOptions,
  type RunResult,
  type WorkItem,
} from './coordinator.js';
// Worker side
export { QueueWorker, permanentFailure, type JobContext, type JobProcessor, type WorkerOptions } from './worker.js';
// Connections, job ids, payload encoding
export { QueueConnection, boundedRetry, parseQueueUrl, redact, type ConnectOptions, type QueueAddress } from './connection.js';
export { DEFAULT_QUEUE_NAME, decodeFloat32, encodeFloat32, jobId, type JobEnvelope } from './jobs.js';
// Errors
export { JobFailedError, ModelMismatchError, QueueUnavailableError, UnknownJobKindError } from './errors.js';
// Job kinds
export { INDEX_KIND, indexJobId, indexProcessor, indexVideosOnQueue, type IndexJobData, type IndexJobResult, type QueueIndexOptions } from './index-kind.js';
export { EVAL_KIND, evalJobId, evalProcessor, evaluateDatasetOnQueue, type EvalJobData, type QueueEvalOptions } from './eval-kind.js';
