/**
 * Synthetic mPLUG-2 checkpoints: the exact tensor list (names, shapes, order, ties) an official
 * task checkpoint of a given config holds, and a streaming generator that writes it as a
 * torch.save file filled with seeded random weights — no downloads.
 *
 * Tensor names/shapes follow the architecture spec (§3.8 vision, §4.5 universal extras, §5.4 text
 * encoder, §6.4 fusion, §7.4 decoder, §10.3 key families, §11.3 retrieval heads); the order is the
 * PyTorch state-dict order of the reference model, checked against the golden checkpoints
 * (`fixtures/goldens/*_tiny/checkpoint.pth`). Where the goldens cannot tell (the `visn_fc` width
 * adapter, retrieval heads, momentum copies) the order is inferred from module registration order.
 */
import { CLIP_VISION_TOWERS, ConfigError, deriveDims, seed32, Xoshiro128, float32ToFloat16Bits, NUM_LATENTS, type Mplug2Config, type Task } from '@mplug2/core';
import { PRESETS } from '../presets.js';
import { writeTorchCheckpoint, type TorchTensorSource, type WriteTorchResult } from './torch-writer.js';

/** How a tensor's values are generated. */
export type InitRule =
  /** `mean + std·z`, z of unit variance (uniform on ±√3 by default, or normal). */
  | { readonly kind: 'random'; readonly mean: number; readonly std: number }
  | { readonly kind: 'const'; readonly value: number }
  /** 0, 1, 2, … (int64 `position_ids`). */
  | { readonly kind: 'arange' };

export interface Mplug2TensorSpec {
  readonly name: string;
  readonly dtype: 'float32' | 'int64';
  readonly shape: readonly number[];
  /** The earlier tensor whose storage this one shares (decoder LM head ↔ word embeddings / vocab bias). */
  readonly tiedTo?: string;
  /** Absent for tied tensors. */
  readonly init?: InitRule;
  /** Random stream name when it differs from `name` (momentum copies start equal to their model, as in training). */
  readonly seedName?: string;
}

/** Dims of the CLIP text tower the vision wrapper keeps (unused by the tasks, present in checkpoints). */
export interface ClipTextTowerDims {
  readonly width: number;
  readonly layers: number;
  readonly vocab: number;
  readonly context: number;
  /** CLIP joint embedding width: `text_projection (width, embedDim)`, `visual.proj (C, embedDim)`. Default: `width`. */
  readonly embedDim?: number;
}

export interface Mplug2SpecOptions {
  /** Vision blocks (not in the config: it comes from the CLIP weights). Default: the config's `derived.vision_layers`, else 24 for ViT-L, 12 for ViT-B. */
  readonly visionLayers?: number;
  /** `vision_proj`, `text_proj`, `itm_head`, `temp` (§11.3) — what a pretrained checkpoint may hold. */
  readonly withRetrievalHeads?: boolean;
  /** The `*_m` momentum copies a training checkpoint holds (§10.3). */
  readonly withMomentum?: boolean;
  /**
   * The CLIP text tower under `visual_encoder.` (§3.8). Default: the config's `clip_text_tower`
   * block when present (golden configs), else the tower of the config's CLIP model.
   * `false` leaves the tower (and `logit_scale`) out.
   */
  readonly clipTextTower?: ClipTextTowerDims | false;
}

const CLIP_TEXT_TOWER: Record<string, Required<ClipTextTowerDims>> = {
  'ViT-B-32': { width: 512, layers: 12, vocab: 49408, context: 77, embedDim: 512 },
  'ViT-B-16': { width: 512, layers: 12, vocab: 49408, context: 77, embedDim: 512 },
  'ViT-L-14': { width: 768, layers: 12, vocab: 49408, context: 77, embedDim: 768 },
  'ViT-L-14-336': { width: 768, layers: 12, vocab: 49408, context: 77, embedDim: 768 },
};

/** Reads a golden-style `clip_text_tower` block ({width, layers, vocab_size, context_length, embed_dim}). */
export function clipTextTowerFromConfig(config: Mplug2Config): ClipTextTowerDims | undefined {
  const raw = (config as Record<string, unknown>).clip_text_tower;
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  const int = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ConfigError('config', `clip_text_tower.${k} must be a positive integer`);
    return v;
  };
  return {
    width: int('width'),
    layers: int('layers'),
    vocab: int('vocab_size'),
    context: int('context_length'),
    embedDim: r.embed_dim === undefined ? undefined : int('embed_dim'),
  };
}

