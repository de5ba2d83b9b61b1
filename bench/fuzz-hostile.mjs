/**
 * Hostile `.pth` mutations that the structure-aware ones in `@mplug2/core` (`structuralMutations`:
 * cuts at every boundary, lying ZIP lengths, duplicated / overlapping entries, lying-size zip bombs,
 * pickle cuts, forbidden globals, injected fragments, huge ints, deep nesting) do not make, for the
 * checkpoint fuzz benchmark (`bench/fuzz-checkpoint.mjs`) and its seeded sample in the test suite
 * (`tests/reliability/checkpoint-fuzz.test.ts`):
 *
 * - `policy`: every forbidden construct as a self-contained, stack-balanced fragment (a reader that
 *   did not refuse it would carry on), so the outcome must be UnsafePickleError, not just any error;
 * - `view`: tensor views rewritten as views (not as random ints): stride-0 broadcasts with a declared
 *   size, every size huge, rank floods, offsets past the storage, sizes and strides swapped;
 * - `flood`: memo, stack and reference floods, and cyclic values in the top-level dict;
 * - `literal`: long text literals (FLOAT / INT / LONG / STRING / UNICODE / GLOBAL lines, a line with
 *   no newline), LONG4, declared string lengths beyond the data;
 * - `bomb`: honest zip bombs (the declared size is true): zeros, and pickle opcodes that are valid;
 *   compressed storages;
 * - `zip64`: a zip64 locator and record with saturated / huge / inconsistent fields.
 *
 * Data.pkl mutations are re-zipped with valid CRCs so the unpickler sees them. Plain JavaScript with
 * no dependency on the SDK (node:zlib only), so it runs on the built packages (bench) and on the
 * sources (vitest) alike. Deterministic for a given seed.
 */
import { crc32 as zlibCrc32, deflateRawSync } from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// Small helpers

