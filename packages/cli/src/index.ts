import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '@mplug2/core';
import { formatError, parseCommandArgs, type Command, type CommandContext } from './cli.js';
import { commandHelp } from './option-help.js';
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

export const COMMANDS: readonly Command[] = [
  inspectCommand,
  convertCommand,
  parityCommand,
  framesCommand,
  tokenizeCommand,
  qaCommand,
  captionCommand,
  demoCommand,
  indexCommand,
  searchCommand,
  classifyCommand,
  evalCommand,
  workerCommand,
  serveCommand,
];

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'mplug2 — mPLUG-2 video-language models on onnxruntime',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'mplug2 <command> --help shows its usage and options. --verbose prints stack traces on errors; with --json, errors',
    'are one JSON line on stderr. mplug2 --version prints the version.',
  ].join('\n');
}

/** The CLI's package version (package.json sits one level above both src/ and dist/). */
export function cliVersion(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Runs the CLI; returns the exit code. Errors print one line on stderr (a stack trace with --verbose). */
export async function main(argv: string[], io: Partial<CommandContext> = {}): Promise<number> {
  const verbose = argv.includes('--verbose');
  const json = argv.includes('--json');
  const ctx: CommandContext = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr, stdin: io.stdin ?? process.stdin, verbose };
  const [name, ...rest] = argv;
  try {
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      ctx.stdout.write(help() + '\n');
      return name ? 0 : 2;
    }
    if (name === '--version' || name === '-V' || name === 'version') {
      ctx.stdout.write(`${cliVersion()}\n`);
      return 0;
    }
    const cmd = COMMANDS.find((c) => c.name === name);
    if (!cmd) throw new InvalidOptionError('command', `unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help) {
      ctx.stdout.write(commandHelp(cmd) + '\n');
      return 0;
    }
    return (await cmd.run(args, ctx)) ?? 0;
  } catch (e) {
    ctx.stderr.write(formatError(e, verbose, json) + '\n');
    return e instanceof InvalidOptionError ? 2 : 1;
  }
}