function defaultVisionLayers(config: Mplug2Config): number {
  const derived = (config as Record<string, unknown>).derived as Record<string, unknown> | undefined;
  const v = derived?.vision_layers;
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  const n = CLIP_VISION_TOWERS[config.model_config.clip_name]?.layers;
  if (!n) throw new ConfigError('config', `no default vision depth for clip_name '${config.model_config.clip_name}'; pass visionLayers`);
  return n;
}

/** Accumulates specs in state-dict order, with the init conventions used for every module. */
class Specs {
  readonly list: Mplug2TensorSpec[] = [];
  private readonly byName = new Map<string, Mplug2TensorSpec>();
  constructor(readonly initRange: number) {}

  add(name: string, shape: readonly number[], init: InitRule, dtype: 'float32' | 'int64' = 'float32'): void {
    if (this.byName.has(name)) throw new Error(`duplicate tensor ${name}`);
    for (const d of shape) if (!Number.isInteger(d) || d <= 0) throw new ConfigError('config', `tensor ${name} would have shape [${shape.join(', ')}]`);
    const s: Mplug2TensorSpec = { name, dtype, shape: [...shape], init };
    this.list.push(s);
    this.byName.set(name, s);
  }

  tie(name: string, target: string): void {
    const t = this.byName.get(target);
    if (!t) throw new Error(`tie target ${target} missing`);
    const s: Mplug2TensorSpec = { name, dtype: t.dtype, shape: t.shape, tiedTo: target };
    this.list.push(s);
    this.byName.set(name, s);
  }

  random(std: number, mean = 0): InitRule {
    return { kind: 'random', mean, std };
  }

  /** Linear `(out, in)`: weight N(0, 1/in) in variance, bias ≈ 0. */
  linear(prefix: string, out: number, inp: number): void {
    this.add(`${prefix}.weight`, [out, inp], this.random(1 / Math.sqrt(inp)));
    this.add(`${prefix}.bias`, [out], this.random(0.02));
  }

  /** LayerNorm: weight ≈ 1, bias ≈ 0 (small noise so that tests see non-trivial affine parameters). */
  layerNorm(prefix: string, dim: number): void {
    this.add(`${prefix}.weight`, [dim], this.random(0.02, 1));
    this.add(`${prefix}.bias`, [dim], this.random(0.02));
  }

  embedding(name: string, rows: number, dim: number): void {
    this.add(name, [rows, dim], this.random(this.initRange));
  }
}

interface BertDims {
  readonly hidden: number;
  readonly intermediate: number;
  readonly encoderWidth: number;
  readonly vocab: number;
  readonly maxPositions: number;
  readonly typeVocab: number;
}

function bertEmbeddings(s: Specs, prefix: string, d: BertDims): void {
  s.add(`${prefix}.position_ids`, [1, d.maxPositions], { kind: 'arange' }, 'int64');
  s.embedding(`${prefix}.word_embeddings.weight`, d.vocab, d.hidden);
  s.embedding(`${prefix}.position_embeddings.weight`, d.maxPositions, d.hidden);
  s.embedding(`${prefix}.token_type_embeddings.weight`, d.typeVocab, d.hidden);
  s.layerNorm(`${prefix}.LayerNorm`, d.hidden);
}

function bertAttention(s: Specs, prefix: string, hidden: number, kvWidth: number): void {
  s.linear(`${prefix}.self.query`, hidden, hidden);
  s.linear(`${prefix}.self.key`, hidden, kvWidth);
  s.linear(`${prefix}.self.value`, hidden, kvWidth);
  s.linear(`${prefix}.output.dense`, hidden, hidden);
  s.layerNorm(`${prefix}.output.LayerNorm`, hidden);
}

/**
 * One BERT layer: [latents] attention [crossattention] intermediate output [intermediate_vision output_vision].
 * Parameters owned by the layer itself (`latents`) come before its sub-modules, as in a state dict.
 */
