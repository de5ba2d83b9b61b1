/**
 * Deterministic mutations of a file's bytes for robustness tests and benchmarks: every reader
 * must end in success or a typed Mplug2Error on each of them.
 *
 * Offsets are drawn a third from the head (local headers, data.pkl), a third from the tail
 * (central directory, end records; also where a safetensors header is *not*, so the head covers
 * that) and a third uniformly, so structural bytes are hit often.
 */

import {
  crc32,
  PICKLE_OP as OP,
  prng,
  ZIP_LOCAL_HEADER_SIZE,
  type ZipEntryLayout,
  type ZipLayout,
  zipCentralHeader,
  zipEndOfCentralDirectory,
  zipLayout,
  zipLocalHeader,
  zipPaddingField,
} from '@mplug2/core';

/** Archive layout: core's (`zipLayout` locates the records of a plain zip; `ZipArchive` is the checked reader). */
export { type ZipEntryLayout, type ZipLayout, zipLayout };

export interface Mutation {
  /** Reproducible description, e.g. `#12 flip@4711^0x20`. */
  readonly label: string;
  readonly bytes: Uint8Array;
}

const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Yields `count` mutated copies of `bytes` (the input is never modified). */
export function* mutations(bytes: Uint8Array, seed: number, count: number): Generator<Mutation> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const len = bytes.length;
  const region = Math.min(len, 65536);
  const offset = (): number => {
    if (len === 0) return 0;
    const r = rnd();
    if (r < 1 / 3) return int(region);
    if (r < 2 / 3) return len - 1 - int(region);
    return int(len);
  };
  for (let i = 0; i < count; i++) {
    const kind = int(7);
    let out: Uint8Array;
    let label: string;
    if (len === 0) {
      yield { label: `#${i} empty`, bytes: new Uint8Array(0) };
      continue;
    }
    switch (kind) {
      case 0: {
        const at = offset();
        const bit = 1 << int(8);
        out = bytes.slice();
        out[at] ^= bit;
        label = `flip@${at}^0x${bit.toString(16)}`;
        break;
      }
      case 1: {
        const k = 2 + int(15);
        out = bytes.slice();
        const spots: number[] = [];
        for (let j = 0; j < k; j++) {
          const at = offset();
          out[at] ^= 1 << int(8);
          spots.push(at);
        }
        label = `flips@${spots.join(',')}`;
        break;
      }
      case 2: {
        const at = offset();
        out = bytes.slice(0, at);
        label = `truncate@${at}`;
        break;
      }
      case 3: {
        const at = offset();
        const v = int(256);
        out = bytes.slice();
        out[at] = v;
        label = `byte@${at}=0x${v.toString(16)}`;
        break;
      }
      case 4: {
        const at = Math.min(offset(), Math.max(0, len - 4));
        const v = rnd() < 0.7 ? INTERESTING_U32[int(INTERESTING_U32.length)] : (len + int(9) - 4) >>> 0;
        out = bytes.slice();
        for (let j = 0; j < 4 && at + j < len; j++) out[at + j] = (v >>> (8 * j)) & 0xff;
        label = `u32@${at}=0x${v.toString(16)}`;
        break;
      }
      case 5: {
        const at = offset();
        const n = 1 + int(64);
        out = bytes.slice();
        out.fill(rnd() < 0.5 ? 0 : 0xff, at, Math.min(len, at + n));
        label = `fill@${at}+${n}`;
        break;
      }
      default: {
        // delete or duplicate a small chunk: shifts every later offset
        const at = offset();
        const n = 1 + int(32);
        if (rnd() < 0.5) {
          out = new Uint8Array(len - Math.min(n, len - at));
          out.set(bytes.subarray(0, at));
          out.set(bytes.subarray(Math.min(len, at + n)), at);
          label = `delete@${at}+${n}`;
        } else {
          const chunk = bytes.subarray(at, Math.min(len, at + n));
          out = new Uint8Array(len + chunk.length);
          out.set(bytes.subarray(0, at));
          out.set(chunk, at);
          out.set(bytes.subarray(at), at + chunk.length);
          label = `dup@${at}+${chunk.length}`;
        }
      }
    }
    yield { label: `#${i} ${label}`, bytes: out };
  }
}

