// examples/custom-pipeline installed from packed tarballs outside the monorepo: vision encoder + universal + a
// JavaScript head composed with Pipeline.compose. Its embeddings must equal the same modules run here.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelDirectory, manifestDims, type Tensor } from '@mplug2/core';
import { loadUniversal } from '@mplug2/universal';
import { loadVideo, loadVisionEncoder } from '@mplug2/vision-encoder';
import { SAMPLE_VIDEO, demoModel } from './helpers/demo-model';
import { ROOT, installApp, packPackages } from './helpers/packed.mjs';
import { makeVideos } from './helpers/videos';

const EXAMPLE = path.join(ROOT, 'examples/custom-pipeline');

/** Reference: the modules run one after the other here, then the mean over tokens, L2-normalised. */
async function referenceEmbedding(modelDir: string, video: string): Promise<number[]> {
  const model = await ModelDirectory.open(modelDir);
  const cfg = model.manifest.config.model_config;
  const vision = await loadVisionEncoder(model);
  const universal = await loadUniversal(model);
  try {
    const pixels = (await loadVideo(video, { numFrames: cfg.model_num_frames, size: cfg.image_res })).pixelValues;
    const batch = { ...pixels, shape: [1, ...pixels.shape], dims: ['batch', ...pixels.dims] } as Tensor<'float32'>;
    const states = (await vision.run({ pixel_values: batch })).video_states;
    const x = (await universal.run({ video_states: states })).image_embeds as Tensor<'float32'>;
    const [, n, c] = x.shape;
    const mean = Array.from({ length: c }, (_, k) => {
      let s = 0;
      for (let t = 0; t < n; t++) s += x.data[t * c + k] / n;
      return s;
    });
    const norm = Math.hypot(...mean);
    return mean.map((v) => v / norm);
  } finally {
    await vision.dispose();
    await universal.dispose();
  }
}

describe('examples/custom-pipeline from packed tarballs', () => {
  it('installs @mplug2/core, universal and vision-encoder tarballs outside the monorepo and composes its own head', async () => {
    const modelDir = await demoModel();
    const other = makeVideos(path.join(ROOT, 'tests/artifacts/custom-pipeline'), ['red'], 1)[0].file;
    const pkg = JSON.parse(readFileSync(path.join(EXAMPLE, 'package.json'), 'utf8'));
    pkg.dependencies = { ...pkg.dependencies, ...packPackages(['core', 'universal', 'vision-encoder']) };
    const app = installApp('mplug2-custom-pipeline', pkg, { 'index.mjs': readFileSync(path.join(EXAMPLE, 'index.mjs'), 'utf8') });
    const out = execFileSync(process.execPath, ['index.mjs', modelDir, SAMPLE_VIDEO, other, SAMPLE_VIDEO], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    const r = JSON.parse(out.trim().split('\n').pop()!);

    expect(r.order).toEqual(['vision', 'universal', 'head']);
    const dims = manifestDims((await ModelDirectory.open(modelDir)).manifest);
    expect(r.embeddingShape).toEqual([3, dims.text.hidden]);
    expect(r.refusedWiring).toMatch(/^input\.pixel_values -> head\.image_embeds: rank 5 cannot feed rank 3 /);

    const want = await referenceEmbedding(modelDir, SAMPLE_VIDEO);
    for (const [i, v] of (r.embeddings[0] as number[]).entries()) expect(Math.abs(v - want[i]), `dim ${i}`).toBeLessThan(1e-5);
    expect(r.embeddings[2]).toEqual(r.embeddings[0]);
    expect(r.similarity[0][2]).toBeCloseTo(1, 5);
    expect(r.similarity[0][1]).toBeLessThan(r.similarity[0][0]);
  }, 300_000);
});