function bertLayer(s: Specs, prefix: string, d: BertDims, o: { cross: boolean; latents: boolean; vision: boolean }): void {
  // Latents are used directly as hidden states by the universal layer: unit scale.
  if (o.latents) s.add(`${prefix}.latents`, [NUM_LATENTS, d.hidden], s.random(1));
  bertAttention(s, `${prefix}.attention`, d.hidden, d.hidden);
  if (o.cross) bertAttention(s, `${prefix}.crossattention`, d.hidden, d.encoderWidth);
  s.linear(`${prefix}.intermediate.dense`, d.intermediate, d.hidden);
  s.linear(`${prefix}.output.dense`, d.hidden, d.intermediate);
  s.layerNorm(`${prefix}.output.LayerNorm`, d.hidden);
  if (o.vision) {
    s.linear(`${prefix}.intermediate_vision.dense`, d.intermediate, d.hidden);
    s.linear(`${prefix}.output_vision.dense`, d.hidden, d.intermediate);
    s.layerNorm(`${prefix}.output_vision.LayerNorm`, d.hidden);
  }
}

/**
 * A BERT stack built from the mPLUG-2 BERT json (§4.2): layers with index ≥ N − U own
 * cross-attention, `*_vision` FFN copies, and layer N − U owns `latents`; `allCross` adds
 * cross-attention to every layer (decoder, fusion); `universal` false drops latents/`*_vision` (fusion).
 */
function bertEncoder(s: Specs, prefix: string, d: BertDims, layers: number, uni: number, allCross: boolean, universal: boolean): void {
  const first = layers - uni;
  for (let i = 0; i < layers; i++) {
    const isUni = universal && i >= first;
    bertLayer(s, `${prefix}.layer.${i}`, d, { cross: allCross || i >= first, latents: universal && i === first, vision: isUni });
  }
}

/** CLIP residual block (vision or text tower): attn, ln_1, mlp, ln_2. */
function clipBlock(s: Specs, prefix: string, width: number): void {
  s.add(`${prefix}.attn.in_proj_weight`, [3 * width, width], s.random(1 / Math.sqrt(width)));
  s.add(`${prefix}.attn.in_proj_bias`, [3 * width], s.random(0.02));
  s.linear(`${prefix}.attn.out_proj`, width, width);
  s.layerNorm(`${prefix}.ln_1`, width);
  s.linear(`${prefix}.mlp.c_fc`, 4 * width, width);
  s.linear(`${prefix}.mlp.c_proj`, width, 4 * width);
  s.layerNorm(`${prefix}.ln_2`, width);
}

/** LocalTemporal adapter (§3.4): LN, 1×1×1 down conv, depthwise temporal conv (3,1,1), 1×1×1 up conv. */
function localTemporal(s: Specs, prefix: string, width: number): void {
  const b = width / 2;
  s.layerNorm(`${prefix}.ln`, width);
  s.add(`${prefix}.down_proj.weight`, [b, width, 1, 1, 1], s.random(1 / Math.sqrt(width)));
  s.add(`${prefix}.down_proj.bias`, [b], s.random(0.02));
  s.add(`${prefix}.conv.weight`, [b, 1, 3, 1, 1], s.random(1 / Math.sqrt(3)));
  s.add(`${prefix}.conv.bias`, [b], s.random(0.02));
  s.add(`${prefix}.up_proj.weight`, [width, b, 1, 1, 1], s.random(1 / Math.sqrt(b)));
  s.add(`${prefix}.up_proj.bias`, [width], s.random(0.02));
}

function visionEncoder(s: Specs, prefix: string, config: Mplug2Config, layers: number, tower: Required<ClipTextTowerDims> | null, projDim: number): void {
  const m = config.model_config;
  const C = m.vision_width;
  const P = CLIP_VISION_TOWERS[m.clip_name]?.patch;
  const grid = m.image_res / P;
  // The wrapper's own parameters (CLIP text side) precede its `visual` sub-module.
  if (tower) {
    s.add(`${prefix}.positional_embedding`, [tower.context, tower.width], s.random(0.01));
    s.add(`${prefix}.text_projection`, [tower.width, tower.embedDim], s.random(1 / Math.sqrt(tower.width)));
    s.add(`${prefix}.logit_scale`, [], { kind: 'const', value: Math.log(1 / 0.07) });
  }
  const v = `${prefix}.visual`;
  s.add(`${v}.class_embedding`, [C], s.random(1 / Math.sqrt(C)));
  s.add(`${v}.positional_embedding`, [grid * grid + 1, C], s.random(1 / Math.sqrt(C)));
  s.add(`${v}.proj`, [C, projDim], s.random(1 / Math.sqrt(C)));
  s.add(`${v}.conv1.weight`, [C, 3, 1, P, P], s.random(1 / Math.sqrt(3 * P * P)));
  s.layerNorm(`${v}.ln_pre`, C);
  for (let i = 0; i < layers; i++) {
    const b = `${v}.transformer.resblocks.${i}`;
    localTemporal(s, `${b}.lmhra1`, C);
    localTemporal(s, `${b}.lmhra2`, C);
    clipBlock(s, b, C);
  }
  s.layerNorm(`${v}.ln_post`, C);
  if (tower) {
    for (let i = 0; i < tower.layers; i++) clipBlock(s, `${prefix}.transformer.resblocks.${i}`, tower.width);
    s.embedding(`${prefix}.token_embedding.weight`, tower.vocab, tower.width);
    s.layerNorm(`${prefix}.ln_final`, tower.width);
  }
}

