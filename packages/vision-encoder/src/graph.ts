import { type ModelDims, type VisionDims } from '@mplug2/core';
import {
  GraphBuilder,
  contextOptions,
  flattenTranspose,
  matmulParam,
  layerNorm,
  linear,
  param,
  quickGelu,
  reshapeTo,
  unmaskedAttention,
  type BuildContext,
  type GraphOptions,
  type Value,
  type WeightPlan,
  type WeightTransform,
} from '@mplug2/core/onnx';

export const VISION_PREFIX = 'visual_encoder.visual.';

/**
 * Bilinear resize of a CLIP position table `(1 + g_old², C)` to `(1 + g_new², C)` exactly as the
 * reference does (class row kept, grid resampled with align_corners=false, no antialias).
 */
export function resizePositionEmbedding(newGrid: number): WeightTransform {
  return {
    id: `pos${newGrid}`,
    outShape: ([, c]) => [1 + newGrid * newGrid, c],
    apply(data, [rows, c]) {
      const oldGrid = Math.round(Math.sqrt(rows - 1));
      if (oldGrid === newGrid) return data;
      const out = new Float32Array((1 + newGrid * newGrid) * c);
      out.set(data.subarray(0, c), 0);
      const src = (o: number) => {
        const s = Math.max((o + 0.5) * (oldGrid / newGrid) - 0.5, 0);
        const i0 = Math.min(Math.floor(s), oldGrid - 1);
        const i1 = Math.min(i0 + 1, oldGrid - 1);
        return { i0, i1, f: s - i0 };
      };
      for (let y = 0; y < newGrid; y++) {
        const sy = src(y);
        for (let x = 0; x < newGrid; x++) {
          const sx = src(x);
          const at = (r: number, q: number) => 1 + (r * oldGrid + q);
          const rowOut = (1 + y * newGrid + x) * c;
          for (let k = 0; k < c; k++) {
            const v00 = data[at(sy.i0, sx.i0) * c + k];
            const v01 = data[at(sy.i0, sx.i1) * c + k];
            const v10 = data[at(sy.i1, sx.i0) * c + k];
            const v11 = data[at(sy.i1, sx.i1) * c + k];
            const top = v00 * (1 - sx.f) + v01 * sx.f;
            const bottom = v10 * (1 - sx.f) + v11 * sx.f;
            out[rowOut + k] = top * (1 - sy.f) + bottom * sy.f;
          }
        }
      }
      return out;
    },
  };
}

/** Conv3d depthwise temporal kernel `(C/2, 1, 3, 1, 1)` → `(3, C/2)`: one row per tap. */
const temporalTaps = (bottleneck: number): WeightTransform => flattenTranspose(bottleneck, 3);

/** Shape helpers that read dynamic sizes (batch·frames, frames) from the input. */
function dimOf(g: GraphBuilder, x: Value, axis: number): Value {
  return g.op('Slice', [g.op('Shape', [x]), g.int64s([axis]), g.int64s([axis + 1])]);
}

function localTemporal(ctx: BuildContext, prefix: string, x: Value, frames: Value, v: VisionDims): Value {
  const { g } = ctx;
  const c = v.width;
  const c2 = c / 2;
  const L = v.patchesPerFrame;
  const patches = g.op('Slice', [x, g.int64s([1]), g.int64s([1 + L]), g.int64s([1])]);
  const n = layerNorm(ctx, patches, `${prefix}.ln`, c, v.eps);
  const down = matmulParam(ctx, n, `${prefix}.down_proj.weight`, [c2, c, 1, 1, 1], flattenTranspose(c2, c), { name: `${prefix}.down_proj.bias`, shape: [c2] });
  // [b·t, L, c2] → [b, t, L, c2]; the depthwise temporal conv mixes neighbouring frames.
  const video = g.op('Reshape', [down, g.op('Concat', [g.int64s([-1]), frames, g.int64s([L, c2])], { axis: 0 })]);
  const padded = g.op('Pad', [video, g.int64s([0, 1, 0, 0, 0, 1, 0, 0])]);
  const taps = param(ctx, `${prefix}.conv.weight`, [c2, 1, 3, 1, 1], temporalTaps(c2));
  const shifted = (start: number, end: number) => g.op('Slice', [padded, g.int64s([start]), g.int64s([end]), g.int64s([1])]);
  const tap = (k: number) => g.op('Gather', [taps, g.int64s([k])], { axis: 0 });
  const t0 = g.op('Mul', [shifted(0, -2), tap(0)]);
  const t1 = g.op('Mul', [shifted(1, -1), tap(1)]);
  const t2 = g.op('Mul', [shifted(2, 2 ** 62), tap(2)]);
  const conv = g.op('Add', [g.op('Add', [g.op('Add', [t0, t1]), t2]), param(ctx, `${prefix}.conv.bias`, [c2])]);
  const act = quickGelu(g, g.op('Reshape', [conv, g.int64s([-1, L, c2])]), ctx.fusedOps);
  const up = matmulParam(ctx, act, `${prefix}.up_proj.weight`, [c, c2, 1, 1, 1], flattenTranspose(c, c2), { name: `${prefix}.up_proj.bias`, shape: [c] });
  // The class token (index 0) is untouched by the adapter: pad its row with zeros.
  return g.op('Add', [x, g.op('Pad', [up, g.int64s([0, 1, 0, 0, 0, 0])])]);
}

