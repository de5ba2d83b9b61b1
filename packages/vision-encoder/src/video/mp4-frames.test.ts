import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GOLDEN_VIDEO } from './golden.testutil.js';
import { readMp4FrameTable, type Mp4FrameTable } from './mp4-frames.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0 && spawnSync('ffprobe', ['-version'], { stdio: 'ignore' }).status === 0;

async function table(file: string): Promise<Mp4FrameTable> {
  const bytes = new Uint8Array(readFileSync(file));
  const t = await readMp4FrameTable(async (s, e) => bytes.subarray(s, e), bytes.length);
  expect(t).not.toBeNull();
  return t!;
}

/** ffprobe's packets of the video stream, decode order: byte position, size, pts, keyframe flag. */
function ffprobePackets(file: string) {
  const csv = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,pos,size,flags', '-of', 'csv=p=0', file], {
    encoding: 'utf8',
  });
  return csv
    .trim()
    .split('\n')
    .map((line) => {
      const [pts, size, pos, flags] = line.split(',');
      return { pts: Number(pts), size: Number(size), pos: Number(pos), key: flags.startsWith('K') };
    });
}

/** The table's sample columns against ffprobe's demuxer, sample by sample. */
function expectSamplesMatchFfprobe(t: Mp4FrameTable, file: string) {
  const packets = ffprobePackets(file);
  const firstPts = Math.min(...packets.map((p) => p.pts));
  expect(t.samples.size.length).toBe(packets.length);
  expect([...t.samples.offset]).toEqual(packets.map((p) => p.pos));
  expect([...t.samples.size]).toEqual(packets.map((p) => p.size));
  expect([...t.samples.pts]).toEqual(packets.map((p) => p.pts - firstPts));
  expect([...t.samples.sync].map(Boolean)).toEqual(packets.map((p) => p.key));
  // Presentation order: frame i is the sample with the i-th smallest pts.
  const byPts = packets.map((p, i) => [p.pts, i]).sort((a, b) => a[0] - b[0]);
  expect([...t.sampleOfFrame]).toEqual(byPts.map(([, i]) => i));
}

describe.skipIf(!hasFfmpeg)('MP4 sample table (the WebCodecs demuxer) vs ffprobe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mplug2-mp4-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('golden H.264 video (B-frames, one keyframe): offsets, sizes, pts, keyframes, presentation order, avcC', async () => {
    const t = await table(GOLDEN_VIDEO);
    expectSamplesMatchFfprobe(t, GOLDEN_VIDEO);
    expect(t.frameCount).toBe(90);
    // B-frames: decode order differs from presentation order.
    expect([...t.sampleOfFrame.slice(0, 5)]).toEqual([0, 3, 2, 4, 1]);
    expect(t.codecConfig?.type).toBe('avcC');
    expect(t.codecConfig?.data[0]).toBe(1); // configurationVersion
    expect(t.codecConfig?.data[1]).toBe(0x64); // High profile, as ffprobe reports
  });

  it('interleaved audio, several chunks and keyframes every 10 frames; VP9 (vpcC)', async () => {
    const h264 = join(dir, 'av.mp4');
    execFileSync('ffmpeg', [
      '-y',
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=duration=2:size=64x48:rate=25',
      '-f',
      'lavfi',
      '-i',
      'sine=duration=2',
      '-c:v',
      'libx264',
      '-g',
      '10',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      '-shortest',
      h264,
    ]);
    const t = await table(h264);
    expectSamplesMatchFfprobe(t, h264);
    expect([...t.samples.sync].filter(Boolean).length).toBeGreaterThanOrEqual(5);

    const vp9 = join(dir, 'vp9.mp4');
    execFileSync('ffmpeg', [
      '-y',
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=duration=1:size=64x48:rate=10',
      '-c:v',
      'libvpx-vp9',
      '-g',
      '4',
      '-pix_fmt',
      'yuv420p',
      vp9,
    ]);
    const v = await table(vp9);
    expectSamplesMatchFfprobe(v, vp9);
    expect(v.codec).toBe('vp09');
    expect(v.codecConfig?.type).toBe('vpcC');
  });
});