// ---------------------------------------------------------------------------------------------
// Structure-aware mutations: the byte-level ones above rarely produce a well-formed archive whose
// *structure* is hostile (a duplicated entry, a zip bomb, a pickle calling os.system, a tensor with a
// 2^62-element shape). These parse the golden file (ZIP + pickle for `.pth`, header + JSON for
// safetensors), change one structural thing, and serialise it again with valid CRCs and lengths
// where the mutation is not about them, so that every layer of the readers is reached.

/** The kinds `structuralMutations` draws from; the kind is the label's word before '@' or ':'. */
export const STRUCTURAL_KINDS = {
  pth: ['cut', 'zlen', 'dupentry', 'overlap', 'bomb', 'pklcut', 'global', 'inject', 'int', 'nest'],
  safetensors: ['cut', 'stlen', 'shape', 'offsets', 'dtype', 'stjson', 'nest'],
} as const;

// The byte helpers, ZIP layout reader / writer and pickle walker below are shared with the hostile
// mutations (fuzz-hostile.ts).
const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
export const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
export const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const utf8 = new TextEncoder();

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `n` (a non-negative integer up to 2^53) as `width` little-endian bytes. */
export function le(n: number, width: 2 | 4 | 8): Uint8Array {
  const b = new Uint8Array(width);
  let v = n;
  for (let i = 0; i < width; i++) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return b;
}

export interface ZipOut {
  name: Uint8Array;
  payload: Uint8Array;
  method?: number;
  crc?: number;
  usize?: number;
  /** Central directory's local header offset: another entry's index (overlap) or a raw offset. */
  lhOf?: number;
  lhRaw?: number;
}

/**
 * Serialises entries as a plain zip (CRC computed unless given). With `align`, each local header
 * gets an extra field ("FB" record, as torch.save writes) that starts the entry's data at a
 * multiple of `align`.
 */
export function writeZip(entries: ZipOut[], options: { align?: number } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let pos = 0;
  const crcs = entries.map((e) => e.crc ?? crc32(e.payload));
  const fields = (e: ZipOut, i: number) => ({
    method: e.method ?? 0,
    crc32: crcs[i],
    compressedSize: e.payload.length,
    size: e.usize ?? e.payload.length,
    name: e.name,
  });
  entries.forEach((e, i) => {
    offsets.push(pos);
    const extra = options.align ? zipPaddingField(pos + ZIP_LOCAL_HEADER_SIZE + e.name.length, options.align) : undefined;
    const head = zipLocalHeader({ ...fields(e, i), extra });
    parts.push(head, e.payload);
    pos += head.length + e.payload.length;
  });
  const cdStart = pos;
  entries.forEach((e, i) => {
    const c = zipCentralHeader({ ...fields(e, i), localHeaderOffset: e.lhRaw ?? offsets[e.lhOf ?? i] });
    parts.push(c);
    pos += c.length;
  });
  parts.push(zipEndOfCentralDirectory({ count: entries.length, cdSize: pos - cdStart, cdOffset: cdStart }));
  return concat(parts);
}

/** Raw DEFLATE stream (fixed Huffman) that inflates to `n` (rounded up to 258) zero bytes: a zip bomb. */
export function deflateBomb(n: number): Uint8Array {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  const put = (v: number, len: number) => {
    acc |= v << bits;
    bits += len;
    while (bits >= 8) {
      out.push(acc & 0xff);
      acc >>>= 8;
      bits -= 8;
    }
  };
  // Huffman codes are written most significant bit first
  const code = (v: number, len: number) => {
    let r = 0;
    for (let i = 0; i < len; i++) r |= ((v >> i) & 1) << (len - 1 - i);
    put(r, len);
  };
  put(1, 1); // BFINAL
  put(1, 2); // fixed Huffman
  code(0x30, 8); // literal 0
  for (let done = 1; done < n; done += 258) {
    code(0xc5, 8); // length code 285 = 258
    code(0, 5); // distance code 0 = 1
  }
  code(0, 7); // end of block (256)
  put(0, 7);
  return Uint8Array.from(out);
}

