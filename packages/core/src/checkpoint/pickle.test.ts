import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CheckpointFormatError, UnsafePickleError } from '../errors.js';
import { PyBytes, PyDict, PyGlobal, PyList, PySet, PyTuple, StorageRef, TensorRef, unpickle, type PyValue, type UnpickleOptions } from './pickle.js';
import { PickleWriter, torchPickle } from '@mplug2/testing';
import { PICKLE_OP as OP } from './pickle.js';

const opts: UnpickleOptions = { file: 'test.pth', entry: 'archive/data.pkl' };
const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));
const load = (b: Uint8Array | number[], o: Partial<UnpickleOptions> = {}) => unpickle(b instanceof Uint8Array ? b : Uint8Array.from(b), { ...opts, ...o });

/** Plain-JS rendering for comparisons. */
function js(v: PyValue): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof PyTuple) return { tuple: v.items.map(js) };
  if (v instanceof PyList) return v.items.map(js);
  if (v instanceof PySet) return { set: v.items.map(js) };
  if (v instanceof PyBytes) return { bytes: Array.from(v.bytes) };
  if (v instanceof PyDict) {
    const o = Object.fromEntries([...v.map].map(([k, x]) => [String(k), js(x)]));
    return v.ordered ? { OrderedDict: o } : o;
  }
  if (v instanceof PyGlobal) return { global: v.qualifiedName };
  return v;
}

// Generated with CPython 3.11: pickle.dumps(obj, protocol=p) for
// obj = {'a': 1, 'b': [1, 2.5, -3, None, True, False], 'c': 'héllo', 'big': 2**70, 'neg': -2**40,
//        'by': b'\x00\x01\xff', 't': (1, 'x'), 'od': OrderedDict([('k', 1), ('j', (2,))]), 's': {3},
//        'i32': 100000, 'emp': {}, 'f': -0.125}
const PY: Record<number, string> = {
  0: '286470300a56610a70310a49310a7356620a70320a286c70330a49310a6146322e350a61492d330a614e614930310a614930300a617356630a70340a5668e96c6c6f0a70350a73566269670a70360a4c313138303539313632303731373431313330333432344c0a73566e65670a70370a4c2d313039393531313632373737364c0a735662790a70380a635f636f646563730a656e636f64650a70390a28565c753030303001ff0a7031300a566c6174696e310a7031310a747031320a527031330a7356740a7031340a2849310a56780a7031350a747031360a73566f640a7031370a63636f6c6c656374696f6e730a4f726465726564446963740a7031380a2874527031390a566b0a7032300a49310a73566a0a7032310a2849320a747032320a737356730a7032330a635f5f6275696c74696e5f5f0a7365740a7032340a28286c7032350a49330a61747032360a527032370a73566933320a7032380a493130303030300a7356656d700a7032390a28647033300a7356660a7033310a462d302e3132350a732e',
  2: '80027d71002858010000006171014b0158010000006271025d7103284b014740040000000000004afdffffff4e8889655801000000637104580600000068c3a96c6c6f7105580300000062696771068a0900000000000000004058030000006e656771078a060000000000ff580200000062797108635f636f646563730a656e636f64650a710958040000000001c3bf710a58060000006c6174696e31710b86710c52710d580100000074710e4b01580100000078710f86711058020000006f64711163636f6c6c656374696f6e730a4f726465726564446963740a7112295271132858010000006b71144b0158010000006a71154b02857116755801000000737117635f5f6275696c74696e5f5f0a7365740a71185d71194b036185711a52711b5803000000693332711c4aa08601005803000000656d70711d7d711e580100000066711f47bfc0000000000000752e',
  3: '80037d71002858010000006171014b0158010000006271025d7103284b014740040000000000004afdffffff4e8889655801000000637104580600000068c3a96c6c6f7105580300000062696771068a0900000000000000004058030000006e656771078a060000000000ff58020000006279710843030001ff7109580100000074710a4b01580100000078710b86710c58020000006f64710d63636f6c6c656374696f6e730a4f726465726564446963740a710e2952710f2858010000006b71104b0158010000006a71114b02857112755801000000737113636275696c74696e730a7365740a71145d71154b0361857116527117580300000069333271184aa08601005803000000656d7071197d711a580100000066711b47bfc0000000000000752e',
  4: '800495c9000000000000007d94288c0161944b018c0162945d94284b014740040000000000004afdffffff4e8889658c0163948c0668c3a96c6c6f948c03626967948a090000000000000000408c036e6567948a060000000000ff8c0262799443030001ff948c0174944b018c01789486948c026f64948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c016b944b018c016a944b028594758c0173948f94284b03908c03693332944aa08601008c03656d70947d948c01669447bfc0000000000000752e',
  5: '800595c9000000000000007d94288c0161944b018c0162945d94284b014740040000000000004afdffffff4e8889658c0163948c0668c3a96c6c6f948c03626967948a090000000000000000408c036e6567948a060000000000ff8c0262799443030001ff948c0174944b018c01789486948c026f64948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c016b944b018c016a944b028594758c0173948f94284b03908c03693332944aa08601008c03656d70947d948c01669447bfc0000000000000752e',
};
const EXPECTED = {
  a: 1,
  b: [1, 2.5, -3, null, true, false],
  c: 'héllo',
  big: `${2n ** 70n}n`,
  neg: -(2 ** 40),
  by: { bytes: [0, 1, 255] },
  t: { tuple: [1, 'x'] },
  od: { OrderedDict: { k: 1, j: { tuple: [2] } } },
  s: { set: [3] },
  i32: 100000,
  emp: {},
  f: -0.125,
};

