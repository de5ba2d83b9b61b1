import { InvalidOptionError } from '@mplug2/core';
import { formatError, parseCommandArgs, type Command, type CommandContext } from './cli.js';
import { convertCommand } from './commands/convert.js';
import { inspectCommand } from './commands/inspect.js';
import { parityCommand } from './commands/parity.js';
import { framesCommand } from './commands/frames.js';
import { tokenizeCommand } from './commands/tokenize.js';
import { qaCommand } from './commands/qa.js';
import { captionCommand } from './commands/caption.js';
import { demoCommand } from './commands/demo.js';
import { indexCommand } from './commands/index-command.js';
import { searchCommand } from './commands/search.js';
import { classifyCommand } from './commands/classify.js';
import { serveCommand } from './commands/serve.js';
import { workerCommand } from './commands/worker.js';
import { evalCommand } from './commands/eval.js';

export const COMMANDS: readonly Command[] = [inspectCommand, convertCommand, parityCommand, framesCommand, tokenizeCommand, qaCommand, captionCommand, demoCommand, indexCommand, searchCommand, classifyCommand, evalCommand, workerCommand, serveCommand];

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'mplug2 — mPLUG-2 video-language models on onnxruntime',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'mplug2 <command> --help shows its usage. --verbose prints stack traces on errors.',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. Errors print one line on stderr (a stack trace with --verbose). */
export async function main(argv: string[], io: Partial<CommandContext> = {}): Promise<number> {
  const verbose = argv.includes('--verbose');
  const ctx: CommandContext = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr, stdin: io.stdin ?? process.stdin, verbose };
  const [name, ...rest] = argv;
  try {
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      ctx.stdout.write(help() + '\n');
      return name ? 0 : 2;
    }
    const cmd = COMMANDS.find((c) => c.name === name);
    if (!cmd) throw new InvalidOptionError('command', `unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help) {
      ctx.stdout.write(`${cmd.usage}\n  ${cmd.summary}\n`);
      return 0;
    }
    return (await cmd.run(args, ctx)) ?? 0;
  } catch (e) {
    ctx.stderr.write(formatError(e, verbose) + '\n');
    return e instanceof InvalidOptionError ? 2 : 1;
  }
}
