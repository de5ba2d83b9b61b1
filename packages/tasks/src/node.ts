// Node entry of @mplug2/tasks (the `node` condition): the browser-safe `index.ts` plus retrieval
// (files, native vector store).
export {
  Captioner,
  type CaptionOptions,
  type CaptionResult,
  disposeVideoFeatures,
  type GenerationOptions,
  isVideoFeatures,
  type ModelInput,
  now,
  ones,
  type ProgressListener,
  type QAOptions,
  type QAResult,
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
  type IndexOptions,
  type IndexResult,
  indexVideos,
  MEDIA_EXTENSIONS,
  Retriever,
  type SearchHit,
  type SearchOptions,
  type SearchResult,
  searchVideos,
  zeroShotClassify,
} from './retrieval.js';
