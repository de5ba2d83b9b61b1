/**
 * The tensor-table behaviour both readers share, on the golden checkpoint.pth and fixtures.safetensors:
 * typed errors for absent tensors, reads refused once closed (absent reported first), close idempotent
 * and closing the source exactly once, metadata still answered after close.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { CheckpointFormatError } from '../errors.js';
import { fileSource } from './open-file.js';
import { openCheckpointSource } from './readers.js';

const dir = fileURLToPath(new URL('../../../../fixtures/goldens/videoqa_tiny/', import.meta.url));

describe.each(['checkpoint.pth', 'fixtures.safetensors'])('%s', (fileName) => {
  test('absent tensors and reads after close fail with typed errors; close closes the source once', async () => {
    const file = `${dir}${fileName}`;
    const source = await fileSource(file);
    let sourceCloses = 0;
    const closeSource = source.close.bind(source);
    source.close = async () => {
      sourceCloses++;
      await closeSource();
    };
    const ck = await openCheckpointSource(source, file);
    const [first] = ck.list();
    expect(ck.info(first.name)).toEqual(first);
    expect(await ck.readFloat32(first.name)).toHaveLength(first.shape.reduce((a, b) => a * b, 1));
    await expect(ck.read('absent')).rejects.toThrow(CheckpointFormatError);

    await ck.close();
    await ck.close();
    expect(sourceCloses).toBe(1);
    expect(ck.has(first.name)).toBe(true);
    expect(ck.info(first.name)).toEqual(first);
    const closed = ck.read(first.name);
    await expect(closed).rejects.toThrow(CheckpointFormatError);
    await expect(closed).rejects.toThrow(`cannot read '${first.name}': the checkpoint is closed`);
    await expect(ck.readFloat32(first.name)).rejects.toThrow(/the checkpoint is closed/);
    await expect(ck.read('absent')).rejects.toThrow("no tensor named 'absent' in the checkpoint");
  });
});
