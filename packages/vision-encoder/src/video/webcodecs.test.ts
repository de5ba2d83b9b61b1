import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GOLDEN_VIDEO, goldenDecodedFrames } from './golden.testutil.js';
import { readMp4FrameTable } from './mp4-frames.js';
import { webCodecsConfig, yuv420ToRgb } from './webcodecs.js';

const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;

async function config(file: string) {
  const bytes = new Uint8Array(readFileSync(file));
  return webCodecsConfig((await readMp4FrameTable(async (s, e) => bytes.subarray(s, e), bytes.length))!);
}

describe.skipIf(!hasFfmpeg)('WebCodecs path, the parts that run without a browser', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mplug2-webcodecs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('yuv420ToRgb on the YUV ffmpeg decodes vs ffmpeg’s own RGB (the golden decoded frames): at most 2, mean 0.28', async () => {
    const [w, h] = [320, 240];
    const yuv = execFileSync('ffmpeg', ['-v', 'error', '-i', GOLDEN_VIDEO, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'], { maxBuffer: 1 << 26 });
    const frameSize = (w * h * 3) / 2;
    let max = 0;
    let sum = 0;
    let count = 0;
    for (const [index, golden] of await goldenDecodedFrames()) {
      const f = yuv.subarray(index * frameSize, (index + 1) * frameSize);
      const rgb = yuv420ToRgb(f.subarray(0, w * h), f.subarray(w * h, (w * h * 5) / 4), f.subarray((w * h * 5) / 4), {
        width: w,
        height: h,
        yStride: w,
        cStride: w / 2,
        cStep: 1,
      });
      for (let i = 0; i < golden.length; i++) {
        const d = Math.abs(rgb.data[i] - golden[i]);
        max = Math.max(max, d);
        sum += d;
      }
      count += golden.length;
    }
    // Measured: 2 and 0.281 (swscale's fixed-point rounding vs this float formula); a wrong matrix,
    // range or chroma siting gives tens of units.
    expect(max).toBe(2);
    expect(sum / count).toBeGreaterThan(0.27);
    expect(sum / count).toBeLessThan(0.29);
  });

  it('codec strings from avcC, vpcC and av1C', async () => {
    const golden = await config(GOLDEN_VIDEO);
    // H.264 High profile (0x64), level 1.3 (0x0d), as ffprobe reports for this file.
    expect(golden?.codec).toBe('avc1.64000d');
    expect(golden?.description).toBeInstanceOf(Uint8Array);
    expect([golden?.codedWidth, golden?.codedHeight]).toEqual([320, 240]);
    const encode = (name: string, codec: string[]) => {
      execFileSync('ffmpeg', [
        '-y',
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc=duration=0.5:size=64x48:rate=10',
        ...codec,
        '-pix_fmt',
        'yuv420p',
        join(dir, name),
      ]);
      return config(join(dir, name));
    };
    // VP9 profile 0, 8-bit; AV1 main profile, main tier, 8-bit; levels as the encoders chose.
    expect((await encode('vp9.mp4', ['-c:v', 'libvpx-vp9']))?.codec).toMatch(/^vp09\.00\.\d\d\.08$/);
    expect((await encode('av1.mp4', ['-c:v', 'libaom-av1', '-cpu-used', '8']))?.codec).toMatch(/^av01\.0\.\d\dM\.08$/);
  });
});