/** The modules of one model copy (main or momentum `_m`), in state-dict order. */
function modelModules(s: Specs, sfx: string, config: Mplug2Config, visionLayers: number, tower: Required<ClipTextTowerDims> | null, projDim: number): void {
  const b = config.bert_config;
  const D = b.hidden_size;
  const C = config.model_config.vision_width;
  const d: BertDims = {
    hidden: D,
    intermediate: b.intermediate_size,
    encoderWidth: b.encoder_width ?? D,
    vocab: b.vocab_size,
    maxPositions: b.max_position_embeddings,
    typeVocab: b.type_vocab_size,
  };
  const U = b.num_uni_layer;
  s.layerNorm(`visn_emb_norm${sfx}`, D);
  if (C !== D) {
    s.linear(`visn_fc${sfx}`, D, C);
    s.layerNorm(`visn_layer_norm${sfx}`, D);
  }
  visionEncoder(s, `visual_encoder${sfx}`, config, visionLayers, tower, projDim);

  bertEmbeddings(s, `text_encoder${sfx}.embeddings`, d);
  bertEncoder(s, `text_encoder${sfx}.encoder`, d, b.text_encoder_layers, U, false, true);

  bertEmbeddings(s, `fusion_encoder${sfx}.embeddings`, d);
  bertEncoder(s, `fusion_encoder${sfx}.encoder`, d, b.num_hidden_layers, U, true, false);

  const dec = `text_decoder${sfx}`;
  bertEmbeddings(s, `${dec}.bert.embeddings`, d);
  bertEncoder(s, `${dec}.bert.encoder`, d, b.text_decode_layers, U, true, true);
  s.add(`${dec}.cls.predictions.bias`, [d.vocab], s.random(0.02));
  s.linear(`${dec}.cls.predictions.transform.dense`, D, D);
  s.layerNorm(`${dec}.cls.predictions.transform.LayerNorm`, D);
  s.tie(`${dec}.cls.predictions.decoder.weight`, `${dec}.bert.embeddings.word_embeddings.weight`);
  s.tie(`${dec}.cls.predictions.decoder.bias`, `${dec}.cls.predictions.bias`);
}

/**
 * Every tensor (name, dtype, shape, tie) an official checkpoint of `config` holds, in state-dict
 * order. Equal to the golden checkpoints' lists for the golden configs.
 */
export function mplug2TensorSpecs(config: Mplug2Config, options: Mplug2SpecOptions = {}): Mplug2TensorSpec[] {
  const visionLayers = options.visionLayers ?? defaultVisionLayers(config);
  deriveDims(config, visionLayers); // validates the config (patch size, widths, layer counts)
  const initRange = (config.bert_config as Record<string, unknown>).initializer_range;
  const s = new Specs(typeof initRange === 'number' && initRange > 0 ? initRange : 0.02);

  let tower: Required<ClipTextTowerDims> | null = null;
  let projDim: number;
  const clipDefault = CLIP_TEXT_TOWER[config.model_config.clip_name];
  if (options.clipTextTower === false) {
    projDim = clipDefault.embedDim;
  } else {
    const t = options.clipTextTower ?? clipTextTowerFromConfig(config) ?? clipDefault;
    tower = { ...t, embedDim: t.embedDim ?? t.width };
    projDim = tower.embedDim;
  }

  const heads = options.withRetrievalHeads === true;
  const embedDim = config.model_config.embed_dim ?? 256;
  const D = config.bert_config.hidden_size;
  // `temp` is a parameter of the model itself, so it precedes every sub-module [INFER, ALBEF/mPLUG layout].
  if (heads) s.add('temp', [], { kind: 'const', value: 0.07 });
  modelModules(s, '', config, visionLayers, tower, projDim);
  if (heads) {
    s.linear('vision_proj', embedDim, D);
    s.linear('text_proj', embedDim, D);
    s.linear('itm_head', 2, D);
  }
  if (options.withMomentum) {
    const m = new Specs(s.initRange);
    modelModules(m, '_m', config, visionLayers, tower, projDim);
    if (heads) {
      m.linear('vision_proj_m', embedDim, D);
      m.linear('text_proj_m', embedDim, D);
    }
    // Momentum copies start equal to the model (ALBEF `copy_params`): same random stream.
    for (const t of m.list) {
      const seedName = t.name.replace(/^([a-z_]+?)_m(?=\.|$)/, '$1');
      s.list.push(t.init && seedName !== t.name ? { ...t, seedName } : t);
    }
  }
  return s.list;
}