export interface PickleOp {
  pos: number;
  op: number;
  end: number;
}

const FIXED_ARG: Record<number, number> = {
  [OP.BININT1]: 1,
  [OP.BINPUT]: 1,
  [OP.BINGET]: 1,
  [OP.EXT1]: 1,
  [OP.PROTO]: 1,
  [OP.BININT2]: 2,
  [OP.EXT2]: 2,
  [OP.BININT]: 4,
  [OP.LONG_BINPUT]: 4,
  [OP.LONG_BINGET]: 4,
  [OP.EXT4]: 4,
  [OP.FRAME]: 8,
  [OP.BINFLOAT]: 8,
};
const LEN_ARG: Record<number, 1 | 4 | 8> = {
  [OP.LONG1]: 1,
  [OP.LONG4]: 4,
  [OP.BINUNICODE]: 4,
  [OP.SHORT_BINUNICODE]: 1,
  [OP.BINUNICODE8]: 8,
  [OP.SHORT_BINSTRING]: 1,
  [OP.BINSTRING]: 4,
  [OP.BINBYTES]: 4,
  [OP.SHORT_BINBYTES]: 1,
  [OP.BINBYTES8]: 8,
  [OP.BYTEARRAY8]: 8,
};
const LINE_ARGS: Record<number, number> = {
  [OP.INT]: 1,
  [OP.LONG]: 1,
  [OP.FLOAT]: 1,
  [OP.STRING]: 1,
  [OP.UNICODE]: 1,
  [OP.PUT]: 1,
  [OP.GET]: 1,
  [OP.PERSID]: 1,
  [OP.GLOBAL]: 2,
  [OP.INST]: 2,
};

/** Opcode boundaries of a pickle (stops at the first it cannot step over). */
export function pickleOps(p: Uint8Array): PickleOp[] {
  const ops: PickleOp[] = [];
  let i = 0;
  while (i < p.length) {
    const op = p[i];
    let end = i + 1;
    if (op in FIXED_ARG) end += FIXED_ARG[op];
    else if (op in LEN_ARG) {
      const w = LEN_ARG[op];
      const n = w === 1 ? p[end] : w === 4 ? u32(p, end) : u32(p, end) + u32(p, end + 4) * 2 ** 32;
      end += w + n;
    } else if (op in LINE_ARGS) {
      for (let k = 0; k < LINE_ARGS[op]; k++) {
        const nl = p.indexOf(0x0a, end);
        if (nl < 0) return ops;
        end = nl + 1;
      }
    }
    if (end > p.length) return ops;
    ops.push({ pos: i, op, end });
    if (op === 0x2e) break;
    i = end;
  }
  return ops;
}

