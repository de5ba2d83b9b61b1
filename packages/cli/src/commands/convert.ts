import { convertCheckpoint, PRESETS } from '@mplug2/converter';
import { InvalidOptionError, type ComputePrecision, type Task } from '@mplug2/core';
import { type WeightStorage } from '@mplug2/core/onnx';
import { parseByteSize, progressBar, requirePositional, type Command } from '../cli.js';

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert an official mPLUG-2 checkpoint into an ONNX model directory',
  usage: `mplug2 convert <checkpoint.pth> (--config <config.json> | --preset <${Object.keys(PRESETS).join('|')}>) --out <model-dir> [--task qa|caption|pretrain] [--max-file-bytes <n|512M|1G>] [--dtype fp32|fp16|int8|q4] [--compute fp32|fp16] [--primitive-attention] [--json]`,
  options: {
    config: { type: 'string' },
    preset: { type: 'string' },
    out: { type: 'string' },
    task: { type: 'string' },
    json: { type: 'boolean' },
    'primitive-attention': { type: 'boolean' },
    'max-file-bytes': { type: 'string' },
    dtype: { type: 'string' },
    compute: { type: 'string' },
  },
  async run({ positionals, values }, ctx) {
    const checkpoint = requirePositional(this, positionals, 0, 'checkpoint');
    const out = values.out as string | undefined;
    if (!out) throw new InvalidOptionError('--out', `is required (usage: ${this.usage})`);
    const config = (values.config as string | undefined) ?? (values.preset as string | undefined);
    if (!config) throw new InvalidOptionError('--config', `give --config <file> or --preset <name> (presets: ${Object.keys(PRESETS).join(', ')})`);
    if (values.preset && !PRESETS[values.preset as string])
      throw new InvalidOptionError('--preset', `'${String(values.preset)}' is not one of ${Object.keys(PRESETS).join(', ')}`);
    const task = values.task as Task | undefined;
    if (task && !['qa', 'caption', 'pretrain'].includes(task)) throw new InvalidOptionError('--task', `'${task}' is not one of qa, caption, pretrain`);
    const maxFileBytes = values['max-file-bytes'] as string | undefined;
    const maxDataFileBytes = maxFileBytes === undefined ? undefined : parseByteSize(maxFileBytes, '--max-file-bytes');
    // --dtype: weight storage; --compute fp16: fp16 arithmetic inside the graphs (WebGPU shader-f16), implies --dtype fp16.
    const dtype = values.dtype as WeightStorage | undefined;
    if (dtype && !['fp32', 'fp16', 'int8', 'q4'].includes(dtype)) throw new InvalidOptionError('--dtype', `'${dtype}' is not one of fp32, fp16, int8, q4`);
    const compute = values.compute as ComputePrecision | undefined;
    if (compute && !['fp32', 'fp16'].includes(compute)) throw new InvalidOptionError('--compute', `'${compute}' is not one of fp32, fp16`);
    if (compute === 'fp16' && dtype && dtype !== 'fp16') throw new InvalidOptionError('--compute', `fp16 compute needs --dtype fp16, not ${dtype}`);
    const bar = progressBar(ctx.stderr, 'converting');
    const start = Date.now();
    const result = await convertCheckpoint({
      checkpoint,
      config,
      out,
      task,
      fusedAttention: !values['primitive-attention'],
      maxDataFileBytes,
      dtype,
      compute,
      onProgress: (e) => e.stage === 'weights' && bar(e.done, e.total),
    });
    const seconds = (Date.now() - start) / 1000;
    if (values.json) {
      ctx.stdout.write(
        JSON.stringify({
          out,
          task: result.manifest.task,
          modules: Object.keys(result.manifest.modules),
          files: result.manifest.files,
          unused: result.unused,
          seconds,
        }) + '\n',
      );
      return;
    }
    ctx.stdout.write(`wrote ${out} (${result.manifest.task}; modules: ${Object.keys(result.manifest.modules).join(', ')}) in ${seconds.toFixed(1)} s\n`);
    const reasons = new Map<string, number>();
    for (const u of result.unused) reasons.set(u.reason, (reasons.get(u.reason) ?? 0) + 1);
    if (result.unused.length) {
      ctx.stdout.write(`${result.unused.length} checkpoint tensors not converted (listed in manifest.json "unusedTensors"):\n`);
      for (const [reason, n] of reasons) ctx.stdout.write(`  ${String(n).padStart(5)}  ${reason}\n`);
    }
  },
};