// ---------------------------------------------------------------------------------------------
// Generation

export interface GenerateCheckpointOptions extends Mplug2SpecOptions {
  readonly seed: number | string;
  /** Top-level key (default 'model', like the reference training scripts). */
  readonly wrapper?: 'model' | 'module' | null;
  /** Storage dtype of the float tensors (default float32; `position_ids` stay int64). */
  readonly dtype?: 'float32' | 'float16';
  /** Distribution of the random weights (default 'uniform': fast; 'normal': Box–Muller). */
  readonly distribution?: 'uniform' | 'normal';
  readonly archiveName?: string;
  readonly forceZip64?: boolean;
  readonly onProgress?: (event: { name: string; index: number; total: number; bytes: number }) => void;
}

export interface GenerateCheckpointResult extends WriteTorchResult {
  readonly specs: readonly Mplug2TensorSpec[];
  /** Parameters stored (tied tensors counted once). */
  readonly params: number;
}

/** Fills a float32 array per an init rule, from the tensor's own seeded stream. */
export function fillInit(out: Float32Array, rule: InitRule, seed: number, streamName: string, distribution: 'uniform' | 'normal' = 'uniform'): void {
  switch (rule.kind) {
    case 'const':
      out.fill(rule.value);
      return;
    case 'arange':
      for (let i = 0; i < out.length; i++) out[i] = i;
      return;
    case 'random': {
      const rng = Xoshiro128.forTensor(seed, streamName);
      if (distribution === 'normal') rng.fillNormal(out, rule.mean, rule.std);
      else rng.fillUniform(out, rule.mean, rule.std);
    }
  }
}

/** Tensor sources (data produced lazily, one tensor at a time) for the writer. */
export function syntheticSources(
  specs: readonly Mplug2TensorSpec[],
  seed: number | string,
  options: { dtype?: 'float32' | 'float16'; distribution?: 'uniform' | 'normal' } = {},
): TorchTensorSource[] {
  const s = seed32(seed);
  const half = options.dtype === 'float16';
  const dist = options.distribution ?? 'uniform';
  const dtypeOf = (t: Mplug2TensorSpec) => (t.dtype === 'int64' ? 'int64' : half ? 'float16' : 'float32');
  return specs.map((t): TorchTensorSource => {
    const base = { name: t.name, dtype: dtypeOf(t), shape: t.shape } as const;
    if (t.tiedTo !== undefined) return { ...base, tiedTo: t.tiedTo };
    const rule = t.init!;
    const stream = t.seedName ?? t.name;
    return {
      ...base,
      fill: (out) => {
        if (out instanceof BigInt64Array) {
          if (rule.kind === 'arange') for (let i = 0; i < out.length; i++) out[i] = BigInt(i);
          else if (rule.kind === 'const') out.fill(BigInt(Math.round(rule.value)));
          else throw new Error(`random init for int64 tensor ${t.name}`);
        } else if (out instanceof Float32Array) {
          fillInit(out, rule, s, stream, dist);
        } else {
          const tmp = new Float32Array(out.length);
          fillInit(tmp, rule, s, stream, dist);
          for (let i = 0; i < tmp.length; i++) out[i] = float32ToFloat16Bits(tmp[i]);
        }
      },
    };
  });
}

/**
 * Writes a torch.save checkpoint of `config` with seeded random weights, streaming (one tensor in
 * memory at a time), data.pkl first. Same seed and options → byte-identical file.
 */
