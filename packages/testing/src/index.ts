// @mplug2/testing (private): the tooling the test suites, fuzzers and benchmarks share. Nothing here is
// product code; no published package depends on it (tests/layout.test.ts checks that).

// Seeded checkpoint mutations (bit flips, cuts, ...) and structure-aware ones (ZIP records, pickle opcodes).
export { deflateBomb, type Mutation, mutations, STRUCTURAL_KINDS, structuralMutations, type ZipEntryLayout, type ZipLayout, zipLayout } from './fuzz.js';
// Hostile .pth files: policy refusals, tensor views, memo floods, bombs, zip64 tricks.
export {
  analysePth,
  HOSTILE_KINDS,
  type HostileKind,
  type HostileMutation,
  hostileMutations,
  type PthAnalysis,
  pthWithPickle,
  type TensorView,
} from './fuzz-hostile.js';
// Hand-built ZIP archives and torch pickles for reader tests, and error assertions.
export {
  type BuiltZip,
  Bytes,
  buildZip,
  expectFormatError,
  type FakeTensor,
  le,
  PickleWriter,
  rejectionOf,
  rowMajorStrides,
  type StorageTypeName,
  torchPickle,
  torchZip,
  type ZipBuildOptions,
  type ZipInput,
} from './test-utils.js';
// The stdlib-Python torch.save layout check (tests/fixtures-gen/check_torch_layout.py).
export { checkTorchLayout, LAYOUT_CHECK_SCRIPT, type LayoutReport, type LayoutTensor } from './layout-check.js';
