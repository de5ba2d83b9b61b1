/**
 * A restricted unpickler (protocols 0–5) for torch.save `data.pkl` records. It never executes
 * anything: it builds inert values (numbers, strings, tuples, lists, dicts) and a few descriptors
 * for the torch names a state dict needs. Globals outside a fixed allow-list, calls to anything
 * but the allow-listed rebuild functions, object construction opcodes (INST, OBJ, NEWOBJ,
 * NEWOBJ_EX), extension codes and out-of-band buffers are refused with UnsafePickleError.
 * Malformed input (truncation, stack underflow, wrong operand types, bad memo keys) gives
 * CheckpointFormatError. Stack, mark depth, memo size and lengths are bounded; no value is
 * allocated from a declared length before the bytes are known to be there.
 */
import { CheckpointFormatError, UnsafePickleError } from '../errors.js';
import type { CheckpointDType } from './dtype.js';

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}
export class PyList {
  constructor(readonly items: PyValue[]) {}
}
/** dict / OrderedDict, insertion-ordered. Keys are compared like JS Map keys (strings and numbers by value). */
export class PyDict {
  readonly map = new Map<PyValue, PyValue>();
  /** Attributes set by BUILD (e.g. a state dict's `_metadata`); never interpreted. */
  attrs: PyDict | null = null;
  constructor(readonly ordered: boolean) {}
}
export class PySet {
  constructor(
    readonly items: PyValue[],
    readonly frozen: boolean,
  ) {}
}
/** Python `bytes` / `bytearray`. */
export class PyBytes {
  constructor(readonly bytes: Uint8Array) {}
}
/** An allow-listed global, as a value (callables are only ever "called" by the switch in REDUCE). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}
/** A torch storage named by a persistent id `('storage', torch.XStorage, key, location, numel)`. */
export class StorageRef {
  constructor(
    readonly storageType: string,
    /** null for an allow-listed but unsupported storage type (e.g. ShortStorage). */
    readonly dtype: CheckpointDType | null,
    readonly key: string,
    readonly location: string,
    readonly numel: number,
  ) {}
}
/** The arguments of `_rebuild_tensor_v2` (nothing is checked here beyond types; see pth.ts). */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

export type PyValue = null | boolean | number | bigint | string | PyBytes | PyTuple | PyList | PyDict | PySet | PyGlobal | StorageRef | TensorRef;

/** Storage classes a state dict may name, and their element types. */
export const STORAGE_DTYPES: Readonly<Record<string, CheckpointDType | null>> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  DoubleStorage: 'float64',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  // Known torch storage types this SDK does not convert: allowed so that the error names the tensor.
  ShortStorage: null,
  CharStorage: null,
  ComplexFloatStorage: null,
  ComplexDoubleStorage: null,
};

const TORCH_DTYPE_NAMES = new Set([
  'float32',
  'float',
  'float16',
  'half',
  'bfloat16',
  'float64',
  'double',
  'int64',
  'long',
  'int32',
  'int',
  'int16',
  'short',
  'int8',
  'uint8',
  'bool',
]);

const CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  // Harmless value types found next to state dicts (DeepSpeed's param_shapes, saved devices).
  'torch.Size',
  'torch.device',
  'builtins.set',
  'builtins.frozenset',
  '__builtin__.set',
  '__builtin__.frozenset',
  '_codecs.encode',
]);

/** Whether `module.name` may appear in a checkpoint pickle. Everything else is refused. */
export function isAllowedGlobal(module: string, name: string): boolean {
  const q = `${module}.${name}`;
  if (CALLABLES.has(q)) return true;
  if (module === 'torch' && (Object.hasOwn(STORAGE_DTYPES, name) || TORCH_DTYPE_NAMES.has(name))) return true;
  return false;
}

export interface UnpickleOptions {
  /** File and archive entry, for error messages. */
  file: string;
  entry: string;
  /** Max items on the working stack (default 4 Mi). */
  maxStack?: number;
  /** Max MARK nesting (default 1000). */
  maxDepth?: number;
  /**
   * Max memo entries (default 1 Mi; torch writes ~8 per tensor). Each costs ~50 bytes and ~1 µs, and
   * MEMOIZE is a 1-byte opcode, so a larger bound lets a few kilobytes of DEFLATEd pickle cost seconds.
   */
  maxMemo?: number;
}

