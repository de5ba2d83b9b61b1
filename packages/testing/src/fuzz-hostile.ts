/**
 * Hostile `.pth` mutations that `structuralMutations` (cuts at every boundary, lying ZIP lengths,
 * duplicated / overlapping entries, lying-size zip bombs, pickle cuts, forbidden globals, injected
 * fragments, huge ints, deep nesting) does not make, for the checkpoint fuzz benchmark
 * (`bench/fuzz-checkpoint.mjs`) and its seeded sample in `tests/reliability/checkpoint-fuzz.test.ts`:
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
 * Data.pkl mutations are re-zipped with valid CRCs and torch's 64-byte alignment, so the unpickler
 * sees them. Node only: honest bombs need a real compressor (node:zlib), so this is exported from the
 * Node entry, not with the browser-safe readers. Deterministic for a given seed.
 */
import { deflateRawSync } from 'node:zlib';
import { CheckpointFormatError, crc32, PICKLE_OP, prng } from '@mplug2/core';
import { concat, latin1, le, type Mutation, type PickleOp, pickleOps, shortStr, u32, writeZip, type ZipLayout, type ZipOut, zipLayout } from './fuzz.js';

export const HOSTILE_KINDS = ['policy', 'view', 'flood', 'literal', 'bomb', 'zip64'] as const;
export type HostileKind = (typeof HOSTILE_KINDS)[number];

export interface HostileMutation extends Mutation {
  readonly kind: HostileKind;
  /** The only acceptable error code (a policy refusal), when set. */
  readonly expect?: 'UNSAFE_PICKLE';
}

/** Opcode indices of one `_rebuild_tensor_v2(storage, offset, size, stride, ...)` call's arguments. */
export interface TensorView {
  readonly offset: number;
  readonly size: number[];
  readonly sizeTuple: number;
  readonly stride: number[];
  readonly strideTuple: number;
}

/** Everything a `.pth` mutation needs to know about a golden archive (parsed once per file). */
export interface PthAnalysis {
  readonly bytes: Uint8Array;
  readonly layout: ZipLayout;
  /** Every entry's name and stored bytes (torch.save stores them uncompressed). */
  readonly entries: readonly { readonly name: string; readonly data: Uint8Array }[];
  readonly pklIndex: number;
  readonly pkl: Uint8Array;
  readonly ops: readonly PickleOp[];
  readonly views: readonly TensorView[];
}

const INT_OPS = new Set<number>([PICKLE_OP.BININT1, PICKLE_OP.BININT2, PICKLE_OP.BININT, PICKLE_OP.LONG1]);
const MEMO_OPS = new Set<number>([PICKLE_OP.BINPUT, PICKLE_OP.LONG_BINPUT, PICKLE_OP.MEMOIZE]);

/** The tensor views of a torch data.pkl: the ints pushed after each BINPERSID (the storage). */
function tensorViews(ops: readonly PickleOp[]): TensorView[] {
  const views: TensorView[] = [];
  for (let i = 0; i < ops.length; i++) {
    if (ops[i].op !== 0x51) continue; // BINPERSID
    let j = i + 1;
    if (!INT_OPS.has(ops[j]?.op)) continue;
    const offset = j++;
    const size: number[] = [];
    while (INT_OPS.has(ops[j]?.op)) size.push(j++);
    const sizeTuple = j++;
    while (MEMO_OPS.has(ops[j]?.op)) j++;
    const stride: number[] = [];
    while (INT_OPS.has(ops[j]?.op)) stride.push(j++);
    views.push({ offset, size, sizeTuple, stride, strideTuple: j });
  }
  return views;
}

