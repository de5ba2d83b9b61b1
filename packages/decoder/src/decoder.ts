import {
  MODULE_SPEC_VERSION,
  PortMismatchError,
  checkInputs,
  disposeDeviceTensors,
  isDeviceTensor,
  manifestDims,
  port,
  tensor,
  type ModelDims,
  type ModelSource,
  type ModuleSession,
  type PipelineModule,
  type PortSpec,
  type SessionOptions,
  type Tensor,
} from '@mplug2/core';
import { DeviceKv } from './device-kv.js';
import { isIdentitySelection, selectMemorySamples, selectSampleRows } from './memory-selection.js';
import { decoderTensorNames } from './graph.js';

/**
 * Cross-attention keys/values of one batch of memories, computed once and shared by all rows (beams, answers) of a sample.
 * On `webgpu` (`TextDecoderModule.encodeMemory`) `cross` holds `DeviceTensor`s: they stay in GPU memory, fed to every step
 * from there. Release them with `disposeDecoderMemory` once the memory is no longer decoded against (they are also
 * released with the decoder, or when collected).
 */
export interface DecoderMemory {
  readonly batch: number;
  readonly cross: Readonly<Record<string, Tensor<'float32'>>>;
  readonly mask: Tensor<'int64'>;
}

/** Self-attention keys/values of the tokens decoded so far, per row. */
export interface DecoderCache {
  readonly rows: number;
  readonly length: number;
  readonly past: Readonly<Record<string, Tensor<'float32'>>>;
  /**
   * GPU caches only (`webgpu`): a reorder not yet applied — row `i` is row `order[i]` of `past`.
   * `reorder` records it; the next `forward` applies it on the GPU.
   */
  readonly order?: readonly number[];
  /**
   * GPU caches only: the buffers outlive the steps the cache is fed to (a prefix decoded once and reused by several
   * calls), so `forward` does not release them; the owner does, with `disposeDecoderCache`.
   */
  readonly shared?: boolean;
}

/** Releases the GPU memory of a memory's cross-attention keys/values (a no-op for JS tensors). */
export function disposeDecoderMemory(memory: DecoderMemory): void {
  disposeDeviceTensors(memory.cross);
}

/** Releases the GPU memory of a KV cache (a no-op for JS tensors). */
export function disposeDecoderCache(cache: DecoderCache): void {
  disposeDeviceTensors(cache.past);
}

export function decoderPorts(dims: ModelDims): { inputs: PortSpec[]; outputs: PortSpec[] } {
  const t = dims.text;
  const dh = t.hidden / t.heads;
  const kv = (name: string) => port(name, 'float32', ['batch', { name: 'heads', size: t.heads }, 'memory_tokens', { name: 'head_dim', size: dh }]);
  return {
    inputs: [
      port('memory', 'float32', ['batch', 'memory_tokens', { name: 'hidden', size: t.encoderWidth }]),
      port('memory_mask', 'int64', ['batch', 'memory_tokens']),
    ],
    outputs: [
      ...Array.from({ length: t.decoderLayers }, (_, i) => [kv(decoderTensorNames.crossName('key', i)), kv(decoderTensorNames.crossName('value', i))]).flat(),
      port('memory_mask', 'int64', ['batch', 'memory_tokens']),
    ],
  };
}

/**
 * The BERT LM-head decoder. As a pipeline module it turns `memory` into cross-attention keys/values
 * (`run`); `forward` then decodes tokens against them with a self-attention KV cache, so each step
 * costs one token per row regardless of the prefix length.
 */
export class TextDecoderModule implements PipelineModule {
  readonly specVersion = MODULE_SPEC_VERSION;
  readonly name = 'decoder';
  readonly inputs: readonly PortSpec[];
  readonly outputs: readonly PortSpec[];
  readonly vocabSize: number;
  readonly layers: number;
  private readonly headDim: number;
  private readonly heads: number;

