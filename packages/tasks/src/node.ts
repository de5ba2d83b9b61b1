// Node entry of @mplug2/tasks (the `node` condition): the browser-safe `index.ts` plus retrieval
// (files, native vector store).
export {
  Captioner,
  type CaptionOptions,
  type CaptionResult,
  disposeVideoFeatures,
  type CallOptions,
  type GenerationOptions,
  isVideoFeatures,
  type ModelInput,
  openModelInput,
  now,
  ones,
  type ProgressListener,
  type QAOptions,
  type QAResult,
  streamSteps,
  type StreamEnd,
  type StreamStep,
  type StreamUpdate,
  selectRows,
  type TaskLoadOptions,
  type Timings,
  type VideoFeatures,
  type VideoInput,
  VideoQA,
} from './index.js';
export { type IndexedVideo, LanceVectorStore, MemoryVectorStore, type StoreHit, type VectorStore } from './store.js';
export {
  collectVideos,
  embedVideos,
  type IndexItem,
  type IndexOptions,
  type IndexResult,
  indexVideos,
  MEDIA_EXTENSIONS,
  planIndex,
  Retriever,
  type SearchHit,
  type SearchOptions,
  type SearchResult,
  searchVideos,
  zeroShotClassify,
} from './retrieval.js';
export { isHttpUrl, sha256Url, withDownloaded } from './remote-video.js';
export {
  BROWSER_PIPELINES,
  type BrowserPipelines,
  type CaptioningOutput,
  type PipelineFactory,
  type PipelineHandle,
  type PipelineOptions,
  type VideoCaptioningPipeline,
  type VideoQuestionAnsweringPipeline,
} from './index.js';
// Node's `pipeline` adds retrieval, zero-shot classification and feature extraction to the browser's.
export {
  NODE_PIPELINES,
  pipeline,
  type NodePipelines,
  type VideoFeatureExtractionPipeline,
  type VideoTextRetrievalPipeline,
  type ZeroShotOutput,
  type ZeroShotVideoClassificationPipeline,
} from './pipeline-node.js';