/** splitmix32: a seeded generator in [0, 1). */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const u16 = (b, p) => b[p] | (b[p + 1] << 8);
const u32 = (b, p) => (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
const setU16 = (b, p, v) => {
  b[p] = v & 0xff;
  b[p + 1] = (v >>> 8) & 0xff;
};
const setU32 = (b, p, v) => {
  for (let i = 0; i < 4; i++) b[p + i] = (v >>> (8 * i)) & 0xff;
};
function concat(parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const bytesOf = (s) => (typeof s === 'string' ? enc.encode(s) : s instanceof Uint8Array ? s : Uint8Array.from(s));
const crc32 = (data) => zlibCrc32(data) >>> 0;

/** Little-endian two's complement bytes of a (big) integer, minimal length, as pickle LONG1 wants. */
function longBytes(v) {
  let x = BigInt(v);
  const out = [];
  if (x === 0n) return out;
  for (;;) {
    const byte = Number(x & 0xffn);
    out.push(byte);
    x >>= 8n;
    if ((x === 0n && !(byte & 0x80)) || (x === -1n && byte & 0x80)) break;
  }
  return out;
}
/** A pickle opcode pushing the integer `v` (BININT when it fits 32 bits, else LONG1). */
function pickleInt(v) {
  const n = typeof v === 'bigint' ? v : BigInt(v);
  if (n >= -(2n ** 31n) && n < 2n ** 31n) {
    const b = new Uint8Array(5);
    b[0] = 0x4a;
    setU32(b, 1, Number(BigInt.asUintN(32, n)));
    return b;
  }
  const lb = longBytes(n);
  return Uint8Array.from([0x8a, lb.length, ...lb]);
}

// ---------------------------------------------------------------------------------------------
// ZIP: parse (golden files are well formed) and write (STORED / DEFLATE, 64-byte aligned like torch)

/** The layout of a well-formed ZIP: entries with their local header / data positions, directory, end record. */
export function parseZip(bytes) {
  let eocd = bytes.length - 22;
  while (eocd >= 0 && u32(bytes, eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error('parseZip: no end of central directory');
  const count = u16(bytes, eocd + 10);
  const cdSize = u32(bytes, eocd + 12);
  const cdOffset = u32(bytes, eocd + 16);
  const entries = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    const nameLen = u16(bytes, p + 28);
    const extraLen = u16(bytes, p + 30);
    const commentLen = u16(bytes, p + 32);
    const lho = u32(bytes, p + 42);
    const localNameLen = u16(bytes, lho + 26);
    const localExtraLen = u16(bytes, lho + 28);
    const dataStart = lho + 30 + localNameLen + localExtraLen;
    const csize = u32(bytes, p + 20);
    entries.push({
      index: i,
      name: new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen)),
      cdRecord: p,
      cdRecordEnd: p + 46 + nameLen + extraLen + commentLen,
      method: u16(bytes, p + 10),
      crc: u32(bytes, p + 16),
      csize,
      size: u32(bytes, p + 24),
      lho,
      dataStart,
      dataEnd: dataStart + csize,
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return { entries, cdOffset, cdSize, eocd, size: bytes.length };
}

/**
 * Writes a ZIP archive. Entry: `{name, data, method?: 0|8, payload?, size?, crc?}`: `payload`
 * replaces the (compressed) bytes written, `size` / `crc` the declared uncompressed size / CRC.
 */
export function writeZip(entries) {
  const parts = [];
  const central = [];
  let pos = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const method = e.method ?? 0;
    const payload = e.payload ?? (method === 8 ? new Uint8Array(deflateRawSync(e.data)) : e.data);
    const size = e.size ?? e.data.length;
    const crc = e.crc ?? crc32(e.data);
    const base = pos + 30 + name.length;
    const pad = (64 - ((base + 4) % 64)) % 64;
    const extra = new Uint8Array(4 + pad);
    extra.set([0x46, 0x42, pad & 0xff, pad >>> 8]); // "FB" padding, as torch writes
    const h = new Uint8Array(30);
    setU32(h, 0, 0x04034b50);
    setU16(h, 4, 20);
    setU16(h, 8, method);
    setU32(h, 14, crc);
    setU32(h, 18, payload.length);
    setU32(h, 22, size);
    setU16(h, 26, name.length);
    setU16(h, 28, extra.length);
    parts.push(h, name, extra, payload);
    central.push({ name, method, crc, csize: payload.length, size, lho: pos });
    pos += 30 + name.length + extra.length + payload.length;
  }
  const cdOffset = pos;
  for (const c of central) {
    const r = new Uint8Array(46);
    setU32(r, 0, 0x02014b50);
    setU16(r, 4, 20);
    setU16(r, 6, 20);
    setU16(r, 10, c.method);
    setU32(r, 16, c.crc);
    setU32(r, 20, c.csize);
    setU32(r, 24, c.size);
    setU16(r, 28, c.name.length);
    setU32(r, 42, c.lho);
    parts.push(r, c.name);
    pos += 46 + c.name.length;
  }
  const e = new Uint8Array(22);
  setU32(e, 0, 0x06054b50);
  setU16(e, 8, central.length);
  setU16(e, 10, central.length);
  setU32(e, 12, pos - cdOffset);
  setU32(e, 16, cdOffset);
  parts.push(e);
  return concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Pickle: an opcode walker (enough to cut and splice torch's data.pkl at opcode boundaries)

const OP_ARG = {
  // fixed-size arguments
  0x80: 1, 0x4b: 1, 0x4d: 2, 0x4a: 4, 0x71: 1, 0x72: 4, 0x68: 1, 0x6a: 4, 0x47: 8, 0x95: 8, 0x82: 1, 0x83: 2, 0x84: 4,
};
const OP_LEN_PREFIX = { 0x8a: 1, 0x8b: 4, 0x58: 4, 0x8c: 1, 0x8d: 8, 0x42: 4, 0x43: 1, 0x8e: 8, 0x54: 4, 0x55: 1, 0x96: 8 };
const OP_LINES = { 0x63: 2, 0x69: 2, 0x49: 1, 0x4c: 1, 0x46: 1, 0x53: 1, 0x56: 1, 0x70: 1, 0x67: 1, 0x50: 1 };
const INT_OPS = new Set([0x4b, 0x4d, 0x4a, 0x8a]);
const MEMO_OPS = new Set([0x71, 0x72, 0x94]);
/** Opcodes the restricted unpickler implements (everything else must be refused). */
const KNOWN_OPS = new Set([
  0x28, 0x2e, 0x30, 0x31, 0x32, 0x46, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x58,
  0x61, 0x62, 0x63, 0x64, 0x7d, 0x65, 0x67, 0x68, 0x69, 0x6a, 0x6c, 0x5d, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x29, 0x75,
  0x47, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x42, 0x43, 0x8c, 0x8d, 0x8e, 0x8f, 0x90,
  0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
]);
export const UNKNOWN_OPCODES = Array.from({ length: 256 }, (_, i) => i).filter((i) => !KNOWN_OPS.has(i));

/** Opcodes of a well-formed pickle: `{op, pos, end}` (end = start of the next opcode). */
export function pickleOps(pkl) {
  const ops = [];
  let p = 0;
  while (p < pkl.length) {
    const op = pkl[p];
    let q = p + 1;
    if (op in OP_ARG) q += OP_ARG[op];
    else if (op in OP_LEN_PREFIX) {
      const w = OP_LEN_PREFIX[op];
      const n = w === 1 ? pkl[q] : w === 4 ? u32(pkl, q) : u32(pkl, q) + u32(pkl, q + 4) * 2 ** 32;
      q += w + n;
    } else if (op in OP_LINES) for (let k = 0; k < OP_LINES[op]; k++) q = pkl.indexOf(0x0a, q) + 1;
    ops.push({ op, pos: p, end: q });
    if (op === 0x2e) break;
    p = q;
  }
  return ops;
}

/**
 * The tensor views of a torch data.pkl: for each `_rebuild_tensor_v2(storage, offset, size, stride, ...)`
 * the opcode indices of the offset, the size items and the stride items (ints pushed after BINPERSID).
 */
export function tensorViews(ops) {
  const views = [];
  for (let i = 0; i < ops.length; i++) {
    if (ops[i].op !== 0x51) continue; // BINPERSID: the storage
    let j = i + 1;
    if (!INT_OPS.has(ops[j]?.op)) continue;
    const offset = j++;
    const size = [];
    while (INT_OPS.has(ops[j]?.op)) size.push(j++);
    const sizeTuple = j++;
    while (MEMO_OPS.has(ops[j]?.op)) j++;
    const stride = [];
    while (INT_OPS.has(ops[j]?.op)) stride.push(j++);
    const strideTuple = j;
    views.push({ offset, size, sizeTuple, stride, strideTuple });
  }
  return views;
}

/** Replaces opcodes `[from, to)` of `pkl` with `insert`. */
function splice(pkl, ops, from, to, insert) {
  const a = ops[from].pos;
  const b = to < ops.length ? ops[to].pos : pkl.length;
  return concat([pkl.subarray(0, a), bytesOf(insert), pkl.subarray(b)]);
}

// Self-contained, stack-balanced payloads: an unpickler that did not refuse them would carry on as
// if nothing happened, so a refusal is the allow-list's doing, not a side effect of malformed input.
const line = (s) => `${s}\n`;
const FORBIDDEN_GLOBALS = [
  ['os', 'system'],
  ['posix', 'system'],
  ['nt', 'system'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['builtins', 'getattr'],
  ['builtins', '__import__'],
  ['__builtin__', 'eval'],
  ['subprocess', 'Popen'],
  ['subprocess', 'check_output'],
  ['torch', 'load'],
  ['torch.serialization', 'load'],
  ['torch._utils', '_rebuild_device_tensor_from_numpy'],
  ['torch._utils', '_rebuild_qtensor'],
  ['torch.nn.modules.linear', 'Linear'],
  ['numpy.core.multiarray', '_reconstruct'],
  ['numpy', 'load'],
  ['copyreg', '_reconstructor'],
  ['collections', 'defaultdict'],
  ['functools', 'partial'],
  ['pickle', 'loads'],
  ['runpy', '_run_code'],
  ['webbrowser', 'open'],
  ['shutil', 'rmtree'],
  ['torch', 'FloatStorage.__init__'],
  ['torch._utils\nx', 'y'],
  ['', ''],
];
const SHELL = "touch /tmp/mplug2-fuzz-pwned";
function shortUnicode(s) {
  const b = enc.encode(s);
  return [0x8c, b.length, ...b];
}
/** Hostile payloads: [kind, bytes]; each is refused by policy (UnsafePickleError). */
function unsafePayloads(r) {
  const [m, n] = FORBIDDEN_GLOBALS[Math.floor(r() * FORBIDDEN_GLOBALS.length)];
  const arg = bytesOf(`X${String.fromCharCode(SHELL.length)}\0\0\0${SHELL}`);
  return [
    ['GLOBAL+REDUCE', concat([bytesOf(`c${line(m)}${line(n)}`), arg, Uint8Array.of(0x85, 0x52, 0x30)])],
    ['GLOBAL', concat([bytesOf(`c${line(m)}${line(n)}`), Uint8Array.of(0x30)])],
    ['STACK_GLOBAL+REDUCE', Uint8Array.of(...shortUnicode(m), ...shortUnicode(n), 0x93, ...arg, 0x85, 0x52, 0x30)],
    ['INST', concat([Uint8Array.of(0x28), arg, bytesOf(`i${line(m)}${line(n)}`), Uint8Array.of(0x30)])],
    // OBJ / NEWOBJ / NEWOBJ_EX even on an allow-listed class
    ['OBJ', concat([Uint8Array.of(0x28), bytesOf(`c${line('collections')}${line('OrderedDict')}`), Uint8Array.of(0x6f, 0x30)])],
    ['NEWOBJ', concat([bytesOf(`c${line('collections')}${line('OrderedDict')}`), Uint8Array.of(0x29, 0x81, 0x30)])],
    ['NEWOBJ_EX', concat([bytesOf(`c${line('collections')}${line('OrderedDict')}`), Uint8Array.of(0x29, 0x7d, 0x92, 0x30)])],
    // REDUCE on allow-listed non-callables and on plain values
    ['REDUCE-noncallable', concat([bytesOf(`c${line('torch')}${line('FloatStorage')}`), Uint8Array.of(0x29, 0x52, 0x30)])],
    ['REDUCE-str', Uint8Array.of(...shortUnicode(`${m}.${n}`), 0x29, 0x52, 0x30)],
    ['REDUCE-memo', concat([bytesOf(`c${line('torch')}${line('float32')}`), Uint8Array.of(0x71, 0xfc, 0x30, 0x68, 0xfc, 0x29, 0x52, 0x30)])],
    // BUILD (object state) on anything but an OrderedDict's _metadata
    ['BUILD-list', Uint8Array.of(0x5d, 0x7d, 0x62, 0x30)],
    ['BUILD-dict', Uint8Array.of(0x7d, 0x7d, 0x62, 0x30)],
    ['BUILD-global', concat([bytesOf(`c${line('torch')}${line('FloatStorage')}`), Uint8Array.of(0x7d, 0x62, 0x30)])],
    ['BUILD-state', concat([bytesOf(`c${line('collections')}${line('OrderedDict')}`), Uint8Array.of(0x29, 0x52, ...shortUnicode('__reduce__'), 0x62, 0x30)])],
    ['EXT1', Uint8Array.of(0x82, 1, 0x30)],
    ['EXT2', Uint8Array.of(0x83, 1, 0, 0x30)],
    ['EXT4', Uint8Array.of(0x84, 1, 0, 0, 0, 0x30)],
    ['NEXT_BUFFER', Uint8Array.of(0x97, 0x30)],
    ['READONLY_BUFFER', Uint8Array.of(0x4e, 0x98, 0x30)],
  ];
}

// ---------------------------------------------------------------------------------------------
// Mutation kinds

const HUGE_INTS = [2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 40n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 64n, 2n ** 100n, 10n ** 6n, 65536n];
const NEGATIVE_INTS = [-1n, -2n, -(2n ** 31n), -(2n ** 53n), -(2n ** 63n)];

/** Everything a .pth mutation needs to know about a golden archive (parsed once per file). */
export function analysePth(bytes) {
  const zip = parseZip(bytes);
  const pklEntry = zip.entries.find((e) => e.name.endsWith('/data.pkl'));
  const pkl = bytes.slice(pklEntry.dataStart, pklEntry.dataEnd);
  const ops = pickleOps(pkl);
  const entries = zip.entries.map((e) => ({ name: e.name, data: bytes.slice(e.dataStart, e.dataEnd) }));
  return { bytes, zip, pklEntry, pkl, ops, views: tensorViews(ops), entries };
}

/** The archive with data.pkl replaced by `pkl` (valid CRCs: the unpickler sees the bytes). */
function withPickle(a, pkl, extra = {}) {
  return writeZip(a.entries.map((e) => (e.name === a.pklEntry.name ? { name: e.name, data: pkl, ...extra } : e)));
}

/** Hostile mutation kinds and their generators: `(analysis, random) => {label, bytes, expect?}`. */
export const HOSTILE = {
  policy(a, r) {
    const pick = Math.floor(r() * 10);
    if (pick === 0) {
      // one of torch's own GLOBALs renamed to a forbidden callable
      const globals = a.ops.map((o, i) => [o, i]).filter(([o]) => o.op === 0x63);
      const [, i] = globals[Math.floor(r() * globals.length)];
      const [m, n] = FORBIDDEN_GLOBALS[Math.floor(r() * FORBIDDEN_GLOBALS.length)];
      return { label: `GLOBAL swapped for ${JSON.stringify(`${m}.${n}`)}@op${i}`, bytes: withPickle(a, splice(a.pkl, a.ops, i, i + 1, `c${line(m)}${line(n)}`)), expect: 'UNSAFE_PICKLE' };
    }
    // anywhere between two opcodes after PROTO and before STOP
    const at = 1 + Math.floor(r() * (a.ops.length - 1));
    if (pick === 1) {
      const op = UNKNOWN_OPCODES[Math.floor(r() * UNKNOWN_OPCODES.length)];
      return { label: `opcode 0x${op.toString(16)}@op${at}`, bytes: withPickle(a, splice(a.pkl, a.ops, at, at, [op])), expect: 'UNSAFE_PICKLE' };
    }
    const payloads = unsafePayloads(r);
    const [what, payload] = payloads[Math.floor(r() * payloads.length)];
    return { label: `${what}@op${at}`, bytes: withPickle(a, splice(a.pkl, a.ops, at, at, payload)), expect: 'UNSAFE_PICKLE' };
  },
  view(a, r) {
    // lying tensor views: huge / negative sizes, strides, offsets; stride-0 broadcasts; rank floods
    const v = a.views[Math.floor(r() * a.views.length)];
    const item = (i) => a.pkl.subarray(a.ops[i].pos, a.ops[i].end);
    const pick = Math.floor(r() * 7);
    if (pick <= 1) {
      const all = [v.offset, ...v.size, ...v.stride];
      const i = all[Math.floor(r() * all.length)];
      const values = pick === 0 ? HUGE_INTS : NEGATIVE_INTS;
      const x = values[Math.floor(r() * values.length)];
      const role = i === v.offset ? 'offset' : v.size.includes(i) ? 'size' : 'stride';
      return { label: `${role}=${x}@op${i}`, bytes: withPickle(a, splice(a.pkl, a.ops, i, i + 1, pickleInt(x))) };
    }
    if (pick === 5) {
      // offset at / past the end of the storage
      const x = [1n << 16n, 1n << 24n, 1n << 32n][Math.floor(r() * 3)];
      return { label: `offset=${x}`, bytes: withPickle(a, splice(a.pkl, a.ops, v.offset, v.offset + 1, pickleInt(x))) };
    }
    // the rest rebuild both tuples: MARK size... TUPLE MARK stride... TUPLE
    let sizes = v.size.map(item);
    let strides = v.stride.map(item);
    let what;
    if (pick === 2) {
      // stride 0 with a huge size: a broadcast view whose size is declared, not stored
      const big = [1n << 20n, 1n << 26n, 1n << 28n, 1n << 30n, 1n << 40n][Math.floor(r() * 5)];
      sizes = [pickleInt(big), ...sizes];
      strides = [pickleInt(0), ...strides];
      what = `broadcast: extra dim ${big} with stride 0`;
    } else if (pick === 3) {
      sizes = [...sizes, ...sizes].map(() => pickleInt(2n ** 31n - 1n));
      strides = [...strides, ...strides];
      what = `every size 2^31-1 (rank ${sizes.length})`;
    } else if (pick === 4) {
      const n = [65, 100, 10_000][Math.floor(r() * 3)] - sizes.length;
      sizes = [...sizes, ...new Array(Math.max(0, n)).fill(Uint8Array.of(0x4b, 1))];
      strides = [...strides, ...new Array(Math.max(0, n)).fill(Uint8Array.of(0x4b, 1))];
      what = `rank ${sizes.length}`;
    } else {
      [sizes, strides] = [strides, sizes];
      what = 'sizes and strides swapped';
    }
    const region = concat([Uint8Array.of(0x28), ...sizes, Uint8Array.of(0x74, 0x28), ...strides, Uint8Array.of(0x74)]);
    return { label: what, bytes: withPickle(a, splice(a.pkl, a.ops, v.offset + 1, v.strideTuple + 1, region)) };
  },
  flood(a, r) {
    const at = 1 + Math.floor(r() * (a.ops.length - 1));
    const pick = Math.floor(r() * 6);
    if (pick >= 4) {
      // cyclic values where the reader looks: the top-level dict and the state dict (memo 3 in torch's pickles)
      const stop = a.ops.length - 1;
      const cyc = pick === 4
        ? Uint8Array.of(...shortUnicode('cycle'), 0x5d, 0x71, 0xfa, 0x68, 0xfa, 0x61, 0x7d, 0x71, 0xf9, 0x4b, 0, 0x68, 0xf9, 0x73, 0x61, 0x73)
        : Uint8Array.of(0x68, 3, ...shortUnicode('self'), 0x68, 3, 0x73, 0x30);
      return { label: pick === 4 ? 'cyclic list and dict in the top-level dict' : 'the state dict contains itself', bytes: withPickle(a, splice(a.pkl, a.ops, stop, stop, cyc)) };
    }
    let payload;
    let what;
    if (pick === 0) {
      // memo flood: MEMOIZE n times
      const n = [1 << 16, 1 << 20, (1 << 22) + 1][Math.floor(r() * 3)];
      payload = new Uint8Array(n + 2).fill(0x94);
      payload[0] = 0x4e;
      payload[n + 1] = 0x30;
      what = `MEMOIZE x${n}`;
    } else if (pick === 1) {
      // memo keys far apart
      const n = 1 << 16;
      payload = new Uint8Array(1 + 5 * n + 1);
      payload[0] = 0x4e;
      for (let k = 0; k < n; k++) {
        payload[1 + 5 * k] = 0x72;
        setU32(payload, 2 + 5 * k, Math.floor(r() * 2 ** 32));
      }
      payload[payload.length - 1] = 0x30;
      what = `LONG_BINPUT x${n} random keys`;
    } else if (pick === 2) {
      // stack flood: MARK, NONE, DUP x n, POP_MARK
      const n = [1 << 16, (1 << 22) + 8][Math.floor(r() * 2)];
      payload = new Uint8Array(n + 3).fill(0x32);
      payload[0] = 0x28;
      payload[1] = 0x4e;
      payload[n + 2] = 0x31;
      what = `DUP x${n}`;
    } else {
      // a list of n references to one big string (billion laughs without copies)
      const n = 1 << 18;
      const s = 'x'.repeat(65536);
      const parts = [bytesOf(`X\0\0\x01\0${s}`), Uint8Array.of(0x71, 0xfd, 0x30, 0x5d, 0x28)];
      const body = new Uint8Array(2 * n);
      for (let k = 0; k < n; k++) body.set([0x68, 0xfd], 2 * k);
      parts.push(body, Uint8Array.of(0x65, 0x30));
      payload = concat(parts);
      what = `list of ${n} refs to a 64 KiB string`;
    }
    return { label: `${what}@op${at}`, bytes: withPickle(a, splice(a.pkl, a.ops, at, at, payload)) };
  },
  literal(a, r) {
    const at = 1 + Math.floor(r() * (a.ops.length - 1));
    const n = [100, 10_000, 1_000_000][Math.floor(r() * 3)];
    const digits = '1'.repeat(n);
    const kinds = [
      ['FLOAT digits+x', `F${digits}x\n0`],
      ['FLOAT digits', `F${digits}\n0`],
      ['FLOAT 1.digits+x', `F1.${digits}e\n0`],
      ['INT digits', `I${digits}\n0`],
      ['INT digits+x', `I${digits}x\n0`],
      ['LONG digits', `L${digits}L\n0`],
      ['GET digits', `g${digits}\n0`],
      ['PUT digits', `Np${digits}\n0`],
      ['STRING escapes', `S'${'\\x41'.repeat(n / 4)}'\n0`],
      ['STRING unterminated', `S'${'a'.repeat(n)}\n0`],
      ['UNICODE escapes', `V${'\\u0041'.repeat(n / 6)}\n0`],
      ['GLOBAL long line', `c${'m'.repeat(n)}\n${'n'.repeat(n)}\n0`],
      ['no newline', `F${digits}`],
    ];
    const pick = Math.floor(r() * (kinds.length + 3));
    if (pick < kinds.length) {
      const [what, text] = kinds[pick];
      const payload = Uint8Array.from(text, (c) => c.charCodeAt(0));
      return { label: `${what} (${n})@op${at}`, bytes: withPickle(a, splice(a.pkl, a.ops, at, at, payload)) };
    }
    if (pick === kinds.length) {
      // LONG4 of n bytes (bounded at 1 MiB by the reader)
      const len = Math.min(n, 1 << 20) + (r() < 0.5 ? 1 : 0);
      const b = new Uint8Array(5 + len + 1).fill(0x7f);
      b[0] = 0x8b;
      setU32(b, 1, len);
      b[5 + len] = 0x30;
      return { label: `LONG4 ${len} bytes@op${at}`, bytes: withPickle(a, splice(a.pkl, a.ops, at, at, b)) };
    }
    // declared string lengths beyond the data
    const op = [0x58, 0x42, 0x54, 0x8d, 0x8e, 0x96][Math.floor(r() * 6)];
    const wide = op === 0x8d || op === 0x8e || op === 0x96;
    const b = new Uint8Array(wide ? 9 : 5);
    b[0] = op;
    setU32(b, 1, [0xffffffff, 0x7fffffff, a.pkl.length][Math.floor(r() * 3)]);
    if (wide) setU32(b, 5, Math.floor(r() * 0x200000));
    return { label: `0x${op.toString(16)} declares ${u32(b, 1)}@op${at}`, bytes: withPickle(a, splice(a.pkl, a.ops, at, at, b)) };
  },
  bomb(a, r) {
    const pick = Math.floor(r() * 5);
    const pushPop = (bytes) => {
      // PROTO, then NONE/POP pairs, then the real pickle: valid opcodes all the way
      const data = new Uint8Array(bytes + a.pkl.length - 2);
      data.set(a.pkl.subarray(0, 2));
      for (let i = 2; i < bytes; i += 2) data.set([0x4e, 0x30], i);
      data.set(a.pkl.subarray(2), bytes);
      return data;
    };
    if (pick === 0) return { label: 'honest bomb: 32 MiB of zeros', bytes: withPickle(a, new Uint8Array(32 << 20), { method: 8 }) };
    if (pick === 1) return { label: 'honest bomb: 16 MiB of NONE/POP, then the pickle', bytes: withPickle(a, pushPop(16 << 20), { method: 8 }) };
    if (pick === 2) return { label: '1 MiB of NONE/POP, then the pickle', bytes: withPickle(a, pushPop((1 << 20) - a.pkl.length), { method: 8 }) };
    if (pick === 3) return { label: 'data.pkl DEFLATEd', bytes: withPickle(a, a.pkl, { method: 8 }) };
    // storages compressed (torch never does that)
    const e = a.entries[1 + Math.floor(r() * (a.entries.length - 1))];
    return { label: `compressed storage ${e.name}`, bytes: writeZip(a.entries.map((x) => (x === e ? { ...x, method: 8 } : x))) };
  },
  zip64(a, r) {
    // a zip64 locator + record in front of the end record, with saturated 32-bit fields
    const huge = [2 ** 53 - 1, 2 ** 40, a.bytes.length * 2, 0xffffffff, 0];
    const pick = (n) => huge[Math.floor(r() * huge.length)] * (r() < 0.5 ? 1 : 0) + (r() < 0.5 ? n : 0);
    const rec = new Uint8Array(56);
    setU32(rec, 0, 0x06064b50);
    setU32(rec, 4, 44);
    const u64 = (b, p, v) => {
      setU32(b, p, v % 2 ** 32);
      setU32(b, p + 4, Math.floor(v / 2 ** 32));
    };
    const n = a.zip.entries.length;
    u64(rec, 24, pick(n));
    u64(rec, 32, pick(n));
    u64(rec, 40, pick(a.zip.cdSize));
    u64(rec, 48, pick(a.zip.cdOffset));
    const recPos = a.zip.eocd;
    const loc = new Uint8Array(20);
    setU32(loc, 0, 0x07064b50);
    u64(loc, 8, r() < 0.8 ? recPos : pick(recPos));
    setU32(loc, 16, r() < 0.9 ? 1 : 2);
    const eocd = a.bytes.slice(a.zip.eocd);
    setU16(eocd, 8, 0xffff);
    setU16(eocd, 10, 0xffff);
    setU32(eocd, 12, 0xffffffff);
    setU32(eocd, 16, 0xffffffff);
    return { label: `zip64 ${[...rec.subarray(24, 56)].join(',')}`, bytes: concat([a.bytes.subarray(0, a.zip.eocd), rec, loc, eocd]) };
  },
};

/** Every kind name. */
export const HOSTILE_KINDS = Object.keys(HOSTILE);

/**
 * `count` hostile mutations of a golden `.pth` (parsed once), kinds drawn in a seeded order:
 * `{kind, label, bytes, expect?}`; `expect` is the only acceptable error code (a policy refusal).
 */
export function* hostileMutations(bytes, seed, count, kinds = HOSTILE_KINDS) {
  const r = rng(seed);
  const analysis = analysePth(bytes);
  for (let i = 0; i < count; i++) {
    const kind = kinds[Math.floor(r() * kinds.length)];
    const m = HOSTILE[kind](analysis, r);
    yield { kind, label: `#${i} ${m.label}`, bytes: m.bytes, expect: m.expect };
  }
}
