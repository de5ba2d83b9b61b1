#!/usr/bin/env node
// Peak memory of decoding + preprocessing a 1-minute and a 60-minute video: it must be bounded by the
// sampled frames, not the video length. Videos are generated once with ffmpeg (160x120, 25 fps).
//
//   npm run bench:long-video -- [--json]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, child: { type: 'string' } } });
if (values.child) {
  const { loadVideo } = await import('@mplug2/vision-encoder');
  const t = performance.now();
  const v = await loadVideo(values.child, { numFrames: 16, size: 224, timeoutMs: 600_000 });
  console.log(JSON.stringify({ seconds: (performance.now() - t) / 1000, frames: v.info.frameCount, indices: v.frameIndices, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}
const cache = path.join(os.homedir(), '.cache', 'mplug2-bench');
mkdirSync(cache, { recursive: true });
const results = {};
for (const minutes of [1, 60]) {
  const file = path.join(cache, `testsrc-${minutes}min.mp4`);
  if (!existsSync(file)) {
    const t = performance.now();
    execFileSync('ffmpeg', ['-y', '-v', 'error', '-f', 'lavfi', '-i', `testsrc=size=160x120:rate=25:duration=${minutes * 60}`, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', file]);
    console.error(`generated ${file} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', file], { encoding: 'utf8' });
  results[`${minutes}min`] = JSON.parse(out.trim().split('\n').pop());
}
console.log('video      frames   decode s   peak RSS MB');
for (const [k, r] of Object.entries(results)) console.log(`${k.padEnd(9)}  ${String(r.frames).padStart(6)}   ${r.seconds.toFixed(1).padStart(8)}   ${r.peak_rss_mb.toFixed(0).padStart(11)}`);
const ratio = results['60min'].peak_rss_mb / results['1min'].peak_rss_mb;
console.log(`peak RSS 60 min / 1 min = ${ratio.toFixed(2)} (bounded by the 16 sampled frames, not the length)`);
if (values.json) console.log(JSON.stringify({ ...results, ratio }));
