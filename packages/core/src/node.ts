// Node entry of @mplug2/core (the package's `node` condition): everything the browser-safe
// `index.ts` exports plus the Node-only APIs (files, model directories on disk, checkpoint files).
// Explicit re-exports below replace the browser versions of the same names (`openModel`,
// `openCheckpoint`): a path means a file here, a URL in the browser build.
export * from './index.js';
export { ModelDirectory, openModel, sha256File } from './model-dir.js';
export { DiskCache, defaultCacheDir } from './disk-cache.js';
export * from './file-sink.js';
export { fileSource, openCheckpoint } from './checkpoint/index.js';
// Hostile checkpoint mutations (fuzzing): Node only, their honest zip bombs need node:zlib's compressor.
export {
  HOSTILE_KINDS,
  type HostileKind,
  type HostileMutation,
  type PthAnalysis,
  type TensorView,
  analysePth,
  hostileMutations,
  pthWithPickle,
} from './checkpoint/fuzz-hostile.js';
export * from './safetensors-file.js';
export * from './probe-file.js';
