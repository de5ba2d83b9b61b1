/**
 * Synthetic checkpoints: a streaming torch.save writer and generated mPLUG-2 weights for any
 * config (tiny demo, test configs, full size) — no downloads.
 */
export {
  buildTorchPickle,
  contiguousStrides,
  crc32,
  defaultArchiveName,
  numelOf,
  TORCH_STORAGE,
  planTorchTensors,
  writeTorchCheckpoint,
  type PlannedTensor,
  type PickledTensor,
  type TorchArrays,
  type TorchDType,
  type TorchTensorSource,
  type TorchTensorSpec,
  type TorchTypedArray,
  type WriteTorchOptions,
  type WriteTorchResult,
  type WrittenEntry,
} from './torch-writer.js';
export {
  clipTextTowerFromConfig,
  countParams,
  fillInit,
  FULL_SIZE_VISION_LAYERS,
  fullSizeConfig,
  generateCheckpoint,
  mplug2TensorSpecs,
  syntheticSources,
  TINY_DEMO_CLIP_TEXT_TOWER,
  TINY_DEMO_VISION_LAYERS,
  tinyDemoConfig,
  type ClipTextTowerDims,
  type GenerateCheckpointOptions,
  type GenerateCheckpointResult,
  type InitRule,
  type Mplug2SpecOptions,
  type Mplug2TensorSpec,
  type SyntheticTask,
} from './generate.js';
export { float16BitsToNumber, float32ToFloat16Bits, seed32, toFloat16, Xoshiro128 } from './prng.js';
