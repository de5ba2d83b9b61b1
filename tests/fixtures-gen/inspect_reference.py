#!/usr/bin/env python3
"""Independent reference for the TypeScript checkpoint readers (packages/core/src/checkpoint).

Writes fixtures/goldens/<name>/inspect.json for each golden model folder:

  {
    "wrapper": "model",                      # top-level key holding the state dict (null = bare)
    "tensors": [{"name", "dtype", "shape"}],  # state-dict order
    "sha256": {name: hex},                    # of the tensor's logical row-major contiguous bytes (little-endian)
    "shared": [[a, b], ...],                  # pairs with the same storage, offset, shape and stride
    "safetensors": [{"name", "dtype", "shape", "sha256"}]   # fixtures.safetensors, in data-offset order
  }

Uses only the Python standard library (zipfile, pickle, struct, hashlib, json): torch is not needed and
nothing in the checkpoint is executed -- `find_class` returns inert stand-ins for the handful of torch
names a state dict uses and refuses everything else. Run from the repository root:

  python3 tests/fixtures-gen/inspect_reference.py
"""
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FOLDERS = ['videoqa_tiny', 'videocaption_tiny']

STORAGE_DTYPES = {
    'FloatStorage': ('float32', 4),
    'HalfStorage': ('float16', 2),
    'BFloat16Storage': ('bfloat16', 2),
    'LongStorage': ('int64', 8),
    'IntStorage': ('int32', 4),
    'DoubleStorage': ('float64', 8),
    'ByteStorage': ('uint8', 1),
    'BoolStorage': ('bool', 1),
}


class StorageType:
    def __init__(self, name):
        self.dtype, self.itemsize = STORAGE_DTYPES[name]


class StorageRef:
    def __init__(self, stype, key, location, numel):
        self.dtype, self.itemsize = stype.dtype, stype.itemsize
        self.key, self.location, self.numel = key, location, numel


class TensorRef:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return TensorRef(storage, storage_offset, size, stride)


def rebuild_tensor(storage, storage_offset, size, stride):
    return TensorRef(storage, storage_offset, size, stride)


def rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


class ReferenceUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ('collections', 'OrderedDict'):
            return collections.OrderedDict
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return rebuild_tensor_v2
        if (module, name) == ('torch._utils', '_rebuild_tensor'):
            return rebuild_tensor
        if (module, name) == ('torch._utils', '_rebuild_parameter'):
            return rebuild_parameter
        if module == 'torch' and name in STORAGE_DTYPES:
            return StorageType(name)
        raise pickle.UnpicklingError(f'refused global {module}.{name}')

    def persistent_load(self, pid):
        tag, stype, key, location, numel = pid
        assert tag == 'storage' and isinstance(stype, StorageType)
        return StorageRef(stype, key, location, numel)


def logical_bytes(raw, t):
    """Row-major contiguous bytes of a (possibly strided) tensor view of `raw` (the storage's bytes)."""
    size = t.storage.itemsize
    numel = 1
    for d in t.shape:
        numel *= d
    expected, acc = [], 1
    for d in reversed(t.shape):
        expected.append(acc)
        acc *= d
    expected.reverse()
    contiguous = all(d == 1 or s == e for d, s, e in zip(t.shape, t.stride, expected))
    if contiguous:
        start = t.offset * size
        return raw[start:start + numel * size]
    out = bytearray()
    idx = [0] * len(t.shape)
    for _ in range(numel):
        pos = t.offset + sum(i * s for i, s in zip(idx, t.stride))
        out += raw[pos * size:(pos + 1) * size]
        for ax in range(len(idx) - 1, -1, -1):
            idx[ax] += 1
            if idx[ax] < t.shape[ax]:
                break
            idx[ax] = 0
    return bytes(out)


