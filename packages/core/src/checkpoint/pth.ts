/**
 * torch.save zip archives (`archive/data.pkl` + raw storages `archive/data/<key>`).
 *
 * Opening reads the ZIP directory, data.pkl (restricted unpickler, see pickle.ts) and the local
 * header of each storage the state dict uses — never tensor data. Each tensor's view
 * (storage offset, shape, stride) is validated against its storage, and each storage against its
 * ZIP entry, before anything is exposed.
 */
import { CheckpointFormatError } from '../errors.js';
import { type CheckpointArray, DTYPE_BYTES } from './dtype.js';
import { checkView, isRowMajor, LITTLE_ENDIAN_HOST, materialize, type TensorLayout } from './materialize.js';
import { PyDict, TensorRef, unpickle, type PyValue } from './pickle.js';
import type { ByteSource } from './source.js';
import { TensorTableCheckpoint } from './tensor-table.js';
import { type Checkpoint, DEFAULT_OPTIONS, type OpenCheckpointOptions } from './types.js';
import { crc32Fast } from '../crc32.js';
import { METHOD_STORED, ZipArchive, type ZipEntry } from './zip.js';

/** Top-level keys that may hold the state dict, in the order the mPLUG-2 scripts try them. */
export const WRAPPER_KEYS = ['model', 'module', 'state_dict'] as const;

interface PthTensor extends TensorLayout {
  readonly entry: ZipEntry;
  readonly storageKey: string;
}

export async function openPth(source: ByteSource, file: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  const opts = { ...DEFAULT_OPTIONS, ...options };
  const zip = await ZipArchive.open(source, file);

  // --- data.pkl: "<archive>/data.pkl" (or a bare "data.pkl"), exactly one.
  const pkls = [...zip.entries.values()].filter((e) => /^(?:[^/]+\/)?data\.pkl$/.test(e.name));
  if (pkls.length === 0)
    throw new CheckpointFormatError(file, 'data.pkl', 'missing: the ZIP archive has no <archive>/data.pkl entry, so it is not a torch.save checkpoint');
  if (pkls.length > 1) throw new CheckpointFormatError(file, pkls[1].name, `ambiguous: several data.pkl entries (${pkls.map((e) => e.name).join(', ')})`);
  const pklEntry = pkls[0];
  const prefix = pklEntry.name.slice(0, -'data.pkl'.length);

  const byteorder = zip.entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const text = new TextDecoder().decode(await zip.readEntry(byteorder, 64)).trim();
    if (text !== 'little') throw new CheckpointFormatError(file, byteorder.name, `storages are '${text}'-endian; only little-endian checkpoints are supported`);
  }

  const root = unpickle(await zip.readEntry(pklEntry, opts.maxPickleBytes), { file, entry: pklEntry.name });

  // --- wrapper: {'model': sd} / {'module': sd} / {'state_dict': sd} / bare sd
  if (!(root instanceof PyDict)) throw new CheckpointFormatError(file, pklEntry.name, `top-level object is a ${describeRoot(root)}, not a dict or state dict`);
  let wrapper: string | null = null;
  let stateDict: PyDict = root;
  // The first wrapper key holding a dict wins; a non-dict under such a key (a tensor named 'model' in a
  // bare state dict, or {'model': 'name', 'state_dict': {...}}) is not a wrapper.
  for (const key of WRAPPER_KEYS) {
    const v = root.map.get(key);
    if (!(v instanceof PyDict)) continue;
    wrapper = key;
    stateDict = v;
    break;
  }

  // --- tensors
  const tensors = new Map<string, PthTensor>();
  const storageEntries = new Map<string, { entry: ZipEntry; base: number }>();
  for (const [key, value] of stateDict.map) {
    if (!(value instanceof TensorRef)) continue; // e.g. _extra_state, non-tensor buffers
    if (typeof key !== 'string') throw new CheckpointFormatError(file, pklEntry.name, `state-dict key ${String(key)} is not a string`);
    const name = key;
    const st = value.storage;
    const entryName = `${prefix}data/${st.key}`;
    const fail = (detail: string): never => {
      throw new CheckpointFormatError(file, entryName, `tensor '${name}': ${detail}`);
    };
    if (st.dtype === null) fail(`storage type ${st.storageType} is not supported`);
    const dtype = st.dtype!;
    const es = DTYPE_BYTES[dtype];
    let se = storageEntries.get(st.key);
    if (!se) {
      const entry = zip.entries.get(entryName);
      if (!entry) fail(`storage entry '${entryName}' is missing from the archive`);
      if (entry!.method !== METHOD_STORED) fail(`storage entry is compressed (method ${entry!.method}); torch.save stores storages uncompressed`);
      if (entry!.flags & 0x1) fail('storage entry is encrypted');
      se = { entry: entry!, base: await zip.dataOffset(entry!) };
      storageEntries.set(st.key, se);
    }
    if (st.numel > Math.floor(Number.MAX_SAFE_INTEGER / es) || st.numel * es !== se.entry.size)
      fail(`storage declares ${st.numel} elements of ${es} bytes but its entry holds ${se.entry.size} bytes`);
    const numel = checkView(value.shape, value.stride, value.storageOffset, st.numel, es, fail);
    if (tensors.has(name)) fail('appears twice in the state dict');
    tensors.set(name, {
      name,
      dtype,
      shape: Object.freeze([...value.shape]),
      stride: Object.freeze([...value.stride]),
      storageOffset: value.storageOffset,
      storageNumel: st.numel,
      base: se.base,
      numel,
      contiguous: isRowMajor(value.shape, value.stride),
      entry: se.entry,
      storageKey: st.key,
    });
  }
  if (tensors.size === 0)
    throw new CheckpointFormatError(file, pklEntry.name, wrapper ? `'${wrapper}' holds no tensors` : `no tensors found (top-level keys: ${topKeys(root)})`);
  return new PthCheckpoint(source, file, wrapper, tensors, opts);
}

