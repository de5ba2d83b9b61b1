// The converted benchmark model (tiny demo size or the released large size, random weights from a
// generated checkpoint, converted by the real converter), cached per converter build. Shared by
// bench/run.mjs, bench/eval.mjs and bench/serve.mjs. Needs the packages built.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

export const CACHE = path.join(process.env.MPLUG2_BENCH_CACHE ?? path.join(os.homedir(), '.cache', 'mplug2-bench'));

// Fingerprint of the converter and every graph builder it calls: a cached model converted by other code is converted again.
const require = createRequire(import.meta.url);
const CONVERTER_FINGERPRINT = (() => {
  const h = createHash('sha256');
  for (const p of ['core', 'vision-encoder', 'universal', 'text-encoder', 'fusion', 'decoder', 'tasks', 'converter'])
    h.update(readFileSync(require.resolve(`@mplug2/${p}`)));
  return h.digest('hex').slice(0, 16);
})();

export const variant = ({ size, dtype, primitive }) => `${size}-${dtype}${primitive ? '-primitive' : ''}`;

/** Converted model for `size` / `dtype`, generated and converted once, then reused: `{ out, info }`. */
export async function benchModel({ size, dtype = 'fp32', primitive = false }) {
  const converter = await import('@mplug2/converter');
  mkdirSync(CACHE, { recursive: true });
  const config = size === 'large' ? converter.fullSizeConfig('pretrain') : converter.tinyDemoConfig('pretrain');
  const ckpt = path.join(CACHE, `${size}.pth`);
  const name = variant({ size, dtype, primitive });
  // One directory per converter build: a model converted by other code is converted again, and a
  // directory another bench process may be reading is never rewritten in place.
  const out = path.join(CACHE, `${name}-${CONVERTER_FINGERPRINT}`);
  const info = {};
  if (!existsSync(ckpt)) {
    const t = performance.now();
    // Written aside and renamed: a killed run never leaves a truncated checkpoint behind.
    const tmp = `${ckpt}.tmp-${process.pid}`;
    await converter.generateCheckpoint(tmp, config, { seed: 1 });
    renameSync(tmp, ckpt);
    info.generate_s = (performance.now() - t) / 1000;
  }
  if (!existsSync(path.join(out, 'manifest.json'))) {
    const tmp = `${out}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    const t = performance.now();
    const rss0 = process.resourceUsage().maxRSS;
    await converter.convertCheckpoint({ checkpoint: ckpt, config, out: tmp, task: 'pretrain', dtype, fusedAttention: !primitive });
    info.convert_s = (performance.now() - t) / 1000;
    info.convert_peak_rss_gb = Math.max(rss0, process.resourceUsage().maxRSS) / 1024 ** 2;
    renameSync(tmp, out);
    // Written back to disk before anything is timed: a user converts once and runs later, while the
    // gigabytes of dirty pages a fresh conversion leaves would be flushed during the first measurements.
    execFileSync('sync');
    // Conversions of this variant by other builds, made over an hour ago, are removed.
    for (const d of readdirSync(CACHE))
      if (d.startsWith(`${name}-`) && path.join(CACHE, d) !== out && Date.now() - statSync(path.join(CACHE, d)).mtimeMs > 3600e3)
        rmSync(path.join(CACHE, d), { recursive: true, force: true });
  }
  return { out, info };
}