/** Parses a torch.save archive (ZIP layout, data.pkl opcodes, tensor views) for `hostileMutations`. */
export function analysePth(bytes: Uint8Array): PthAnalysis {
  const layout = zipLayout(bytes);
  const names = layout?.entries.map((e) => new TextDecoder().decode(e.name)) ?? [];
  const pklIndex = names.findIndex((n) => n.endsWith('/data.pkl'));
  if (!layout || pklIndex < 0)
    throw new CheckpointFormatError('<memory>', undefined, 'hostile mutations need a torch.save archive (a plain ZIP with a data.pkl)');
  const entries = layout.entries.map((e, i) => ({ name: names[i], data: bytes.slice(e.data, e.data + e.csize) }));
  const pkl = entries[pklIndex].data;
  const ops = pickleOps(pkl);
  return { bytes, layout, entries, pklIndex, pkl, ops, views: tensorViews(ops) };
}

/** The archive with entry `index` holding `data` (DEFLATEd when `deflate`), re-zipped as torch aligns it, CRCs valid. */
function rezip(a: PthAnalysis, index: number, data: Uint8Array, deflate: boolean): Uint8Array {
  const utf8 = new TextEncoder();
  const entry = (name: string, d: Uint8Array, compress: boolean): ZipOut =>
    compress ? { name: utf8.encode(name), payload: deflateRawSync(d), method: 8, crc: crc32(d), usize: d.length } : { name: utf8.encode(name), payload: d };
  return writeZip(
    a.entries.map((e, i) => (i === index ? entry(e.name, data, deflate) : entry(e.name, e.data, false))),
    { align: 64 },
  );
}

/** The archive with data.pkl replaced by `pkl` (valid CRCs: the unpickler sees the bytes), DEFLATEd when `deflate`. */
export function pthWithPickle(a: PthAnalysis, pkl: Uint8Array, options: { deflate?: boolean } = {}): Uint8Array {
  return rezip(a, a.pklIndex, pkl, options.deflate ?? false);
}

/** data.pkl with opcodes `[from, to)` replaced by `insert`. */
function splice(a: PthAnalysis, from: number, to: number, insert: Uint8Array): Uint8Array {
  const end = to < a.ops.length ? a.ops[to].pos : a.pkl.length;
  return concat([a.pkl.subarray(0, a.ops[from].pos), insert, a.pkl.subarray(end)]);
}

/** A pickle opcode pushing `v`: BININT when it fits 32 bits, else LONG1 (minimal two's complement). */
function pickleInt(v: bigint | number): Uint8Array {
  const n = BigInt(v);
  if (n >= -(2n ** 31n) && n < 2n ** 31n) return concat([Uint8Array.of(0x4a), le(Number(BigInt.asUintN(32, n)), 4)]);
  const bytes: number[] = [];
  for (let x = n; ; ) {
    const byte = Number(x & 0xffn);
    bytes.push(byte);
    x >>= 8n;
    if ((x === 0n && !(byte & 0x80)) || (x === -1n && byte & 0x80)) break;
  }
  return Uint8Array.of(0x8a, bytes.length, ...bytes);
}

