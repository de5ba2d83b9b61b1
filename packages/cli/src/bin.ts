#!/usr/bin/env node
import { main } from './index.js';

// `mplug2 inspect x.pth | head -2`: once the reader has closed the pipe, the rest of the output has nowhere to go.
// That is not an error of the command: stop quietly, as other Unix tools do, instead of an EPIPE stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = 1;
  },
);
