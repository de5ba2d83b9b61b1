/**
 * Test-mode frame sampling of the reference (`get_frame_indices(num_frames, vlen, sample='middle')`).
 * Browser-safe: no Node built-ins.
 */
import { InvalidOptionError } from '@mplug2/core';

function checkCount(option: string, value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(option, `${what} must be an integer >= 1, got ${String(value)}`);
}

/**
 * Indices (0-based, into the decoded frame sequence) of the frames the reference feeds the model.
 *
 * Exactly the reference's 'middle' sampling:
 * ```
 * acc = min(numFrames, vlen)
 * e_i = trunc(float64(i) * float64(vlen / acc))  for i < acc,   e_acc = vlen     (np.linspace(...).astype(int))
 * f_i = floor((e_i + e_{i+1} - 1) / 2)
 * ```
 * then padded with the last index up to `numFrames` when the video is shorter than `numFrames`.
 * A single image is a video with `vlen = 1`: every index is 0.
 *
 * @throws InvalidOptionError when `numFrames` or `vlen` is not an integer >= 1.
 */
export function sampleFrameIndices(numFrames: number, vlen: number): number[] {
  checkCount('numFrames', numFrames, 'the number of frames to sample');
  checkCount('vlen', vlen, 'the number of frames in the video');
  const acc = Math.min(numFrames, vlen);
  // np.linspace(0, vlen, acc + 1): arange(acc + 1) * (vlen / acc), last element set to vlen exactly.
  const step = vlen / acc;
  const edges = new Array<number>(acc + 1);
  for (let i = 0; i < acc; i++) edges[i] = Math.trunc(i * step);
  edges[acc] = vlen;
  const out: number[] = [];
  for (let i = 0; i < acc; i++) out.push(Math.floor((edges[i] + edges[i + 1] - 1) / 2));
  const last = out[out.length - 1];
  while (out.length < numFrames) out.push(last);
  return out;
}
