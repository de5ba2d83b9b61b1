import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ModuleSession, downloadTensor, prng, isDeviceTensor, maxAbsDiff, probeBackend, tensor, type DeviceTensor } from '@mplug2/core';
import { convertCheckpoint, generateCheckpoint, tinyDemoConfig } from '@mplug2/converter';
import { Captioner, Retriever, VideoQA, selectRows, type VideoFeatures } from '@mplug2/tasks';
import { Fixtures, goldenModel } from '../helpers/golden';
import { useSwiftShaderVulkan } from './webgpu-env';

/**
 * The task pipelines on webgpu keep module boundaries in GPU memory: vision `video_states` →
 * universal, `image_embeds` → fusion / decoder memory, `text_states` → fusion, `merged_states` →
 * decoder memory; the decoder's cross K/V stay there from the memory graph on (memory sample
 * selection is a GPU gather). Checked by recording every `ModuleSession.run` (which feeds came from JS
 * memory, which outputs were downloaded to JS, which stayed on the GPU and whether they were released),
 * with the answers / captions / rankings equal to cpu and the goldens.
 */
useSwiftShaderVulkan();
const webgpuError = await probeBackend('webgpu');
if (webgpuError) process.stderr.write(`[pipeline-device] node webgpu unavailable, these cases are skipped: ${webgpuError}\n`);

interface SessionTrace {
  /** `session.input` of every non-empty float tensor fed from JS memory (uploaded by onnxruntime). */
  readonly floatFeedsFromJs: string[];
  /** `session.output` of every float output downloaded to JS. */
  readonly floatOutputsToJs: string[];
  /** `session.input` of every tensor fed from GPU memory. */
  readonly deviceFeeds: string[];
  /** Every output kept in GPU memory. */
  readonly deviceOutputs: DeviceTensor[];
}

const runSession = ModuleSession.prototype.run;

function traceSessions(): SessionTrace {
  const trace: SessionTrace = { floatFeedsFromJs: [], floatOutputsToJs: [], deviceFeeds: [], deviceOutputs: [] };
  vi.spyOn(ModuleSession.prototype, 'run').mockImplementation(async function (this: ModuleSession, feeds, ...rest) {
    for (const [name, t] of Object.entries(feeds)) {
      if (isDeviceTensor(t)) trace.deviceFeeds.push(`${this.label}.${name}`);
      else if (t.dtype === 'float32' && t.data.length > 0) trace.floatFeedsFromJs.push(`${this.label}.${name}`);
    }
    const out = await runSession.call(this, feeds, ...rest);
    for (const [name, t] of Object.entries(out)) {
      if (isDeviceTensor(t)) trace.deviceOutputs.push(t);
      else if (t.dtype === 'float32') trace.floatOutputsToJs.push(`${this.label}.${name}`);
    }
    return out;
  });
  return trace;
}

afterEach(() => vi.restoreAllMocks());

/** Golden beam ids per sample, trimmed to their lengths (the leading [CLS] included). */
async function goldenBeamIds(fx: Fixtures): Promise<number[][]> {
  const lengths = (await fx.ids('beam.lengths')).flat();
  return (await fx.ids('beam.ids')).map((row, i) => row.slice(0, lengths[i]));
}

/** The only float tensors reaching JS are the decoder's logits of each step: the cross K/V feed every step from the GPU. */
function expectOnlyDecoderDownloads(trace: SessionTrace): void {
  expect(trace.floatOutputsToJs.length).toBeGreaterThan(0);
  for (const n of trace.floatOutputsToJs) expect(n).toMatch(/^decoder\.(step|prefill)\.logits$/);
  for (const kv of ['cross_key_0', 'cross_value_0']) expect(trace.deviceFeeds).toContain(`decoder.step.${kv}`);
}

/** Labels of the GPU outputs of the traced runs not released yet (intermediates, cross K/V, memory selections, KV caches). */
const unreleased = (trace: SessionTrace) => trace.deviceOutputs.filter((t) => !t.disposed).map((t) => t.label);