function selfAttention(ctx: BuildContext, prefix: string, x: Value, v: VisionDims): Value {
  const { g } = ctx;
  const c = v.width;
  const qkv = matmulParam(ctx, x, `${prefix}.in_proj_weight`, [3 * c, c], flattenTranspose(3 * c, c), { name: `${prefix}.in_proj_bias`, shape: [3 * c] });
  const [q, k, vv] = g.opN('Split', [qkv, g.int64s([c, c, c])], 3, { axis: -1 });
  return linear(ctx, unmaskedAttention(ctx, q, k, vv, v.heads, c, true), `${prefix}.out_proj`, c, c);
}

function temporalBlock(ctx: BuildContext, i: number, x: Value, frames: Value, v: VisionDims): Value {
  const { g } = ctx;
  const p = `${VISION_PREFIX}transformer.resblocks.${i}`;
  let h = localTemporal(ctx, `${p}.lmhra1`, x, frames, v);
  h = g.op('Add', [h, selfAttention(ctx, `${p}.attn`, layerNorm(ctx, h, `${p}.ln_1`, v.width, v.eps), v)]);
  h = localTemporal(ctx, `${p}.lmhra2`, h, frames, v);
  const mlp = linear(
    ctx,
    quickGelu(g, linear(ctx, layerNorm(ctx, h, `${p}.ln_2`, v.width, v.eps), `${p}.mlp.c_fc`, v.width, 4 * v.width), ctx.fusedOps),
    `${p}.mlp.c_proj`,
    4 * v.width,
    v.width,
  );
  return g.op('Add', [h, mlp]);
}

/**
 * The video encoder graph: `pixel_values f32[batch, 3, frames, H, W]` → `video_states
 * f32[batch, 1 + frames·patches, width]`. The frame count is read from the input, so one graph
 * serves any number of frames at the configured resolution.
 */
export function buildVisionEncoderGraph(plan: WeightPlan, dims: ModelDims, options: GraphOptions = {}): GraphBuilder {
  const v = dims.vision;
  const g = new GraphBuilder('mplug2_vision_encoder', options.compute);
  const ctx: BuildContext = { g, plan, file: 'vision.weights', ...contextOptions(options) };
  const c = v.width;
  const L = v.patchesPerFrame;
  const pixels = g.input('pixel_values', 'float32', ['batch', 3, 'frames', v.imageRes, v.imageRes]);
  const frames = dimOf(g, pixels, 2);

  // Conv3d with kernel (1, P, P) is a per-frame Conv2d: fold frames into the batch (video-major).
  const perFrame = g.op('Reshape', [g.op('Transpose', [pixels], { perm: [0, 2, 1, 3, 4] }), g.int64s([-1, 3, v.imageRes, v.imageRes])]);
  const conv = g.op('Conv', [perFrame, param(ctx, `${VISION_PREFIX}conv1.weight`, [c, 3, 1, v.patch, v.patch], reshapeTo([c, 3, v.patch, v.patch]))], {
    kernel_shape: [v.patch, v.patch],
    strides: [v.patch, v.patch],
  });
  const tokens = g.op('Transpose', [g.op('Reshape', [conv, g.int64s([0, c, L])])], { perm: [0, 2, 1] });
  const cls = g.op('Expand', [
    g.op('Reshape', [param(ctx, `${VISION_PREFIX}class_embedding`, [c]), g.int64s([1, 1, c])]),
    g.op('Concat', [dimOf(g, tokens, 0), g.int64s([1, c])], { axis: 0 }),
  ]);
  let x = g.op('Concat', [cls, tokens], { axis: 1 });
  x = g.op('Add', [x, param(ctx, `${VISION_PREFIX}positional_embedding`, [-1, c], resizePositionEmbedding(v.grid))]);
  x = layerNorm(ctx, x, `${VISION_PREFIX}ln_pre`, c, v.eps);
  for (let i = 0; i < v.layers; i++) x = temporalBlock(ctx, i, x, frames, v);

  // Frame class tokens are averaged over time (before ln_post); patches are concatenated frame-major.
  const video = g.op('Reshape', [x, g.op('Concat', [g.int64s([-1]), frames, g.int64s([L + 1, c])], { axis: 0 })]);
  const clsMean = g.op('ReduceMean', [g.op('Slice', [video, g.int64s([0]), g.int64s([1]), g.int64s([2])])], { axes: [1], keepdims: 0 });
  const patches = g.op('Reshape', [g.op('Slice', [video, g.int64s([1]), g.int64s([L + 1]), g.int64s([2])]), g.int64s([0, -1, c])]);
  const out = layerNorm(ctx, g.op('Concat', [clsMean, patches], { axis: 1 }), `${VISION_PREFIX}ln_post`, c, v.eps);
  g.output(out, 'video_states', 'float32', ['batch', 'video_tokens', c]);
  return g;
}
