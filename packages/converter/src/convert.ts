import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ConfigError,
  FileWeightSink,
  InvalidOptionError,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_HASH_FILE,
  MANIFEST_VERSION,
  RETRIEVAL_HEAD_TENSORS,
  TASKS,
  deriveDims,
  openCheckpoint,
  parseConfig,
  sha256File,
  type Checkpoint,
  type ComputePrecision,
  type Manifest,
  type ModelDims,
  type ModuleName,
  type Mplug2Config,
  type Task,
} from '@mplug2/core';
import { DEFAULT_MAX_DATA_FILE_BYTES, WeightPlan, type GraphBuilder, type WeightSource, type WeightStorage } from '@mplug2/core/onnx';
import { buildDecoderGraph, buildDecoderMemoryGraph, LM_HEAD_PREFIX, DECODER_PREFIX } from '@mplug2/decoder';
import { buildFusionGraph, buildItmHeadGraph } from '@mplug2/fusion';
import { buildTextEncoderGraph, buildTextProjGraph } from '@mplug2/text-encoder';
import { buildUniversalGraph, buildVisionProjGraph } from '@mplug2/universal';
import { buildVisionEncoderGraph } from '@mplug2/vision-encoder';
import { PRESETS } from './presets.js';

export interface ConvertOptions {
  readonly checkpoint: string;
  readonly out: string;
  /** A config file path, a preset name, or a parsed config. */
  readonly config: string | Mplug2Config;
  /** Defaults to the config's `kind`. */
  readonly task?: Task;
  /**
   * Emit unmasked attention (vision encoder, universal layers) as onnxruntime's fused
   * `com.microsoft.MultiHeadAttention` (default) or as primitive ONNX ops for runtimes without it.
   */
  readonly fusedAttention?: boolean;
  /**
   * Other onnxruntime contrib fused ops (BiasGelu, QuickGelu, SkipLayerNormalization); default: same
   * as `fusedAttention`.
   */
  readonly fusedOps?: boolean;
  /**
   * Weight storage: `fp32` (default); `int8` = matmul weights quantized per output column, run by
   * onnxruntime's dynamically quantized matmul (activations quantized per call); `fp16` = weights
   * stored as float16 and cast back to float32 in the graph (half the size, fp32 compute on CPU);
   * `q4` = matmul weights in 4-bit blocks (`Q4_SCHEME`), run by onnxruntime's `MatMulNBits`
   * (cpu, wasm and webgpu), about 0.15× the fp32 files at the large size.
   */
  readonly dtype?: WeightStorage;
  /**
   * The float type graphs compute in: `fp32` (default), or `fp16` = float16 activations and weights
   * inside each graph (float32 ports, LayerNorm and decoder logits in float32) for WebGPU adapters
   * with `shader-f16`. Implies, and needs, `dtype: 'fp16'`.
   */
  readonly compute?: ComputePrecision;
  /**
   * Largest data file written, in bytes (default `DEFAULT_MAX_DATA_FILE_BYTES`, 1 GiB): a module
   * family's weights roll over into numbered chunks (`vision.weights`, `vision.1.weights`, …) so that
   * onnxruntime-web, which takes each external-data file as one ArrayBuffer, can load every file.
   */
  readonly maxDataFileBytes?: number;
  readonly onProgress?: (event: { stage: string; done: number; total: number; detail?: string }) => void;
}

export interface ConvertResult {
  readonly manifest: Manifest;
  readonly dir: string;
  readonly unused: { name: string; reason: string }[];
}

/** Pre-trained checkpoints keep `bert.`/`fusion.` segments that the task models drop (reference §10.4). */
function renamePretrainKey(name: string): string {
  if (name.includes('decode') || !(name.includes('fusion') || name.includes('bert'))) return name;
  return name.replaceAll('fusion.', '').replaceAll('bert.', '');
}

/**
 * A checkpoint view with task-model key names: pre-trained keys renamed (§10.4) and any fairscale
 * `_checkpoint_wrapped_module.` segment removed (§10.3).
 */
function taskView(ckpt: Checkpoint): WeightSource & { names: string[] } {
  const needsRename = ckpt.list().some((t) => t.name.startsWith('text_encoder.bert.'));
  const map = new Map<string, string>();
  for (const t of ckpt.list()) {
    const name = t.name.replaceAll('_checkpoint_wrapped_module.', '');
    map.set(needsRename ? renamePretrainKey(name) : name, t.name);
  }
  return {
    file: ckpt.file,
    names: [...map.keys()],
    has: (n) => map.has(n),
    info: (n) => ckpt.info(map.get(n)!),
    readFloat32: (n) => ckpt.readFloat32(map.get(n)!),
  };
}

