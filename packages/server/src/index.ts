// @mplug2/server (Node only): the mPLUG-2 tasks over HTTP.
export { createServer, type Mplug2Server, type ServerOptions } from './server.js';
export {
  LocalBackend,
  supportedTasks,
  type AskRequest,
  type CallContext,
  type CaptionRequest,
  type DecodedVideo,
  type EmbedRequest,
  type EmbedResult,
  type GenerateParams,
  type InferenceBackend,
  type LoadBackendOptions,
  type LocalBackendOptions,
  type ServerTasks,
  type StepUpdate,
  type TaskName,
} from './backend.js';
export { BatchScheduler, Batcher, type BatchEntry, type BatchReport, type BatcherOptions } from './batcher.js';
export { NotServedError, QueueFullError, UnauthorizedError, UploadTooLargeError } from './errors.js';
export { ServerMetrics } from './metrics.js';
export { openApiDocument } from './openapi.js';
export { QueueBackend, QueueJobError, SERVE_KINDS, serveProcessors, type QueueBackendOptions, type ServeTaskLoaders } from './queue-backend.js';
