import { describe, it, expect } from 'vitest';
import { readSt } from '/tmp/dev/st';
import { MemoryWeightSink, ModuleSession, WeightPlan, deriveDims, parseConfig, tensor, maxAbsDiff } from '@mplug2/core';
import { buildVisionEncoderGraph } from '@mplug2/vision-encoder';
import { buildUniversalGraph } from '@mplug2/universal';
import { buildTextEncoderGraph } from '@mplug2/text-encoder';
import { buildFusionGraph } from '@mplug2/fusion';
import { buildDecoderGraph, buildDecoderMemoryGraph } from '@mplug2/decoder';
import fs from 'node:fs';

describe('dev', () => {
  it('qa', async () => {
    const w = readSt('/tmp/dev/qa_weights.safetensors');
    const fx = readSt('fixtures/goldens/videoqa_tiny/fixtures.safetensors');
    const cfg = parseConfig(JSON.parse(fs.readFileSync('fixtures/goldens/videoqa_tiny/config.json', 'utf8')), 'cfg');
    const layers = new Set(w.keys.filter((k) => k.startsWith('visual_encoder.visual.transformer.resblocks.')).map((k) => k.split('.')[4])).size;
    const dims = deriveDims(cfg, layers);
    const plan = new WeightPlan(w as any);
    const graphs = {
      vision: buildVisionEncoderGraph(plan, dims),
      universal: buildUniversalGraph(plan, dims),
      text: buildTextEncoderGraph(plan, dims),
      fusion: buildFusionGraph(plan, dims),
      mem: buildDecoderMemoryGraph(plan, dims),
      prefill: buildDecoderGraph(plan, dims, false, { tiedLmHead: true }),
    };
    const sink = new MemoryWeightSink();
    await plan.write(sink);
    const ext = [...sink.files.keys()].map((f) => ({ path: f, data: sink.bytes(f) }));
    const sess = async (g: any) => ModuleSession.create(g.toBytes(), { externalData: ext });
    const T = (k: string) => { const r = fx.get(k); return tensor(r.data instanceof Float32Array ? 'float32' : 'int64', r.shape.map((_: any, i: number) => `d${i}`), r.shape, r.data as any); };
    const cmp = (name: string, got: any) => { const d = maxAbsDiff(got.data, fx.get(name).data as any); console.log(name, d); return d; };
    const vis = await (await sess(graphs.vision)).run({ pixel_values: T('input.video') });
    cmp('visual.out', vis.video_states);
    const uni = await (await sess(graphs.universal)).run({ video_states: vis.video_states });
    cmp('v_module.out', uni.universal_out); cmp('image_embeds', uni.image_embeds);
    const text = await (await sess(graphs.text)).run({ input_ids: T('input.question_ids'), attention_mask: T('input.question_mask') });
    cmp('text.out', text.text_states);
    const ones = tensor('int64', ['b', 'n'], [2, 65], new BigInt64Array(130).fill(1n));
    const fus = await (await sess(graphs.fusion)).run({ text_states: text.text_states, text_mask: T('input.question_mask'), image_embeds: uni.image_embeds, image_mask: ones });
    cmp('fusion.text_out', fus.fusion_text); cmp('fusion.merged_states', fus.merged_states);
    const mem = await (await sess(graphs.mem)).run({ memory: fus.merged_states });
    const dec = await (await sess(graphs.prefill)).run({ input_ids: T('input.tf_answer_ids'), attention_mask: T('input.tf_answer_mask'), memory_mask: fus.merged_mask, ...mem });
    cmp('decoder_tf.logits', dec.logits);
  });
});
