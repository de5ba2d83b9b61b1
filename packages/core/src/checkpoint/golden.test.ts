/**
 * The golden torch.save checkpoints and fixtures.safetensors against inspect.json, which
 * tests/fixtures-gen/inspect_reference.py writes with CPython's own zipfile + pickle (an
 * independent reader): names, dtypes, shapes in file order, sha256 of every tensor's bytes,
 * tied pairs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { CheckpointFormatError } from '../errors.js';
import { fileSource, openCheckpoint } from './open-file.js';
import { type Checkpoint, type CheckpointTensorInfo, openCheckpointSource } from './readers.js';
import type { ByteSource } from './source.js';

const goldens = fileURLToPath(new URL('../../../../fixtures/goldens/', import.meta.url));

interface Inspect {
  wrapper: string | null;
  tensors: CheckpointTensorInfo[];
  sha256: Record<string, string>;
  shared: [string, string][];
  safetensors: (CheckpointTensorInfo & { sha256: string })[];
}

const sha256 = (a: ArrayBufferView) =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');

for (const model of ['videoqa_tiny', 'videocaption_tiny']) {
  describe(`golden ${model}`, () => {
    const dir = `${goldens}${model}/`;
    const ref: Inspect = JSON.parse(readFileSync(`${dir}inspect.json`, 'utf8'));
    const fileBytes = readFileSync(`${dir}checkpoint.pth`);

    test('list() matches the Python reference exactly (names, dtypes, shapes, order)', async () => {
      const ck = await openCheckpoint(`${dir}checkpoint.pth`);
      try {
        expect(ck.format).toBe('pth');
        expect(ck.wrapper).toBe(ref.wrapper);
        expect(ref.tensors.length).toBe(333);
        expect(ck.list()).toEqual(ref.tensors);
        expect(ck.has('visn_emb_norm.weight')).toBe(true);
        expect(ck.has('visn_fc.weight')).toBe(false);
        expect(ck.info('text_decoder.cls.predictions.decoder.weight')).toEqual(
          ref.tensors.find((t) => t.name === 'text_decoder.cls.predictions.decoder.weight'),
        );
        expect(() => ck.info('no.such.tensor')).toThrow(/no tensor named 'no\.such\.tensor'/);
        expect(() => ck.info('no.such.tensor')).toThrow(CheckpointFormatError);
      } finally {
        await ck.close();
      }
    });

    test('every tensor reads to the bytes the Python reference hashed; rawLocation points at them', async () => {
      const ck = await openCheckpoint(`${dir}checkpoint.pth`);
      try {
        let n = 0;
        for (const { name, dtype } of ck.list()) {
          const a = await ck.read(name);
          expect(sha256(a), name).toBe(ref.sha256[name]);
          const loc = ck.rawLocation(name)!;
          expect(loc.byteLength).toBe(a.byteLength);
          expect(sha256(fileBytes.subarray(loc.offset, loc.offset + loc.byteLength)), name).toBe(ref.sha256[name]);
          const f = await ck.readFloat32(name);
          if (dtype === 'float32') expect(sha256(f)).toBe(ref.sha256[name]);
          else expect(Array.from(f)).toEqual(Array.from(a as BigInt64Array, Number));
          n++;
        }
        expect(n).toBe(333);
      } finally {
        await ck.close();
      }
    });

    test('tied weights share storage exactly where the reference says', async () => {
      const ck = await openCheckpoint(`${dir}checkpoint.pth`);
      try {
        expect(ck.sharesStorage('text_decoder.cls.predictions.decoder.weight', 'text_decoder.bert.embeddings.word_embeddings.weight')).toBe(true);
        expect(ck.sharesStorage('text_decoder.cls.predictions.decoder.bias', 'text_decoder.cls.predictions.bias')).toBe(true);
        const names = ck.list().map((t) => t.name);
        const found: [string, string][] = [];
        for (let i = 0; i < names.length; i++)
          for (let j = i + 1; j < names.length; j++) if (ck.sharesStorage(names[i], names[j])) found.push([names[i], names[j]]);
        expect(found.map((p) => p.join(' ')).sort()).toEqual(ref.shared.map((p) => p.join(' ')).sort());
        expect(() => ck.sharesStorage('visn_emb_norm.weight', 'nope')).toThrow(/no tensor named 'nope'/);
      } finally {
        await ck.close();
      }
    });

    test('opening reads no tensor data (only directory, headers and data.pkl)', async () => {
      const reads: [number, number][] = [];
      const inner = await fileSource(`${dir}checkpoint.pth`);
      const counting: ByteSource = {
        size: inner.size,
        read: (dst, pos) => {
          reads.push([pos, pos + dst.length]);
          return inner.read(dst, pos);
        },
        close: () => inner.close(),
      };
      const ck = await openCheckpointSource(counting, model);
      const opened = [...reads];
      try {
        const ranges = ck
          .list()
          .map((t) => ck.rawLocation(t.name)!)
          .filter((r) => r.byteLength > 0);
        const touching = opened.filter(([a, b]) => ranges.some((r) => a < r.offset + r.byteLength && b > r.offset));
        expect(touching, 'reads that touch tensor data').toEqual([]);
        expect(opened.length).toBeGreaterThan(300); // the local headers were read (one per storage)
        const total = opened.reduce((s, [a, b]) => s + (b - a), 0);
        expect(total).toBeLessThan(300_000); // ≈ data.pkl + central directory + 331 local headers, not the 3–9 MB of data
        await ck.read('visn_emb_norm.weight');
        expect(reads.length).toBeGreaterThan(opened.length);
      } finally {
        await ck.close();
      }
      await expect(ck.read('visn_emb_norm.weight')).rejects.toThrow(/closed/);
    });

    test('fixtures.safetensors matches the Python reference', async () => {
      const ck: Checkpoint = await openCheckpoint(`${dir}fixtures.safetensors`);
      try {
        expect(ck.format).toBe('safetensors');
        expect(ck.wrapper).toBeNull();
        expect(ck.list()).toEqual(ref.safetensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })));
        const bytes = readFileSync(`${dir}fixtures.safetensors`);
        for (const t of ref.safetensors) {
          expect(sha256(await ck.read(t.name)), t.name).toBe(t.sha256);
          const loc = ck.rawLocation(t.name)!;
          expect(sha256(bytes.subarray(loc.offset, loc.offset + loc.byteLength))).toBe(t.sha256);
        }
      } finally {
        await ck.close();
      }
    });
  });
}
