import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { GOLDENS } from '../helpers/golden';
import { openTestPage, type TestPage } from './harness';
import { sampleFrameIndices } from '../../packages/vision-encoder/src/video/sampling';
import { yuv420ToRgb } from '../../packages/vision-encoder/src/video/webcodecs';
import type { Measurement, MeasureRequest, frameHashes } from './video-page/measure';

/**
 * Browser video input against the preprocessing golden (fixtures/goldens/preprocess: ffmpeg's
 * decoded RGB frames, the frame indices and the preprocessed tensors of the reference): WebCodecs on
 * the page and in a Web Worker, the `<video>` element on the page, automatic selection, and broken
 * files (typed VideoDecodeError naming the file, never a hang). Pixel differences are printed
 * (`[browser video]` lines) and bounded by what was measured (README "Browser"). With ffmpeg: H.264
 * (several GOPs, B-frames), VP9 and AV1 in MP4 decode to exactly ffmpeg's YUV.
 */
const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
let testPage: TestPage;
let page: Page;

const VIDEO = '/goldens/preprocess/testsrc_320x240_30fps_3s.mp4';
const FIXTURES = '/goldens/preprocess/fixtures.safetensors';
const golden = JSON.parse(readFileSync(path.join(GOLDENS, 'preprocess/config.json'), 'utf8')) as Record<string, { frame_indices: number[] }>;
const SETTINGS = [
  { numFrames: 4, size: 56 },
  { numFrames: 16, size: 224 },
] as const;
// Largest and mean |browser − ffmpeg| in 0..255 units, measured in Chromium 156 (README "Browser"):
// WebCodecs 2 / 0.28 (our BT.601 conversion of the decoded YUV, see webcodecs.ts), the element 3 / 0.50
// (Chromium's conversion). The bounds leave room for rounding, not for a different frame.
const WEBCODECS_BOUND = { max: 2, mean: 0.35 };
const ELEMENT_BOUND = { max: 3, mean: 0.6 };

type Where = 'onPage' | 'inWorker' | 'onPageWithoutWebCodecs';
type Failure = { error: { name?: string; code?: string; file?: string; message: string } };

async function run(where: Where, req: Partial<MeasureRequest> & Pick<MeasureRequest, 'decoder'>): Promise<Measurement | Failure> {
  const full: MeasureRequest = { videoUrl: VIDEO, fixturesUrl: FIXTURES, numFrames: 4, size: 56, ...req };
  return page.evaluate(([w, r]) => (globalThis as any).mplug2Video[w](r), [where, full] as const);
}

async function measured(where: Where, req: Partial<MeasureRequest> & Pick<MeasureRequest, 'decoder'>): Promise<Measurement> {
  const r = await run(where, req);
  if ('error' in r) throw new Error(`${where} ${JSON.stringify(req)}: ${r.error.name}: ${r.error.message}`);
  const { rawFrames, ...summary } = r;
  process.stdout.write(`[browser video] ${where} ${req.decoder} f${r.shape[1]}_r${r.shape[2]}: ${JSON.stringify(summary)}\n`);
  process.stdout.write(
    `[browser video]   raw RGB per frame (max/mean): ${rawFrames.map((f) => `${f.frame}:${f.maxAbsU8}/${f.meanAbsU8.toFixed(2)}`).join(' ')}\n`,
  );
  return r;
}

/** The golden's frame indices exactly; decoded pixels within `bound` of ffmpeg's (0..255 units). */
function expectMatchesGolden(r: Measurement, setting: (typeof SETTINGS)[number], decoder: 'webcodecs' | 'element', bound: { max: number; mean: number }) {
  expect(r.frameIndices).toEqual(golden[`f${setting.numFrames}_r${setting.size}`].frame_indices);
  expect(r.info.frameCount).toBe(90);
  expect(r.info.decoder).toBe(decoder);
  expect(r.shape).toEqual([3, setting.numFrames, setting.size, setting.size]);
  // Only YUV→RGB differs from ffmpeg's swscale: a wrong frame or a misplaced pixel shows differences
  // of tens to hundreds of units on this test pattern.
  expect(r.raw.maxAbsU8).toBeLessThanOrEqual(bound.max);
  expect(r.raw.meanAbsU8).toBeLessThan(bound.mean);
  expect(r.tensor.maxAbsU8).toBeLessThanOrEqual(bound.max);
  expect(r.tensor.meanAbsU8).toBeLessThan(bound.mean);
}