/** Every pickle opcode (protocols 0–5) by name: the one table for the unpickler, the torch.save writer and the test/fuzz builders. */
export const PICKLE_OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  FLOAT: 0x46,
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  LONG: 0x4c,
  BININT2: 0x4d,
  NONE: 0x4e,
  PERSID: 0x50,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  STRING: 0x53,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  UNICODE: 0x56,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  EMPTY_DICT: 0x7d,
  APPENDS: 0x65,
  GET: 0x67,
  BINGET: 0x68,
  INST: 0x69,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  EMPTY_LIST: 0x5d,
  OBJ: 0x6f,
  PUT: 0x70,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

const OPNAMES: Record<number, string> = Object.fromEntries(Object.entries(PICKLE_OP).map(([name, code]) => [code, name]));

/** A short description of a value for error messages (never recursive). */
export function describe(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    case 'bigint':
      return 'int';
    case 'string':
      return 'str';
  }
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (v instanceof PyList) return 'list';
  if (v instanceof PyDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PyBytes) return 'bytes';
  if (v instanceof PyGlobal) return v.qualifiedName;
  if (v instanceof StorageRef) return `storage '${v.key}'`;
  if (v instanceof TensorRef) return 'tensor';
  return 'object';
}

const latin1 = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
  return s;
};
const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/** Unpickles `data`. Returns the value left by STOP. */
export function unpickle(data: Uint8Array, options: UnpickleOptions): PyValue {
  const { file, entry } = options;
  const maxStack = options.maxStack ?? 4 * 1024 * 1024;
  const maxDepth = options.maxDepth ?? 1000;
  const maxMemo = options.maxMemo ?? 1024 * 1024;
  const n = data.length;
  let pos = 0;
  let opPos = 0;
  let op = 0;
  let stack: PyValue[] = [];
  const metastack: PyValue[][] = [];
  const memo = new Map<number, PyValue>();
  const storages = new Map<string, StorageRef>();

  const where = () => `at byte ${opPos} (${OPNAMES[op] ?? `opcode 0x${op.toString(16).padStart(2, '0')}`})`;
  const bad = (detail: string): never => {
    throw new CheckpointFormatError(file, entry, `malformed pickle ${where()}: ${detail}`);
  };
  const refuse = (what: string): never => {
    throw new UnsafePickleError(file, entry, `${what} ${where()}`);
  };

  const need = (k: number): void => {
    if (!(k >= 0) || k > n - pos) bad(`needs ${k} bytes but only ${n - pos} remain (truncated)`);
  };
  const byte = (): number => {
    need(1);
    return data[pos++];
  };
  const take = (k: number): Uint8Array => {
    need(k);
    const b = data.subarray(pos, pos + k);
    pos += k;
    return b;
  };
  const le32 = (): number => {
    need(4);
    const v = (data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16) | (data[pos + 3] << 24)) >>> 0;
    pos += 4;
    return v;
  };
  const le64 = (): number => {
    const lo = le32();
    const hi = le32();
    if (hi > 0x1fffff) bad('8-byte length beyond 2^53');
    return hi * 0x100000000 + lo;
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) bad('line without a terminating newline (truncated)');
    const s = latin1(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const decodeUtf8 = (b: Uint8Array): string => {
    try {
      return utf8Fatal.decode(b);
    } catch {
      return bad('invalid UTF-8 in a string');
    }
  };

  const push = (v: PyValue): void => {
    if (stack.length >= maxStack) bad(`stack exceeds ${maxStack} items`);
    stack.push(v);
  };
  const pop = (): PyValue => {
    if (stack.length === 0) bad('stack underflow');
    return stack.pop()!;
  };
  const top = (): PyValue => {
    if (stack.length === 0) bad('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    if (metastack.length === 0) bad('no MARK on the stack');
    const items = stack;
    stack = metastack.pop()!;
    return items;
  };
  const memoPut = (key: number, v: PyValue): void => {
    if (!memo.has(key) && memo.size >= maxMemo) bad(`memo exceeds ${maxMemo} entries`);
    memo.set(key, v);
  };
  const memoGet = (key: number): PyValue => {
    if (!memo.has(key)) bad(`memo key ${key} was never stored`);
    return memo.get(key)!;
  };
  const decimal = (s: string): number => {
    if (!/^\d{1,15}$/.test(s)) bad(`invalid memo key '${s.slice(0, 40)}'`);
    return Number(s);
  };
  const parseIntText = (s: string): number | bigint => {
    if (!/^[+-]?\d{1,4300}$/.test(s)) bad(`invalid integer literal '${s.slice(0, 40)}'`);
    const b = BigInt(s);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  };
  const fromSignedLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    if (b.length <= 6) {
      let v = 0;
      for (let i = b.length - 1; i >= 0; i--) v = v * 256 + b[i];
      if (b[b.length - 1] & 0x80) v -= 2 ** (8 * b.length);
      return v;
    }
    let hex = '';
    for (let i = b.length - 1; i >= 0; i--) hex += b[i].toString(16).padStart(2, '0');
    let v = BigInt(`0x${hex}`);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const pyStringLiteral = (s: string): string => {
    // Protocol 0 STRING: a Python repr of a (byte) string, quoted with ' or ".
    const q = s[0];
    if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) bad('STRING argument is not quoted');
    const body = s.slice(1, -1);
    let out = '';
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = body[++i];
      const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', '0': '\0' };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(body.slice(i + 1, i + 3))) {
        out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
        i += 2;
      } else bad('unsupported escape in STRING');
    }
    return out;
  };
  const rawUnicodeEscape = (s: string): string => {
    // Protocol 0 UNICODE: raw-unicode-escape, i.e. latin-1 bytes with \uXXXX / \UXXXXXXXX escapes.
    return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) => {
      const cp = parseInt((u4 ?? u8)!, 16);
      if (cp > 0x10ffff) bad('code point beyond U+10FFFF');
      return String.fromCodePoint(cp);
    });
  };
  const resolveGlobal = (opname: string, module: string, name: string): PyGlobal => {
    if (!isAllowedGlobal(module, name)) refuse(`${opname} ${module}.${name}`);
    return new PyGlobal(module, name);
  };

  const asInt = (v: PyValue, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(`${what} must be an integer, got ${typeof v === 'bigint' ? `${v} (beyond 2^53)` : describe(v)}`);
    return v as number;
  };
  const asIntTuple = (v: PyValue, what: string): number[] => {
    if (!(v instanceof PyTuple)) bad(`${what} must be a tuple, got ${describe(v)}`);
    return (v as PyTuple).items.map((x, i) => asInt(x, `${what}[${i}]`));
  };

  const persistentLoad = (pid: PyValue): PyValue => {
    if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage')
      bad(`unsupported persistent id ${describe(pid)} (expected ('storage', type, key, location, numel))`);
    const [, type, key, location, numel] = (pid as PyTuple).items;
    if (!(type instanceof PyGlobal) || type.module !== 'torch' || !Object.hasOwn(STORAGE_DTYPES, type.name))
      bad(`persistent id names ${describe(type)}, not a torch storage class`);
    if (typeof key !== 'string') bad(`storage key must be a string, got ${describe(key)}`);
    if (typeof location !== 'string') bad(`storage location must be a string, got ${describe(location)}`);
    const count = asInt(numel, 'storage numel');
    if (count < 0) bad('storage numel is negative');
    const g = type as PyGlobal;
    const cacheKey = `${g.name}\u0000${key as string}`;
    const cached = storages.get(cacheKey);
    if (cached) {
      if (cached.numel !== count) bad(`storage '${key as string}' is declared with ${cached.numel} and ${count} elements`);
      return cached;
    }
    const ref = new StorageRef(`torch.${g.name}`, STORAGE_DTYPES[g.name], key as string, location as string, count);
    storages.set(cacheKey, ref);
    return ref;
  };

  const call = (fn: PyValue, argsValue: PyValue): PyValue => {
    if (!(fn instanceof PyGlobal) || !CALLABLES.has(fn.qualifiedName)) return refuse(`REDUCE calling ${describe(fn)}`);
    if (!(argsValue instanceof PyTuple)) return bad(`REDUCE arguments must be a tuple, got ${describe(argsValue)}`);
    const args = argsValue.items;
    const argc = (min: number, max = min) => {
      if (args.length < min || args.length > max) bad(`${fn.qualifiedName} takes ${min === max ? min : `${min}-${max}`} arguments, got ${args.length}`);
    };
    switch (fn.qualifiedName) {
      case 'collections.OrderedDict': {
        argc(0, 1);
        const d = new PyDict(true);
        if (args.length === 1) {
          const src = args[0];
          const items = src instanceof PyList || src instanceof PyTuple ? src.items : bad(`OrderedDict(${describe(src)})`);
          for (const it of items as PyValue[]) {
            if (!(it instanceof PyTuple) || it.items.length !== 2) bad('OrderedDict item is not a pair');
            d.map.set((it as PyTuple).items[0], (it as PyTuple).items[1]);
          }
        }
        return d;
      }
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor': {
        if (fn.name === '_rebuild_tensor') argc(4);
        else argc(6, 7);
        const storage = args[0];
        if (!(storage instanceof StorageRef)) return bad(`${fn.name} expects a storage, got ${describe(storage)}`);
        return new TensorRef(storage, asInt(args[1], 'storage_offset'), asIntTuple(args[2], 'size'), asIntTuple(args[3], 'stride'));
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        argc(fn.name === '_rebuild_parameter' ? 3 : 4);
        if (!(args[0] instanceof TensorRef)) return bad(`${fn.name} expects a tensor, got ${describe(args[0])}`);
        return args[0];
      }
      case 'torch.Size': {
        argc(0, 1);
        const src = args[0];
        if (src === undefined) return new PyTuple([]);
        if (!(src instanceof PyTuple || src instanceof PyList)) return bad(`torch.Size(${describe(src)})`);
        return new PyTuple(src.items.map((x, i) => asInt(x, `torch.Size[${i}]`)));
      }
      case 'torch.device': {
        // torch.device('cuda') / torch.device('cuda', 0) → the string 'cuda' / 'cuda:0'
        argc(1, 2);
        const [type, index] = args;
        if (typeof type !== 'string') return bad(`torch.device(${describe(type)})`);
        if (index === undefined || index === null) return type;
        return `${type}:${asInt(index, 'device index')}`;
      }
      case 'builtins.set':
      case 'builtins.frozenset':
      case '__builtin__.set':
      case '__builtin__.frozenset': {
        argc(0, 1);
        const src = args[0];
        const items = src === undefined ? [] : src instanceof PyList || src instanceof PyTuple ? [...src.items] : bad(`${fn.name}(${describe(src)})`);
        return new PySet(items as PyValue[], fn.name === 'frozenset');
      }
      case '_codecs.encode': {
        // How protocol 2 spells bytes: _codecs.encode('latin-1 text', 'latin1').
        argc(2);
        const [text, enc] = args;
        if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) return bad('_codecs.encode only accepts (str, "latin1")');
        const out = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) {
          const c = text.charCodeAt(i);
          if (c > 0xff) bad('_codecs.encode: character outside latin-1');
          out[i] = c;
        }
        return new PyBytes(out);
      }
    }
    return refuse(`REDUCE calling ${fn.qualifiedName}`);
  };

  const setItems = (target: PyValue, items: PyValue[]): void => {
    if (!(target instanceof PyDict)) bad(`SETITEM(S) on ${describe(target)}, expected a dict`);
    if (items.length % 2) bad('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as PyDict).map.set(items[i], items[i + 1]);
  };

  for (;;) {
    opPos = pos;
    if (pos >= n) {
      op = -1;
      bad('reached the end of the data without STOP (truncated)');
    }
    op = data[pos++];
    switch (op) {
      case 0x80: {
        // PROTO
        const v = byte();
        if (v > 5) bad(`unsupported pickle protocol ${v}`);
        break;
      }
      case 0x95: {
        // FRAME: a length hint for protocol-4 framing; frames carry ordinary opcodes.
        const len = le64();
        if (len > n - pos) bad(`frame of ${len} bytes runs past the end of the data (truncated)`);
        break;
      }
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        if (metastack.length >= maxDepth) bad(`MARK nesting deeper than ${maxDepth}`);
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;

      // --- constants and numbers
      case 0x4e:
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4b: // BININT1
        push(byte());
        break;
      case 0x4d: {
        // BININT2
        const b = take(2);
        push(b[0] | (b[1] << 8));
        break;
      }
      case 0x4a: {
        // BININT (signed 32)
        const b = take(4);
        push(b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24));
        break;
      }
      case 0x8a: {
        // LONG1
        push(fromSignedLE(take(byte())));
        break;
      }
      case 0x8b: {
        // LONG4
        const len = le32();
        if (len > 1 << 20) bad(`LONG4 of ${len} bytes`);
        push(fromSignedLE(take(len)));
        break;
      }
      case 0x49: {
        // INT (text); "00"/"01" are protocol-0 booleans
        const s = line();
        if (s === '00') push(false);
        else if (s === '01') push(true);
        else push(parseIntText(s));
        break;
      }
      case 0x4c: {
        // LONG (text, optional trailing L)
        const s = line();
        push(parseIntText(s.endsWith('L') ? s.slice(0, -1) : s));
        break;
      }
      case 0x46: {
        // FLOAT (text)
        const s = line();
        const t = s.trim();
        // Unambiguous (linear-time) pattern: `\d+\.?\d*` backtracks quadratically on a long run of
        // digits that does not match, and a 10^6-digit FLOAT line hung the reader (fuzz).
        if (!/^[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf|nan)$/i.test(t)) bad(`invalid float literal '${s.slice(0, 40)}'`);
        push(/nan/i.test(t) ? NaN : /inf/i.test(t) ? (t.startsWith('-') ? -Infinity : Infinity) : Number(t));
        break;
      }
      case 0x47: {
        // BINFLOAT (big-endian double)
        const b = take(8);
        push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false));
        break;
      }

      // --- strings and bytes
      case 0x58: // BINUNICODE
        push(decodeUtf8(take(le32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(decodeUtf8(take(byte())));
        break;
      case 0x8d: // BINUNICODE8
        push(decodeUtf8(take(le64())));
        break;
      case 0x56: // UNICODE (raw-unicode-escape, newline terminated)
        push(rawUnicodeEscape(line()));
        break;
      case 0x53: // STRING (protocol 0, py2 str → decoded as latin-1 text)
        push(pyStringLiteral(line()));
        break;
      case 0x54: {
        // BINSTRING (signed 32-bit length)
        const len = le32();
        if (len > 0x7fffffff) bad('negative BINSTRING length');
        push(latin1(take(len)));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(latin1(take(byte())));
        break;
      case 0x42: // BINBYTES
        push(new PyBytes(take(le32()).slice()));
        break;
      case 0x43: // SHORT_BINBYTES
        push(new PyBytes(take(byte()).slice()));
        break;
      case 0x8e: // BINBYTES8
        push(new PyBytes(take(le64()).slice()));
        break;
      case 0x96: // BYTEARRAY8
        push(new PyBytes(take(le64()).slice()));
        break;

      // --- containers
      case 0x29:
        push(new PyTuple([]));
        break;
      case 0x85:
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x5d:
        push(new PyList([]));
        break;
      case 0x6c: // LIST
        push(new PyList(popMark()));
        break;
      case 0x7d:
        push(new PyDict(false));
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new PyDict(false);
        setItems(d, items);
        push(d);
        break;
      }
      case 0x8f:
        push(new PySet([], false));
        break;
      case 0x91: // FROZENSET
        push(new PySet(popMark(), true));
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!(list instanceof PyList)) bad(`APPEND to ${describe(list)}, expected a list`);
        (list as PyList).items.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!(list instanceof PyList)) bad(`APPENDS to ${describe(list)}, expected a list`);
        for (const v of items) (list as PyList).items.push(v);
        break;
      }
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const set = top();
        if (!(set instanceof PySet) || set.frozen) bad(`ADDITEMS to ${describe(set)}, expected a set`);
        for (const v of items) (set as PySet).items.push(v);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }

      // --- memo
      case 0x70: // PUT
        memoPut(decimal(line()), top());
        break;
      case 0x71: // BINPUT
        memoPut(byte(), top());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(le32(), top());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, top());
        break;
      case 0x67: // GET
        push(memoGet(decimal(line())));
        break;
      case 0x68: // BINGET
        push(memoGet(byte()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(le32()));
        break;

      // --- globals, calls, persistent ids: allow-listed only
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        push(resolveGlobal('GLOBAL', module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') bad('STACK_GLOBAL operands must be strings');
        push(resolveGlobal('STACK_GLOBAL', module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        push(call(fn, args));
        break;
      }
      case 0x62: {
        // BUILD: only state-dict metadata on an OrderedDict (`state_dict._metadata`) is accepted.
        const state = pop();
        const obj = top();
        if (!(obj instanceof PyDict) || !obj.ordered) return refuse(`BUILD on ${describe(obj)}`);
        let attrs: PyValue = state;
        if (state instanceof PyTuple && state.items.length === 2) {
          const [d, slots] = state.items;
          if (slots !== null && !(slots instanceof PyDict)) refuse(`BUILD with slot state ${describe(slots)}`);
          attrs = d === null ? slots : d;
        }
        if (attrs !== null && !(attrs instanceof PyDict)) return refuse(`BUILD with state ${describe(attrs)}`);
        (obj as PyDict).attrs = attrs as PyDict | null;
        break;
      }
      case 0x51: // BINPERSID
        push(persistentLoad(pop()));
        break;
      case 0x50: // PERSID (text id): torch never writes it
        persistentLoad(line());
        break;
      case 0x69: {
        // INST "module\nname\n": instantiates a class
        const module = line();
        const name = line();
        refuse(`INST ${module}.${name}`);
        break;
      }
      case 0x6f: // OBJ
        refuse('OBJ');
        break;
      case 0x81: // NEWOBJ
        refuse('NEWOBJ');
        break;
      case 0x92: // NEWOBJ_EX
        refuse('NEWOBJ_EX');
        break;
      case 0x82:
      case 0x83:
      case 0x84:
        refuse(`${OPNAMES[op]} (extension registry)`);
        break;
      case 0x97:
      case 0x98:
        refuse(`${OPNAMES[op]} (out-of-band buffers)`);
        break;
      default:
        refuse(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}