describe('unpickle: CPython-generated pickles', () => {
  for (const p of [0, 2, 3, 4, 5])
    test(`protocol ${p}`, () => {
      expect(js(load(hex(PY[p])))).toEqual(EXPECTED);
    });

  test('every truncation of every protocol gives CheckpointFormatError', () => {
    let n = 0;
    for (const p of [0, 2, 4]) {
      const full = hex(PY[p]);
      for (let cut = 0; cut < full.length; cut++) {
        expect(() => load(full.subarray(0, cut)), `protocol ${p} cut at ${cut}`).toThrow(CheckpointFormatError);
        n++;
      }
    }
    expect(n).toBeGreaterThan(900);
  });
});

describe('unpickle: torch state dicts', () => {
  test('rebuild_tensor_v2 / rebuild_parameter give TensorRefs with shared StorageRefs', () => {
    const pkl = torchPickle([
      { name: 'w', storageKey: '0', storageType: 'FloatStorage', storageNumel: 6, shape: [2, 3] },
      { name: 'wt', storageKey: '0', storageType: 'FloatStorage', storageNumel: 6, shape: [3, 2], stride: [1, 3], parameter: true },
      { name: 'h', storageKey: '1', storageType: 'HalfStorage', storageNumel: 4, offset: 1, shape: [3] },
    ]);
    const root = load(pkl) as PyDict;
    const sd = root.map.get('model') as PyDict;
    expect(sd.ordered).toBe(true);
    const [w, wt, h] = ['w', 'wt', 'h'].map((k) => sd.map.get(k) as TensorRef);
    expect(w).toBeInstanceOf(TensorRef);
    expect([w.shape, w.stride, w.storageOffset]).toEqual([[2, 3], [3, 1], 0]);
    expect([wt.shape, wt.stride]).toEqual([
      [3, 2],
      [1, 3],
    ]);
    expect(wt.storage).toBe(w.storage); // one StorageRef per key
    expect(w.storage).toEqual(new StorageRef('torch.FloatStorage', 'float32', '0', 'cpu', 6));
    expect([h.storage.dtype, h.storageOffset]).toEqual(['float16', 1]);
  });

  test('torch.Size and torch.device (DeepSpeed param_shapes, saved devices) become plain values', () => {
    const w = new PickleWriter().proto(2).op(OP.EMPTY_LIST);
    w.global('torch', 'Size').mark().int(3).int(1024).tuple().op(OP.TUPLE1).reduce().op(OP.APPEND);
    w.global('torch', 'device').str('cuda').int(1).op(OP.TUPLE2).reduce().op(OP.APPEND);
    w.global('torch', 'device').str('cpu').op(OP.TUPLE1).reduce().op(OP.APPEND).stop();
    expect(js(load(w.bytes()))).toEqual([{ tuple: [3, 1024] }, 'cuda:1', 'cpu']);
    const bad = new PickleWriter().proto(2).global('torch', 'Size').str('x').op(OP.TUPLE1).reduce().stop();
    expect(() => load(bad.bytes())).toThrow(CheckpointFormatError);
  });

  test('OrderedDict BUILD with _metadata (real state_dict()) is accepted', () => {
    const w = new PickleWriter().proto(2).orderedDict();
    w.mark().str('x').int(1).setitems();
    w.emptyDict().str('_metadata').orderedDict().str('').emptyDict().str('version').int(1).setitem().setitem().setitem();
    w.op(OP.BUILD).stop();
    const d = load(w.bytes()) as PyDict;
    expect(js(d)).toEqual({ OrderedDict: { x: 1 } });
    expect(d.attrs?.map.has('_metadata')).toBe(true);
  });
});

