import { existsSync, mkdtempSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCheckpoint, generateCheckpoint, tinyDemoConfig } from '@mplug2/converter';
import { Captioner, VideoQA } from '@mplug2/tasks';
import { checkFfmpeg } from '@mplug2/vision-encoder';
import { progressBar, type Command } from '../cli.js';

/** The sample video ships in the package's assets folder (next to dist/). */
export function sampleVideo(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.join(here, '../assets/sample.mp4'), path.join(here, '../../assets/sample.mp4')]) if (existsSync(candidate)) return candidate;
  throw new Error('sample.mp4 not found next to the mplug2 CLI');
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'build a tiny random-weight model through the real converter and run VideoQA and captioning on a sample video',
  usage: 'mplug2 demo [--out <model-dir>] [--video <file>] [--question "..."] [--json]',
  options: { out: { type: 'string' }, video: { type: 'string' }, question: { type: 'string' }, json: { type: 'boolean' } },
  async run({ values }, ctx) {
    // Decoding the video is step 3 of 4: without ffmpeg, fail before creating, generating or converting anything.
    await checkFfmpeg();
    const out = (values.out as string | undefined) ?? mkdtempSync(path.join(tmpdir(), 'mplug2-demo-'));
    const video = (values.video as string | undefined) ?? sampleVideo();
    const question = (values.question as string | undefined) ?? 'what is happening in the video?';
    const log = (s: string) => !values.json && ctx.stdout.write(s + '\n');
    const t0 = performance.now();
    await mkdir(out, { recursive: true });
    const checkpoint = path.join(out, 'demo-checkpoint.pth');
    const config = tinyDemoConfig();
    log(`1/4 generating a tiny mPLUG-2 checkpoint with random weights (torch.save layout, full BERT vocabulary): ${checkpoint}`);
    await generateCheckpoint(checkpoint, config, { seed: 2023, withRetrievalHeads: true });
    const tGen = performance.now();
    log(`2/4 converting it with the real converter into ${out}`);
    const bar = progressBar(ctx.stderr, 'converting');
    await convertCheckpoint({ checkpoint, config, out, task: 'pretrain', onProgress: (e) => e.stage === 'weights' && bar(e.done, e.total) });
    const tConv = performance.now();
    log(`3/4 VideoQA on ${path.basename(video)}`);
    const qa = await VideoQA.load(out);
    const [answer] = await qa.ask(video, question);
    await qa.dispose();
    log(`    Q: ${question}\n    A: ${answer.answer}`);
    log('4/4 captioning');
    const captioner = await Captioner.load(out);
    const [caption] = await captioner.caption(video, { minLength: 4, maxLength: 20 });
    await captioner.dispose();
    log(`    caption: ${caption.caption}`);
    const timings = {
      generate_checkpoint_s: (tGen - t0) / 1000,
      convert_s: (tConv - tGen) / 1000,
      qa: answer.timings,
      caption: caption.timings,
      total_s: (performance.now() - t0) / 1000,
    };
    if (values.json) {
      ctx.stdout.write(
        JSON.stringify({
          modelDir: out,
          video,
          question,
          answer: answer.answer,
          answerIds: answer.ids,
          caption: caption.caption,
          captionIds: caption.ids,
          timings,
        }) + '\n',
      );
      return;
    }
    log(
      `\ntimings: checkpoint ${timings.generate_checkpoint_s.toFixed(2)} s, convert ${timings.convert_s.toFixed(2)} s, QA ${answer.timings.total_s.toFixed(2)} s, caption ${caption.timings.total_s.toFixed(2)} s`,
    );
    log(`model directory: ${out} (use it with: mplug2 qa ${out} <video> --question "...")`);
    log('\nThe weights are random, so the answer and caption above are meaningless text: this shows the whole');
    log('pipeline runs (decode → sample → vision → universal → text → fusion → beam search). For real results,');
    log('convert an official checkpoint:  mplug2 convert mPLUG2_MSRVTT_QA.pth --preset videoqa-msrvtt-large --out models/qa');
  },
};