/** Globals a hostile pickle might name: none but the torch rebuild helpers is allowed. */
const HOSTILE_GLOBALS: [string, string][] = [
  ['os', 'system'],
  ['posix', 'system'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['builtins', 'getattr'],
  ['__builtin__', 'open'],
  ['subprocess', 'Popen'],
  ['torch', 'load'],
  ['numpy.core.multiarray', '_reconstruct'],
  ['collections', 'OrderedDict'],
  ['torch._utils', '_rebuild_tensor_v2'],
  ['torch', 'FloatStorage'],
  ['torch', 'Size'],
  ['x'.repeat(300), 'y'],
];

/** SHORT_BINUNICODE of an ASCII string. */
export const shortStr = (s: string) => concat([Uint8Array.of(0x8c, s.length), latin1(s)]);

/** Small hostile pickle fragments to insert at an opcode boundary. */
function hostileFragment(int: (n: number) => number): { name: string; bytes: Uint8Array } {
  const [mod, name] = HOSTILE_GLOBALS[int(HOSTILE_GLOBALS.length)];
  const global = latin1(`c${mod}\n${name}\n`);
  const args = concat([latin1('('), shortStr('echo pwned'), latin1('t')]);
  switch (int(9)) {
    case 0:
      return { name: `GLOBAL+REDUCE ${mod}.${name}`, bytes: concat([global, args, latin1('R0')]) };
    case 1:
      return { name: `STACK_GLOBAL+REDUCE ${mod}.${name}`, bytes: concat([shortStr(mod), shortStr(name), Uint8Array.of(0x93), args, latin1('R0')]) };
    case 2:
      return { name: `INST ${mod}.${name}`, bytes: concat([latin1('('), shortStr('echo'), latin1(`i${mod}\n${name}\n0`)]) };
    case 3:
      return { name: `OBJ ${mod}.${name}`, bytes: concat([latin1('('), global, shortStr('echo'), latin1('o0')]) };
    case 4:
      return { name: `NEWOBJ ${mod}.${name}`, bytes: concat([global, args, Uint8Array.of(0x81), latin1('0')]) };
    case 5:
      return { name: `BUILD ${mod}.${name}`, bytes: concat([global, latin1('}'), shortStr('__setstate__'), global, latin1('sb0')]) };
    case 6: {
      const ops = [0x82, 0x83, 0x84, 0x50, 0x97, 0x98, 0x99, 0xff, 0x00, 0x92];
      const op = ops[int(ops.length)];
      const arg = op === 0x82 ? [1] : op === 0x83 ? [1, 0] : op === 0x84 ? [1, 0, 0, 0] : op === 0x50 ? [0x31, 0x0a] : [];
      return { name: `opcode 0x${op.toString(16)}`, bytes: Uint8Array.of(op, ...arg, 0x30) };
    }
    case 7:
      // a REDUCE on an allowed callable with arbitrary arguments
      return { name: 'REDUCE OrderedDict(str)', bytes: concat([latin1('ccollections\nOrderedDict\n'), args, latin1('R0')]) };
    default:
      // a global called through the memo
      return { name: `memo+REDUCE ${mod}.${name}`, bytes: concat([global, Uint8Array.of(0x94, 0x30, 0x68, 0), args, latin1('R0')]) };
  }
}

/** Nesting `depth` levels deep, leaving nothing on the stack (or one value when `keep`). */
function nesting(depth: number, style: number): { name: string; bytes: Uint8Array } {
  switch (style % 4) {
    case 0: // MARK MARK MARK ... (bounded by maxDepth)
      return { name: `MARK×${depth}`, bytes: concat([new Uint8Array(depth).fill(0x28), new Uint8Array(depth).fill(0x31)]) };
    case 1: // [[[...]]] via EMPTY_LIST + APPEND
      return { name: `list×${depth}`, bytes: concat([new Uint8Array(depth).fill(0x5d), new Uint8Array(depth - 1).fill(0x61), Uint8Array.of(0x30)]) };
    case 2: // ((((...),),),) via TUPLE1
      return { name: `tuple×${depth}`, bytes: concat([Uint8Array.of(0x29), new Uint8Array(depth).fill(0x85), Uint8Array.of(0x30)]) };
    default: // {k: {k: ...}} via EMPTY_DICT, key, value, SETITEM
      return {
        name: `dict×${depth}`,
        bytes: concat([
          Uint8Array.of(0x7d),
          ...Array.from({ length: depth }, () => Uint8Array.of(0x8c, 1, 0x6b, 0x7d)),
          new Uint8Array(depth).fill(0x73),
          Uint8Array.of(0x30),
        ]),
      };
  }
}

const HUGE_INTS: [string, Uint8Array][] = [
  ['-1', Uint8Array.of(0x4a, 0xff, 0xff, 0xff, 0xff)],
  ['-2^31', Uint8Array.of(0x4a, 0, 0, 0, 0x80)],
  ['2^31-1', Uint8Array.of(0x4a, 0xff, 0xff, 0xff, 0x7f)],
  ['2^53+1', Uint8Array.of(0x8a, 8, 1, 0, 0, 0, 0, 0, 0x20, 0)],
  ['2^62', Uint8Array.of(0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x40)],
  ['-2^63', Uint8Array.of(0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x80)],
  ['2^600', concat([Uint8Array.of(0x8a, 76), new Uint8Array(75), Uint8Array.of(0x01)])],
  ['0', Uint8Array.of(0x4b, 0)],
  ['float 1.5', Uint8Array.of(0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)],
  ['None', Uint8Array.of(0x4e)],
];

function* pthMutations(bytes: Uint8Array, layout: ZipLayout, rnd: () => number, count: number): Generator<Mutation> {
  const int = (n: number) => Math.floor(rnd() * n);
  const { entries } = layout;
  const outs = (): ZipOut[] =>
    entries.map((e) => ({ name: e.name, payload: bytes.subarray(e.data, e.data + e.csize), method: e.method, crc: e.crc, usize: e.usize }));
  const pklIndex = Math.max(
    0,
    entries.findIndex((e) => new TextDecoder().decode(e.name).endsWith('data.pkl')),
  );
  const pkl = bytes.subarray(entries[pklIndex].data, entries[pklIndex].data + entries[pklIndex].csize);
  const ops = pickleOps(pkl);
  const withPickle = (p: Uint8Array) => {
    const o = outs();
    o[pklIndex] = { name: o[pklIndex].name, payload: p };
    return writeZip(o);
  };
  // every structural boundary of the archive
  const cuts = new Set<number>([0, 4, bytes.length - 1, layout.cdOffset, layout.eocd, layout.eocd + 4, layout.eocd + 10, layout.eocd + 16, layout.eocd + 21]);
  for (const e of entries)
    for (const c of [e.lh, e.lh + 4, e.lh + 26, e.lh + 30, e.data, e.data + 1, e.data + e.csize - 1, e.cd, e.cd + 28, e.cd + 46]) cuts.add(c);
  const cutList = [...cuts].filter((c) => c >= 0 && c < bytes.length).sort((a, b) => a - b);
  const zlenFields: [string, (e: ZipEntryLayout) => number, 2 | 4][] = [
    ['cd.csize', (e) => e.cd + 20, 4],
    ['cd.usize', (e) => e.cd + 24, 4],
    ['cd.nameLen', (e) => e.cd + 28, 2],
    ['cd.extraLen', (e) => e.cd + 30, 2],
    ['cd.commentLen', (e) => e.cd + 32, 2],
    ['cd.lhOffset', (e) => e.cd + 42, 4],
    ['lh.csize', (e) => e.lh + 18, 4],
    ['lh.usize', (e) => e.lh + 22, 4],
    ['lh.nameLen', (e) => e.lh + 26, 2],
    ['lh.extraLen', (e) => e.lh + 28, 2],
    ['eocd.count', () => layout.eocd + 10, 2],
    ['eocd.cdSize', () => layout.eocd + 12, 4],
    ['eocd.cdOffset', () => layout.eocd + 16, 4],
    ['eocd.commentLen', () => layout.eocd + 20, 2],
  ];
  let bomb: Uint8Array | undefined;
  for (let i = 0; i < count; i++) {
    const kind = STRUCTURAL_KINDS.pth[i % STRUCTURAL_KINDS.pth.length];
    let out: Uint8Array;
    let label: string;
    const e = int(4) === 0 ? pklIndex : int(entries.length);
    switch (kind) {
      case 'cut': {
        const at = cutList[Math.floor(i / STRUCTURAL_KINDS.pth.length) % cutList.length];
        out = bytes.slice(0, at);
        label = `cut@${at}`;
        break;
      }
      case 'zlen': {
        const [fname, where, w] = zlenFields[int(zlenFields.length)];
        const at = where(entries[e]);
        const values = w === 2 ? [0, 0xffff, 0x8000, 46] : [0, 0xffffffff, 0x7fffffff, bytes.length, bytes.length + 1, 0xfffffffe];
        const v = values[int(values.length)];
        out = bytes.slice();
        out.set(le(v, w), at);
        label = `zlen:${fname}[${e}]=${v}`;
        break;
      }
      case 'dupentry': {
        // a second entry with the same name: with its own copy of the data, or sharing the original's local header
        const o = outs();
        const at = int(o.length + 1);
        const shared = int(2) === 1;
        o.splice(at, 0, { ...o[e] });
        if (shared) o[at].lhOf = at <= e ? e + 1 : e;
        out = writeZip(o);
        label = `dupentry:${e}@${at}${shared ? '/shared' : ''}`;
        break;
      }
      case 'overlap': {
        const o = outs();
        const other = (e + 1 + int(entries.length - 1)) % entries.length; // never e itself
        if (int(2)) o[e] = { ...o[e], lhOf: other };
        else o[e] = { ...o[e], lhRaw: entries[other].data + int(Math.max(1, entries[other].csize)) }; // inside another entry's data
        out = writeZip(o);
        label = `overlap:${e}->${other}`;
        break;
      }
      case 'bomb': {
        bomb ??= deflateBomb(64 << 20);
        const o = outs();
        const target = int(2) ? pklIndex : e;
        const variant = int(3);
        // 0: declared size honest-looking (the real one), payload inflates to 64 MiB; 1: declared 4 GiB; 2: declared 64 MiB
        const usize = variant === 0 ? entries[target].usize : variant === 1 ? 0xffffffff : 64 << 20;
        o[target] = { name: o[target].name, payload: bomb, method: 8, usize, crc: variant === 2 ? 0 : undefined };
        out = writeZip(o);
        label = `bomb:${target}/usize=${usize}`;
        break;
      }
      case 'pklcut': {
        const op = ops[Math.floor(i / STRUCTURAL_KINDS.pth.length) % ops.length];
        const at = int(2) ? op.pos : op.end - 1;
        out = withPickle(pkl.slice(0, at));
        label = `pklcut@${at}`;
        break;
      }
      case 'global': {
        const globals = ops.filter((o) => o.op === 0x63 || o.op === 0x93);
        const g = globals[int(globals.length)];
        const [mod, name] = HOSTILE_GLOBALS[int(HOSTILE_GLOBALS.length)];
        out = g?.op === 0x63 ? withPickle(concat([pkl.subarray(0, g.pos), latin1(`c${mod}\n${name}\n`), pkl.subarray(g.end)])) : withPickle(pkl);
        label = `global:${g?.pos}=${mod}.${name}`;
        break;
      }
      case 'inject': {
        const at = ops[int(ops.length)].pos;
        const f = hostileFragment(int);
        out = withPickle(concat([pkl.subarray(0, at), f.bytes, pkl.subarray(at)]));
        label = `inject@${at}:${f.name}`;
        break;
      }
      case 'int': {
        const ints = ops.filter((o) => o.op === 0x4b || o.op === 0x4d || o.op === 0x4a || o.op === 0x8a);
        const o = ints[int(ints.length)];
        const [vname, v] = HUGE_INTS[int(HUGE_INTS.length)];
        out = withPickle(concat([pkl.subarray(0, o.pos), v, pkl.subarray(o.end)]));
        label = `int@${o.pos}=${vname}`;
        break;
      }
      default: {
        const depths = [10, 999, 1001, 5000, 100_000];
        const depth = depths[int(depths.length)];
        const style = int(4);
        const f = nesting(depth, style);
        const stop = ops[ops.length - 1];
        if (style > 0 && stop.op === 0x2e && int(2)) {
          // as a value of the top-level dict, where the reader looks for the state dict
          const value = f.bytes.subarray(0, f.bytes.length - 1);
          out = withPickle(concat([pkl.subarray(0, stop.pos), shortStr('deep'), value, latin1('s'), pkl.subarray(stop.pos)]));
          label = `nest:${f.name}/top`;
        } else {
          const at = ops[Math.min(1, ops.length - 1)].end; // after PROTO
          out = withPickle(concat([pkl.subarray(0, at), f.bytes, pkl.subarray(at)]));
          label = `nest:${f.name}`;
        }
      }
    }
    yield { label: `#${i} ${label}`, bytes: out };
  }
}

function* safetensorsMutations(bytes: Uint8Array, rnd: () => number, count: number): Generator<Mutation> {
  const int = (n: number) => Math.floor(rnd() * n);
  const n = u32(bytes, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const data = bytes.subarray(8 + n);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const write = (h: unknown, body: Uint8Array = data): Uint8Array => {
    const json = utf8.encode(typeof h === 'string' ? h : JSON.stringify(h));
    return concat([le(json.length, 8), json, body]);
  };
  const cuts = new Set<number>([0, 1, 7, 8, 9, 8 + n - 1, 8 + n, 8 + n + 1, bytes.length - 1]);
  for (const k of names) for (const o of header[k].data_offsets) cuts.add(8 + n + o);
  const cutList = [...cuts].filter((c) => c >= 0 && c < bytes.length).sort((a, b) => a - b);
  const HUGE = [2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e20, 1e308, -1, -(2 ** 31), 0.5, Number.MAX_SAFE_INTEGER];
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  for (let i = 0; i < count; i++) {
    const kind = STRUCTURAL_KINDS.safetensors[i % STRUCTURAL_KINDS.safetensors.length];
    const h = structuredClone(header) as Record<string, unknown>;
    const name = pick(names);
    const t = h[name] as { dtype: unknown; shape: unknown; data_offsets: unknown };
    let out: Uint8Array;
    let label: string;
    switch (kind) {
      case 'cut': {
        const at = cutList[Math.floor(i / STRUCTURAL_KINDS.safetensors.length) % cutList.length];
        out = bytes.slice(0, at);
        label = `cut@${at}`;
        break;
      }
      case 'stlen': {
        const values = [0, 1, n - 1, n + 1, bytes.length - 8, bytes.length, 100_000_001, 2 ** 53, 2 ** 64 - 1];
        const v = pick(values);
        out = bytes.slice();
        if (v === 2 ** 64 - 1) out.fill(0xff, 0, 8);
        else out.set(le(v, 8), 0);
        label = `stlen=${v}`;
        break;
      }
      case 'shape': {
        const shape = [...(t.shape as number[])];
        const variant = int(6);
        if (variant === 0 && shape.length) shape[int(shape.length)] = pick(HUGE);
        else if (variant === 1) shape.push(pick(HUGE), pick(HUGE));
        else if (variant === 2) t.shape = Array.from({ length: 1 + int(100_000) }, () => 1);
        else if (variant === 3) t.shape = pick([null, 'big', {}, [[2]], [true], ['3']]);
        else if (variant === 4) t.shape = [...shape, 0];
        else shape.reverse();
        if (variant <= 1 || variant === 5) t.shape = shape;
        out = write(h);
        label = `shape:${name}/${variant}`;
        break;
      }
      case 'offsets': {
        const [b, e] = t.data_offsets as [number, number];
        const other = header[pick(names)].data_offsets;
        const variants: unknown[] = [
          [e, b],
          [b - 1, e - 1],
          [b + 1, e + 1],
          [-1, e],
          [b, pick(HUGE)],
          [pick(HUGE), pick(HUGE)],
          [...other],
          [b, e, e],
          [b],
          'x',
          [b + 0.5, e],
          [b, data.length + 1],
        ];
        const v = int(variants.length);
        t.data_offsets = variants[v];
        out = write(h);
        label = `offsets:${name}/${v}`;
        break;
      }
      case 'dtype': {
        t.dtype = pick(['f32', 'F8_E4M3', 'C64', 'U64', 'I8', '', 42, null, 'BOOL', 'U8', 'F64', 'I64']);
        out = write(h);
        label = `dtype:${name}=${String(t.dtype)}`;
        break;
      }
      case 'stjson': {
        const variant = int(8);
        let v: unknown = h;
        if (variant === 0) h[name] = pick([null, 1, 'x', [], {}]);
        else if (variant === 1) h.__metadata__ = pick([{ a: 1 }, [], 'x', { a: { b: 'c' } }, null]);
        else if (variant === 2)
          v = JSON.stringify(h).replace(/}$/, `,${JSON.stringify(name)}:${JSON.stringify(header[pick(names)])}}`); // duplicate key
        else if (variant === 3) v = pick(['[]', 'null', '1', '"x"', '', ' ', '{', '{"a":}', '\u0000']);
        else if (variant === 4) for (let k = 0; k < 20_000; k++) h[`extra.${k}`] = { dtype: 'U8', shape: [0], data_offsets: [0, 0] };
        else if (variant === 5)
          for (let k = 0; k < 5_000; k++) h[`dup.${k}`] = header[name]; // all overlapping one tensor
        else if (variant === 6) delete (t as Record<string, unknown>)[pick(['dtype', 'shape', 'data_offsets'])];
        else v = JSON.stringify(h) + ' '.repeat(int(16)) + pick(['', '\n', 'x', '\ud800']);
        out = write(v);
        label = `stjson:${name}/${variant}`;
        break;
      }
      default: {
        const depth = pick([100, 10_000, 1_000_000]);
        const nested = '['.repeat(depth) + ']'.repeat(depth);
        const where = int(2);
        const json = JSON.stringify(h).replace(/}$/, `,"${where ? '__metadata__' : 'deep'}":${nested}}`);
        out = write(json);
        label = `nest:${depth}/${where}`;
      }
    }
    yield { label: `#${i} ${label}`, bytes: out };
  }
}

