import { InvalidOptionError } from '@mplug2/core';
import { runParity } from '@mplug2/converter';
import { requirePositional, type Command } from '../cli.js';
import { backendOption } from './shared.js';

export const parityCommand: Command = {
  name: 'parity',
  summary: 'run reference fixtures through a converted model and compare every module boundary',
  usage: 'mplug2 parity <model-dir> --fixtures <fixtures.safetensors> [--backend auto|cpu|wasm|webgpu|cuda] [--json]',
  options: { fixtures: { type: 'string' }, json: { type: 'boolean' }, backend: { type: 'string' } },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(this, positionals, 0, 'model-dir');
    const fixtures = values.fixtures as string | undefined;
    if (!fixtures) throw new InvalidOptionError('--fixtures', `is required (usage: ${this.usage})`);
    const report = await runParity(dir, fixtures, { backend: backendOption(values) });
    if (values.json) {
      ctx.stdout.write(JSON.stringify(report) + '\n');
    } else {
      for (const t of report.tensors)
        ctx.stdout.write(`${t.ok ? 'ok  ' : 'FAIL'}  ${t.name.padEnd(28)} max|diff| ${t.maxAbsDiff.toExponential(2)}  (tolerance ${t.tolerance})\n`);
      for (const m of report.missing) ctx.stdout.write(`skip  ${m} (the model has no module for it)\n`);
      ctx.stdout.write(report.ok ? `parity OK: ${report.tensors.length} tensors\n` : 'parity FAILED\n');
    }
    return report.ok ? 0 : 1;
  },
};
