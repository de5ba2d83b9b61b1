import { z } from 'zod';
import { ConfigError } from './errors.js';
import { Mplug2ConfigSchema, TASKS } from './config.js';

export const MANIFEST_FORMAT = 'mplug2-onnx';
export const MANIFEST_VERSION = 1;

const FileEntry = z.object({ path: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() });

const ModuleEntry = z.object({
  /** Graph role → ONNX file inside the model directory. */
  graphs: z.record(z.string(), z.string()),
  /**
   * The same roles emitted with primitive attention and no onnxruntime contrib ops, over the same
   * weights: what backends whose fused kernels are wrong (webgpu) run. Absent when `graphs` are
   * already primitive.
   */
  portableGraphs: z.record(z.string(), z.string()).optional(),
  /** Data files (external weights) the graphs reference. */
  data: z.array(z.string()),
  parameterBytes: z.number().int().nonnegative(),
});

export const ModuleNames = ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder', 'retrieval_heads'] as const;
export type ModuleName = (typeof ModuleNames)[number];

/** The checkpoint tensors of the retrieval heads (`retrieval_heads` module): the converter requires all or none, the Retriever names the missing ones. */
export const RETRIEVAL_HEAD_TENSORS = [
  'vision_proj.weight',
  'vision_proj.bias',
  'text_proj.weight',
  'text_proj.bias',
  'itm_head.weight',
  'itm_head.bias',
] as const;

export const ManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  formatVersion: z.literal(MANIFEST_VERSION),
  task: z.enum(TASKS),
  modelId: z.string(),
  createdBy: z.string(),
  source: z.object({ checkpoint: z.string(), wrapper: z.string().nullable(), tensors: z.number().int() }),
  config: Mplug2ConfigSchema,
  dims: z.object({
    vision: z.record(z.string(), z.number()),
    text: z.record(z.string(), z.number()),
    visionAdapter: z.boolean(),
  }),
  /**
   * How the graphs were emitted: fused onnxruntime ops or primitive ONNX ops; the float type they
   * compute in (`fp16` needs WebGPU's `shader-f16`; absent in models converted before it existed).
   */
  graphOptions: z.object({ fusedAttention: z.boolean(), compute: z.enum(['fp32', 'fp16']).default('fp32') }),
  modules: z.partialRecord(z.enum(ModuleNames), ModuleEntry),
  files: z.array(FileEntry),
  unusedTensors: z.array(z.object({ name: z.string(), reason: z.string() })),
});

export type Manifest = z.infer<typeof ManifestSchema>;

export function parseManifest(raw: unknown, source: string): Manifest {
  const r = ManifestSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(source, `invalid manifest: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}
