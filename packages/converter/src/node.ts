// Node entry of @mplug2/converter (the `node` condition): the browser-safe `index.ts` plus the
// converter and synthetic checkpoints (both read and write files).
export { FixtureFile, FLOAT_TOLERANCE, flattenHypotheses, type ParityEntry, ParityRecorder, type ParityReport, PRESETS, runParity } from './index.js';

// Official .pth (or safetensors) checkpoint → one ONNX graph per module + manifest.
export { type ConvertOptions, type ConvertResult, convertCheckpoint } from './convert.js';
// Random-weight mPLUG-2 checkpoints of any config, written as torch.save files. Product code, not test
// tooling: `mplug2 demo`, the web example (examples/web/make-model.mjs) and the benchmarks make their
// models with it, so it ships here; the fuzzers and hand-built malformed archives live in the private
// @mplug2/testing.
export {
  countParams,
  fullSizeConfig,
  type GenerateCheckpointOptions,
  type GenerateCheckpointResult,
  generateCheckpoint,
  type Mplug2TensorSpec,
  mplug2TensorSpecs,
  syntheticSources,
  tinyDemoConfig,
} from './synthetic/generate.js';
// The streaming torch.save writer under generateCheckpoint (any tensors, zip64 past 4 GiB).
export {
  type TorchArrays,
  type TorchDType,
  type TorchTensorSource,
  type TorchTensorSpec,
  type TorchTypedArray,
  type WriteTorchOptions,
  type WriteTorchResult,
  type WrittenEntry,
  writeTorchCheckpoint,
} from './synthetic/torch-writer.js';
