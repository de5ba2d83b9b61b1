import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ModelDirectory, openCheckpoint, tensor, type Mplug2Config } from '@mplug2/core';
import { convertCheckpoint, generateCheckpoint, runParity, tinyDemoConfig, writeTorchCheckpoint } from '@mplug2/converter';
import { Captioner, VideoQA } from '@mplug2/tasks';
import { GOLDENS } from './helpers/golden';

const tmp = (p: string) => mkdtempSync(path.join(tmpdir(), `mplug2-${p}-`));

/** Pre-trained checkpoints keep `bert.` / `fusion.` segments (reference §10.4): undo the task renaming. */
function toPretrainName(name: string): string {
  if (name.startsWith('text_encoder.')) return name.replace('text_encoder.', 'text_encoder.bert.');
  if (name.startsWith('fusion_encoder.')) return name.replace('fusion_encoder.', 'fusion_encoder.fusion.');
  return name;
}

describe('converter', () => {
  it('a pre-trained-style checkpoint ({module: ...}, bert./fusion. key segments) converts to the same model', async () => {
    const src = await openCheckpoint(path.join(GOLDENS, 'videoqa_tiny', 'checkpoint.pth'));
    const file = path.join(tmp('pretrain'), 'renamed.pth');
    const tied = new Map<string, string>();
    for (const t of src.list()) for (const u of src.list()) if (u.name < t.name && src.sharesStorage(t.name, u.name)) tied.set(t.name, u.name);
    const entries = [];
    for (const t of src.list()) {
      const data = await src.read(t.name);
      const tiedTo = tied.get(t.name);
      entries.push({
        name: toPretrainName(t.name),
        dtype: t.dtype as 'float32' | 'int64',
        shape: t.shape,
        ...(tiedTo ? { tiedTo: toPretrainName(tiedTo) } : { data: data as Float32Array }),
      });
    }
    // tied tensors must come after the tensor they tie to
    entries.sort((a, b) => Number('tiedTo' in a) - Number('tiedTo' in b));
    await writeTorchCheckpoint(file, entries, { wrapper: 'module' });
    await src.close();
    expect((await openCheckpoint(file)).list().some((t) => t.name.startsWith('text_encoder.bert.'))).toBe(true);
    const out = tmp('pretrain-model');
    const { manifest } = await convertCheckpoint({ checkpoint: file, config: path.join(GOLDENS, 'videoqa_tiny', 'config.json'), out });
    expect(manifest.source.wrapper).toBe('module');
    const report = await runParity(out, path.join(GOLDENS, 'videoqa_tiny', 'fixtures.safetensors'));
    expect(report.ok, JSON.stringify(report.tensors.filter((t) => !t.ok))).toBe(true);
  });

  it('reports why every unconverted tensor is left out', async () => {
    const out = tmp('unused');
    const { unused, manifest } = await convertCheckpoint({
      checkpoint: path.join(GOLDENS, 'videocaption_tiny', 'checkpoint.pth'),
      config: path.join(GOLDENS, 'videocaption_tiny', 'config.json'),
      out,
    });
    const reason = (name: string) => unused.find((u) => u.name === name)?.reason;
    expect(reason('visual_encoder.visual.proj')).toMatch(/CLIP projection/);
    expect(reason('visual_encoder.token_embedding.weight')).toMatch(/CLIP text tower/);
    expect(reason('text_decoder.cls.predictions.decoder.weight')).toMatch(/tied/);
    expect(reason('fusion_encoder.encoder.layer.0.attention.self.query.weight')).toBeDefined();
    expect(unused.every((u) => !u.reason.startsWith('not used by the'))).toBe(true);
    expect(Object.keys(manifest.modules).sort()).toEqual(['decoder', 'universal', 'vision_encoder']);
    // nothing the caption model needs is reported unused
    expect(unused.some((u) => u.name.startsWith('text_encoder.encoder.layer.2.crossattention'))).toBe(false);
  });

  it('rejects an invalid config naming the field', async () => {
    await expect(
      convertCheckpoint({
        checkpoint: path.join(GOLDENS, 'videoqa_tiny', 'checkpoint.pth'),
        config: { model_config: {}, bert_config: {} } as unknown as Mplug2Config,
        out: tmp('bad'),
      }),
    ).rejects.toThrow(ConfigError);
    await expect(
      convertCheckpoint({
        checkpoint: path.join(GOLDENS, 'videoqa_tiny', 'checkpoint.pth'),
        config: { model_config: {}, bert_config: {} } as unknown as Mplug2Config,
        out: tmp('bad'),
      }),
    ).rejects.toThrow(/model_config\.image_res/);
  });
});

