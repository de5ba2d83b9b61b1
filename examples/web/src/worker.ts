/// <reference lib="webworker" />
// The worker: loads the model from a URL (RemoteModel: fetch + Cache API + sha256, resumable),
// decodes videos with WebCodecs (the page decodes those it cannot) and runs VideoQA / captioning on
// the current video. Keeps the page responsive.
import { RemoteModel, resolveBackend, type Tensor } from '@mplug2/core';
import { Captioner, VideoQA } from '@mplug2/tasks';
import { loadVideo } from '@mplug2/vision-encoder';
import type { FromWorker, ToWorker } from './protocol';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
let qa: VideoQA | undefined;
let captioner: Captioner | undefined;
let video: Tensor<'float32'> | undefined;

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  try {
    if (m.type === 'load') {
      const t0 = performance.now();
      const model = await RemoteModel.open(m.modelUrl, {
        onProgress: (p) =>
          post({
            type: 'progress',
            loadedBytes: p.loadedBytes,
            totalBytes: p.totalBytes,
            filesDone: p.filesDone,
            filesTotal: p.filesTotal,
            file: p.file,
            phase: p.phase,
          }),
      });
      await model.prefetch();
      qa = await VideoQA.load(model, { backend: m.backend });
      captioner = await Captioner.load(model, { backend: m.backend });
      const cfg = model.manifest.config.model_config;
      post({ type: 'loaded', backend: await resolveBackend(m.backend), numFrames: cfg.model_num_frames, size: cfg.image_res, ms: performance.now() - t0 });
      return;
    }
    const t0 = performance.now();
    if (m.type === 'decode') {
      // In a worker 'auto' means WebCodecs: it throws VideoDecodeError for what only a page can decode.
      const v = await loadVideo(m.file, { numFrames: m.numFrames, size: m.size, keepFrames: true });
      video = v.pixelValues;
      const frames = v.frames ?? [];
      post(
        { type: 'video', id: m.id, frameIndices: v.frameIndices, info: v.info, frames, ms: performance.now() - t0 },
        frames.map((f) => f.data.buffer),
      );
      return;
    }
    if (m.type === 'setVideo') {
      video = { dtype: 'float32', dims: ['channels', 'frames', 'height', 'width'], shape: m.shape, data: m.pixels };
      return;
    }
    if (!video) throw new Error('no video yet');
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
