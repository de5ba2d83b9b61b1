/// <reference lib="webworker" />
// Inference worker: loads the model from a URL (RemoteModel: fetch + Cache API + sha256, resumable)
// and runs VideoQA / captioning on pixel values the page decoded. Keeps the page responsive.
import { RemoteModel, resolveBackend } from '@mplug2/core';
import { Captioner, VideoQA } from '@mplug2/tasks';
import type { FromWorker, ToWorker } from './protocol';

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);
let qa: VideoQA | undefined;
let captioner: Captioner | undefined;

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  try {
    if (m.type === 'load') {
      const t0 = performance.now();
      const model = await RemoteModel.open(m.modelUrl, {
        onProgress: (p) => post({ type: 'progress', loadedBytes: p.loadedBytes, totalBytes: p.totalBytes, filesDone: p.filesDone, filesTotal: p.filesTotal, file: p.file, phase: p.phase }),
      });
      await model.prefetch();
      qa = await VideoQA.load(model, { backend: m.backend });
      captioner = await Captioner.load(model, { backend: m.backend });
      const cfg = model.manifest.config.model_config;
      post({ type: 'loaded', backend: await resolveBackend(m.backend), numFrames: cfg.model_num_frames, size: cfg.image_res, ms: performance.now() - t0 });
      return;
    }
    const t0 = performance.now();
    const video = { dtype: 'float32' as const, dims: ['channels', 'frames', 'height', 'width'], shape: m.shape, data: m.pixels };
    if (m.type === 'ask') {
      if (!qa) throw new Error('model not loaded');
      const [a] = await qa.ask(video, m.question);
      post({ type: 'result', id: m.id, text: a.answer, ms: performance.now() - t0 });
    } else {
      if (!captioner) throw new Error('model not loaded');
      const [c] = await captioner.caption(video, { minLength: 4, maxLength: 20 });
      post({ type: 'result', id: m.id, text: c.caption, ms: performance.now() - t0 });
    }
  } catch (err) {
    post({ type: 'error', id: 'id' in m ? m.id : undefined, message: (err as Error).message ?? String(err) });
  }
};