describe.skipIf(webgpuError !== null)('task pipelines keep module boundaries in GPU memory (webgpu)', () => {
  it('VideoQA: same answers as cpu and the golden, with every module boundary on the GPU', async () => {
    const model = await goldenModel('videoqa_tiny', { fusedAttention: false });
    const fx = await Fixtures.open('videoqa_tiny');
    const video = await fx.float('input.video');
    const questionIds = await fx.ids('input.question_ids');
    const questionMask = await fx.ids('input.question_mask');
    const golden = await goldenBeamIds(fx);
    const goldenEmbeds = await fx.float('image_embeds');
    await fx.close();

    const run = async (backend: 'cpu' | 'webgpu') => {
      const qa = await VideoQA.load(model, { backend });
      // The golden's question word ids are synthetic (ids of a small vocabulary no text maps to): feed them as the tokenizer's output.
      vi.spyOn(qa.tokenizer, 'encodeQuestions').mockImplementation((qs) => {
        const rows = qs.map((q) => Number(q.slice(1)));
        return { inputIds: rows.map((r) => questionIds[r]), attentionMask: rows.map((r) => questionMask[r]), texts: [...qs] } as never;
      });
      const trace = traceSessions();
      // Question i about video i: the identity row selection.
      const paired = await qa.ask(video, ['q0', 'q1']);
      vi.mocked(ModuleSession.prototype.run).mockRestore();
      const pairedUnreleased = unreleased(trace);
      const features = await qa.encodeVideo(video);
      const onDevice = isDeviceTensor(features.imageEmbeds) && isDeviceTensor(features.videoStates);
      // Both questions about video 0 from reused features: its image_embeds row repeated (a GPU gather on webgpu).
      const first: VideoFeatures = {
        ...features,
        imageEmbeds: await qa.visual.selectRows(features.imageEmbeds, [0]),
        imageMask: selectRows(features.imageMask, [0]),
      };
      const gatherTrace = traceSessions();
      const repeated = await qa.ask(first, ['q0', 'q1']);
      vi.mocked(ModuleSession.prototype.run).mockRestore();
      const repeatedUnreleased = unreleased(gatherTrace);
      const embeds = (await downloadTensor(features.imageEmbeds)).data.slice();
      await qa.dispose();
      return { paired, repeated, trace, gatherTrace, onDevice, embeds, pairedUnreleased, repeatedUnreleased };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');

    expect(gpu.paired.map((r) => r.ids)).toEqual(golden);
    expect(cpu.paired.map((r) => r.ids)).toEqual(golden);
    expect(gpu.paired.map((r) => r.answer)).toEqual(cpu.paired.map((r) => r.answer));
    expect(gpu.repeated.map((r) => r.ids)).toEqual(cpu.repeated.map((r) => r.ids));
    expect(gpu.repeated[0].ids).toEqual(golden[0]);

    expect(cpu.onDevice).toBe(false);
    expect(gpu.onDevice).toBe(true);
    expect(cpu.trace.deviceFeeds).toEqual([]);
    // webgpu: the only float tensor uploaded from JS is the video; every boundary is fed from the GPU.
    expect(gpu.trace.floatFeedsFromJs).toEqual(['vision_encoder.main.pixel_values']);
    for (const boundary of ['universal.main.video_states', 'fusion.main.text_states', 'fusion.main.image_embeds', 'decoder.memory.memory'])
      expect(gpu.trace.deviceFeeds).toContain(boundary);
    expectOnlyDecoderDownloads(gpu.trace);
    // Sample 0 retires first (golden): the beams of sample 1 go on against its cross K/V rows, gathered on the GPU.
    expect(gpu.trace.deviceFeeds).toContain('decoder.select_memory.cross_key_0');
    expect(gpu.gatherTrace.floatFeedsFromJs).toEqual([]);
    expect(gpu.gatherTrace.deviceFeeds).toContain('select_rows.x');
    expectOnlyDecoderDownloads(gpu.gatherTrace);
    // Every GPU tensor a call made (cross K/V and their selections included) is released when it returns.
    expect(gpu.pairedUnreleased).toEqual([]);
    expect(gpu.repeatedUnreleased).toEqual([]);

    const embedsDiff = maxAbsDiff(gpu.embeds, cpu.embeds);
    const scoreDiff = Math.max(...gpu.paired.map((r, i) => Math.abs(r.score - cpu.paired[i].score)));
    process.stdout.write(
      `[pipeline-device] videoqa_tiny webgpu vs cpu: image_embeds max abs diff ${embedsDiff.toExponential(1)}, beam score max diff ${scoreDiff.toExponential(1)}; ` +
        `image_embeds vs golden: webgpu ${maxAbsDiff(gpu.embeds, goldenEmbeds.data).toExponential(1)}, cpu ${maxAbsDiff(cpu.embeds, goldenEmbeds.data).toExponential(1)}\n`,
    );
    expect(embedsDiff).toBeLessThan(1e-3);
    expect(scoreDiff).toBeLessThan(1e-3);
  }, 300_000);

  it('VideoQA answer ranking: same answers and probabilities as cpu and the golden, cross K/V kept on the GPU', async () => {
    const model = await goldenModel('videoqa_tiny', { fusedAttention: false });
    const fx = await Fixtures.open('videoqa_tiny');
    const video = await fx.float('input.video');
    const questionIds = await fx.ids('input.question_ids');
    const questionMask = await fx.ids('input.question_mask');
    const answerIds = await fx.ids('input.answer_list_ids');
    const answerMask = await fx.ids('input.answer_list_mask');
    const goldenIds = await fx.ids('rank.topk_ids');
    const goldenProbs = Array.from((await fx.float('rank.topk_probs')).data);
    await fx.close();
    const k = goldenIds[0].length;
    // Answer i is `a<i>`; like the questions, the golden's answer ids are synthetic and fed as the tokenizer's output.
    const answers = answerIds.map((_, i) => `a${i}`);

    const run = async (backend: 'cpu' | 'webgpu') => {
      const qa = await VideoQA.load(model, { backend });
      vi.spyOn(qa.tokenizer, 'encodeQuestions').mockImplementation((qs) => {
        const rows = qs.map((q) => Number(q.slice(1)));
        return { inputIds: rows.map((r) => questionIds[r]), attentionMask: rows.map((r) => questionMask[r]), texts: [...qs] } as never;
      });
      vi.spyOn(qa.tokenizer, 'encodeAnswers').mockImplementation((as) => {
        const rows = as.map((a) => Number(a.slice(1)));
        return { inputIds: rows.map((r) => answerIds[r]), attentionMask: rows.map((r) => answerMask[r]), texts: [...as] } as never;
      });
      const features = await qa.encodeVideo(video);
      // Twice from the same features: nothing a call puts on the GPU outlives it.
      const calls = [];
      for (let i = 0; i < 2; i++) {
        const trace = traceSessions();
        const results = await qa.ask(features, ['q0', 'q1'], { answers, k });
        vi.mocked(ModuleSession.prototype.run).mockRestore();
        calls.push({ trace, results, unreleased: unreleased(trace) });
      }
      await qa.dispose();
      return calls;
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');

    const indices = (rs: { ranked?: { answer: string }[] }[]) => rs.map((r) => r.ranked!.map((x) => Number(x.answer.slice(1))));
    const probs = (rs: { ranked?: { prob: number }[] }[]) => rs.flatMap((r) => r.ranked!.map((x) => x.prob));
    for (const call of [...cpu, ...gpu]) expect(indices(call.results)).toEqual(goldenIds);
    for (const call of gpu) {
      // The video features were reused: no float tensor is uploaded, and only the logits reach JS.
      expect(call.trace.floatFeedsFromJs).toEqual([]);
      expectOnlyDecoderDownloads(call.trace);
      expect(call.unreleased).toEqual([]);
    }
    const cpuDiff = maxAbsDiff(probs(gpu[0].results), probs(cpu[0].results));
    const goldenDiff = maxAbsDiff(probs(gpu[0].results), goldenProbs);
    process.stdout.write(
      `[pipeline-device] videoqa_tiny rank_answer (k ${k} of ${answers.length}) webgpu: top-k probability max abs diff vs cpu ${cpuDiff.toExponential(1)}, vs golden ${goldenDiff.toExponential(1)} ` +
        `(cpu vs golden ${maxAbsDiff(probs(cpu[0].results), goldenProbs).toExponential(1)})\n`,
    );
    expect(cpuDiff).toBeLessThan(1e-4);
    expect(goldenDiff).toBeLessThan(1e-4);
    expect(probs(gpu[1].results)).toEqual(probs(gpu[0].results));
  }, 300_000);

  it('Captioner: same ids as cpu and the golden, image_embeds fed to the decoder memory from the GPU', async () => {
    const model = await goldenModel('videocaption_tiny', { fusedAttention: false });
    const fx = await Fixtures.open('videocaption_tiny');
    const video = await fx.float('input.video');
    const golden = await goldenBeamIds(fx);
    await fx.close();

    const run = async (backend: 'cpu' | 'webgpu', keepOnDevice = true) => {
      const cap = await Captioner.load(model, { backend, keepOnDevice });
      const trace = traceSessions();
      const results = await cap.caption(video);
      const left = unreleased(trace);
      await cap.dispose();
      return { results, trace, left };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    const downloaded = await run('webgpu', false);

    expect(gpu.results.map((r) => r.ids)).toEqual(golden);
    expect(cpu.results.map((r) => r.ids)).toEqual(golden);
    expect(downloaded.results.map((r) => r.ids)).toEqual(golden);
    expect(gpu.results.map((r) => r.caption)).toEqual(cpu.results.map((r) => r.caption));
    expect(gpu.trace.floatFeedsFromJs).toEqual(['vision_encoder.main.pixel_values']);
    for (const boundary of ['universal.main.video_states', 'decoder.memory.memory']) expect(gpu.trace.deviceFeeds).toContain(boundary);
    expectOnlyDecoderDownloads(gpu.trace);
    expect(gpu.left).toEqual([]);
    // keepOnDevice: false downloads every module output (here the vision and universal outputs are fed back from JS).
    expect(downloaded.trace.deviceFeeds).toEqual([]);
    expect(downloaded.trace.floatFeedsFromJs).toEqual(expect.arrayContaining(['universal.main.video_states', 'decoder.memory.memory']));
    const scoreDiff = Math.max(...gpu.results.map((r, i) => Math.abs(r.score - cpu.results[i].score)));
    process.stdout.write(`[pipeline-device] videocaption_tiny webgpu vs cpu: beam score max diff ${scoreDiff.toExponential(1)}\n`);
    expect(scoreDiff).toBeLessThan(1e-3);
  }, 300_000);

  it("Retriever: same embeddings and ITM scores as cpu; only the heads' outputs reach JS", async () => {
    // A tiny pretrain model with retrieval heads, converted with primitive attention for webgpu.
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-retrieval-webgpu-'));
    const config = tinyDemoConfig('pretrain');
    await generateCheckpoint(path.join(dir, 'c.pth'), config, { seed: 11, withRetrievalHeads: true });
    await convertCheckpoint({ checkpoint: path.join(dir, 'c.pth'), config, out: path.join(dir, 'model'), task: 'pretrain', fusedAttention: false });
    const run = async (backend: 'cpu' | 'webgpu') => {
      const retriever = await Retriever.load(path.join(dir, 'model'), { backend });
      const { frames, size } = retriever.visual;
      const rng = prng(5);
      const pixels = tensor(
        'float32',
        ['batch', 'channels', 'frames', 'height', 'width'],
        [2, 3, frames, size, size],
        Float32Array.from({ length: 2 * 3 * frames * size * size }, () => rng() * 2 - 1),
      );
      const trace = traceSessions();
      const videos = await retriever.encodeVideos(pixels);
      const texts = await retriever.encodeTexts(['a dog runs on the beach', 'a red square']);
      const itm = await retriever.itmScores('a dog runs on the beach', videos.features.imageEmbeds);
      vi.mocked(ModuleSession.prototype.run).mockRestore();
      await retriever.dispose();
      return {
        embeddings: [...videos.embeddings, ...texts.embeddings],
        itm: itm.flatMap((s) => [s.prob, s.logit]),
        trace,
        onDevice: isDeviceTensor(texts.states),
      };
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    expect(gpu.onDevice).toBe(true);
    expect(gpu.trace.floatFeedsFromJs).toEqual(['vision_encoder.main.pixel_values']);
    for (const boundary of [
      'universal.main.video_states',
      'retrieval_heads.vision_proj.image_embeds',
      'retrieval_heads.text_proj.text_states',
      'fusion.main.text_states',
      'fusion.main.image_embeds',
      'retrieval_heads.itm.fusion_text',
    ])
      expect(gpu.trace.deviceFeeds).toContain(boundary);
    expect(new Set(gpu.trace.floatOutputsToJs.map((n) => n.split('.').slice(0, 2).join('.')))).toEqual(
      new Set(['retrieval_heads.vision_proj', 'retrieval_heads.text_proj', 'retrieval_heads.itm']),
    );
    const embeddingDiff = Math.max(...gpu.embeddings.map((e, i) => maxAbsDiff(e, cpu.embeddings[i])));
    const itmDiff = maxAbsDiff(gpu.itm, cpu.itm);
    process.stdout.write(
      `[pipeline-device] retrieval webgpu vs cpu: embeddings max abs diff ${embeddingDiff.toExponential(1)}, ITM prob/logit max diff ${itmDiff.toExponential(1)}\n`,
    );
    expect(embeddingDiff).toBeLessThan(1e-3);
    expect(itmDiff).toBeLessThan(1e-3);
  }, 300_000);
});
