import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileWeightSink } from './file-sink.js';

describe('FileWeightSink', () => {
  it('writes 64-byte aligned tensors and rolls a family over into numbered chunk files at the limit', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mplug2-sink-'));
    const sink = new FileWeightSink(dir, 128);
    const a = new Uint8Array(100).fill(1);
    const b = new Uint8Array(20).fill(2);
    const c = new Uint8Array(40).fill(3);
    try {
      expect(await sink.append('f.weights', a, 'a')).toEqual({ file: 'f.weights', offset: 0 });
      expect(await sink.append('f.weights', b, 'b')).toEqual({ file: 'f.1.weights', offset: 0 }); // 128 + 20 > 128
      expect(await sink.append('f.weights', c, 'c')).toEqual({ file: 'f.1.weights', offset: 64 });
      expect(sink.files()).toEqual(['f.weights', 'f.1.weights']);
    } finally {
      await sink.close();
    }
    expect((await readdir(dir)).sort()).toEqual(['f.1.weights', 'f.weights']);
    expect(new Uint8Array(await readFile(path.join(dir, 'f.weights')))).toEqual(a);
    const second = new Uint8Array(await readFile(path.join(dir, 'f.1.weights')));
    expect(second.byteLength).toBe(104);
    expect(second.subarray(0, 20)).toEqual(b);
    expect(second.subarray(20, 64)).toEqual(new Uint8Array(44));
    expect(second.subarray(64)).toEqual(c);
  });
});
