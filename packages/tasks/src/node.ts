// Node entry of @mplug2/tasks (the `node` condition): the browser-safe `index.ts` plus the
// converter, synthetic checkpoints and retrieval (files, native vector store).
export * from './index.js';
export * from './convert.js';
export * from './synthetic/index.js';
export * from './store.js';
export * from './retrieval.js';
// Replaces the browser `pipeline` (explicit exports win over `export *`): Node adds retrieval, zero-shot
// classification and feature extraction.
export {
  NODE_PIPELINES,
  pipeline,
  type NodePipelines,
  type VideoFeatureExtractionPipeline,
  type VideoTextRetrievalPipeline,
  type ZeroShotOutput,
  type ZeroShotVideoClassificationPipeline,
} from './pipeline-node.js';