// Self-contained, stack-balanced payloads: an unpickler that did not refuse them would carry on as
// if nothing happened, so a refusal is the allow-list's doing, not a side effect of malformed input.
const FORBIDDEN_GLOBALS: [string, string][] = [
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
const SHELL = 'touch /tmp/mplug2-fuzz-pwned';
const global = (mod: string, name: string) => latin1(`c${mod}\n${name}\n`);
/** Every UNKNOWN opcode: those the restricted unpickler does not implement (it must refuse them). */
const KNOWN_OPS = new Set<number>(Object.values(PICKLE_OP));
const UNKNOWN_OPCODES = Array.from({ length: 256 }, (_, i) => i).filter((i) => !KNOWN_OPS.has(i));

/** Hostile payloads, each refused by policy (UnsafePickleError): [what, bytes]. */
function unsafePayloads(mod: string, name: string): [string, Uint8Array][] {
  const arg = latin1(`X${String.fromCharCode(SHELL.length)}\0\0\0${SHELL}`);
  const orderedDict = global('collections', 'OrderedDict');
  return [
    ['GLOBAL+REDUCE', concat([global(mod, name), arg, Uint8Array.of(0x85, 0x52, 0x30)])],
    ['GLOBAL', concat([global(mod, name), Uint8Array.of(0x30)])],
    ['STACK_GLOBAL+REDUCE', concat([shortStr(mod), shortStr(name), Uint8Array.of(0x93), arg, Uint8Array.of(0x85, 0x52, 0x30)])],
    ['INST', concat([Uint8Array.of(0x28), arg, latin1(`i${mod}\n${name}\n`), Uint8Array.of(0x30)])],
    // OBJ / NEWOBJ / NEWOBJ_EX even on an allow-listed class
    ['OBJ', concat([Uint8Array.of(0x28), orderedDict, Uint8Array.of(0x6f, 0x30)])],
    ['NEWOBJ', concat([orderedDict, Uint8Array.of(0x29, 0x81, 0x30)])],
    ['NEWOBJ_EX', concat([orderedDict, Uint8Array.of(0x29, 0x7d, 0x92, 0x30)])],
    // REDUCE on allow-listed non-callables and on plain values
    ['REDUCE-noncallable', concat([global('torch', 'FloatStorage'), Uint8Array.of(0x29, 0x52, 0x30)])],
    ['REDUCE-str', concat([shortStr(`${mod}.${name}`), Uint8Array.of(0x29, 0x52, 0x30)])],
    ['REDUCE-memo', concat([global('torch', 'float32'), Uint8Array.of(0x71, 0xfc, 0x30, 0x68, 0xfc, 0x29, 0x52, 0x30)])],
    // BUILD (object state) on anything but an OrderedDict's _metadata
    ['BUILD-list', Uint8Array.of(0x5d, 0x7d, 0x62, 0x30)],
    ['BUILD-dict', Uint8Array.of(0x7d, 0x7d, 0x62, 0x30)],
    ['BUILD-global', concat([global('torch', 'FloatStorage'), Uint8Array.of(0x7d, 0x62, 0x30)])],
    ['BUILD-state', concat([orderedDict, Uint8Array.of(0x29, 0x52), shortStr('__reduce__'), Uint8Array.of(0x62, 0x30)])],
    ['EXT1', Uint8Array.of(0x82, 1, 0x30)],
    ['EXT2', Uint8Array.of(0x83, 1, 0, 0x30)],
    ['EXT4', Uint8Array.of(0x84, 1, 0, 0, 0, 0x30)],
    ['NEXT_BUFFER', Uint8Array.of(0x97, 0x30)],
    ['READONLY_BUFFER', Uint8Array.of(0x4e, 0x98, 0x30)],
  ];
}

const HUGE_INTS = [
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n,
  2n ** 40n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 62n,
  2n ** 63n - 1n,
  2n ** 64n,
  2n ** 100n,
  10n ** 6n,
  65536n,
];
const NEGATIVE_INTS = [-1n, -2n, -(2n ** 31n), -(2n ** 53n), -(2n ** 63n)];

/** Seeded draws: `rnd()` in [0, 1), `int(n)` in [0, n), `pick(items)`. */
interface Draw {
  rnd: () => number;
  int: (n: number) => number;
  pick: <T>(items: readonly T[]) => T;
}
type Generated = { label: string; bytes: Uint8Array; expect?: 'UNSAFE_PICKLE' };

const GENERATORS: Record<HostileKind, (a: PthAnalysis, d: Draw) => Generated> = {
  policy(a, { int, pick }) {
    const variant = int(10);
    if (variant === 0) {
      // one of torch's own GLOBALs renamed to a forbidden callable
      const globals = a.ops.flatMap((o, i) => (o.op === 0x63 ? [i] : []));
      const i = pick(globals);
      const [mod, name] = pick(FORBIDDEN_GLOBALS);
      return {
        label: `GLOBAL swapped for ${JSON.stringify(`${mod}.${name}`)}@op${i}`,
        bytes: pthWithPickle(a, splice(a, i, i + 1, global(mod, name))),
        expect: 'UNSAFE_PICKLE',
      };
    }
    // anywhere between two opcodes after PROTO and before STOP
    const at = 1 + int(a.ops.length - 1);
    if (variant === 1) {
      const op = pick(UNKNOWN_OPCODES);
      return { label: `opcode 0x${op.toString(16)}@op${at}`, bytes: pthWithPickle(a, splice(a, at, at, Uint8Array.of(op))), expect: 'UNSAFE_PICKLE' };
    }
    const [mod, name] = pick(FORBIDDEN_GLOBALS);
    const [what, payload] = pick(unsafePayloads(mod, name));
    return { label: `${what}@op${at}`, bytes: pthWithPickle(a, splice(a, at, at, payload)), expect: 'UNSAFE_PICKLE' };
  },

  view(a, { int, pick }) {
    // lying tensor views: huge / negative sizes, strides, offsets; stride-0 broadcasts; rank floods
    const v = pick(a.views);
    const item = (i: number) => a.pkl.subarray(a.ops[i].pos, a.ops[i].end);
    const variant = int(7);
    if (variant <= 1) {
      const i = pick([v.offset, ...v.size, ...v.stride]);
      const x = pick(variant === 0 ? HUGE_INTS : NEGATIVE_INTS);
      const role = i === v.offset ? 'offset' : v.size.includes(i) ? 'size' : 'stride';
      return { label: `${role}=${x}@op${i}`, bytes: pthWithPickle(a, splice(a, i, i + 1, pickleInt(x))) };
    }
    if (variant === 5) {
      // offset at / past the end of the storage
      const x = pick([1n << 16n, 1n << 24n, 1n << 32n]);
      return { label: `offset=${x}`, bytes: pthWithPickle(a, splice(a, v.offset, v.offset + 1, pickleInt(x))) };
    }
    // the rest rebuild both tuples: MARK size... TUPLE MARK stride... TUPLE
    let sizes = v.size.map(item);
    let strides = v.stride.map(item);
    let what: string;
    if (variant === 2) {
      // stride 0 with a huge size: a broadcast view whose size is declared, not stored
      const big = pick([1n << 20n, 1n << 26n, 1n << 28n, 1n << 30n, 1n << 40n]);
      sizes = [pickleInt(big), ...sizes];
      strides = [pickleInt(0), ...strides];
      what = `broadcast: extra dim ${big} with stride 0`;
    } else if (variant === 3) {
      sizes = [...sizes, ...sizes].map(() => pickleInt(2n ** 31n - 1n));
      strides = [...strides, ...strides];
      what = `every size 2^31-1 (rank ${sizes.length})`;
    } else if (variant === 4) {
      const extra = Math.max(0, pick([65, 100, 10_000]) - sizes.length);
      const one = Uint8Array.of(0x4b, 1);
      sizes = [...sizes, ...new Array<Uint8Array>(extra).fill(one)];
      strides = [...strides, ...new Array<Uint8Array>(extra).fill(one)];
      what = `rank ${sizes.length}`;
    } else {
      [sizes, strides] = [strides, sizes];
      what = 'sizes and strides swapped';
    }
    const region = concat([Uint8Array.of(0x28), ...sizes, Uint8Array.of(0x74, 0x28), ...strides, Uint8Array.of(0x74)]);
    return { label: what, bytes: pthWithPickle(a, splice(a, v.offset + 1, v.strideTuple + 1, region)) };
  },

  flood(a, { rnd, int, pick }) {
    const at = 1 + int(a.ops.length - 1);
    const variant = int(6);
    if (variant >= 4) {
      // cyclic values where the reader looks: the top-level dict and the state dict (memo 3 in torch's pickles)
      const stop = a.ops.length - 1;
      const cycle =
        variant === 4
          ? concat([shortStr('cycle'), Uint8Array.of(0x5d, 0x71, 0xfa, 0x68, 0xfa, 0x61, 0x7d, 0x71, 0xf9, 0x4b, 0, 0x68, 0xf9, 0x73, 0x61, 0x73)])
          : concat([Uint8Array.of(0x68, 3), shortStr('self'), Uint8Array.of(0x68, 3, 0x73, 0x30)]);
      return {
        label: variant === 4 ? 'cyclic list and dict in the top-level dict' : 'the state dict contains itself',
        bytes: pthWithPickle(a, splice(a, stop, stop, cycle)),
      };
    }
    let payload: Uint8Array;
    let what: string;
    if (variant === 0) {
      // memo flood: NONE, MEMOIZE n times, POP
      const n = pick([1 << 16, 1 << 20, (1 << 22) + 1]);
      payload = new Uint8Array(n + 2).fill(0x94);
      payload[0] = 0x4e;
      payload[n + 1] = 0x30;
      what = `MEMOIZE x${n}`;
    } else if (variant === 1) {
      // memo keys far apart
      const n = 1 << 16;
      payload = new Uint8Array(1 + 5 * n + 1);
      payload[0] = 0x4e;
      for (let k = 0; k < n; k++) {
        payload[1 + 5 * k] = 0x72;
        payload.set(le(Math.floor(rnd() * 2 ** 32), 4), 2 + 5 * k);
      }
      payload[payload.length - 1] = 0x30;
      what = `LONG_BINPUT x${n} random keys`;
    } else if (variant === 2) {
      // stack flood: MARK, NONE, DUP x n, POP_MARK
      const n = pick([1 << 16, (1 << 22) + 8]);
      payload = new Uint8Array(n + 3).fill(0x32);
      payload[0] = 0x28;
      payload[1] = 0x4e;
      payload[n + 2] = 0x31;
      what = `DUP x${n}`;
    } else {
      // a list of n references to one big string (billion laughs without copies)
      const n = 1 << 18;
      const refs = new Uint8Array(2 * n);
      for (let k = 0; k < n; k++) refs.set([0x68, 0xfd], 2 * k);
      payload = concat([latin1(`X\0\0\x01\0${'x'.repeat(65536)}`), Uint8Array.of(0x71, 0xfd, 0x30, 0x5d, 0x28), refs, Uint8Array.of(0x65, 0x30)]);
      what = `list of ${n} refs to a 64 KiB string`;
    }
    return { label: `${what}@op${at}`, bytes: pthWithPickle(a, splice(a, at, at, payload)) };
  },

  literal(a, { rnd, int, pick }) {
    const at = 1 + int(a.ops.length - 1);
    const n = pick([100, 10_000, 1_000_000]);
    const digits = '1'.repeat(n);
    const texts: [string, string][] = [
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
    // the last two draws (of texts + 3) declare string lengths beyond the data
    const variant = int(texts.length + 3);
    if (variant < texts.length) {
      const [what, text] = texts[variant];
      return { label: `${what} (${n})@op${at}`, bytes: pthWithPickle(a, splice(a, at, at, latin1(text))) };
    }
    if (variant === texts.length) {
      // LONG4 of n bytes (bounded at 1 MiB by the reader)
      const len = Math.min(n, 1 << 20) + (rnd() < 0.5 ? 1 : 0);
      const long4 = concat([Uint8Array.of(0x8b), le(len, 4), new Uint8Array(len).fill(0x7f), Uint8Array.of(0x30)]);
      return { label: `LONG4 ${len} bytes@op${at}`, bytes: pthWithPickle(a, splice(a, at, at, long4)) };
    }
    const op = pick([0x58, 0x42, 0x54, 0x8d, 0x8e, 0x96]);
    const declared = pick([0xffffffff, 0x7fffffff, a.pkl.length]);
    const wide = op === 0x8d || op === 0x8e || op === 0x96;
    const header = concat([Uint8Array.of(op), le(declared, 4), wide ? le(int(0x200000), 4) : new Uint8Array(0)]);
    return { label: `0x${op.toString(16)} declares ${u32(header, 1)}@op${at}`, bytes: pthWithPickle(a, splice(a, at, at, header)) };
  },

  bomb(a, { int }) {
    const variant = int(5);
    const nonePop = (bytes: number) => {
      // PROTO, then NONE/POP pairs, then the real pickle: valid opcodes all the way
      const data = new Uint8Array(bytes + a.pkl.length - 2);
      data.set(a.pkl.subarray(0, 2));
      for (let i = 2; i < bytes; i += 2) data.set([0x4e, 0x30], i);
      data.set(a.pkl.subarray(2), bytes);
      return data;
    };
    const deflate = { deflate: true };
    if (variant === 0) return { label: 'honest bomb: 32 MiB of zeros', bytes: pthWithPickle(a, new Uint8Array(32 << 20), deflate) };
    if (variant === 1) return { label: 'honest bomb: 16 MiB of NONE/POP, then the pickle', bytes: pthWithPickle(a, nonePop(16 << 20), deflate) };
    if (variant === 2) return { label: '1 MiB of NONE/POP, then the pickle', bytes: pthWithPickle(a, nonePop((1 << 20) - a.pkl.length), deflate) };
    if (variant === 3) return { label: 'data.pkl DEFLATEd', bytes: pthWithPickle(a, a.pkl, deflate) };
    // a storage compressed (torch never does that)
    const i = (a.pklIndex + 1 + int(a.entries.length - 1)) % a.entries.length;
    return { label: `compressed storage ${a.entries[i].name}`, bytes: rezip(a, i, a.entries[i].data, true) };
  },

  zip64(a, { rnd }) {
    // a zip64 locator + record in front of the end record, with saturated 32-bit fields
    const { cdOffset, cdSize, eocd } = a.layout;
    const huge = [2 ** 53 - 1, 2 ** 40, a.bytes.length * 2, 0xffffffff, 0];
    const lie = (n: number) => huge[Math.floor(rnd() * huge.length)] * (rnd() < 0.5 ? 1 : 0) + (rnd() < 0.5 ? n : 0);
    const count = a.layout.entries.length;
    const fields = [lie(count), lie(count), lie(cdSize), lie(cdOffset)];
    const record = concat([le(0x06064b50, 4), le(44, 8), new Uint8Array(12), ...fields.map((f) => le(f, 8))]);
    const locator = concat([le(0x07064b50, 4), le(0, 4), le(rnd() < 0.8 ? eocd : lie(eocd), 8), le(rnd() < 0.9 ? 1 : 2, 4)]);
    const end = a.bytes.slice(eocd);
    end.fill(0xff, 8, 20); // entry counts, directory size and offset: "see the zip64 record"
    return { label: `zip64 ${[...record.subarray(24, 56)].join(',')}`, bytes: concat([a.bytes.subarray(0, eocd), record, locator, end]) };
  },
};

/**
 * `count` hostile mutations of a golden torch.save archive (parsed once), kinds drawn in a seeded
 * order. Labels are `#i what`; `expect` is the only acceptable error code (a policy refusal).
 */
export function* hostileMutations(bytes: Uint8Array, seed: number, count: number, kinds: readonly HostileKind[] = HOSTILE_KINDS): Generator<HostileMutation> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const draw: Draw = { rnd, int, pick: (items) => items[int(items.length)] };
  const analysis = analysePth(bytes);
  for (let i = 0; i < count; i++) {
    const kind = draw.pick(kinds);
    const m = GENERATORS[kind](analysis, draw);
    yield { kind, label: `#${i} ${m.label}`, bytes: m.bytes, expect: m.expect };
  }
}