export async function generateCheckpoint(file: string, config: Mplug2Config, options: GenerateCheckpointOptions): Promise<GenerateCheckpointResult> {
  const specs = mplug2TensorSpecs(config, options);
  const sources = syntheticSources(specs, options.seed, { dtype: options.dtype, distribution: options.distribution });
  let params = 0;
  for (const t of specs) if (t.tiedTo === undefined) params += t.shape.reduce((a, b) => a * b, 1);
  const total = specs.length;
  const result = await writeTorchCheckpoint(file, sources, {
    wrapper: options.wrapper === undefined ? 'model' : options.wrapper,
    archiveName: options.archiveName,
    forceZip64: options.forceZip64,
    onTensor: options.onProgress ? (e) => options.onProgress!({ ...e, total }) : undefined,
  });
  return { ...result, specs, params };
}

// ---------------------------------------------------------------------------------------------
// Configs

/** Vision depth of the tiny demo model (not part of the config: it is counted from the weights). */
export const TINY_DEMO_VISION_LAYERS = 2;
/** CLIP text tower of the tiny demo model (unused by the tasks; kept small). */
export const TINY_DEMO_CLIP_TEXT_TOWER: Required<ClipTextTowerDims> = { width: 64, layers: 1, vocab: 64, context: 8, embedDim: 32 };

/**
 * A tiny but complete config for the demo: every code path of the large model (ViT-L/14 patch,
 * local temporal adapters, 2 universal layers with 50 latents, fusion with unused slots, tied
 * decoder) at toy widths, with the full BERT vocabulary (30522) so the real tokenizer works.
 * Vision 64 wide (1 head), 2 blocks, 56 px (4×4 grid), 4 frames; BERT 64 wide, 4 heads, FFN 128,
 * 64 positions, text encoder 3 layers (2 universal), fusion 1 of 2 slots, decoder 2 layers.
 * The config carries `clip_text_tower` and `derived.vision_layers`, so `mplug2TensorSpecs` and
 * `generateCheckpoint` need no extra options for it.
 */
export function tinyDemoConfig(task: Task = 'qa'): Mplug2Config {
  const lengths = task === 'caption' ? { min_length: 4, max_length: 20, prompt: 'a video of' } : { min_length: 1, max_length: 10 };
  return {
    kind: task,
    model_config: {
      clip_name: 'ViT-L-14',
      image_res: 56,
      model_num_frames: 4,
      test_num_frames: 4,
      vision_width: 64,
      embed_dim: 32,
      k_test: 4,
      beam_size: 5,
      eos: '[SEP]',
      temporal_downsampling: false,
      ...lengths,
    },
    bert_config: {
      hidden_size: 64,
      num_attention_heads: 4,
      intermediate_size: 128,
      num_hidden_layers: 2,
      layer_norm_eps: 1e-12,
      hidden_act: 'gelu',
      vocab_size: 30522,
      max_position_embeddings: 64,
      type_vocab_size: 2,
      pad_token_id: 0,
      encoder_width: 64,
      initializer_range: 0.02,
      text_encoder_layers: 3,
      fusion_layers: 1,
      text_decode_layers: 2,
      stride_layer: 1000,
      num_uni_layer: 2,
    },
    clip_text_tower: {
      width: TINY_DEMO_CLIP_TEXT_TOWER.width,
      layers: TINY_DEMO_CLIP_TEXT_TOWER.layers,
      vocab_size: TINY_DEMO_CLIP_TEXT_TOWER.vocab,
      context_length: TINY_DEMO_CLIP_TEXT_TOWER.context,
      embed_dim: TINY_DEMO_CLIP_TEXT_TOWER.embedDim,
    },
    derived: { vision_layers: TINY_DEMO_VISION_LAYERS },
  };
}

const FULL_SIZE_PRESET: Record<Task, string> = {
  qa: 'videoqa-msrvtt-large',
  caption: 'caption-msrvtt-large',
  pretrain: 'pretrain-large',
};

/** Vision depth of the released models (ViT-L/14). */
export const FULL_SIZE_VISION_LAYERS = 24;

/** The released large config of a task (from the presets): ViT-L/14 224 px 16 frames, BERT-large. */
export function fullSizeConfig(task: Task = 'qa'): Mplug2Config {
  const preset = PRESETS[FULL_SIZE_PRESET[task]];
  if (!preset) throw new ConfigError('presets', `no preset for task '${task}'`);
  return preset.config();
}

/** Stored parameter count of a spec list (tied tensors once). */
export function countParams(specs: readonly Mplug2TensorSpec[], filter: (t: Mplug2TensorSpec) => boolean = () => true): number {
  let n = 0;
  for (const t of specs) if (t.tiedTo === undefined && filter(t)) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}