  private constructor(
    readonly dims: ModelDims,
    private readonly memorySession: ModuleSession,
    /** Null when the model's prefill role is its step graph (fed an empty past): one session, weights once. */
    private readonly prefillSession: ModuleSession | null,
    private readonly stepSession: ModuleSession,
    /** On `webgpu`: keeps cross K/V and the KV cache in GPU memory (null elsewhere). */
    private readonly device: DeviceKv | null = null,
  ) {
    const ports = decoderPorts(dims);
    this.inputs = ports.inputs;
    this.outputs = ports.outputs;
    this.vocabSize = dims.text.vocab;
    this.layers = dims.text.decoderLayers;
    this.heads = dims.text.heads;
    this.headDim = dims.text.hidden / dims.text.heads;
  }

  static async load(model: ModelSource, options: SessionOptions = {}): Promise<TextDecoderModule> {
    const graphs = model.manifest.modules.decoder?.graphs;
    const sharedStep = !!graphs && graphs.prefill === graphs.step;
    const dims = manifestDims(model.manifest);
    const layerNames = (name: (kind: 'key' | 'value', layer: number) => string) =>
      Array.from({ length: dims.text.decoderLayers }, (_, i) => (['key', 'value'] as const).map((k) => name(k, i))).flat();
    const cacheNames = layerNames(decoderTensorNames.pastName);
    const crossNames = layerNames(decoderTensorNames.crossName);
    // On webgpu the cross K/V and each step's new keys/values stay in GPU memory for the steps that read
    // them (ignored on other backends); `deviceOutputs: []` turns that off (every tensor then round-trips
    // through JS memory).
    const onDevice = options.deviceOutputs === undefined || options.deviceOutputs.length > 0;
    const stepOptions: SessionOptions = { ...options, deviceOutputs: onDevice ? layerNames(decoderTensorNames.presentName) : [] };
    const [m, p, s] = await Promise.all([
      model.session('decoder', 'memory', { ...options, deviceOutputs: onDevice ? crossNames : [] }),
      sharedStep ? null : model.session('decoder', 'prefill', stepOptions),
      model.session('decoder', 'step', stepOptions),
    ]);
    const device = onDevice && s.backend === 'webgpu' ? await DeviceKv.create(cacheNames, crossNames) : null;
    return new TextDecoderModule(dims, m, p, s, device);
  }