describe('unpickle: hostile pickles are refused and nothing runs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mplug2-pickle-'));
  const marker = join(dir, 'pwned');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function refused(bytes: Uint8Array, what: RegExp) {
    let err: unknown;
    try {
      load(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsafePickleError);
    expect((err as Error).message).toMatch(what);
    expect((err as UnsafePickleError).entry).toBe('archive/data.pkl');
    expect(existsSync(marker)).toBe(false);
  }

  test('GLOBAL os.system + REDUCE', () => {
    refused(new PickleWriter().proto(2).global('os', 'system').str(`touch ${marker}`).op(OP.TUPLE1).reduce().stop().bytes(), /GLOBAL os\.system/);
  });
  test('GLOBAL posix.system / subprocess.Popen / torch.load / numpy reconstruct', () => {
    for (const [m, n] of [
      ['posix', 'system'],
      ['subprocess', 'Popen'],
      ['torch', 'load'],
      ['numpy.core.multiarray', '_reconstruct'],
      ['torch._utils', '_rebuild_device_tensor_from_numpy'],
      ['builtins', 'getattr'],
      ['collections', 'defaultdict'],
    ])
      refused(new PickleWriter().proto(2).global(m, n).emptyTuple().reduce().stop().bytes(), new RegExp(`${m.replace(/\./g, '\\.')}\\.${n}`));
  });
  test('STACK_GLOBAL builtins.eval', () => {
    const w = new PickleWriter().proto(4);
    w.op(OP.SHORT_BINUNICODE, 8).raw(new TextEncoder().encode('builtins'));
    w.op(OP.SHORT_BINUNICODE, 4).raw(new TextEncoder().encode('eval'));
    w.op(OP.STACK_GLOBAL).str(`__import__('os').system('touch ${marker}')`).op(OP.TUPLE1).reduce().stop();
    refused(w.bytes(), /STACK_GLOBAL builtins\.eval/);
  });
  test('INST os.system (protocol 0)', () => {
    refused(new TextEncoder().encode(`(S'touch ${marker}'\nios\nsystem\n.`), /INST os\.system/);
  });
  test('OBJ, NEWOBJ, NEWOBJ_EX on an allowed class', () => {
    refused(new PickleWriter().proto(2).mark().global('collections', 'OrderedDict').op(OP.OBJ).stop().bytes(), /OBJ/);
    refused(new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().op(OP.NEWOBJ).stop().bytes(), /NEWOBJ/);
    refused(new PickleWriter().proto(4).global('collections', 'OrderedDict').emptyTuple().emptyDict().op(OP.NEWOBJ_EX).stop().bytes(), /NEWOBJ_EX/);
  });
  test('EXT1/EXT2/EXT4 and out-of-band buffers', () => {
    refused(Uint8Array.of(OP.PROTO, 2, OP.EXT1, 1, OP.STOP), /EXT1/);
    refused(Uint8Array.of(OP.PROTO, 2, OP.EXT2, 1, 0, OP.STOP), /EXT2/);
    refused(Uint8Array.of(OP.PROTO, 2, OP.EXT4, 1, 0, 0, 0, OP.STOP), /EXT4/);
    refused(Uint8Array.of(OP.PROTO, 5, OP.NEXT_BUFFER, OP.STOP), /NEXT_BUFFER/);
  });
  test('BUILD on something other than an OrderedDict, or with a non-dict state', () => {
    refused(new PickleWriter().proto(2).op(OP.EMPTY_LIST).emptyDict().op(OP.BUILD).stop().bytes(), /BUILD on list/);
    refused(new PickleWriter().proto(2).emptyDict().emptyDict().op(OP.BUILD).stop().bytes(), /BUILD on dict/);
    refused(new PickleWriter().proto(2).orderedDict().str('x').op(OP.BUILD).stop().bytes(), /BUILD with state str/);
    refused(new PickleWriter().proto(2).global('torch', 'FloatStorage').emptyDict().op(OP.BUILD).stop().bytes(), /BUILD on torch\.FloatStorage/);
  });
  test('REDUCE on an allowed non-callable, on a string, on an allowed callable stored in the memo', () => {
    refused(new PickleWriter().proto(2).global('torch', 'FloatStorage').emptyTuple().reduce().stop().bytes(), /REDUCE calling torch\.FloatStorage/);
    refused(new PickleWriter().proto(2).str('os.system').emptyTuple().reduce().stop().bytes(), /REDUCE calling str/);
    refused(new PickleWriter().proto(2).global('torch', 'float32').emptyTuple().reduce().stop().bytes(), /REDUCE calling torch\.float32/);
  });
  test('unknown opcode', () => {
    refused(Uint8Array.of(OP.PROTO, 2, 0xff), /unknown opcode 0xff/);
    refused(Uint8Array.of(OP.PROTO, 2, 0x00), /unknown opcode 0x00/);
  });
  test('a forbidden global deep inside an ignored key is still refused', () => {
    const pkl = torchPickle([{ name: 'w', storageKey: '0', storageType: 'FloatStorage', storageNumel: 1, shape: [] }], {
      after: (w) => w.str('config').mark().str('x').global('os', 'system').setitems().setitem(),
    });
    refused(pkl, /GLOBAL os\.system/);
  });
});

