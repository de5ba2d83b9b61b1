import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeSyntheticVideo } from './synthetic-video.mjs';

/** Clearly different synthetic contents (ffmpeg lavfi sources). */
export const SYNTHETIC_KINDS: Record<string, (i: number) => string> = {
  red: (i) => `color=c=0x${(200 + (i % 50)).toString(16)}1010:s=64x64:r=8`,
  blue: (i) => `color=c=0x1010${(200 + (i % 50)).toString(16)}:s=64x64:r=8`,
  bars: (i) => `testsrc2=s=64x64:r=8,hue=h=${(i * 7) % 30}`,
  noise: (i) => `color=c=gray:s=64x64:r=8,noise=alls=${60 + i}:allf=t+u:all_seed=${i + 1}`,
};

/** Writes `perKind` short (1 s, 64×64, 8 fps) videos of each kind; returns `{file, label}`. */
export function makeVideos(dir: string, kinds: readonly string[], perKind: number, seconds = 1): { file: string; label: string }[] {
  mkdirSync(dir, { recursive: true });
  const out: { file: string; label: string }[] = [];
  for (const kind of kinds)
    for (let i = 0; i < perKind; i++) {
      const file = path.join(dir, `${kind}_${String(i).padStart(3, '0')}.mp4`);
      writeSyntheticVideo(file, SYNTHETIC_KINDS[kind](i), seconds);
      out.push({ file, label: kind });
    }
  return out;
}

export function makeImage(file: string, colour = 'green'): string {
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colour}:s=64x64`, '-frames:v', '1', file]);
  return file;
}
