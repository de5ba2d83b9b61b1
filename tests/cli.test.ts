import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli';
import { GOLDENS } from './helpers/golden';

describe('mplug2 inspect', () => {
  it.each(['videoqa_tiny', 'videocaption_tiny'])('lists %s exactly as the reference pickle reader', async (name) => {
    const { code, out } = await runCli(['inspect', path.join(GOLDENS, name, 'checkpoint.pth'), '--json']);
    expect(code).toBe(0);
    const expected = JSON.parse(readFileSync(path.join(GOLDENS, name, 'inspect.json'), 'utf8'));
    expect(JSON.parse(out)).toEqual({ wrapper: expected.wrapper, tensors: expected.tensors });
  });

  it('prints one line and exits non-zero for a file that is not a checkpoint', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-cli-')), 'notes.pth');
    writeFileSync(file, 'just some text, not a checkpoint');
    const { code, out, err } = await runCli(['inspect', file]);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toContain('notes.pth');
    expect(err).toMatch(/not a PyTorch checkpoint/);
  });
});

describe('mplug2 options', () => {
  it('rejects unknown options naming the option (exit 2)', async () => {
    const { code, err } = await runCli(['inspect', 'x.pth', '--frobnicate']);
    expect(code).toBe(2);
    expect(err).toContain('--frobnicate');
  });

  it('rejects unknown commands', async () => {
    const { code, err } = await runCli(['transmogrify']);
    expect(code).toBe(2);
    expect(err).toContain("unknown command 'transmogrify'");
  });

  it('shows a stack trace only with --verbose', async () => {
    const quiet = await runCli(['inspect', '/nonexistent/file.pth']);
    const loud = await runCli(['inspect', '/nonexistent/file.pth', '--verbose']);
    expect(quiet.err).not.toMatch(/\n\s+at /);
    expect(loud.err).toMatch(/\n\s+at /);
  });
});

describe('mplug2 convert + parity', () => {
  it.each(['videoqa_tiny', 'videocaption_tiny'])('%s converts and passes parity through the CLI', async (name) => {
    const out = mkdtempSync(path.join(tmpdir(), `mplug2-cli-${name}-`));
    const conv = await runCli([
      'convert',
      path.join(GOLDENS, name, 'checkpoint.pth'),
      '--config',
      path.join(GOLDENS, name, 'config.json'),
      '--out',
      out,
      '--json',
    ]);
    expect(conv.code, conv.err).toBe(0);
    const summary = JSON.parse(conv.out);
    expect(summary.unused.length).toBeGreaterThan(0);
    const parity = await runCli(['parity', out, '--fixtures', path.join(GOLDENS, name, 'fixtures.safetensors'), '--json']);
    const report = JSON.parse(parity.out);
    expect(report.ok, JSON.stringify(report.tensors.filter((t: { ok: boolean }) => !t.ok))).toBe(true);
    expect(parity.code).toBe(0);
    expect(report.tensors.map((t: { name: string }) => t.name)).toEqual(
      expect.arrayContaining(['visual.out', 'v_module.out', 'image_embeds', 'decoder_tf.logits', 'beam.ids']),
    );
  });

  it('a config that does not match the checkpoint lists every mis-shaped tensor', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-cli-bad-'));
    const cfg = JSON.parse(readFileSync(path.join(GOLDENS, 'videoqa_tiny', 'config.json'), 'utf8'));
    cfg.bert_config.intermediate_size = 256;
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    const { code, err } = await runCli([
      'convert',
      path.join(GOLDENS, 'videoqa_tiny', 'checkpoint.pth'),
      '--config',
      path.join(dir, 'config.json'),
      '--out',
      path.join(dir, 'm'),
    ]);
    expect(code).toBe(1);
    expect(err).toMatch(/wrong shape/);
    expect(err).toContain('text_encoder.encoder.layer.0.intermediate.dense.weight expected [256,128] got [128,128]');
    expect(err).toContain('fusion_encoder.encoder.layer.2.output.dense.weight');
  });

  it('--compute fp16 records fp16-compute graphs in the manifest; with --dtype int8 it is refused (exit 2)', async () => {
    const golden = path.join(GOLDENS, 'videocaption_tiny');
    const args = (out: string) => [
      'convert',
      path.join(golden, 'checkpoint.pth'),
      '--config',
      path.join(golden, 'config.json'),
      '--out',
      out,
      '--compute',
      'fp16',
    ];
    const out = mkdtempSync(path.join(tmpdir(), 'mplug2-cli-fp16-'));
    const conv = await runCli([...args(out), '--primitive-attention']);
    expect(conv.code, conv.err).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')).graphOptions).toEqual({ fusedAttention: false, compute: 'fp16' });
    const bad = await runCli([...args(path.join(out, 'int8')), '--dtype', 'int8']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--compute.*fp16 compute needs --dtype fp16, not int8/);
  });
});

