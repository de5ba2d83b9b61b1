/**
 * The `data.pkl` record of a torch.save archive, written the way CPython's pickler (protocol 2)
 * writes torch's state dicts: same opcodes, same memo (BINPUT/BINGET) numbering, same
 * SETITEMS batching. For a given list of tensors it is byte-identical to what
 * `torch.save({'model': state_dict})` produces (checked against the golden checkpoints).
 *
 * Layout of one tensor (torch `Tensor.__reduce_ex__` → `_rebuild_tensor_v2`):
 *
 *   name  GLOBAL torch._utils._rebuild_tensor_v2
 *   MARK  ( 'storage', GLOBAL torch.<T>Storage, '<key>', 'cpu', numel ) BINPERSID
 *         offset  (size…)  (stride…)  False  OrderedDict()
 *   TUPLE REDUCE
 */
import { PICKLE_OP } from '@mplug2/core';

export type TorchDType = 'float32' | 'float16' | 'int64';

/** The torch storage class and element size of each dtype. */
export const TORCH_STORAGE: Readonly<Record<TorchDType, { readonly cls: string; readonly bytes: 2 | 4 | 8 }>> = {
  float32: { cls: 'FloatStorage', bytes: 4 },
  float16: { cls: 'HalfStorage', bytes: 2 },
  int64: { cls: 'LongStorage', bytes: 8 },
};

/** One state-dict entry as the pickle sees it: a contiguous view of a whole storage. */
export interface PickledTensor {
  readonly name: string;
  readonly dtype: TorchDType;
  readonly shape: readonly number[];
  /** Persistent storage key (the `<archive>/data/<key>` entry). Tied tensors share one key. */
  readonly key: string;
  /** Elements of the storage (= elements of the tensor: every tensor views its whole storage). */
  readonly numel: number;
}

/** Row-major contiguous strides of `shape` (torch's convention: size-1 dims keep the product). */
export function contiguousStrides(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i];
  }
  return stride;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// Pickle opcodes: core's table (the unpickler reads what this writes).
const OP = PICKLE_OP;

/** CPython's pickler writes dict items in batches of this many (`_BATCHSIZE`). */
const BATCH_SIZE = 1000;

class PickleBuilder {
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  private memoCount = 0;
  private readonly memo = new Map<string, number>();
  private readonly enc = new TextEncoder();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  u16(v: number): void {
    this.byte(v & 0xff);
    this.byte((v >>> 8) & 0xff);
  }