/**
 * `count` structure-aware mutations of a `.pth` (plain zip, as torch.save writes) or safetensors file:
 * truncation at every structural boundary, oversized length fields, duplicated and overlapping zip
 * entries, zip bombs, pickle truncation at every opcode boundary, globals replaced by arbitrary
 * callables, GLOBAL/STACK_GLOBAL/REDUCE/BUILD/INST/OBJ/NEWOBJ fragments and disallowed opcodes
 * inserted at opcode boundaries, huge/negative/non-integer ints where shapes, strides, offsets and
 * storage sizes live, deep nesting; for safetensors: header lengths, huge/negative/odd shapes and
 * offsets, unknown dtypes, malformed and duplicate-key JSON, deep JSON nesting.
 * Labels are `#i kind...`. Other inputs fall back to `mutations`.
 */
export function* structuralMutations(bytes: Uint8Array, seed: number, count: number): Generator<Mutation> {
  const rnd = prng(seed ^ 0x5eed);
  if (bytes.length >= 4 && u32(bytes, 0) === 0x04034b50) {
    const layout = zipLayout(bytes);
    if (layout && layout.entries.length) return yield* pthMutations(bytes, layout, rnd, count);
  } else if (bytes.length >= 10 && bytes[8] === 0x7b) {
    const n = u32(bytes, 0);
    if (u32(bytes, 4) === 0 && 8 + n <= bytes.length) {
      try {
        JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
        return yield* safetensorsMutations(bytes, rnd, count);
      } catch {
        // not a safetensors file: fall through
      }
    }
  }
  yield* mutations(bytes, seed, count);
}
