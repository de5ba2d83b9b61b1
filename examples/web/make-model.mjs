// Builds the example's bundled tiny model (random weights, full BERT vocabulary so real questions
// tokenize) through the real converter into public/model/ (gitignored). Needs the built packages
// (`npx turbo run build`). Usage: node make-model.mjs [outDir]
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCheckpoint, generateCheckpoint, tinyDemoConfig } from '@mplug2/converter';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, 'public/model'));
if (existsSync(path.join(out, 'manifest.json')) && !process.env.FORCE) {
  console.log(`model exists: ${out} (FORCE=1 to rebuild)`);
} else {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const work = path.join(here, '.model-work');
  mkdirSync(work, { recursive: true });
  const checkpoint = path.join(work, 'tiny-demo.pth');
  const config = tinyDemoConfig();
  await generateCheckpoint(checkpoint, config, { seed: 2023, withRetrievalHeads: true });
  await convertCheckpoint({ checkpoint, config, out, task: 'pretrain' });
  rmSync(work, { recursive: true, force: true });
  console.log(`tiny model written to ${out}`);
}
