#!/usr/bin/env python3
"""Checks that a file has the torch.save zip layout (torch >= 1.6), using the standard library only.

    python3 check_torch_layout.py FILE [--values] [--sha256] [--stats] [--extract-pickle OUT] [--expect-zip64]
    python3 check_torch_layout.py --reference-pickle SPEC.json OUT.pkl

Checks: zipfile opens it and every CRC-32 matches (testzip); all entries sit under one
`<archive>/` folder; `<archive>/data.pkl` and `<archive>/version` (b'3\\n') exist; every entry is
STORED with its data 64-byte aligned; local headers agree with the central directory (when they
carry sizes/CRC rather than a data descriptor); data.pkl unpickles with a restricted unpickler
(only collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.*Storage are allowed)
into {'model'|'module': OrderedDict} or a bare OrderedDict of tensors; every tensor is a
contiguous view inside its storage; every storage entry has exactly numel * itemsize bytes and is
referenced. Prints one JSON object on stdout; on a failed check prints the reason on stderr and
exits 1.

--values        add every tensor's values (floats / ints, decoded with struct)
--sha256        add the sha256 of every tensor's raw bytes
--stats         add per-tensor finite/min/max/mean/std and the first 8 values
--extract-pickle OUT   write the raw data.pkl bytes to OUT
--expect-zip64  fail unless the archive has zip64 end records
--reference-pickle   write the data.pkl CPython's pickler produces for torch.save of the state
                     dict described by SPEC.json (stand-in torch classes), for byte comparison
"""
import collections
import hashlib
import json
import pickle
import struct
import sys
import zipfile

STORAGES = {
    'FloatStorage': ('float32', 4, 'f'),
    'HalfStorage': ('float16', 2, 'e'),
    'LongStorage': ('int64', 8, 'q'),
    'DoubleStorage': ('float64', 8, 'd'),
    'IntStorage': ('int32', 4, 'i'),
}


class CheckError(Exception):
    pass


def fail(msg):
    raise CheckError(msg)


class StorageType:
    def __init__(self, name):
        self.name = name


class Storage:
    def __init__(self, stype, key, location, numel):
        self.stype, self.key, self.location, self.numel = stype, key, location, numel


class Tensor:
    def __init__(self, storage, offset, size, stride, requires_grad, hooks):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
        self.requires_grad, self.hooks = requires_grad, hooks


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, *rest):
    if not isinstance(storage, Storage):
        fail('_rebuild_tensor_v2 got a %r instead of a persistent storage' % type(storage).__name__)
    return Tensor(storage, offset, size, stride, requires_grad, hooks)


class Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ('collections', 'OrderedDict'):
            return collections.OrderedDict
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return rebuild_tensor_v2
        if module == 'torch' and name in STORAGES:
            return StorageType(name)
        fail('pickle references a forbidden global %s.%s' % (module, name))

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'):
            fail('unexpected persistent id %r' % (pid,))
        _, stype, key, location, numel = pid
        if not isinstance(stype, StorageType):
            fail('persistent id names %r, not a torch storage type' % (stype,))
        if not isinstance(key, str) or location != 'cpu' or not isinstance(numel, int) or numel < 0:
            fail('malformed persistent id %r' % (pid,))
        return Storage(stype, key, location, numel)


def u16(b, p):
    return struct.unpack_from('<H', b, p)[0]


def u32(b, p):
    return struct.unpack_from('<I', b, p)[0]


def check_local_headers(path, zf):
    """Local header of every entry: signature, name, STORED, 64-byte aligned data, sizes/CRC."""
    with open(path, 'rb') as f:
        for info in zf.infolist():
            f.seek(info.header_offset)
            h = f.read(30)
            if len(h) != 30 or u32(h, 0) != 0x04034B50:
                fail('%s: bad local header signature' % info.filename)
            flags, method = u16(h, 6), u16(h, 8)
            crc, csize, usize = u32(h, 14), u32(h, 18), u32(h, 22)
            nlen, elen = u16(h, 26), u16(h, 28)
            name = f.read(nlen).decode('utf-8' if flags & 0x800 else 'cp437')
            extra = f.read(elen)
            if name != info.filename:
                fail('local header names %r, central directory %r' % (name, info.filename))
            if method != 0 or info.compress_type != 0:
                fail('%s: not STORED (method %d)' % (name, method))
            data_pos = info.header_offset + 30 + nlen + elen
            if data_pos % 64 != 0:
                fail('%s: data at byte %d is not 64-byte aligned' % (name, data_pos))
            fields, p = {}, 0
            while p + 4 <= len(extra):
                tag, ln = u16(extra, p), u16(extra, p + 2)
                if p + 4 + ln > len(extra):
                    fail('%s: truncated extra field' % name)
                fields[tag] = extra[p + 4:p + 4 + ln]
                p += 4 + ln
            if p != len(extra):
                fail('%s: trailing bytes in the local extra field' % name)
            if 0x4246 not in fields:
                fail("%s: no 'FB' alignment padding extra field" % name)
            if flags & 0x8 == 0:  # sizes and CRC must be in the local header
                if usize == 0xFFFFFFFF or csize == 0xFFFFFFFF:
                    z = fields.get(0x0001)
                    if z is None or len(z) < 16:
                        fail('%s: saturated local sizes without a zip64 extra field' % name)
                    usize, csize = struct.unpack_from('<QQ', z, 0)
                if (crc, csize, usize) != (info.CRC, info.compress_size, info.file_size):
                    fail('%s: local header (crc %08x, %d, %d) disagrees with the central directory (crc %08x, %d, %d)'
                         % (name, crc, csize, usize, info.CRC, info.compress_size, info.file_size))
            if f.seek(data_pos) != data_pos:
                fail('%s: cannot seek to data' % name)