  async run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const mem = await this.encodeMemory(inputs.memory as Tensor<'float32'>, inputs.memory_mask as Tensor<'int64'>);
    return { ...mem.cross, memory_mask: mem.mask };
  }

  /**
   * Projects the memory into every layer's cross-attention keys/values (once per input). On `webgpu` they stay in GPU
   * memory: release them with `disposeDecoderMemory` when done.
   */
  async encodeMemory(memory: Tensor<'float32'>, mask: Tensor<'int64'>): Promise<DecoderMemory> {
    checkInputs(this.name, this.inputs, { memory, memory_mask: mask });
    const out = await this.memorySession.run({ memory });
    return { batch: memory.shape[0], cross: out as Record<string, Tensor<'float32'>>, mask };
  }

  /**
   * Decodes `ids [rows, new_tokens]` where `rows = memory.batch × group` (sample-major).
   * `attentionMask [rows, past + new]` is the padding mask over all tokens so far. Returns logits
   * `[rows, new_tokens, vocab]` and the cache extended by the new tokens. On `webgpu` the cache
   * stays in GPU memory and `cache` is consumed (its buffers are released, unless it is `shared`):
   * continue with the returned one.
   */
  async forward(
    memory: DecoderMemory,
    ids: Tensor<'int64'>,
    attentionMask: Tensor<'int64'>,
    cache?: DecoderCache,
  ): Promise<{ logits: Tensor<'float32'>; cache: DecoderCache }> {
    const [rows, newTokens] = ids.shape;
    const past = cache?.length ?? 0;
    if (rows % memory.batch !== 0)
      throw new PortMismatchError('decoder.input_ids', `rows ${rows} is not a multiple of the memory batch ${memory.batch}`, 'rows');
    if (cache && cache.rows !== rows) throw new PortMismatchError('decoder.cache', `cache has ${cache.rows} rows, input_ids has ${rows}`, 'rows');
    if (attentionMask.shape[0] !== rows || attentionMask.shape[1] !== past + newTokens)
      throw new PortMismatchError(
        'decoder.attention_mask',
        `shape [${attentionMask.shape}] but [${rows}, ${past + newTokens}] (rows, past + new tokens) is needed`,
        'total_tokens',
      );
    if (past + newTokens > this.dims.text.maxPositions)
      throw new PortMismatchError('decoder.input_ids', `${past + newTokens} tokens exceed max_position_embeddings ${this.dims.text.maxPositions}`, 'tokens');
    const feeds: Record<string, Tensor> = { input_ids: ids, attention_mask: attentionMask, memory_mask: memory.mask, ...memory.cross };
    const fedPast = cache && this.device ? await this.device.past(cache) : cache?.past;
    if (fedPast) Object.assign(feeds, fedPast);
    else if (!this.prefillSession)
      for (let i = 0; i < this.layers; i++)
        for (const kind of ['key', 'value'] as const)
          feeds[decoderTensorNames.pastName(kind, i)] = tensor(
            'float32',
            ['rows', 'heads', 'past_tokens', 'head_dim'],
            [rows, this.heads, 0, this.headDim],
            new Float32Array(0),
          );
    const out = await (cache || !this.prefillSession ? this.stepSession : this.prefillSession).run(feeds);
    if (cache && fedPast && this.device) this.device.consumed(cache, fedPast);
    const next: Record<string, Tensor<'float32'>> = {};
    for (let i = 0; i < this.layers; i++)
      for (const kind of ['key', 'value'] as const)
        next[decoderTensorNames.pastName(kind, i)] = out[decoderTensorNames.presentName(kind, i)] as Tensor<'float32'>;
    return { logits: out.logits as Tensor<'float32'>, cache: { rows, length: past + newTokens, past: next } };
  }

  /** Reorders (and possibly repeats) cache rows: row `i` of the result is row `order[i]` of `cache` (beam reordering). */
  reorder(cache: DecoderCache, order: readonly number[]): DecoderCache {
    // GPU cache: record the order; the next forward gathers the rows on the GPU.
    if (this.device && DeviceKv.isDeviceCache(cache))
      return {
        rows: order.length,
        length: cache.length,
        past: cache.past,
        order: cache.order ? order.map((i) => cache.order![i]) : [...order],
        shared: cache.shared,
      };
    const rowSize = this.heads * cache.length * this.headDim;
    const past: Record<string, Tensor<'float32'>> = {};
    for (const [name, t] of Object.entries(cache.past)) {
      const data = new Float32Array(order.length * rowSize);
      order.forEach((src, dst) => data.set(t.data.subarray(src * rowSize, (src + 1) * rowSize), dst * rowSize));
      past[name] = tensor('float32', t.dims, [order.length, this.heads, cache.length, this.headDim], data);
    }
    return { rows: order.length, length: cache.length, past };
  }

  /**
   * A memory holding only the given samples (in that order), for decoding a subset of the batch (finished beam-search
   * samples, blocks of ranked answers). GPU memories are gathered on the GPU into new device tensors: release them with
   * `disposeDecoderMemory` (the result is `memory` itself when the selection is the identity). JS memories are
   * selected as `selectMemorySamples` does.
   */
  async selectMemory(memory: DecoderMemory, samples: readonly number[]): Promise<DecoderMemory> {
    if (!this.device || !Object.values(memory.cross).some(isDeviceTensor)) return selectMemorySamples(memory, samples);
    if (isIdentitySelection(memory, samples)) return memory;
    const m = memory.mask;
    const mask = tensor(
      'int64',
      m.dims,
      [samples.length, ...m.shape.slice(1)],
      selectSampleRows(m.data, memory.batch, samples, (n) => new BigInt64Array(n)),
    );
    return { batch: samples.length, cross: await this.device.selectMemory(memory.cross, samples), mask };
  }

  /** For `await using`: the same as `dispose()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  async dispose(): Promise<void> {
    await Promise.all([this.memorySession.dispose(), this.prefillSession?.dispose(), this.stepSession.dispose(), this.device?.dispose()]);
  }
}