async function loadConfig(config: ConvertOptions['config']): Promise<Mplug2Config> {
  if (typeof config !== 'string') return parseConfig(config, 'config');
  const preset = PRESETS[config];
  if (preset) return preset.config();
  let raw: string;
  try {
    raw = await readFile(config, 'utf8');
  } catch (e) {
    throw new InvalidOptionError(
      'config',
      `'${config}' is neither a readable file nor a preset (${Object.keys(PRESETS).join(', ')}): ${(e as NodeJS.ErrnoException).code}`,
    );
  }
  try {
    return parseConfig(JSON.parse(raw), config);
  } catch (e) {
    if (e instanceof SyntaxError) throw new ConfigError(config, `not valid JSON: ${e.message}`);
    throw e;
  }
}

function countVisionLayers(names: readonly string[]): number {
  const re = /^visual_encoder\.visual\.transformer\.resblocks\.(\d+)\./;
  let n = 0;
  for (const name of names) {
    const m = re.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** Why a checkpoint tensor is not converted (reference §10.3). */
function unusedReason(name: string, task: Task, dims: ModelDims): string {
  if (/^[a-z_]+_m\./.test(name) || /_m$/.test(name.split('.')[0])) return 'momentum (distillation) copy, training only';
  if (/_queue$|queue_ptr/.test(name)) return 'contrastive queue buffer, training only';
  if (name === 'visual_encoder.visual.proj') return 'CLIP projection, not applied by mPLUG-2';
  if (name.startsWith('visual_encoder.') && !name.startsWith('visual_encoder.visual.')) return 'CLIP text tower, unused';
  if (name === 'temp') return 'ITC temperature: recorded as model_config.temp (probabilities only, ranking uses raw cosine)';
  if (/_vision\./.test(name)) return '*_vision FFN copy, never called';
  if (name.endsWith('position_ids')) return 'position id buffer';
  if (name.startsWith('text_decoder.bert.encoder.layer.') && name.endsWith('.latents')) return 'decoder latents, unused';
  if (name.startsWith(`${LM_HEAD_PREFIX}decoder.`)) return 'tied to the decoder word embeddings / LM bias (stored once)';
  if (name.startsWith('fusion_encoder.embeddings.')) return 'fusion embeddings, unused (fusion reads text states)';
  const slot = /^fusion_encoder\.encoder\.layer\.(\d+)\./.exec(name);
  if (slot && Number(slot[1]) < dims.text.fusionSlots - dims.text.fusionLayers) return 'fusion slot below the start layer, never run';
  if (task === 'caption' && (name.startsWith('fusion_encoder.') || name.startsWith('text_encoder.embeddings.'))) return 'not used by captioning';
  if (task === 'caption' && name.startsWith('text_encoder.encoder.layer.')) return 'text layer not used by captioning';
  return `not used by the ${task} task`;
}

/** The ITC/ITM head tensors of the mPLUG v1 recipe (spec §11.3) that retrieval needs. */

/** True when the checkpoint carries any retrieval head (then all of them must be there and fit). */
export function hasRetrievalHeads(source: Pick<WeightSource, 'has'>): boolean {
  return RETRIEVAL_HEAD_TENSORS.some((n) => source.has(n));
}

function modulesFor(task: Task, source: WeightSource): ModuleName[] {
  const hasDecoder = source.has(`${DECODER_PREFIX}embeddings.word_embeddings.weight`);
  if (task === 'caption') return ['vision_encoder', 'universal', 'decoder'];
  if (task === 'qa') return ['vision_encoder', 'universal', 'text_encoder', 'fusion', 'decoder'];
  return [
    'vision_encoder',
    'universal',
    'text_encoder',
    'fusion',
    ...(hasDecoder ? (['decoder'] as const) : []),
    ...(hasRetrievalHeads(source) ? (['retrieval_heads'] as const) : []),
  ];
}

/**
 * Converts an official mPLUG-2 `.pth` (or safetensors) into a model directory: one ONNX graph per
 * module (decoder: memory K/V, prefill, cached step), weights streamed into data files per module
 * family (split into chunks of at most `maxDataFileBytes`), and a zod-validated manifest with sha256
 * of every file. Every tensor a module needs is validated up front; all missing or mis-shaped ones
 * are reported together.
 */
export async function convertCheckpoint(options: ConvertOptions): Promise<ConvertResult> {
  const config = await loadConfig(options.config);
  const task: Task = options.task ?? config.kind ?? 'qa';
  if (!TASKS.includes(task)) throw new InvalidOptionError('task', `'${task}' is not one of ${TASKS.join(', ')}`);
  const ckpt = await openCheckpoint(options.checkpoint);
  try {
    const source = taskView(ckpt);
    const visionLayers = countVisionLayers(source.names);
    if (visionLayers === 0)
      throw new ConfigError(ckpt.file, 'no visual_encoder.visual.transformer.resblocks.* tensors: this is not an mPLUG-2 video checkpoint');
    const dims = deriveDims(config, visionLayers, typeof options.config === 'string' ? options.config : 'config');
    const plan = new WeightPlan(source);
    const modules = modulesFor(task, source);
    const tied =
      !source.has(`${LM_HEAD_PREFIX}decoder.weight`) ||
      ckpt.sharesStorage(`${LM_HEAD_PREFIX}decoder.weight`, `${DECODER_PREFIX}embeddings.word_embeddings.weight`);
    const compute = options.compute ?? 'fp32';
    if (!['fp32', 'fp16'].includes(compute)) throw new InvalidOptionError('compute', `'${compute}' is not one of fp32, fp16`);
    const dtype = options.dtype ?? (compute === 'fp16' ? 'fp16' : 'fp32');
    if (!['fp32', 'fp16', 'int8', 'q4'].includes(dtype)) throw new InvalidOptionError('dtype', `'${dtype}' is not one of fp32, fp16, int8, q4`);
    if (compute === 'fp16' && dtype !== 'fp16') throw new InvalidOptionError('compute', `fp16 compute needs fp16 weights (dtype 'fp16'), not '${dtype}'`);
    const maxDataFileBytes = options.maxDataFileBytes ?? DEFAULT_MAX_DATA_FILE_BYTES;
    if (!Number.isSafeInteger(maxDataFileBytes) || maxDataFileBytes <= 0)
      throw new InvalidOptionError('maxDataFileBytes', `${maxDataFileBytes} is not a positive whole number of bytes`);
    const graphOptions = { fusedAttention: options.fusedAttention ?? true, compute };
    const build = { ...graphOptions, fusedOps: options.fusedOps ?? graphOptions.fusedAttention, weights: dtype };
    const moduleGraphs = (m: ModuleName, b: typeof build): Record<string, GraphBuilder> => {
      if (m === 'vision_encoder') return { main: buildVisionEncoderGraph(plan, dims, b) };
      if (m === 'universal') return { main: buildUniversalGraph(plan, dims, b) };
      if (m === 'text_encoder') return { main: buildTextEncoderGraph(plan, dims, 'norm', b) };
      if (m === 'fusion') return { main: buildFusionGraph(plan, dims, b) };
      if (m === 'decoder') {
        // The cached step graph starts from an empty cache when no past is fed, so it is also the
        // prefill graph: one file, and one session (weights resident once) for both roles.
        const step = buildDecoderGraph(plan, dims, true, { ...b, tiedLmHead: tied });
        return { memory: buildDecoderMemoryGraph(plan, dims, undefined, b), step, prefill: step };
      }
      // Token 0 of the post-visn_emb_norm states / of the `norm`-mode text states (README, Retrieval).
      const embedDim = config.model_config.embed_dim ?? (source.has('vision_proj.weight') ? source.info('vision_proj.weight').shape[0] : 256);
      return {
        vision_proj: buildVisionProjGraph(plan, dims, embedDim),
        text_proj: buildTextProjGraph(plan, dims, embedDim),
        itm: buildItmHeadGraph(plan, dims),
      };
    };
    const graphs: Partial<Record<ModuleName, Record<string, GraphBuilder>>> = {};
    // Fused-attention graphs also get a portable form (primitive ops over the same weights, a few
    // hundred KB of graph) for backends whose fused kernels are wrong: one conversion serves all.
    const portable: typeof graphs = {};
    for (const m of modules) {
      graphs[m] = moduleGraphs(m, build);
      if (graphOptions.fusedAttention)
        portable[m] = m === 'retrieval_heads' ? graphs[m] : moduleGraphs(m, { ...build, fusedAttention: false, fusedOps: false });
    }
    plan.validate();

    await mkdir(options.out, { recursive: true });
    const sink = new FileWeightSink(options.out, maxDataFileBytes);
    let dataFiles: string[];
    try {
      await plan.write(sink, (done, total, name) => options.onProgress?.({ stage: 'weights', done, total, detail: name }));
      dataFiles = sink.files();
    } finally {
      await sink.close();
    }
    const bytesPerFile = plan.bytesPerFile();
    const moduleEntries: Manifest['modules'] = {};
    const written: string[] = [...dataFiles];
    const graphFiles = new Map<GraphBuilder, string>();
    const writeGraphs = async (m: ModuleName, roles: Record<string, GraphBuilder>, suffix: string): Promise<Record<string, string>> => {
      const files: Record<string, string> = {};
      for (const [role, g] of Object.entries(roles)) {
        let file = graphFiles.get(g);
        if (!file) {
          file = `${role === 'main' ? m : `${m}_${role}`}${suffix}.onnx`;
          await writeFile(path.join(options.out, file), g.toBytes(`mPLUG-2 ${m} (${role}${suffix ? `, ${suffix.slice(1)}` : ''})`));
          graphFiles.set(g, file);
          written.push(file);
        }
        files[role] = file;
      }
      return files;
    };
    for (const [m, roles] of Object.entries(graphs) as [ModuleName, Record<string, GraphBuilder>][]) {
      const entry: NonNullable<Manifest['modules'][ModuleName]> = { graphs: await writeGraphs(m, roles, ''), data: [], parameterBytes: 0 };
      if (portable[m]) entry.portableGraphs = await writeGraphs(m, portable[m], '.portable');
      // Only the chunks this module's graphs point into (text.weights chunks are shared by universal and text_encoder).
      const referenced = new Set([...Object.values(roles), ...Object.values(portable[m] ?? {})].flatMap((g) => plan.dataFilesOf(g)));
      entry.data = dataFiles.filter((f) => referenced.has(f));
      entry.parameterBytes = entry.data.reduce((sum, f) => sum + (bytesPerFile.get(f) ?? 0), 0);
      moduleEntries[m] = entry;
      options.onProgress?.({ stage: 'graphs', done: Object.keys(moduleEntries).length, total: modules.length, detail: m });
    }
    const files = [];
    for (const f of written) {
      const full = path.join(options.out, f);
      const { size } = await stat(full);
      files.push({ path: f, sha256: await sha256File(full), bytes: size });
    }
    // The ITC temperature is a scalar: it travels in the config (ALBEF-family yaml key `temp`).
    // So does the ITC width when the config left it out (read from `vision_proj.weight`).
    let finalConfig: Mplug2Config = { ...config, kind: task };
    if (moduleEntries.retrieval_heads) {
      const embed_dim = source.info('vision_proj.weight').shape[0];
      const temp = source.has('temp') ? (await source.readFloat32('temp'))[0] : undefined;
      finalConfig = { ...finalConfig, model_config: { ...finalConfig.model_config, embed_dim, ...(temp === undefined ? {} : { temp }) } };
    }
    const unused = source.names.filter((n) => !plan.used.has(n)).map((name) => ({ name, reason: unusedReason(name, task, dims) }));
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      formatVersion: MANIFEST_VERSION,
      task,
      modelId: createHash('sha256')
        .update(files.map((f) => f.sha256).join(''))
        .digest('hex')
        .slice(0, 16),
      createdBy: '@mplug2/tasks convert',
      source: { checkpoint: path.basename(options.checkpoint), wrapper: ckpt.wrapper, tensors: ckpt.list().length },
      config: finalConfig,
      dims: dims as unknown as Manifest['dims'],
      graphOptions,
      modules: moduleEntries,
      files,
      unusedTensors: unused,
    };
    const json = JSON.stringify(manifest, null, 2) + '\n';
    await writeFile(path.join(options.out, MANIFEST_FILE), json);
    await writeFile(path.join(options.out, MANIFEST_HASH_FILE), createHash('sha256').update(json).digest('hex') + '\n');
    return { manifest, dir: options.out, unused };
  } finally {
    await ckpt.close();
  }
}