function describeRoot(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v !== 'object') return typeof v;
  return v.constructor.name.replace(/^Py/, '').toLowerCase();
}

function topKeys(d: PyDict): string {
  const keys = [...d.map.keys()].slice(0, 8).map((k) => (typeof k === 'string' ? `'${k}'` : String(k)));
  return keys.join(', ') + (d.map.size > 8 ? ', …' : '') || 'none';
}

class PthCheckpoint extends TensorTableCheckpoint<PthTensor> {
  readonly format = 'pth' as const;

  constructor(
    source: ByteSource,
    file: string,
    readonly wrapper: string | null,
    tensors: ReadonlyMap<string, PthTensor>,
    opts: Required<OpenCheckpointOptions>,
  ) {
    super(source, file, tensors, opts);
  }

  async read(name: string): Promise<CheckpointArray> {
    const t = this.getReadable(name);
    const ctx = { file: this.file, entry: t.entry.name };
    const { array, bytes } = await materialize(this.source, t, ctx, this.opts);
    // A read that covers the whole storage can be checked against the ZIP CRC at little cost.
    if (this.opts.verifyCrc && LITTLE_ENDIAN_HOST && t.contiguous && t.storageOffset === 0 && bytes.length === t.entry.size) {
      const crc = await crc32Fast(bytes);
      if (crc !== t.entry.crc32)
        throw new CheckpointFormatError(
          this.file,
          t.entry.name,
          `tensor '${name}': CRC-32 mismatch (stored ${t.entry.crc32.toString(16)}, computed ${crc.toString(16)}): the file is corrupt`,
        );
    }
    return array;
  }

  sharesStorage(a: string, b: string): boolean {
    const x = this.get(a);
    const y = this.get(b);
    return (
      x.storageKey === y.storageKey &&
      x.dtype === y.dtype &&
      x.storageOffset === y.storageOffset &&
      x.shape.length === y.shape.length &&
      x.shape.every((d, i) => d === y.shape[i] && (d === 1 || x.stride[i] === y.stride[i]))
    );
  }

  rawLocation(name: string): { offset: number; byteLength: number } | null {
    const t = this.get(name);
    if (!t.contiguous) return null;
    const es = DTYPE_BYTES[t.dtype];
    return { offset: t.base + t.storageOffset * es, byteLength: t.numel * es };
  }
}
