import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AbortError, InvalidOptionError, VideoDecodeError } from '@mplug2/core';
import { VideoDecodeTimeoutError, loadVideo } from '@mplug2/vision-encoder';
import { makeVideos } from '../../../tests/helpers/videos';
import { VideoDecoder, type UploadForm } from './uploads.js';

type Upload = NonNullable<UploadForm['file']>;
const INPUT = { frames: 4, size: 32 };

/** An upload as `readForm` leaves it: a private copy named by a random id, with the sha256 of its bytes. */
function upload(dir: string, source: string, id: string): Upload {
  const file = path.join(dir, id);
  copyFileSync(source, file);
  const bytes = readFileSync(file);
  return { field: 'video', filename: path.basename(source), path: file, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
}

/** The most decodes seen running and waiting at once (sampled every 2 ms) until `work` settles. */
async function peaks<T>(decoder: VideoDecoder, work: Promise<T>): Promise<{ running: number; waiting: number }> {
  let settled = false;
  const peak = { running: 0, waiting: 0 };
  void work.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!settled) {
    peak.running = Math.max(peak.running, decoder.running);
    peak.waiting = Math.max(peak.waiting, decoder.waiting);
    await new Promise((r) => setTimeout(r, 2));
  }
  return peak;
}

describe('VideoDecoder (uploads decoded with ffmpeg, bounded)', () => {
  let videos: string[];
  let expected: Map<string, Float32Array>;

  beforeAll(async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'mplug2-decoder-'));
    // 4 s videos: a decode lasts long enough to be seen running and waiting.
    videos = makeVideos(path.join(root, 'videos'), ['red', 'bars', 'noise'], 1, 4).map((v) => v.file);
    expected = new Map();
    for (const v of videos) expected.set(path.basename(v), (await loadVideo(v, { numFrames: INPUT.frames, size: INPUT.size })).pixelValues.data);
  });

  const freshDir = () => mkdtempSync(path.join(tmpdir(), 'mplug2-uploads-'));

  it('at most `concurrency` decodes run; the others wait in order; pixels equal loadVideo of the file', async () => {
    const uploads = freshDir();
    const decoder = new VideoDecoder(INPUT, { concurrency: 1 });
    const files = videos.map((v, i) => upload(uploads, v, `u${i}`));
    const started: number[] = [];
    const all = Promise.all(files.map((f, i) => decoder.decode(f).then((d) => (started.push(i), d))));
    const peak = await peaks(decoder, all);
    expect(peak.running).toBe(1);
    expect(peak.waiting).toBeGreaterThanOrEqual(1);
    const decoded = await all;
    expect(started).toEqual([0, 1, 2]); // first come, first decoded
    decoded.forEach((d, i) => {
      expect(d.sha256).toBe(files[i].sha256);
      expect(d.pixels.data).toEqual(expected.get(path.basename(videos[i])));
    });
    expect({ running: decoder.running, waiting: decoder.waiting }).toEqual({ running: 0, waiting: 0 });
    // Only the uploads themselves are left: the decoder's own links are gone.
    expect(readdirSync(uploads).sort()).toEqual(['u0', 'u1', 'u2']);
  });

  it('equal uploads share one decode, and the first one leaving (its file removed) does not break the other', async () => {
    const uploads = freshDir();
    const decoder = new VideoDecoder(INPUT, { concurrency: 2 });
    const a = upload(uploads, videos[1], 'a');
    const b = upload(uploads, videos[1], 'b');
    const leaving = new AbortController();
    const first = decoder.decode(a, leaving.signal);
    const second = decoder.decode(b);
    const peak = peaks(decoder, second);
    while (decoder.running < 1) await new Promise((r) => setTimeout(r, 1));
    leaving.abort(new Error('the client disconnected'));
    await expect(first).rejects.toBeInstanceOf(AbortError);
    // The leaving request removes its upload, as the server does.
    rmSync(a.path);
    const d = await second;
    expect(await peak).toEqual({ running: 1, waiting: 0 }); // one decode for both (two slots were free)
    expect(d.pixels.data).toEqual(expected.get(path.basename(videos[1])));
    expect(readdirSync(uploads)).toEqual(['b']);
  });

  it('a request leaving while its decode waits is dropped from the wait (never decoded); one leaving a running decode kills it', async () => {
    const uploads = freshDir();
    const decoder = new VideoDecoder(INPUT, { concurrency: 1 });
    const running = new AbortController();
    const queued = new AbortController();
    const first = decoder.decode(upload(uploads, videos[0], 'x'), running.signal);
    const second = decoder.decode(upload(uploads, videos[2], 'y'), queued.signal);
    while (decoder.waiting < 1) await new Promise((r) => setTimeout(r, 1));
    queued.abort(new Error('gone'));
    await expect(second).rejects.toBeInstanceOf(AbortError);
    expect(decoder.waiting).toBe(0);
    expect(decoder.running).toBe(1);
    running.abort(new Error('gone too'));
    await expect(first).rejects.toBeInstanceOf(AbortError);
    // ffmpeg is killed and the slot released: the next decode runs at once.
    while (decoder.running > 0) await new Promise((r) => setTimeout(r, 1));
    const next = await decoder.decode(upload(uploads, videos[2], 'z'));
    expect(next.pixels.data).toEqual(expected.get(path.basename(videos[2])));
    expect(readdirSync(uploads).sort()).toEqual(['x', 'y', 'z']);
  });

  it('a decode past its time budget is a VideoDecodeTimeoutError naming the uploaded file, not the temp path; bad uploads name it too', async () => {
    const uploads = freshDir();
    const decoder = new VideoDecoder(INPUT, { timeoutMs: 1 });
    const f = upload(uploads, videos[0], 'slow');
    const e = await decoder.decode(f).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(VideoDecodeTimeoutError);
    expect((e as VideoDecodeTimeoutError).file).toBe(path.basename(videos[0]));
    expect((e as Error).message).not.toContain(uploads);
    const garbage = upload(uploads, path.join(uploads, 'slow'), 'junk');
    writeFileSync(garbage.path, 'not a video at all');
    const bad = await new VideoDecoder(INPUT).decode({ ...garbage, filename: 'clip.mp4', sha256: 'junk' }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(bad).toBeInstanceOf(VideoDecodeError);
    expect(bad).not.toBeInstanceOf(VideoDecodeTimeoutError);
    expect((bad as VideoDecodeError).message).toMatch(/^clip\.mp4: /);
    expect((bad as Error).message).not.toContain(uploads);
    expect(statSync(uploads).isDirectory()).toBe(true);
  });

  it('bad options are typed errors naming them', () => {
    expect(() => new VideoDecoder(INPUT, { concurrency: 0 })).toThrow(InvalidOptionError);
    expect(() => new VideoDecoder(INPUT, { concurrency: 1.5 })).toThrow(/decodeConcurrency/);
    expect(() => new VideoDecoder(INPUT, { timeoutMs: 0 })).toThrow(/decodeTimeoutMs/);
  });
});
