// Composing modules in code: vision encoder → universal layers → a head of your own, wired with the
// composer, which checks every connection's dtype and dims before anything runs.
// usage: node index.mjs <model-dir or URL> <video> [more videos...]
import { MODULE_SPEC_VERSION, Pipeline, PortMismatchError, checkInputs, manifestDims, openModel, port, tensor } from '@mplug2/core';
import { loadUniversal } from '@mplug2/universal';
import { loadVideo, loadVisionEncoder, stackVideos } from '@mplug2/vision-encoder';

/**
 * A head in plain JavaScript: mean of the video tokens of `image_embeds`, L2-normalised (a video embedding),
 * and the cosine similarity of every pair of videos in the batch. Any object with ports, `run` and `dispose`
 * is a pipeline module; an ONNX graph (`GraphModule`) would plug in the same way.
 */
class MeanPoolHead {
  specVersion = MODULE_SPEC_VERSION;
  name = 'mean_pool_head';

  constructor(hidden) {
    this.inputs = [port('image_embeds', 'float32', ['batch', 'video_tokens', { name: 'hidden', size: hidden }])];
    this.outputs = [
      port('embedding', 'float32', ['batch', { name: 'hidden', size: hidden }], 'mean over video tokens, L2-normalised'),
      port('similarity', 'float32', ['batch', 'batch_other'], 'cosine similarity of every pair of videos'),
    ];
  }

  async run(inputs) {
    checkInputs(this.name, this.inputs, inputs);
    const x = inputs.image_embeds;
    const [b, n, c] = x.shape;
    const emb = new Float32Array(b * c);
    for (let i = 0; i < b; i++) {
      const row = emb.subarray(i * c, (i + 1) * c);
      for (let t = 0; t < n; t++) for (let k = 0; k < c; k++) row[k] += x.data[(i * n + t) * c + k] / n;
      const norm = Math.hypot(...row);
      for (let k = 0; k < c; k++) row[k] /= norm;
    }
    const sim = new Float32Array(b * b);
    for (let i = 0; i < b; i++)
      for (let j = 0; j < b; j++) {
        let s = 0;
        for (let k = 0; k < c; k++) s += emb[i * c + k] * emb[j * c + k];
        sim[i * b + j] = s;
      }
    return {
      embedding: tensor('float32', ['batch', 'hidden'], [b, c], emb),
      similarity: tensor('float32', ['batch', 'batch_other'], [b, b], sim),
    };
  }

  async dispose() {}
}

const [location, ...videos] = process.argv.slice(2);
if (!location || videos.length === 0) {
  console.error('usage: node index.mjs <model-dir or URL> <video> [more videos...]');
  process.exit(2);
}

const model = await openModel(location);
const dims = manifestDims(model.manifest);
const cfg = model.manifest.config.model_config;
const vision = await loadVisionEncoder(model);
const universal = await loadUniversal(model);
const head = new MeanPoolHead(dims.text.hidden);

// The composer refuses a wrong wiring when it is built, before any video is decoded: here the frames go
// straight into the head, skipping the encoders ([batch, 3, frames, H, W] is not [batch, video_tokens, hidden]).
let refused = null;
try {
  Pipeline.compose({
    modules: { head },
    inputs: { pixel_values: vision.inputs[0] },
    connections: [['input.pixel_values', 'head.image_embeds']],
  });
} catch (e) {
  if (!(e instanceof PortMismatchError)) throw e;
  refused = e.message;
}

const pipeline = Pipeline.compose({
  modules: { vision, universal, head },
  inputs: { pixel_values: vision.inputs[0] },
  connections: [
    ['input.pixel_values', 'vision.pixel_values'],
    ['vision.video_states', 'universal.video_states'],
    ['universal.image_embeds', 'head.image_embeds'],
  ],
});

const decoded = [];
for (const v of videos) decoded.push((await loadVideo(v, { numFrames: cfg.model_num_frames, size: cfg.image_res })).pixelValues);
const out = await pipeline.run({ pixel_values: stackVideos(decoded) }, {}, { outputs: ['head.embedding', 'head.similarity'] });
for (const m of [vision, universal, head]) await m.dispose();

const b = videos.length;
const sim = out['head.similarity'];
console.log(
  JSON.stringify({
    order: pipeline.order,
    refusedWiring: refused,
    embeddingShape: out['head.embedding'].shape,
    embeddings: Array.from({ length: b }, (_, i) => Array.from(out['head.embedding'].data.subarray(i * dims.text.hidden, (i + 1) * dims.text.hidden))),
    similarity: Array.from({ length: b }, (_, i) => Array.from(sim.data.subarray(i * b, (i + 1) * b))),
  }),
);