def has_zip64_end(path):
    with open(path, 'rb') as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 22 - 20 - 65536))
        tail = f.read()
    eocd = tail.rfind(b'PK\x05\x06')
    if eocd < 0:
        fail('no end of central directory record')
    return eocd >= 20 and tail[eocd - 20:eocd - 16] == b'PK\x06\x07'


def reference_pickle(spec_path, out_path):
    """Pickles a state dict the way torch.save does (CPython pickler, protocol 2, persistent ids),
    with stand-ins for torch's classes, from {"wrapper", "tensors": [{name, dtype, shape, key}]}."""
    import types
    with open(spec_path) as f:
        spec = json.load(f)
    torch = types.ModuleType('torch')
    utils = types.ModuleType('torch._utils')
    classes = {}
    for cls in ('FloatStorage', 'HalfStorage', 'LongStorage'):
        c = type(cls, (), {})
        c.__module__ = 'torch'
        c.__qualname__ = cls
        setattr(torch, cls, c)
        classes[cls] = c

    def _rebuild_tensor_v2(*args):
        raise AssertionError('not for loading')
    _rebuild_tensor_v2.__module__ = 'torch._utils'
    _rebuild_tensor_v2.__qualname__ = '_rebuild_tensor_v2'
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    sys.modules['torch'] = torch
    sys.modules['torch._utils'] = utils
    cls_of = {'float32': 'FloatStorage', 'float16': 'HalfStorage', 'int64': 'LongStorage'}
    location = 'cpu'

    class FakeStorage:
        def __init__(self, stype, key, numel):
            self.stype, self.key, self.numel = stype, key, numel

    class FakeTensor:
        def __init__(self, storage, shape):
            self.storage, self.shape = storage, shape

        def __reduce_ex__(self, proto):
            stride, s = [], 1
            for d in reversed(self.shape):
                stride.insert(0, s)
                s *= d
            return (_rebuild_tensor_v2, (self.storage, 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()))

    storages = {}
    sd = collections.OrderedDict()
    for t in spec['tensors']:
        st = storages.get(t['key'])
        if st is None:
            numel = 1
            for d in t['shape']:
                numel *= d
            # str(int) like torch's id_map; the same object for every user of the storage
            st = storages[t['key']] = FakeStorage(classes[cls_of[t['dtype']]], str(int(t['key'])), numel)
        sd[t['name']] = FakeTensor(st, t['shape'])

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, FakeStorage):
                return ('storage', obj.stype, obj.key, location, obj.numel)
            return None

    import io
    buf = io.BytesIO()
    P(buf, protocol=2).dump({spec['wrapper']: sd} if spec['wrapper'] else sd)
    with open(out_path, 'wb') as f:
        f.write(buf.getvalue())