describe('unpickle: malformed input is a CheckpointFormatError with bounds', () => {
  const bad = (b: Uint8Array | number[], what: RegExp, o: Partial<UnpickleOptions> = {}) => {
    let err: unknown;
    try {
      load(b, o);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect((err as Error).message).toMatch(what);
  };
  test('stack underflow, missing MARK, missing memo key', () => {
    bad([OP.PROTO, 2, OP.TUPLE2, OP.STOP], /stack underflow/);
    bad([OP.PROTO, 2, OP.TUPLE, OP.STOP], /no MARK/);
    bad([OP.PROTO, 2, OP.BINGET, 5, OP.STOP], /memo key 5/);
    bad([OP.PROTO, 2, OP.STOP], /stack underflow/);
  });
  test('declared lengths beyond the data are rejected before allocating', () => {
    bad([OP.PROTO, 2, OP.BINUNICODE, 0xf0, 0xff, 0xff, 0xff, 0x41], /needs 4294967280 bytes/);
    bad([OP.PROTO, 4, OP.BINUNICODE8, 0, 0, 0, 0, 0, 0, 0x10, 0, 0x41], /needs \d+ bytes/);
    bad([OP.PROTO, 4, OP.BINBYTES8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], /beyond 2\^53/);
    bad([OP.PROTO, 2, OP.LONG4, 0xff, 0xff, 0xff, 0x7f], /LONG4/);
    bad([OP.PROTO, 4, OP.FRAME, 0, 0, 0, 0, 1, 0, 0, 0, OP.STOP], /frame/);
  });
  test('nesting, stack and memo bounds', () => {
    bad([OP.PROTO, 2, ...new Array(2000).fill(OP.MARK)], /MARK nesting deeper than 1000/);
    bad([OP.PROTO, 2, ...new Array(50).fill(OP.NONE)], /stack exceeds 10 items/, { maxStack: 10 });
    bad([OP.PROTO, 2, OP.NONE, ...new Array(20).fill(0).flatMap((_, i) => [OP.BINPUT, i])], /memo exceeds 8/, { maxMemo: 8 });
  });
  test('wrong operand types', () => {
    bad(new PickleWriter().proto(2).op(OP.EMPTY_LIST).str('k').str('v').setitem().stop().bytes(), /SETITEM\(S\) on list/);
    bad(new PickleWriter().proto(2).emptyDict().int(1).op(OP.APPEND).stop().bytes(), /APPEND to dict/);
    bad(new PickleWriter().proto(4).int(1).str('x').op(OP.STACK_GLOBAL).stop().bytes(), /STACK_GLOBAL operands must be strings/);
    bad(new PickleWriter().proto(2).str('abc').op(OP.BINPERSID).stop().bytes(), /unsupported persistent id/);
    bad(
      new PickleWriter().proto(2).mark().str('storage').global('collections', 'OrderedDict').str('0').str('cpu').int(1).tuple().op(OP.BINPERSID).stop().bytes(),
      /not a torch storage class/,
    );
    bad(new PickleWriter().proto(2).global('torch._utils', '_rebuild_tensor_v2').mark().str('x').tuple().reduce().stop().bytes(), /takes 6-7 arguments/);
    bad([OP.PROTO, 2, OP.BINUNICODE, 2, 0, 0, 0, 0xc3, 0x28, OP.STOP], /invalid UTF-8/);
    bad([OP.PROTO, 6, OP.NONE, OP.STOP], /protocol 6/);
    bad(new TextEncoder().encode('I12x\n.'), /invalid integer literal/);
  });
});