  u32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }

  /** Memoizes the object just written (BINPUT / LONG_BINPUT), optionally under an identity key. */
  put(identity?: string): number {
    const idx = this.memoCount++;
    if (idx < 256) {
      this.byte(OP.BINPUT);
      this.byte(idx);
    } else {
      this.byte(OP.LONG_BINPUT);
      this.u32(idx);
    }
    if (identity !== undefined) this.memo.set(identity, idx);
    return idx;
  }

  /** Writes a memo reference when `identity` was memoized; returns whether it did. */
  get(identity: string): boolean {
    const idx = this.memo.get(identity);
    if (idx === undefined) return false;
    if (idx < 256) {
      this.byte(OP.BINGET);
      this.byte(idx);
    } else {
      this.byte(OP.LONG_BINGET);
      this.u32(idx);
    }
    return true;
  }

  /** A `str`. Pass an identity for strings that are the same Python object each time ('cpu', a storage key). */
  str(s: string, identity?: string): void {
    if (identity !== undefined && this.get(identity)) return;
    const b = this.enc.encode(s);
    this.byte(OP.BINUNICODE);
    this.u32(b.length);
    this.bytes(b);
    this.put(identity);
  }

  global(module: string, name: string): void {
    const id = `global:${module}.${name}`;
    if (this.get(id)) return;
    this.byte(OP.GLOBAL);
    this.bytes(this.enc.encode(`${module}\n${name}\n`));
    this.put(id);
  }

  /** A non-negative Python int, with CPython's opcode choice. */
  int(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`pickle: ${v} is not a non-negative safe integer`);
    if (v <= 0xff) {
      this.byte(OP.BININT1);
      this.byte(v);
    } else if (v <= 0xffff) {
      this.byte(OP.BININT2);
      this.u16(v);
    } else if (v <= 0x7fffffff) {
      this.byte(OP.BININT);
      this.u32(v);
    } else {
      // LONG1: minimal two's-complement little-endian; `(bit_length >> 3) + 1` bytes like encode_long.
      let big = BigInt(v);
      const nbytes = (big.toString(2).length >> 3) + 1;
      this.byte(OP.LONG1);
      this.byte(nbytes);
      for (let i = 0; i < nbytes; i++) {
        this.byte(Number(big & 0xffn));
        big >>= 8n;
      }
    }
  }

  /** A tuple of ints (sizes, strides): EMPTY_TUPLE, TUPLE1..3 or MARK…TUPLE; memoized unless empty. */
  intTuple(values: readonly number[]): void {
    if (values.length === 0) {
      this.byte(OP.EMPTY_TUPLE);
      return;
    }
    if (values.length > 3) this.byte(OP.MARK);
    for (const v of values) this.int(v);
    this.byte(values.length === 1 ? OP.TUPLE1 : values.length === 2 ? OP.TUPLE2 : values.length === 3 ? OP.TUPLE3 : OP.TUPLE);
    this.put();
  }

  /** `OrderedDict()` created by REDUCE (the reduce result is memoized). */
  emptyOrderedDict(): void {
    this.global('collections', 'OrderedDict');
    this.byte(OP.EMPTY_TUPLE);
    this.byte(OP.REDUCE);
    this.put();
  }

  tensor(t: PickledTensor): void {
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.byte(OP.MARK); // args tuple (6 items)
    // persistent id ('storage', storage_type, key, location, numel)
    this.byte(OP.MARK);
    this.str('storage', 'str:storage');
    this.global('torch', TORCH_STORAGE[t.dtype].cls);
    this.str(t.key, `key:${t.key}`);
    this.str('cpu', 'str:cpu');
    this.int(t.numel);
    this.byte(OP.TUPLE);
    this.put();
    this.byte(OP.BINPERSID);
    this.int(0); // storage offset
    this.intTuple(t.shape);
    this.intTuple(contiguousStrides(t.shape));
    this.byte(OP.NEWFALSE); // requires_grad
    this.emptyOrderedDict(); // backward hooks
    this.byte(OP.TUPLE);
    this.put();
    this.byte(OP.REDUCE);
    this.put();
  }

  /** `collections.OrderedDict` of the tensors, items in CPython's batches. */
  stateDict(tensors: readonly PickledTensor[]): void {
    this.global('collections', 'OrderedDict');
    this.byte(OP.EMPTY_TUPLE);
    this.byte(OP.REDUCE);
    this.put();
    for (let start = 0; ; start += BATCH_SIZE) {
      const batch = tensors.slice(start, start + BATCH_SIZE);
      if (batch.length > 1) {
        this.byte(OP.MARK);
        for (const t of batch) {
          this.str(t.name);
          this.tensor(t);
        }
        this.byte(OP.SETITEMS);
      } else if (batch.length === 1) {
        this.str(batch[0].name);
        this.tensor(batch[0]);
        this.byte(OP.SETITEM);
      }
      if (batch.length < BATCH_SIZE) break;
    }
  }

  finish(): Uint8Array {
    this.byte(OP.STOP);
    return this.buf.slice(0, this.len);
  }
}

/**
 * `data.pkl` for `torch.save({wrapper: OrderedDict(tensors)})`, or for a bare state dict when
 * `wrapper` is null. Tensors are contiguous views of whole storages (offset 0).
 */
export function buildTorchPickle(tensors: readonly PickledTensor[], wrapper: string | null): Uint8Array {
  const p = new PickleBuilder();
  p.byte(OP.PROTO);
  p.byte(2);
  if (wrapper === null) {
    p.stateDict(tensors);
  } else {
    p.byte(OP.EMPTY_DICT);
    p.put();
    p.str(wrapper);
    p.stateDict(tensors);
    p.byte(OP.SETITEM);
  }
  return p.finish();
}
