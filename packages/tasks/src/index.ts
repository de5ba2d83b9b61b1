// Browser-safe entry of @mplug2/tasks (default and `browser` condition): no Node built-ins. Tasks
// take a model location (a URL here) or any `ModelSource` (e.g. `RemoteModel`). Node-only APIs
// (converter, synthetic checkpoints, retrieval store) are in `node.ts` (the `node` condition).
export * from './presets.js';
export * from './parity.js';
export * from './common.js';
export * from './videoqa.js';
export * from './caption.js';
export {
  BROWSER_PIPELINES,
  createPipeline,
  pipeline,
  taskLoadOptions,
  type BrowserPipelines,
  type CaptioningOutput,
  type PipelineFactory,
  type PipelineHandle,
  type PipelineOptions,
  type VideoCaptioningPipeline,
  type VideoQuestionAnsweringPipeline,
} from './pipeline.js';