function expectDecodeError(r: Measurement | Failure, file: string, detail: RegExp) {
  expect('error' in r, JSON.stringify(r).slice(0, 300)).toBe(true);
  const { error } = r as Failure;
  expect(error.name).toBe('VideoDecodeError');
  expect(error.code).toBe('VIDEO_DECODE');
  expect(error.file).toContain(file);
  expect(error.message).toMatch(detail);
}

/** Broken variants of the golden video, written for the test. */
function writeBrokenVideos(dir: string) {
  const video = readFileSync(path.join(GOLDENS, 'preprocess/testsrc_320x240_30fps_3s.mp4'));
  const box = (type: string, from = 0) => video.indexOf(Buffer.from(type, 'latin1'), from);
  // faststart: the moov box (sample tables) is whole, the sample data stops halfway.
  writeFileSync(path.join(dir, 'truncated.mp4'), video.subarray(0, Math.floor(video.length / 2)));
  // The sample entry's codec renamed to a four-cc nothing decodes.
  const unknown = Buffer.from(video);
  unknown.write('zzzz', box('avc1', box('stsd')), 'latin1');
  writeFileSync(path.join(dir, 'unknown-codec.mp4'), unknown);
  // Sample data replaced with noise (tables intact).
  const noise = Buffer.from(video);
  let x = 12345;
  for (let i = box('mdat') + 4; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  writeFileSync(path.join(dir, 'corrupt-data.mp4'), noise);
  writeFileSync(path.join(dir, 'not-a-video.mp4'), Buffer.from('this is not a video file\n'.repeat(40)));
}

/** Small test-pattern MP4s per codec (64×48, 20 frames, a keyframe every 6). */
const GENERATED = {
  'h264-bframes.mp4': ['-c:v', 'libx264', '-bf', '2'],
  'vp9.mp4': ['-c:v', 'libvpx-vp9'],
  'av1.mp4': ['-c:v', 'libaom-av1', '-cpu-used', '8'],
};
let generatedDir: string;

function writeGeneratedVideos(dir: string) {
  for (const [name, codec] of Object.entries(GENERATED))
    execFileSync('ffmpeg', [
      '-y',
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc=duration=2:size=64x48:rate=10',
      ...codec,
      '-g',
      '6',
      '-pix_fmt',
      'yuv420p',
      path.join(dir, name),
    ]);
}

/** SHA-256 of each frame as ffmpeg decodes it (yuv420p, every frame in presentation order) converted by our yuv420ToRgb. */
function ffmpegFrameHashes(file: string, width: number, height: number): string[] {
  const yuv = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'], {
    maxBuffer: 1 << 28,
  });
  const ySize = width * height;
  const cSize = (width / 2) * (height / 2);
  const frameSize = ySize + 2 * cSize;
  return Array.from({ length: yuv.length / frameSize }, (_, i) => {
    const f = yuv.subarray(i * frameSize, (i + 1) * frameSize);
    const rgb = yuv420ToRgb(f.subarray(0, ySize), f.subarray(ySize, ySize + cSize), f.subarray(ySize + cSize), {
      width,
      height,
      yStride: width,
      cStride: width / 2,
      cStep: 1,
    });
    return createHash('sha256').update(rgb.data).digest('hex');
  });
}

beforeAll(async () => {
  const broken = mkdtempSync(path.join(tmpdir(), 'mplug2-broken-'));
  generatedDir = mkdtempSync(path.join(tmpdir(), 'mplug2-generated-'));
  writeBrokenVideos(broken);
  if (hasFfmpeg) writeGeneratedVideos(generatedDir);
  testPage = await openTestPage({ '/goldens/': GOLDENS, '/broken/': broken, '/generated/': generatedDir }, 'tests/browser/video-page', ['worker.ts']);
  page = testPage.page;
}, 120_000);

afterAll(() => testPage?.close());

