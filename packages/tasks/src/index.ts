// Browser-safe entry of @mplug2/tasks (default and `browser` condition): no Node built-ins. Tasks
// take a model location (a URL here) or any `ModelSource` (e.g. `RemoteModel`). Node-only APIs
// (retrieval store, indexing files) are in `node.ts` (the `node` condition); the converter, presets,
// parity and synthetic checkpoints are in @mplug2/converter.
export {
  disposeVideoFeatures,
  type CallOptions,
  type GenerationOptions,
  isVideoFeatures,
  type ModelInput,
  openModelInput,
  now,
  ones,
  type ProgressListener,
  selectRows,
  type TaskLoadOptions,
  type Timings,
  type VideoFeatures,
  type VideoInput,
} from './common.js';
export { type QAOptions, type QAResult, VideoQA } from './videoqa.js';
export { Captioner, type CaptionOptions, type CaptionResult } from './caption.js';
export { streamSteps, type StreamEnd, type StreamStep, type StreamUpdate } from './stream.js';
export {
  BROWSER_PIPELINES,
  pipeline,
  type BrowserPipelines,
  type CaptioningOutput,
  type PipelineFactory,
  type PipelineHandle,
  type PipelineOptions,
  type VideoCaptioningPipeline,
  type VideoQuestionAnsweringPipeline,
} from './pipeline.js';