describe('mplug2 tokenize', () => {
  it('tokenizes JSON lines like the reference', async () => {
    const cases = readFileSync(path.join(GOLDENS, 'tokenizer', 'cases.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const questions = cases.filter((c) => c.kind === 'question').slice(0, 20);
    const { code, out } = await runCli(['tokenize', '--kind', 'question'], questions.map((c) => JSON.stringify({ text: c.text })).join('\n') + '\n');
    expect(code).toBe(0);
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.input_ids)).toEqual(questions.map((c) => c.input_ids));
    expect(lines.map((l) => l.attention_mask)).toEqual(questions.map((c) => c.attention_mask));
  });
});

describe('built binary', () => {
  it('dist/bin.js runs (ESM build) when the packages are built', async () => {
    const bin = path.resolve(__dirname, '../packages/cli/dist/bin.js');
    const { stdout } = await promisify(execFile)(process.execPath, [bin, '--help']);
    expect(stdout).toContain('mplug2');
    expect(stdout).toContain('convert');
  });
});

describe('mplug2 frames', () => {
  it('writes the reference frame indices and pixel values (bit-exact) for the golden video', async () => {
    const { openCheckpoint } = await import('@mplug2/core');
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'mplug2-frames-')), 'f.safetensors');
    const { code, err } = await runCli([
      'frames',
      path.join(GOLDENS, 'preprocess', 'testsrc_320x240_30fps_3s.mp4'),
      '--frames',
      '4',
      '--size',
      '56',
      '--out',
      out,
    ]);
    expect(code, err).toBe(0);
    const got = await openCheckpoint(out);
    const ref = await openCheckpoint(path.join(GOLDENS, 'preprocess', 'fixtures.safetensors'));
    expect(Array.from((await got.read('frame_indices')) as BigInt64Array, Number)).toEqual(
      Array.from((await ref.read('f4_r56.frame_indices')) as BigInt64Array, Number),
    );
    const a = await got.readFloat32('pixel_values');
    const b = await ref.readFloat32('f4_r56.pixel_values');
    expect(got.info('pixel_values').shape).toEqual([3, 4, 56, 56]);
    expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(true);
    await got.close();
    await ref.close();
  });

  it('a missing file is a one-line error naming it', async () => {
    const { code, err } = await runCli(['frames', '/nope/missing.mp4', '--frames', '4', '--size', '56', '--out', '/tmp/x.safetensors']);
    expect(code).toBe(1);
    expect(err).toContain('/nope/missing.mp4');
    expect(err.trim().split('\n')).toHaveLength(1);
  });
});

describe('mplug2 demo, qa, caption', () => {
  it('the demo model directory serves qa and caption, with the same results as the demo run', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'mplug2-demo-'));
    const demo = await runCli(['demo', '--out', out, '--json']);
    expect(demo.code, demo.err).toBe(0);
    const d = JSON.parse(demo.out);
    expect(d.answerIds[0]).toBe(101);
    expect(d.captionIds[0]).toBe(101);
    expect(d.captionIds.length).toBeGreaterThanOrEqual(5); // [CLS] + at least min_length 4 tokens

    const qa = await runCli(['qa', out, d.video, '--question', d.question, '--json']);
    expect(qa.code, qa.err).toBe(0);
    const a = JSON.parse(qa.out);
    expect(a.ids).toEqual(d.answerIds);
    expect(a.answer).toBe(d.answer);
    // Any intra-op thread count gives the same answer; 0 is refused naming the option.
    const one = await runCli(['qa', out, d.video, '--question', d.question, '--threads', '1', '--json']);
    expect(one.code, one.err).toBe(0);
    expect(JSON.parse(one.out).ids).toEqual(d.answerIds);
    const zero = await runCli(['caption', out, d.video, '--threads', '0']);
    expect(zero.code).toBe(2);
    expect(zero.err).toContain('--threads');

    const answersFile = path.join(out, 'answers.json');
    writeFileSync(answersFile, JSON.stringify(['playing guitar', 'cooking', 'running', 'dancing', 'swimming']));
    const ranked = JSON.parse((await runCli(['qa', out, d.video, '--question', d.question, '--answers', answersFile, '--k', '3', '--json'])).out);
    expect(ranked.ranked).toHaveLength(3);
    expect(ranked.ranked[0].answer).toBe(ranked.answer);
    const probs = ranked.ranked.map((r: { prob: number }) => r.prob);
    expect(probs.reduce((s: number, p: number) => s + p, 0)).toBeCloseTo(1, 5);
    expect([...probs].sort((x, y) => y - x)).toEqual(probs);
  });

  it('qa on a corrupt video is a one-line VideoDecodeError naming the file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mplug2-bad-'));
    const demo = await runCli(['demo', '--out', path.join(dir, 'm'), '--json']);
    expect(demo.code).toBe(0);
    const bad = path.join(dir, 'broken.mp4');
    writeFileSync(bad, Buffer.alloc(4096, 7));
    const r = await runCli(['qa', path.join(dir, 'm'), bad, '--question', 'what?']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('broken.mp4');
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});
