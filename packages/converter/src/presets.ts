import type { Mplug2Config } from '@mplug2/core';

/** `configs/config_bert_large_text.json` of the reference repository. */
const BERT_LARGE = {
  hidden_size: 1024,
  num_attention_heads: 16,
  intermediate_size: 4096,
  num_hidden_layers: 24,
  layer_norm_eps: 1e-12,
  hidden_act: 'gelu' as const,
  vocab_size: 30522,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  pad_token_id: 0,
  encoder_width: 1024,
  text_encoder_layers: 24,
  fusion_layers: 6,
  text_decode_layers: 12,
  stride_layer: 1000,
  num_uni_layer: 2,
};

const VIDEO_LARGE = {
  clip_name: 'ViT-L-14',
  image_res: 224,
  model_num_frames: 16,
  test_num_frames: 16,
  vision_width: 1024,
  embed_dim: 256,
  k_test: 128,
  beam_size: 5,
  eos: '[SEP]',
  temporal_downsampling: false,
};

const qa = (): Mplug2Config => ({ kind: 'qa', model_config: { ...VIDEO_LARGE, min_length: 1, max_length: 10 }, bert_config: { ...BERT_LARGE } });
const caption = (): Mplug2Config => ({
  kind: 'caption',
  model_config: { ...VIDEO_LARGE, min_length: 4, max_length: 20, prompt: 'a video of' },
  bert_config: { ...BERT_LARGE },
});

/** Configs of the released checkpoints (the task yaml + BERT json values), so `--config` is optional for them. */
export const PRESETS: Record<string, { describe: string; config: () => Mplug2Config }> = {
  'videoqa-msrvtt-large': { describe: 'mPLUG2 VideoQA fine-tuned on MSRVTT-QA (large)', config: qa },
  'videoqa-msvd-large': { describe: 'mPLUG2 VideoQA fine-tuned on MSVD-QA (large)', config: qa },
  'caption-msrvtt-large': { describe: 'mPLUG2 captioning fine-tuned on MSRVTT (large)', config: caption },
  'caption-msvd-large': { describe: 'mPLUG2 captioning fine-tuned on MSVD (large)', config: caption },
  'pretrain-large': {
    describe: 'mPLUG2 pre-trained checkpoint (large); retrieval heads when present',
    config: () => ({ kind: 'pretrain', model_config: { ...VIDEO_LARGE, min_length: 1, max_length: 10 }, bert_config: { ...BERT_LARGE } }),
  },
};