describe('browser video decoders vs the preprocessing golden', () => {
  it('WebCodecs on the page: golden frame indices, measured pixel differences', async () => {
    for (const s of SETTINGS) expectMatchesGolden(await measured('onPage', { decoder: 'webcodecs', ...s }), s, 'webcodecs', WEBCODECS_BOUND);
  });

  it('WebCodecs in a Web Worker: the same frames and pixels as on the page', async () => {
    for (const s of SETTINGS) {
      const r = await measured('inWorker', { decoder: 'auto', ...s });
      expect(r.inWorker).toBe(true);
      expectMatchesGolden(r, s, 'webcodecs', WEBCODECS_BOUND);
      const onPage = (await run('onPage', { decoder: 'webcodecs', ...s })) as Measurement;
      expect(r.rawFrames).toEqual(onPage.rawFrames);
      expect(r.tensor).toEqual(onPage.tensor);
    }
  });

  it('<video> element on the page: golden frame indices, measured pixel differences', async () => {
    for (const s of SETTINGS) expectMatchesGolden(await measured('onPage', { decoder: 'element', ...s }), s, 'element', ELEMENT_BOUND);
  });

  it('auto: WebCodecs where VideoDecoder supports the codec, else the element on a page', async () => {
    expect(((await run('onPage', { decoder: 'auto' })) as Measurement).info.decoder).toBe('webcodecs');
    expect(((await run('onPageWithoutWebCodecs', { decoder: 'auto' })) as Measurement).info.decoder).toBe('element');
    expectDecodeError(await run('onPageWithoutWebCodecs', { decoder: 'webcodecs' }), VIDEO, /no WebCodecs VideoDecoder/);
  });

  it('broken files: a VideoDecodeError naming the file, on the page and in a worker', async () => {
    for (const where of ['onPage', 'inWorker'] as const) {
      expectDecodeError(
        await run(where, { decoder: 'webcodecs', videoUrl: '/broken/truncated.mp4' }),
        'truncated.mp4',
        /beyond the end of the file.*truncated/,
      );
      expectDecodeError(await run(where, { decoder: 'auto', videoUrl: '/broken/corrupt-data.mp4' }), 'corrupt-data.mp4', /WebCodecs|produced no frame/);
      expectDecodeError(await run(where, { decoder: 'webcodecs', videoUrl: '/broken/unknown-codec.mp4' }), 'unknown-codec.mp4', /codec 'zzzz'/);
      expectDecodeError(await run(where, { decoder: 'webcodecs', videoUrl: '/broken/not-a-video.mp4' }), 'not-a-video.mp4', /MP4\/MOV/);
    }
    // Without WebCodecs support a worker has no decoder at all; a page falls back to the element, which rejects the file too.
    expectDecodeError(
      await run('inWorker', { decoder: 'auto', videoUrl: '/broken/unknown-codec.mp4' }),
      'unknown-codec.mp4',
      /codec 'zzzz'.*decode on the page/,
    );
    expectDecodeError(await run('onPage', { decoder: 'auto', videoUrl: '/broken/not-a-video.mp4' }), 'not-a-video.mp4', /cannot decode/);
  });
});

describe.skipIf(!hasFfmpeg)('WebCodecs decodes exactly what ffmpeg decodes', () => {
  it('H.264 with B-frames and several keyframes, VP9 and AV1 in MP4, and the golden video: identical RGB from identical YUV', async () => {
    const videos = [
      ...Object.keys(GENERATED).map((name) => ({ url: `/generated/${name}`, file: path.join(generatedDir, name) })),
      { url: VIDEO, file: path.join(GOLDENS, 'preprocess/testsrc_320x240_30fps_3s.mp4') },
    ];
    for (const { url, file } of videos) {
      const r = (await page.evaluate((req) => (globalThis as any).mplug2Video.hashesOnPage(req), {
        videoUrl: url,
        numFrames: 8,
        size: 32,
        decoder: 'webcodecs' as const,
      })) as Awaited<ReturnType<typeof frameHashes>> | Failure;
      if ('error' in r) throw new Error(`${url}: ${r.error.message}`);
      const expected = ffmpegFrameHashes(file, r.info.width, r.info.height);
      process.stdout.write(`[browser video] ${url}: ${r.info.codec}, ${r.info.frameCount} frames, sampled [${r.frameIndices.join(', ')}]\n`);
      expect(r.info.frameCount).toBe(expected.length);
      expect(r.frameIndices).toEqual(sampleFrameIndices(8, expected.length));
      // ffmpeg's YUV through the same conversion: equal digests mean the browser decoded the same YUV.
      expect(r.hashes).toEqual([...new Set(r.frameIndices)].map((i) => expected[i]));
    }
  });
});
