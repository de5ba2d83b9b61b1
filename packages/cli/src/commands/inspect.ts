import { openCheckpoint } from '@mplug2/core';
import { requirePositional, type Command } from '../cli.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'list every tensor of a .pth or .safetensors file (name, dtype, shape)',
  usage: 'mplug2 inspect <file.pth|file.safetensors> [--json]',
  options: { json: { type: 'boolean' } },
  async run({ positionals, values }, ctx) {
    const file = requirePositional(this, positionals, 0, 'file');
    const ckpt = await openCheckpoint(file);
    try {
      const tensors = ckpt.list().map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
      if (values.json) {
        ctx.stdout.write(JSON.stringify({ wrapper: ckpt.wrapper, tensors }) + '\n');
        return;
      }
      ctx.stdout.write(`${file}: ${ckpt.format}, wrapper ${ckpt.wrapper ?? '(none)'}, ${tensors.length} tensors\n`);
      const w = Math.max(...tensors.map((t) => t.name.length), 4);
      for (const t of tensors) ctx.stdout.write(`${t.name.padEnd(w)}  ${t.dtype.padEnd(8)}  [${t.shape.join(', ')}]\n`);
    } finally {
      await ckpt.close();
    }
  },
};
