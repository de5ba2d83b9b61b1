// Browser-safe entry of @mplug2/core (the package's default and `browser` condition): nothing here
// may import a Node built-in, statically or dynamically. Node-only APIs (files, model directories)
// are exported by `node.ts` (the `node` condition), which re-exports everything below.
// `tests/browser/entries.test.ts` bundles this entry for the browser and fails on any Node import.
export {
  BackendUnavailableError,
  CheckpointFormatError,
  ConfigError,
  InvalidOptionError,
  MissingTensorError,
  ModelIntegrityError,
  MPLUG2_ERROR_CODES,
  ModelTooLargeError,
  AbortError,
  throwIfAborted,
  Mplug2Error,
  type Mplug2ErrorCode,
  PortMismatchError,
  TensorTooLargeError,
  UnsafePickleError,
  VideoDecodeError,
} from './errors.js';
export { type DType, type DTypeArrays, int64Tensor, maxAbsDiff, numel, tensor, type Tensor, toFloat32, toNumbers, zeros } from './tensor.js';
export { checkTensor, type DimSpec, port, type PortSpec } from './ports.js';
export {
  BertConfigSchema,
  CLIP_VISION_TOWERS,
  deriveDims,
  ModelConfigSchema,
  type ModelDims,
  type Mplug2Config,
  Mplug2ConfigSchema,
  NUM_LATENTS,
  parseConfig,
  type Task,
  TASKS,
  type TextDims,
  type VisionDims,
} from './config.js';
// The ONNX graph builder and BERT blocks are behind the `@mplug2/core/onnx` subpath (src/onnx/index.ts):
// they are for module packages and the converter, not for running models.
export type { ComputePrecision } from './onnx/graph.js';
export { downloadTensor, ModuleSession, type SessionOptions } from './runtime/session.js';
export {
  availableBackends,
  type Backend,
  BACKENDS,
  platformBackends,
  probeBackend,
  resolveBackend,
  webGpuAdapterInfo,
  type WebGpuAdapterInfo,
  webGpuFloat16Support,
} from './runtime/backends.js';
export { runningInNode, type OrtRuntime } from './runtime/loading.js';
export { type DeviceTensor, disposeDeviceTensors, isDeviceTensor } from './runtime/device.js';
export { DeviceRowGather, type GatherInput } from './runtime/gather.js';
export {
  type Manifest,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  ManifestSchema,
  type ModuleName,
  ModuleNames,
  parseManifest,
  RETRIEVAL_HEAD_TENSORS,
} from './manifest.js';
export {
  checkModelFits,
  MANIFEST_FILE,
  MANIFEST_HASH_FILE,
  type ModelSource,
  type OpenModelOptions,
  type VerifyLevel,
  WASM_WEIGHT_LIMIT_BYTES,
} from './model-source.js';
export { checkInputs, GraphModule, MODULE_SPEC_VERSION, type PipelineModule } from './module.js';
export { Pipeline, type PipelineRunOptions, type PipelineSpec, type PortRef } from './composer.js';
export { manifestDims } from './dims.js';
export { mapLimit } from './util.js';
// The one seeded PRNG (xoshiro128**): weight synthesis, fuzzing, data splits.
export { hashString, prng, seed32, Xoshiro128 } from './prng.js';
export {
  bfloat16ToFloat32,
  bfloat16ToNumber,
  type ByteSource,
  bytesSource,
  type Checkpoint,
  type CheckpointArray,
  type CheckpointArrays,
  checkpointArrayToFloat32,
  type CheckpointDType,
  type CheckpointFormat,
  type CheckpointTensorInfo,
  detectCheckpointFormat,
  DTYPE_BYTES,
  openCheckpointBytes,
  type OpenCheckpointOptions,
  openCheckpointSource,
  urlSource,
  type UrlSourceOptions,
} from './checkpoint/readers.js';
// Pickle opcodes by name (the unpickler's table; writers and test builders use it too).
export { PICKLE_OP } from './checkpoint/pickle.js';
export { type ZipEntryLayout, type ZipLayout, zipLayout } from './checkpoint/zip.js';
export {
  ZIP_LOCAL_HEADER_SIZE,
  ZIP_VERSION_DEFAULT,
  ZIP_VERSION_ZIP64,
  type ZipCentralFields,
  type ZipEndFields,
  type ZipHeaderFields,
  zip64EndRecord,
  zip64ExtraField,
  zip64Locator,
  zipCentralHeader,
  zipEndOfCentralDirectory,
  zipLocalHeader,
  zipPaddingField,
} from './checkpoint/zip-write.js';
// CRC-32 (the ZIP checksum), JS or node:zlib's native one.
export { crc32, crc32Fast } from './crc32.js';
// float16 ⇄ float32 (one converter per direction, NaN payloads kept).
export { float16ToFloat32, float16ToNumber, float32ToFloat16Bits, toFloat16Bits } from './float16.js';
export { encodeSafetensors } from './safetensors-write.js';
export {
  type CacheLike,
  DEFAULT_CHUNK_BYTES,
  MAX_WEB_FILE_BYTES,
  type ModelLoadProgress,
  RemoteModel,
  type RemoteModelOptions,
} from './browser/remote-model.js';
export { openCheckpoint, openModel } from './browser/open.js';
export { abortable, controlledLoad, type LoadControlOptions, type LoadProgressEvent, type SessionLoadProgress } from './load-control.js';
