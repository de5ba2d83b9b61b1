// Video classification with the vision encoder alone: embeddings (pooled video [CLS]) → linear probe.
// usage: node index.mjs <model-dir> <labels.csv (path,label)> [head.json] [videos to predict...]
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadProbeHead, saveProbeHead } from '@mplug2/vision-encoder';
import { VideoEmbedder } from '@mplug2/vision-encoder';

const [modelDir, labelsCsv, headFile = 'head.json', ...toPredict] = process.argv.slice(2);
if (!modelDir || !labelsCsv) {
  console.error('usage: node index.mjs <model-dir> <labels.csv> [head.json] [videos...]');
  process.exit(2);
}
const rows = (await readFile(labelsCsv, 'utf8'))
  .split(/\r?\n/)
  .map((l) => l.trim())
  .filter((l) => l && l !== 'path,label')
  .map((l) => {
    const i = l.lastIndexOf(',');
    return { file: path.resolve(path.dirname(labelsCsv), l.slice(0, i)), label: l.slice(i + 1) };
  });

const embedder = await VideoEmbedder.load(modelDir);
const head = await embedder.fitProbe(
  rows.map((r) => r.file),
  rows.map((r) => r.label),
  { heldOut: 0.25, seed: 0 },
);
await saveProbeHead(headFile, head);
const reloaded = await loadProbeHead(headFile);
const videos = toPredict.length ? toPredict : rows.map((r) => r.file);
const predictions = await embedder.predict(reloaded, videos);
await embedder.dispose();
console.log(
  JSON.stringify({
    modelId: head.modelId,
    labels: head.labels,
    trainAccuracy: head.training.trainAccuracy,
    heldOutAccuracy: head.training.heldOutAccuracy,
    predictions: predictions.map((p, i) => ({ path: videos[i], label: p.label, prob: p.probs[p.index] })),
  }),
);