/** Configurations other than the goldens' — every code path of the architecture (reference §4.1, §4.3, §6.2). */
const VARIANTS: Record<string, (c: Mplug2Config) => void> = {
  'one universal layer': (c) => void (c.bert_config.num_uni_layer = 1),
  'three universal layers': (c) => void (c.bert_config.num_uni_layer = 3),
  'merged-attention fusion layer (stride_layer 1)': (c) => {
    c.bert_config.num_hidden_layers = 3;
    c.bert_config.fusion_layers = 3;
    c.bert_config.stride_layer = 1;
  },
  'vision width != text width (visn_fc path)': (c) => void (c.model_config.vision_width = 128),
  '8 frames at 84 px': (c) => {
    c.model_config.model_num_frames = 8;
    c.model_config.image_res = 84;
  },
};

describe.each(Object.keys(VARIANTS))('other configurations: %s', (variant) => {
  it('generates, converts and runs VideoQA and captioning', async () => {
    const config = tinyDemoConfig('qa') as Mplug2Config;
    VARIANTS[variant](config);
    const dir = tmp('variant');
    const checkpoint = path.join(dir, 'c.pth');
    await generateCheckpoint(checkpoint, config, { seed: 7, withRetrievalHeads: true });
    const out = path.join(dir, 'model');
    const { manifest } = await convertCheckpoint({ checkpoint, config, out, task: 'pretrain' });
    const frames = config.model_config.model_num_frames;
    const res = config.model_config.image_res;
    expect(manifest.dims.vision.tokens).toBe(1 + frames * (res / 14) ** 2);
    const pixels = tensor(
      'float32',
      ['channels', 'frames', 'height', 'width'],
      [3, frames, res, res],
      Float32Array.from({ length: 3 * frames * res * res }, (_, i) => Math.sin(i)),
    );
    const model = await ModelDirectory.open(out);
    const qa = await VideoQA.load(model);
    const features = await qa.encodeVideo(pixels);
    expect(features.imageEmbeds.shape).toEqual([1, manifest.dims.vision.tokens, config.bert_config.hidden_size]);
    expect(features.imageEmbeds.data.every(Number.isFinite)).toBe(true);
    const [a] = await qa.ask(features, 'what is in the video?');
    expect(a.ids[0]).toBe(101);
    expect(Number.isFinite(a.score)).toBe(true);
    await qa.dispose();
    const cap = await Captioner.load(model);
    const [c] = await cap.caption(features, { minLength: 4, maxLength: 8 });
    expect(c.ids.length).toBeGreaterThanOrEqual(5);
    await cap.dispose();
  });
});

describe('resolution different from the checkpoint', () => {
  it('converts the 56 px golden checkpoint for 84 px input by resizing the position table', async () => {
    const cfg = JSON.parse((await import('node:fs')).readFileSync(path.join(GOLDENS, 'videoqa_tiny', 'config.json'), 'utf8')) as Mplug2Config;
    cfg.model_config.image_res = 84;
    const out = tmp('res84');
    const { manifest } = await convertCheckpoint({ checkpoint: path.join(GOLDENS, 'videoqa_tiny', 'checkpoint.pth'), config: cfg, out });
    expect(manifest.dims.vision.tokens).toBe(1 + 4 * 36);
    const qa = await VideoQA.load(out);
    const pixels = tensor('float32', ['channels', 'frames', 'height', 'width'], [3, 4, 84, 84], new Float32Array(3 * 4 * 84 * 84).fill(0.25));
    const features = await qa.encodeVideo(pixels);
    expect(features.imageEmbeds.shape).toEqual([1, 145, 128]);
    expect(features.imageEmbeds.data.every(Number.isFinite)).toBe(true);
    await qa.dispose();
  });
});
