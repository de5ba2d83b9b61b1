// The page: picks a video and shows the sampled frames; the worker decodes it (WebCodecs, the
// reference 'middle' frame indices and transform) and answers. Videos the worker cannot decode
// (no WebCodecs, or not an MP4/MOV with H.264/VP9/AV1) are decoded here with a <video> element and
// their pixel values sent to the worker.
import { loadVideo, type BrowserVideoInfo, type RgbFrame } from '@mplug2/vision-encoder';
import type { FromWorker, ToWorker } from './protocol';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const progress = $<HTMLProgressElement>('progress');
const answer = $('answer');
const timing = $('timing');
const askBtn = $<HTMLButtonElement>('ask');
const captionBtn = $<HTMLButtonElement>('caption');

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

let model: { numFrames: number; size: number; backend: string } | undefined;
let hasVideo = false;
let nextId = 1;
const pending = new Map<number, (m: FromWorker) => void>();

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type === 'progress') {
    progress.value = m.totalBytes ? m.loadedBytes / m.totalBytes : 0;
    status.textContent = `model: ${(m.loadedBytes / 1e6).toFixed(1)} / ${(m.totalBytes / 1e6).toFixed(1)} MB, ${m.filesDone}/${m.filesTotal} files (${m.file}: ${m.phase})`;
  } else if (m.type === 'loaded') {
    model = m;
    progress.value = 1;
    status.textContent = `model ready on ${m.backend} in ${(m.ms / 1000).toFixed(1)} s (${m.numFrames} frames at ${m.size}×${m.size})`;
    document.body.dataset.model = 'ready';
    update();
  } else if ((m.type === 'video' || m.type === 'result' || m.type === 'error') && m.id !== undefined && pending.has(m.id)) {
    pending.get(m.id)!(m);
    pending.delete(m.id);
  } else if (m.type === 'error') {
    status.textContent = `error: ${m.message}`;
    document.body.dataset.model = 'error';
  }
};

function update() {
  askBtn.disabled = captionBtn.disabled = !(model && hasVideo);
}

/** Sends `m` and resolves with the worker's answer to it. */
function request(m: ToWorker & { id: number }): Promise<FromWorker> {
  return new Promise((resolve) => {
    pending.set(m.id, resolve);
    send(m);
  });
}

function showFrames(frames: RgbFrame[], indices: number[]) {
  const figures = frames.map((f, i) => {
    const canvas = document.createElement('canvas');
    canvas.width = f.width;
    canvas.height = f.height;
    const img = new ImageData(f.width, f.height);
    for (let p = 0; p < f.width * f.height; p++) {
      img.data[p * 4] = f.data[p * 3];
      img.data[p * 4 + 1] = f.data[p * 3 + 1];
      img.data[p * 4 + 2] = f.data[p * 3 + 2];
      img.data[p * 4 + 3] = 255;
    }
    canvas.getContext('2d')!.putImageData(img, 0, 0);
    const fig = document.createElement('figure');
    const cap = document.createElement('figcaption');
    cap.textContent = `frame ${indices[i]}`;
    fig.append(canvas, cap);
    return fig;
  });
  $('frames').replaceChildren(...figures);
}

function load() {
  const backend = $<HTMLSelectElement>('backend').value as 'auto' | 'wasm' | 'webgpu';
  const modelUrl = new URL('./model/', location.href).href;
  send({ type: 'load', modelUrl, backend });
}

$<HTMLInputElement>('file').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file || !model) return;
  document.body.dataset.video = 'decoding';
  hasVideo = false;
  update();
  const t0 = performance.now();
  const { numFrames, size } = model;
  try {
    const r = await request({ type: 'decode', id: nextId++, file, numFrames, size });
    let where: string;
    let v: { frameIndices: number[]; info: BrowserVideoInfo; frames: RgbFrame[] };
    if (r.type === 'video') {
      v = r;
      where = 'in the worker';
    } else {
      // The worker could not decode it (r.message says why): a <video> element on this page can.
      const onPage = await loadVideo(file, { numFrames, size, keepFrames: true, decoder: 'element' });
      const pixels = onPage.pixelValues.data;
      send({ type: 'setVideo', pixels, shape: [...onPage.pixelValues.shape] }, [pixels.buffer]);
      v = { ...onPage, frames: onPage.frames ?? [] };
      where = 'on the page';
    }
    $('videoInfo').textContent =
      `${v.info.width}×${v.info.height}, ${v.info.frameCount} frames at ${+v.info.fps.toFixed(2)} fps (${v.info.codec}); sampled frames [${v.frameIndices.join(', ')}], decoded with ${v.info.decoder} ${where} in ${Math.round(performance.now() - t0)} ms`;
    showFrames(v.frames, [...new Set(v.frameIndices)]);
    hasVideo = true;
    document.body.dataset.video = 'ready';
  } catch (err) {
    $('videoInfo').textContent = `cannot decode ${file.name}: ${(err as Error).message}`;
    document.body.dataset.video = 'error';
  }
  update();
});

function run(kind: 'ask' | 'caption') {
  if (!hasVideo) return;
  const id = nextId++;
  const out = kind === 'ask' ? answer : $('captionOut');
  out.textContent = kind === 'ask' ? 'thinking…' : 'captioning…';
  document.body.dataset.answer = 'pending';
  const msg: ToWorker = kind === 'ask' ? { type: 'ask', id, question: $<HTMLInputElement>('question').value } : { type: 'caption', id };
  pending.set(id, (m) => {
    out.textContent = m.type === 'result' ? (kind === 'ask' ? `A: ${m.text}` : `Caption: ${m.text}`) : `error: ${(m as { message: string }).message}`;
    timing.textContent = m.type === 'result' ? `${Math.round(m.ms)} ms on ${model?.backend}` : '';
    document.body.dataset.answer = m.type === 'result' ? 'ready' : 'error';
  });
  send(msg);
}
askBtn.addEventListener('click', () => run('ask'));
captionBtn.addEventListener('click', () => run('caption'));
$('backend').addEventListener('change', load);
load();
