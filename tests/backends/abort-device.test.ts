import { afterAll, describe, expect, it, vi } from 'vitest';
import { ModuleSession, isDeviceTensor, probeBackend, type DeviceTensor } from '@mplug2/core';
import { Captioner, VideoQA, disposeVideoFeatures } from '@mplug2/tasks';
import { loadVideo } from '@mplug2/vision-encoder';
import { SAMPLE_VIDEO, demoModel } from '../helpers/demo-model';
import { useSwiftShaderVulkan } from './webgpu-env';

// An aborted call on webgpu must release every GPU tensor it made (question memory, cross K/V
// slices, KV cache), and the next call must still work. Runs on SwiftShader's software Vulkan
// where there is no GPU; skipped (with the probe's reason) where onnxruntime-node has no webgpu.
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');
if (webgpuError) process.stdout.write(`[abort-device] webgpu unavailable, skipped: ${webgpuError}\n`);

/** Runs `f` while recording the device tensors every session run returns. */
async function recordingDeviceTensors<T>(f: () => Promise<T>): Promise<{ value: T | unknown; made: DeviceTensor[] }> {
  const made: DeviceTensor[] = [];
  const run = ModuleSession.prototype.run;
  vi.spyOn(ModuleSession.prototype, 'run').mockImplementation(async function (this: ModuleSession, feeds, ...rest) {
    const out = await run.call(this, feeds, ...rest);
    made.push(...Object.values(out).filter(isDeviceTensor));
    return out;
  });
  try {
    return { value: await f().catch((e: unknown) => e), made };
  } finally {
    vi.mocked(ModuleSession.prototype.run).mockRestore();
  }
}

describe.skipIf(webgpuError !== null)('abort on webgpu', () => {
  const toDispose: { dispose(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const t of toDispose) await t.dispose();
  });

  it('VideoQA and Captioner: aborting at step 2 rejects ABORTED, leaves no GPU tensor of the call alive, and the next call equals an unaborted one', async () => {
    const model = await demoModel();
    const qa = await VideoQA.load(model, { backend: 'webgpu' });
    const cap = await Captioner.load(model, { backend: 'webgpu' });
    toDispose.push(qa, cap);
    const { pixelValues } = await loadVideo(SAMPLE_VIDEO, { numFrames: qa.visual.frames, size: qa.visual.size });
    const features = await qa.encodeVideo(pixelValues);
    expect(isDeviceTensor(features.imageEmbeds)).toBe(true);
    const long = { minLength: 6, maxLength: 6 };
    const [want] = await qa.ask(features, 'what is he doing?', long);

    const controller = new AbortController();
    const aborted = await recordingDeviceTensors(() =>
      qa.ask(features, 'what is he doing?', { ...long, signal: controller.signal, onStep: (e) => void (e.step === 2 && controller.abort()) }),
    );
    expect((aborted.value as { code?: string }).code).toBe('ABORTED');
    expect(aborted.made.length).toBeGreaterThan(0);
    expect(aborted.made.filter((t) => !t.disposed).map((t) => t.label)).toEqual([]);
    // the caller's features are untouched and serve the next call
    expect((features.imageEmbeds as DeviceTensor).disposed).toBe(false);
    const [again] = await qa.ask(features, 'what is he doing?', long);
    expect(again.ids).toEqual(want.ids);
    disposeVideoFeatures(features);

    const [wantCaption] = await cap.caption(pixelValues, long);
    const stopped = new AbortController();
    const capAborted = await recordingDeviceTensors(() =>
      cap.caption(pixelValues, { ...long, signal: stopped.signal, onStep: (e) => void (e.step === 2 && stopped.abort()) }),
    );
    expect((capAborted.value as { code?: string }).code).toBe('ABORTED');
    expect(capAborted.made.filter((t) => !t.disposed).map((t) => t.label)).toEqual([]);
    expect((await cap.caption(pixelValues, long))[0].ids).toEqual(wantCaption.ids);
  }, 300_000);
});