def main(argv):
    args = argv[1:]
    if args and args[0] == '--reference-pickle':
        reference_pickle(args[1], args[2])
        return
    if not args or args[0].startswith('-'):
        fail('usage: check_torch_layout.py FILE [--values] [--sha256] [--stats] [--extract-pickle OUT] [--expect-zip64]')
    path = args[0]
    want_values = '--values' in args
    want_sha = '--sha256' in args
    want_stats = '--stats' in args
    extract = args[args.index('--extract-pickle') + 1] if '--extract-pickle' in args else None

    zf = zipfile.ZipFile(path)
    bad = zf.testzip()
    if bad is not None:
        fail('CRC-32 mismatch in entry %s' % bad)
    names = zf.namelist()
    if not names:
        fail('the archive is empty')
    if len(set(names)) != len(names):
        fail('duplicate entry names')
    archive = names[0].split('/')[0]
    for n in names:
        if not n.startswith(archive + '/'):
            fail('entry %r is outside the archive folder %r' % (n, archive))
    if archive + '/data.pkl' not in names:
        fail('no %s/data.pkl' % archive)
    if archive + '/version' not in names:
        fail('no %s/version' % archive)
    version = zf.read(archive + '/version')
    if version != b'3\n':
        fail('version record is %r, expected 3' % version)
    check_local_headers(path, zf)
    zip64 = has_zip64_end(path)
    if '--expect-zip64' in args and not zip64:
        fail('expected zip64 end of central directory records')

    pkl = zf.read(archive + '/data.pkl')
    if extract:
        with open(extract, 'wb') as f:
            f.write(pkl)
    if pkl[:2] != b'\x80\x02':
        fail('data.pkl is not pickle protocol 2')
    import io
    root = Unpickler(io.BytesIO(pkl)).load()
    wrapper = None
    if type(root) is dict:
        if len(root) != 1 or next(iter(root)) not in ('model', 'module'):
            fail('top-level dict has keys %r, expected one of model/module' % list(root))
        wrapper = next(iter(root))
        sd = root[wrapper]
    else:
        sd = root
    if type(sd) is not collections.OrderedDict:
        fail('state dict is a %s, not an OrderedDict' % type(sd).__name__)

    storages = {}
    tensors = []
    for name, t in sd.items():
        if not isinstance(t, Tensor):
            fail('%s is a %s, not a tensor' % (name, type(t).__name__))
        st = t.storage
        dtype, itemsize, code = STORAGES[st.stype.name]
        prev = storages.get(st.key)
        if prev is None:
            entry = '%s/data/%s' % (archive, st.key)
            if entry not in names:
                fail('%s: storage entry %s is missing' % (name, entry))
            size = zf.getinfo(entry).file_size
            if size != st.numel * itemsize:
                fail('%s: storage %s has %d bytes, %d x %s needs %d' % (name, st.key, size, st.numel, dtype, st.numel * itemsize))
            storages[st.key] = {'dtype': dtype, 'numel': st.numel, 'bytes': size, 'users': [name]}
        else:
            if prev['dtype'] != dtype or prev['numel'] != st.numel:
                fail('%s: storage %s is declared differently by two tensors' % (name, st.key))
            prev['users'].append(name)
        numel = 1
        for d in t.size:
            numel *= d
        expect, s = [], 1
        for d in reversed(t.size):
            expect.insert(0, s)
            s *= d
        if list(t.stride) != expect:
            fail('%s: stride %r is not contiguous for size %r' % (name, t.stride, t.size))
        if t.offset < 0 or t.offset + numel > st.numel:
            fail('%s: view (offset %d, %d elements) exceeds its storage of %d' % (name, t.offset, numel, st.numel))
        if t.requires_grad is not False or type(t.hooks) is not collections.OrderedDict or len(t.hooks) != 0:
            fail('%s: unexpected requires_grad/backward hooks' % name)
        tensors.append({'name': name, 'dtype': dtype, 'shape': list(t.size), 'stride': list(t.stride),
                        'offset': t.offset, 'key': st.key, 'numel': numel})
    data_entries = {n for n in names if n.startswith(archive + '/data/')}
    unused = data_entries - {'%s/data/%s' % (archive, k) for k in storages}
    if unused:
        fail('storage entries not referenced by data.pkl: %s' % sorted(unused)[:5])

    out = {
        'ok': True,
        'archive': archive,
        'wrapper': wrapper,
        'entries': names,
        'zip64': zip64,
        'tensors': tensors,
        'tied': [v['users'] for v in storages.values() if len(v['users']) > 1],
    }
    if want_values or want_sha or want_stats:
        values, sha, stats = {}, {}, {}
        for t in tensors:
            dtype, itemsize, code = next(v for v in STORAGES.values() if v[0] == t['dtype'])
            raw = zf.read('%s/data/%s' % (archive, t['key']))[t['offset'] * itemsize:(t['offset'] + t['numel']) * itemsize]
            if want_sha:
                sha[t['name']] = hashlib.sha256(raw).hexdigest()
            if want_values or want_stats:
                vals = struct.unpack('<%d%s' % (t['numel'], code), raw)
            if want_values:
                values[t['name']] = list(vals)
            if want_stats:
                finite = all(v == v and v not in (float('inf'), float('-inf')) for v in vals)
                n = len(vals)
                mean = sum(vals) / n if n and finite else None
                std = (sum((v - mean) ** 2 for v in vals) / n) ** 0.5 if mean is not None else None
                stats[t['name']] = {'finite': finite, 'min': min(vals) if n and finite else None,
                                    'max': max(vals) if n and finite else None, 'mean': mean, 'std': std,
                                    'head': list(vals[:8]) if finite else None}
        if want_values:
            out['values'] = values
        if want_stats:
            out['stats'] = stats
        if want_sha:
            out['sha256'] = sha
    json.dump(out, sys.stdout, allow_nan=False)
    sys.stdout.write('\n')


if __name__ == '__main__':
    try:
        main(sys.argv)
    except (CheckError, zipfile.BadZipFile, pickle.UnpicklingError, OSError) as e:
        sys.stderr.write('torch layout check failed: %s\n' % e)
        sys.exit(1)
