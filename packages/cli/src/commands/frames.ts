import { InvalidOptionError, tensor, writeSafetensors } from '@mplug2/core';
import { loadVideo } from '@mplug2/vision-encoder';
import { intOption, requirePositional, type Command } from '../cli.js';

export const framesCommand: Command = {
  name: 'frames',
  summary: "decode and preprocess a video exactly as the reference ('middle' sampling, nearest resize, CLIP normalisation)",
  usage: 'mplug2 frames <video> --frames N --size S --out <file.safetensors> [--timeout SECONDS]',
  options: { frames: { type: 'string' }, size: { type: 'string' }, out: { type: 'string' }, timeout: { type: 'string' } },
  async run({ positionals, values }, ctx) {
    const file = requirePositional(this, positionals, 0, 'video');
    const numFrames = intOption(values, 'frames');
    const size = intOption(values, 'size');
    const out = values.out as string | undefined;
    if (!numFrames) throw new InvalidOptionError('--frames', `is required (usage: ${this.usage})`);
    if (!size) throw new InvalidOptionError('--size', `is required (usage: ${this.usage})`);
    if (!out) throw new InvalidOptionError('--out', `is required (usage: ${this.usage})`);
    const timeout = intOption(values, 'timeout');
    const v = await loadVideo(file, { numFrames, size, timeoutMs: timeout ? timeout * 1000 : undefined });
    const frameIndices = tensor('int64', ['frames'], [v.frameIndices.length], BigInt64Array.from(v.frameIndices, BigInt));
    await writeSafetensors(out, { frame_indices: frameIndices, pixel_values: v.pixelValues });
    ctx.stdout.write(`wrote ${out}: frames [${v.frameIndices.join(', ')}] of ${v.info.frameCount}, pixel_values [${v.pixelValues.shape.join(', ')}]\n`);
  },
};
