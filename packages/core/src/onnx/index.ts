export { GraphBuilder, OPSET, type AttrValue, type InitializerData, type Value } from './graph.js';
export {
  WeightPlan,
  MemoryWeightSink,
  identity,
  transpose2d,
  reshapeTo,
  flattenTranspose,
  type WeightSink,
  type WeightSource,
  type WeightTransform,
} from './weights.js';
export { attention, gelu, layerNorm, linear, maskBias, mergeHeads, param, quickGelu, splitHeads, unmaskedAttention, type BuildContext, type GraphOptions } from './nn.js';
export {
  attentionOutput,
  bertAttend,
  bertCrossAttention,
  bertEmbeddings,
  bertFeedForward,
  bertSelfAttention,
  crossKeyValue,
  selfQueryKeyValue,
  CROSS_MASK_FILL,
  SELF_MASK_FILL,
  bertDimsOf,
  type BertDims,
  type BertEmbeddingDims,
} from './bert.js';
