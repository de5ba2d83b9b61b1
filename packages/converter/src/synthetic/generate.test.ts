import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { float16ToNumber, openCheckpoint, parseConfig, type Mplug2Config } from '@mplug2/core';
import { afterAll, describe, expect, it } from 'vitest';
import { countParams, fullSizeConfig, generateCheckpoint, mplug2TensorSpecs, syntheticSources, tinyDemoConfig, type Mplug2TensorSpec } from './generate.js';
import { checkTorchLayout } from '@mplug2/testing';
import { buildTorchPickle, planTorchTensors } from './torch-writer.js';

const GOLDENS = fileURLToPath(new URL('../../../../fixtures/goldens/', import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-synthetic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function goldenConfig(name: string): Mplug2Config {
  const file = path.join(GOLDENS, name, 'config.json');
  return parseConfig(JSON.parse(readFileSync(file, 'utf8')), file);
}

const sha256File = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
/** The bytes the generator produces for one (untied) tensor, computed in JS without the writer. */
function expectedArray(t: Mplug2TensorSpec, seed: number | string, dtype: 'float32' | 'float16'): Float32Array | Uint16Array | BigInt64Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const src = syntheticSources([t], seed, { dtype })[0];
  const out = src.dtype === 'int64' ? new BigInt64Array(n) : src.dtype === 'float16' ? new Uint16Array(n) : new Float32Array(n);
  void src.fill!(out);
  return out;
}
const sha256Of = (a: ArrayBufferView) =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');
const isVisionFfnCopy = (n: string) => n.includes('intermediate_vision.') || n.includes('output_vision.');

describe('mplug2TensorSpecs vs the golden checkpoints', () => {
  for (const name of ['videoqa_tiny', 'videocaption_tiny']) {
    it(`${name}: same names, dtypes, shapes, order and ties; byte-identical data.pkl`, () => {
      const config = goldenConfig(name);
      const raw = JSON.parse(readFileSync(path.join(GOLDENS, name, 'config.json'), 'utf8'));
      // vision depth and CLIP text tower come from the golden config (derived.vision_layers, clip_text_tower)
      const specs = mplug2TensorSpecs(config);
      const specsExplicit = mplug2TensorSpecs(config, {
        visionLayers: raw.golden_spec.vision_layers,
        clipTextTower: {
          width: raw.clip_text_tower.width,
          layers: raw.clip_text_tower.layers,
          vocab: raw.clip_text_tower.vocab_size,
          context: raw.clip_text_tower.context_length,
          embedDim: raw.clip_text_tower.embed_dim,
        },
      });
      expect(specsExplicit).toEqual(specs);

      const pklOut = path.join(dir, `${name}.data.pkl`);
      const golden = checkTorchLayout(path.join(GOLDENS, name, 'checkpoint.pth'), ['--extract-pickle', pklOut]);
      expect(specs.length).toBe(raw.checkpoint.num_tensors);
      // Exact order, not just the same set.
      expect(specs.map((t) => [t.name, t.dtype, t.shape])).toEqual(golden.tensors.map((t) => [t.name, t.dtype, t.shape]));
      expect(specs.filter((t) => t.tiedTo).map((t) => [t.tiedTo, t.name])).toEqual(golden.tied);
      // The golden count is over the float tensors of the state dict, tied names included.
      const goldenStyle = specs.filter((t) => t.dtype === 'float32').reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
      expect(goldenStyle).toBe(raw.checkpoint.num_params_saved);

      // The pickle we would write for this spec list is the golden data.pkl, byte for byte
      // (same storage keys, memo numbering, opcodes) — torch.save's own output.
      const ours = buildTorchPickle(planTorchTensors(specs), 'model');
      expect(Buffer.from(ours).equals(readFileSync(pklOut))).toBe(true);
    });
  }
});

describe('mplug2TensorSpecs, full size (released large config)', () => {
  const specs = mplug2TensorSpecs(fullSizeConfig('qa'));
  const sum = (f: (n: string) => boolean) => countParams(specs, (t) => f(t.name));
  const names = new Set(specs.map((t) => t.name));

  it('matches the parameter budget of the architecture spec §13.1', () => {
    const visual = (n: string) => n.startsWith('visual_encoder.visual.');
    expect(sum((n) => visual(n) && n !== 'visual_encoder.visual.proj')).toBe(353_781_760);
    expect(sum((n) => n === 'visual_encoder.visual.proj')).toBe(786_432);
    expect(sum((n) => n.startsWith('visual_encoder.') && !visual(n))).toBe(123_650_305); // CLIP text tower
    const te = (n: string) => n.startsWith('text_encoder.');
    expect(sum((n) => te(n) && !isVisionFfnCopy(n) && !n.endsWith('position_ids'))).toBe(342_544_384);
    expect(sum((n) => te(n) && isVisionFfnCopy(n))).toBe(16_791_552);
    const slot = (n: string) => Number(/^fusion_encoder\.encoder\.layer\.(\d+)\./.exec(n)?.[1] ?? -1);
    expect(sum((n) => slot(n) >= 18)).toBe(100_780_032);
    expect(sum((n) => n.startsWith('fusion_encoder.') && slot(n) < 18 && !n.endsWith('position_ids'))).toBe(334_123_008);
    const dec = (n: string) => n.startsWith('text_decoder.');
    const decUnused = (n: string) => isVisionFfnCopy(n) || n.endsWith('.latents');
    expect(sum((n) => dec(n) && !decUnused(n) && !n.endsWith('position_ids'))).toBe(234_425_146);
    expect(sum((n) => dec(n) && decUnused(n))).toBe(16_842_752);
    expect(sum((n) => n.startsWith('visn_emb_norm.'))).toBe(2048);
    const total = countParams(specs);
    expect(total).toBe(353_781_760 + 786_432 + 123_650_305 + 342_544_384 + 16_791_552 + 100_780_032 + 334_123_008 + 234_425_146 + 16_842_752 + 2048 + 3 * 512);
    // ≈ 1.52 B parameters ≈ 6.1 GB of fp32 storages
    expect(total * 4).toBeGreaterThan(6.0e9);
    expect(total * 4).toBeLessThan(6.2e9);
  });

  it('has the converter shape assertions of §10.6', () => {
    const shape = (n: string) => specs.find((t) => t.name === n)!.shape;
    expect(shape('visual_encoder.visual.conv1.weight')).toEqual([1024, 3, 1, 14, 14]);
    expect(shape('visual_encoder.visual.positional_embedding')).toEqual([257, 1024]);
    expect(shape('visual_encoder.visual.proj')).toEqual([1024, 768]);
    expect(shape('visual_encoder.positional_embedding')).toEqual([77, 768]);
    expect(shape('visual_encoder.token_embedding.weight')).toEqual([49408, 768]);
    for (let i = 0; i < 24; i++) {
      expect(names.has(`visual_encoder.visual.transformer.resblocks.${i}.lmhra1.conv.weight`)).toBe(true);
      expect(names.has(`visual_encoder.visual.transformer.resblocks.${i}.lmhra2.up_proj.weight`)).toBe(true);
      expect(names.has(`text_encoder.encoder.layer.${i}.crossattention.self.key.weight`)).toBe(i >= 22);
      expect(names.has(`text_encoder.encoder.layer.${i}.latents`)).toBe(i === 22);
      expect(names.has(`fusion_encoder.encoder.layer.${i}.crossattention.self.key.weight`)).toBe(true);
    }
    expect(names.has('visual_encoder.visual.transformer.resblocks.24.ln_1.weight')).toBe(false);
    expect(shape('text_encoder.encoder.layer.22.latents')).toEqual([50, 1024]);
    for (let i = 0; i < 12; i++) {
      expect(names.has(`text_decoder.bert.encoder.layer.${i}.crossattention.self.value.weight`)).toBe(true);
      expect(names.has(`text_decoder.bert.encoder.layer.${i}.latents`)).toBe(i === 10);
      expect(names.has(`text_decoder.bert.encoder.layer.${i}.output_vision.dense.weight`)).toBe(i >= 10);
    }
    expect(names.has('text_decoder.bert.encoder.layer.12.attention.self.query.weight')).toBe(false);
    expect(specs.find((t) => t.name === 'text_decoder.cls.predictions.decoder.weight')!.tiedTo).toBe('text_decoder.bert.embeddings.word_embeddings.weight');
    expect(specs.find((t) => t.name === 'text_decoder.cls.predictions.decoder.bias')!.tiedTo).toBe('text_decoder.cls.predictions.bias');
    expect(shape('text_encoder.embeddings.position_ids')).toEqual([1, 512]);
    expect(specs.find((t) => t.name === 'text_encoder.embeddings.position_ids')!.dtype).toBe('int64');
    expect([...names].some((n) => n.startsWith('visn_fc') || n.startsWith('visn_layer_norm'))).toBe(false);
    expect([...names].some((n) => n.startsWith('pooler') || n.includes('.pooler.'))).toBe(false);
  });

  it('retrieval heads (§11.3) and momentum copies on request', () => {
    const withHeads = mplug2TensorSpecs(fullSizeConfig('pretrain'), { withRetrievalHeads: true });
    expect(withHeads[0]).toMatchObject({ name: 'temp', shape: [], init: { kind: 'const', value: 0.07 } });
    const shape = (n: string) => withHeads.find((t) => t.name === n)?.shape;
    expect(shape('vision_proj.weight')).toEqual([256, 1024]);
    expect(shape('vision_proj.bias')).toEqual([256]);
    expect(shape('text_proj.weight')).toEqual([256, 1024]);
    expect(shape('itm_head.weight')).toEqual([2, 1024]);
    expect(shape('itm_head.bias')).toEqual([2]);
    expect(withHeads.length).toBe(specs.length + 7);

    const tiny = tinyDemoConfig('qa');
    const plain = mplug2TensorSpecs(tiny);
    const mom = mplug2TensorSpecs(tiny, { withMomentum: true });
    expect(mom.length).toBe(2 * plain.length);
    const copy = mom.slice(plain.length);
    expect(copy.map((t) => t.name.replace(/^([a-z_]+?)_m\./, '$1.'))).toEqual(plain.map((t) => t.name));
    expect(copy.find((t) => t.name === 'text_decoder_m.cls.predictions.decoder.weight')!.tiedTo).toBe('text_decoder_m.bert.embeddings.word_embeddings.weight');
    // Momentum weights start equal to the model's (same random stream).
    const srcs = syntheticSources(mom, 7);
    const values = (name: string) => {
      const s = srcs.find((t) => t.name === name)!;
      const out = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
      void s.fill!(out);
      return out;
    };
    expect(values('text_encoder_m.encoder.layer.1.latents')).toEqual(values('text_encoder.encoder.layer.1.latents'));
  });

  it('width adapter visn_fc / visn_layer_norm when vision width ≠ BERT hidden (§4.1)', () => {
    const c = tinyDemoConfig('qa');
    const wide: Mplug2Config = { ...c, model_config: { ...c.model_config, vision_width: 128 } };
    const s = mplug2TensorSpecs(wide);
    expect(s.slice(0, 6).map((t) => [t.name, t.shape])).toEqual([
      ['visn_emb_norm.weight', [64]],
      ['visn_emb_norm.bias', [64]],
      ['visn_fc.weight', [64, 128]],
      ['visn_fc.bias', [64]],
      ['visn_layer_norm.weight', [64]],
      ['visn_layer_norm.bias', [64]],
    ]);
    expect(s.find((t) => t.name === 'visual_encoder.visual.transformer.resblocks.0.lmhra1.down_proj.weight')!.shape).toEqual([64, 128, 1, 1, 1]);
  });
});

describe('generateCheckpoint', () => {
  it('tiny demo config: full BERT vocab, retrieval heads, torch layout, deterministic per seed', async () => {
    const config = tinyDemoConfig('qa');
    const a = path.join(dir, 'demo_a.pth');
    const b = path.join(dir, 'demo_b.pth');
    const c = path.join(dir, 'demo_c.pth');
    const t0 = performance.now();
    const res = await generateCheckpoint(a, config, { seed: 1234, withRetrievalHeads: true, archiveName: 'demo' });
    const ms = performance.now() - t0;
    await generateCheckpoint(b, config, { seed: 1234, withRetrievalHeads: true, archiveName: 'demo' });
    await generateCheckpoint(c, config, { seed: 1235, withRetrievalHeads: true, archiveName: 'demo' });
    expect(sha256File(a)).toBe(sha256File(b));
    expect(sha256File(a)).not.toBe(sha256File(c));
    expect(ms).toBeLessThan(5000);

    const report = checkTorchLayout(a, ['--sha256']);
    expect(report.wrapper).toBe('model');
    expect(report.tensors.map((t) => [t.name, t.shape])).toEqual(res.specs.map((t) => [t.name, t.shape]));
    expect(report.tied).toEqual([
      ['text_decoder.bert.embeddings.word_embeddings.weight', 'text_decoder.cls.predictions.decoder.weight'],
      ['text_decoder.cls.predictions.bias', 'text_decoder.cls.predictions.decoder.bias'],
    ]);
    const shape = (n: string) => report.tensors.find((t) => t.name === n)!.shape;
    expect(shape('text_encoder.embeddings.word_embeddings.weight')).toEqual([30522, 64]);
    expect(shape('text_decoder.cls.predictions.bias')).toEqual([30522]);
    expect(shape('visual_encoder.visual.positional_embedding')).toEqual([17, 64]);
    expect(shape('visual_encoder.visual.conv1.weight')).toEqual([64, 3, 1, 14, 14]);
    expect(shape('vision_proj.weight')).toEqual([32, 64]);
    expect(shape('itm_head.weight')).toEqual([2, 64]);
    expect(shape('temp')).toEqual([]);
    expect(shape('fusion_encoder.encoder.layer.1.crossattention.self.key.weight')).toEqual([64, 64]);
    expect(report.tensors.some((t) => t.name === 'fusion_encoder.encoder.layer.2.attention.self.key.weight')).toBe(false);
    // Different seeds change every random tensor, but not constants or position ids.
    const other = checkTorchLayout(c, ['--sha256']);
    for (const t of res.specs) {
      const same = report.sha256![t.name] === other.sha256![t.name];
      expect(same, t.name).toBe(t.init?.kind !== 'random' && !(t.tiedTo && res.specs.find((x) => x.name === t.tiedTo)!.init!.kind === 'random'));
    }
  });

  it('values: finite, sensible scales, position ids 0..max-1, constants; bytes equal the JS generator', async () => {
    const config = goldenConfig('videocaption_tiny');
    const file = path.join(dir, 'caption_like.pth');
    const res = await generateCheckpoint(file, config, { seed: 'values', withRetrievalHeads: true });
    const { stats, sha256 } = checkTorchLayout(file, ['--stats', '--sha256']);
    for (const t of res.specs) {
      const s = stats![t.name];
      expect(s.finite, t.name).toBe(true);
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.init?.kind === 'random' && n >= 4096) {
        expect(Math.abs(s.mean! - t.init.mean), t.name).toBeLessThan((4 * t.init.std) / Math.sqrt(n) + 1e-6);
        expect(s.std! / t.init.std, t.name).toBeGreaterThan(0.95);
        expect(s.std! / t.init.std, t.name).toBeLessThan(1.05);
      }
      if (!t.tiedTo) expect(sha256![t.name], t.name).toBe(sha256Of(expectedArray(t, 'values', 'float32')));
    }
    expect(stats!['text_encoder.embeddings.position_ids']).toMatchObject({ min: 0, max: 31, head: [0, 1, 2, 3, 4, 5, 6, 7] });
    expect(stats!['visual_encoder.logit_scale'].head![0]).toBeCloseTo(Math.log(1 / 0.07), 6);
    expect(stats!.temp.head![0]).toBeCloseTo(0.07, 7);
    expect(stats!['visual_encoder.visual.ln_post.weight'].min).toBeGreaterThan(0.9);
    expect(stats!['visual_encoder.visual.ln_post.weight'].max).toBeLessThan(1.1);
    // Weight matrices ~ N(0, 1/fan_in): c_proj has fan_in 4·64 → std 1/16.
    expect(stats!['visual_encoder.visual.transformer.resblocks.0.mlp.c_proj.weight'].std).toBeCloseTo(1 / 16, 2);
    expect(sha256!['text_decoder.cls.predictions.decoder.weight']).toBe(sha256!['text_decoder.bert.embeddings.word_embeddings.weight']);
  });

  it('float16 storages (HalfStorage) hold the rounded float32 weights; wrapper module', async () => {
    const config = goldenConfig('videocaption_tiny');
    const file = path.join(dir, 'cap16.pth');
    const res = await generateCheckpoint(file, config, { seed: 5, dtype: 'float16', wrapper: 'module' });
    const report = checkTorchLayout(file, ['--sha256']);
    expect(report.wrapper).toBe('module');
    for (const t of report.tensors) expect(t.dtype, t.name).toBe(t.name.endsWith('position_ids') ? 'int64' : 'float16');
    for (const t of res.specs) if (!t.tiedTo) expect(report.sha256![t.name], t.name).toBe(sha256Of(expectedArray(t, 5, 'float16')));
    // spot-check the conversion itself
    const ln = expectedArray(res.specs.find((t) => t.name === 'visn_emb_norm.weight')!, 5, 'float32') as Float32Array;
    const ln16 = expectedArray(res.specs.find((t) => t.name === 'visn_emb_norm.weight')!, 5, 'float16') as Uint16Array;
    for (let i = 0; i < ln.length; i++) expect(Math.abs(float16ToNumber(ln16[i]) - ln[i])).toBeLessThanOrEqual(2 ** -11);
  });

  it('reads back through @mplug2/core openCheckpoint (tied LM head shares storage)', async () => {
    const file = path.join(dir, 'demo_core.pth');
    const res = await generateCheckpoint(file, tinyDemoConfig('caption'), { seed: 99 });
    const ckpt = await openCheckpoint(file);
    try {
      expect(ckpt.list().map((t) => [t.name, t.dtype, [...t.shape]])).toEqual(res.specs.map((t) => [t.name, t.dtype, t.shape]));
      expect(ckpt.sharesStorage('text_decoder.cls.predictions.decoder.weight', 'text_decoder.bert.embeddings.word_embeddings.weight')).toBe(true);
      const spec = res.specs.find((t) => t.name === 'text_encoder.encoder.layer.1.latents')!;
      const want = new Float32Array(50 * 64);
      void syntheticSources([spec], 99)[0].fill!(want);
      expect(Array.from((await ckpt.read(spec.name)) as Float32Array)).toEqual(Array.from(want));
      const ids = (await ckpt.read('text_decoder.bert.embeddings.position_ids')) as BigInt64Array;
      expect(Array.from(ids, Number)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    } finally {
      await ckpt.close();
    }
  });

  it('spec → generation: tensor byte sizes add up to the file (no hidden copies)', async () => {
    const file = path.join(dir, 'sizes.pth');
    const res = await generateCheckpoint(file, goldenConfig('videoqa_tiny'), { seed: 1 });
    // golden num_params_saved (float tensors, tied names included) − tied copies + int64 position ids
    expect(res.params).toBe(2_140_097 - (192 * 128 + 192) + 3 * 32);
    const dataBytes = res.entries.filter((e) => e.name.includes('/data/')).reduce((a, e) => a + e.size, 0);
    const bytesOf = (t: Mplug2TensorSpec) => t.shape.reduce((a, b) => a * b, 1) * (t.dtype === 'int64' ? 8 : 4);
    expect(dataBytes).toBe(res.specs.filter((t) => !t.tiedTo).reduce((a, t) => a + bytesOf(t), 0));
  });
});