def inspect_checkpoint(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith('/data.pkl') or n == 'data.pkl']
        assert len(pkl) == 1, pkl
        prefix = pkl[0][: -len('data.pkl')]
        obj = ReferenceUnpickler(io.BytesIO(z.read(pkl[0]))).load()
        wrapper = None
        if isinstance(obj, dict):
            for key in ('model', 'module', 'state_dict'):
                if key in obj:
                    wrapper = key
                    obj = obj[key]
                    break
        tensors, digests, storages = [], {}, {}
        for name, t in obj.items():
            if not isinstance(t, TensorRef):
                continue
            tensors.append({'name': name, 'dtype': t.storage.dtype, 'shape': list(t.shape)})
            key = t.storage.key
            if key not in storages:
                storages[key] = z.read(prefix + 'data/' + key)
                assert len(storages[key]) == t.storage.numel * t.storage.itemsize
            digests[name] = hashlib.sha256(logical_bytes(storages[key], t)).hexdigest()
        refs = [(n, t) for n, t in obj.items() if isinstance(t, TensorRef)]
        shared = []
        for i, (a, ta) in enumerate(refs):
            for b, tb in refs[i + 1:]:
                if (ta.storage.key, ta.storage.dtype, ta.offset, ta.shape, ta.stride) == (
                    tb.storage.key, tb.storage.dtype, tb.offset, tb.shape, tb.stride):
                    shared.append([a, b])
    return wrapper, tensors, digests, shared


ST_DTYPES = {'F32': ('float32', 4), 'F16': ('float16', 2), 'BF16': ('bfloat16', 2), 'I64': ('int64', 8),
             'I32': ('int32', 4), 'F64': ('float64', 8), 'U8': ('uint8', 1), 'BOOL': ('bool', 1)}


def inspect_safetensors(path):
    with open(path, 'rb') as f:
        blob = f.read()
    (n,) = struct.unpack('<Q', blob[:8])
    header = json.loads(blob[8:8 + n].decode('utf-8'), object_pairs_hook=collections.OrderedDict)
    base = 8 + n
    items = [(k, v) for k, v in header.items() if k != '__metadata__']
    items.sort(key=lambda kv: kv[1]['data_offsets'][0])
    out = []
    for name, v in items:
        dtype, size = ST_DTYPES[v['dtype']]
        begin, end = v['data_offsets']
        numel = 1
        for d in v['shape']:
            numel *= d
        assert end - begin == numel * size
        out.append({'name': name, 'dtype': dtype, 'shape': v['shape'],
                    'sha256': hashlib.sha256(blob[base + begin:base + end]).hexdigest()})
    return out


def dump(result):
    """JSON with one tensor / digest / pair per line (diff-friendly)."""
    one = lambda v: json.dumps(v, separators=(', ', ': '))
    lines = ['{', f' "wrapper": {one(result["wrapper"])},', ' "tensors": [']
    lines.append(',\n'.join(f'  {one(t)}' for t in result['tensors']))
    lines += [' ],', ' "sha256": {']
    lines.append(',\n'.join(f'  {one(k)}: {one(v)}' for k, v in result['sha256'].items()))
    lines += [' },', ' "shared": [']
    lines.append(',\n'.join(f'  {one(p)}' for p in result['shared']))
    lines += [' ],', ' "safetensors": [']
    lines.append(',\n'.join(f'  {one(t)}' for t in result['safetensors']))
    lines += [' ]', '}', '']
    text = '\n'.join(lines)
    assert json.loads(text) == result
    return text


def main():
    for folder in FOLDERS:
        d = os.path.join(ROOT, 'fixtures', 'goldens', folder)
        wrapper, tensors, digests, shared = inspect_checkpoint(os.path.join(d, 'checkpoint.pth'))
        result = {
            'wrapper': wrapper,
            'tensors': tensors,
            'sha256': digests,
            'shared': shared,
            'safetensors': inspect_safetensors(os.path.join(d, 'fixtures.safetensors')),
        }
        with open(os.path.join(d, 'inspect.json'), 'w') as f:
            f.write(dump(result))
        print(f'{folder}: {len(tensors)} tensors, {len(shared)} shared pairs, '
              f'{len(result["safetensors"])} safetensors entries', file=sys.stderr)


if __name__ == '__main__':
    main()
