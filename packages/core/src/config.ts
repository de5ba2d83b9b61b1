import { z } from 'zod';
import { ConfigError } from './errors.js';

/** What a checkpoint was trained for, which decides the modules a model has (one list for the config, manifest, converter and CLI). */
export const TASKS = ['qa', 'caption', 'pretrain'] as const;
export type Task = (typeof TASKS)[number];

/**
 * The conversion config: `model_config` holds the reference yaml/argparse values, `bert_config`
 * the BERT json — the layout of the golden `config.json` and of the released configs.
 */
export const ModelConfigSchema = z.looseObject({
  clip_name: z.string().default('ViT-L-14'),
  image_res: z.number().int().positive(),
  model_num_frames: z.number().int().positive(),
  test_num_frames: z.number().int().positive().optional(),
  vision_width: z.number().int().positive(),
  embed_dim: z.number().int().positive().optional(),
  k_test: z.number().int().positive().optional(),
  beam_size: z.number().int().positive().default(5),
  min_length: z.number().int().nonnegative().optional(),
  max_length: z.number().int().positive().optional(),
  prompt: z.string().optional(),
  eos: z.string().default('[SEP]'),
  temporal_downsampling: z.boolean().default(false),
});

export const BertConfigSchema = z.looseObject({
  hidden_size: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  layer_norm_eps: z.number().positive().default(1e-12),
  hidden_act: z.literal('gelu').default('gelu'),
  vocab_size: z.number().int().positive(),
  max_position_embeddings: z.number().int().positive(),
  type_vocab_size: z.number().int().positive().default(2),
  pad_token_id: z.number().int().default(0),
  encoder_width: z.number().int().positive().optional(),
  text_encoder_layers: z.number().int().positive(),
  fusion_layers: z.number().int().nonnegative(),
  text_decode_layers: z.number().int().positive(),
  stride_layer: z.number().int().positive().default(1000),
  num_uni_layer: z.number().int().nonnegative(),
});

export const Mplug2ConfigSchema = z.looseObject({
  kind: z.enum(TASKS).optional(),
  model_config: ModelConfigSchema,
  bert_config: BertConfigSchema,
});

export type Mplug2Config = z.infer<typeof Mplug2ConfigSchema>;

/** Number of learned latents of the first universal layer (hard-coded in the reference). */
export const NUM_LATENTS = 50;

export interface VisionDims {
  readonly width: number;
  readonly layers: number;
  readonly heads: number;
  readonly patch: number;
  readonly imageRes: number;
  readonly frames: number;
  readonly grid: number;
  readonly patchesPerFrame: number;
  /** `1 + frames·patchesPerFrame` */
  readonly tokens: number;
  readonly eps: number;
}

export interface TextDims {
  readonly hidden: number;
  readonly heads: number;
  readonly intermediate: number;
  readonly eps: number;
  readonly vocab: number;
  readonly maxPositions: number;
  readonly typeVocab: number;
  readonly encoderWidth: number;
  readonly encoderLayers: number;
  readonly uniLayers: number;
  readonly fusionSlots: number;
  readonly fusionLayers: number;
  readonly strideLayer: number;
  readonly decoderLayers: number;
  readonly numLatents: number;
}

export interface ModelDims {
  readonly vision: VisionDims;
  readonly text: TextDims;
  /** `visn_fc` + `visn_layer_norm` run when the vision width differs from the text width. */
  readonly visionAdapter: boolean;
}

/** The CLIP vision towers mPLUG-2 configs name (`clip_name`): patch size and depth of the released weights. One table for dims, the converter and synthetic checkpoints. */
export const CLIP_VISION_TOWERS: Readonly<Record<string, { readonly patch: number; readonly layers: number }>> = {
  'ViT-B-32': { patch: 32, layers: 12 },
  'ViT-B-16': { patch: 16, layers: 12 },
  'ViT-L-14': { patch: 14, layers: 24 },
  'ViT-L-14-336': { patch: 14, layers: 24 },
};

export function parseConfig(raw: unknown, source: string): Mplug2Config {
  const r = Mplug2ConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(source, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  return r.data;
}

/**
 * All dims of a model. The number of vision blocks is not in the config (it comes from the CLIP
 * weights), so it is passed in, counted from the checkpoint.
 */
export function deriveDims(config: Mplug2Config, visionLayers: number, source = 'config'): ModelDims {
  const m = config.model_config;
  const b = config.bert_config;
  const patch = CLIP_VISION_TOWERS[m.clip_name]?.patch;
  if (!patch) throw new ConfigError(source, `model_config.clip_name '${m.clip_name}' is not one of ${Object.keys(CLIP_VISION_TOWERS).join(', ')}`);
  if (m.temporal_downsampling) throw new ConfigError(source, 'model_config.temporal_downsampling=true is not supported (the released models use false)');
  if (m.image_res % patch !== 0) throw new ConfigError(source, `model_config.image_res ${m.image_res} is not a multiple of the patch size ${patch}`);
  if (m.vision_width % 64 !== 0) throw new ConfigError(source, `model_config.vision_width ${m.vision_width} is not a multiple of the CLIP head size 64`);
  if (b.hidden_size % b.num_attention_heads !== 0)
    throw new ConfigError(source, `bert_config.hidden_size ${b.hidden_size} is not divisible by num_attention_heads ${b.num_attention_heads}`);
  if (b.num_uni_layer > b.text_encoder_layers)
    throw new ConfigError(source, `bert_config.num_uni_layer ${b.num_uni_layer} exceeds text_encoder_layers ${b.text_encoder_layers}`);
  if (b.fusion_layers > b.num_hidden_layers)
    throw new ConfigError(source, `bert_config.fusion_layers ${b.fusion_layers} exceeds num_hidden_layers ${b.num_hidden_layers}`);
  const grid = m.image_res / patch;
  const frames = m.model_num_frames;
  return {
    vision: {
      width: m.vision_width,
      layers: visionLayers,
      heads: m.vision_width / 64,
      patch,
      imageRes: m.image_res,
      frames,
      grid,
      patchesPerFrame: grid * grid,
      tokens: 1 + frames * grid * grid,
      eps: 1e-5,
    },
    text: {
      hidden: b.hidden_size,
      heads: b.num_attention_heads,
      intermediate: b.intermediate_size,
      eps: b.layer_norm_eps,
      vocab: b.vocab_size,
      maxPositions: b.max_position_embeddings,
      typeVocab: b.type_vocab_size,
      encoderWidth: b.encoder_width ?? b.hidden_size,
      encoderLayers: b.text_encoder_layers,
      uniLayers: b.num_uni_layer,
      fusionSlots: b.num_hidden_layers,
      fusionLayers: b.fusion_layers,
      strideLayer: b.stride_layer,
      decoderLayers: b.text_decode_layers,
      numLatents: NUM_LATENTS,
    },
    visionAdapter: m.vision_width !== b.hidden_size,
  };
}
