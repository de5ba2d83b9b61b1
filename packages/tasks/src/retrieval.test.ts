import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectVideos } from './retrieval.js';

describe('collectVideos', () => {
  it('expands folders (recursively, media files only, sorted), list files (relative to the list) and removes duplicates', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-collect-'));
    for (const f of ['b.mp4', 'a.MOV', 'notes.txt.bak', 'sub/c.png', 'sub/d.json']) {
      mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      writeFileSync(path.join(dir, f), '');
    }
    writeFileSync(path.join(dir, 'sub', 'list.txt'), '# corpus\nc.png\n\n../b.mp4\n');
    const got = await collectVideos([dir, path.join(dir, 'sub', 'list.txt'), path.join(dir, 'b.mp4')]);
    expect(got).toEqual(['a.MOV', 'b.mp4', 'sub/c.png'].map((f) => path.join(dir, f)));
    await expect(collectVideos([path.join(dir, 'missing.mp4')])).rejects.toThrow(/does not exist/);
  });
});
