import {
  MODULE_SPEC_VERSION,
  PortMismatchError,
  checkInputs,
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
import { decoderTensorNames } from './graph.js';

/** Cross-attention keys/values of one batch of memories, computed once and shared by all rows (beams, answers) of a sample. */
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
}

export function decoderPorts(dims: ModelDims): { inputs: PortSpec[]; outputs: PortSpec[] } {
  const t = dims.text;
  const dh = t.hidden / t.heads;
  const kv = (name: string) => port(name, 'float32', ['batch', { name: 'heads', size: t.heads }, 'memory_tokens', { name: 'head_dim', size: dh }]);
  return {
    inputs: [port('memory', 'float32', ['batch', 'memory_tokens', { name: 'hidden', size: t.encoderWidth }]), port('memory_mask', 'int64', ['batch', 'memory_tokens'])],
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
export class TextDecoder implements PipelineModule {
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
    private readonly prefillSession: ModuleSession,
    private readonly stepSession: ModuleSession,
  ) {
    const ports = decoderPorts(dims);
    this.inputs = ports.inputs;
    this.outputs = ports.outputs;
    this.vocabSize = dims.text.vocab;
    this.layers = dims.text.decoderLayers;
    this.heads = dims.text.heads;
    this.headDim = dims.text.hidden / dims.text.heads;
  }

  static async load(model: ModelSource, options: SessionOptions = {}): Promise<TextDecoder> {
    const [m, p, s] = await Promise.all([
      model.session('decoder', 'memory', options),
      model.session('decoder', 'prefill', options),
      model.session('decoder', 'step', options),
    ]);
    return new TextDecoder(manifestDims(model.manifest), m, p, s);
  }

  async run(inputs: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const mem = await this.encodeMemory(inputs.memory as Tensor<'float32'>, inputs.memory_mask as Tensor<'int64'>);
    return { ...mem.cross, memory_mask: mem.mask };
  }

  /** Projects the memory into every layer's cross-attention keys/values (once per input). */
  async encodeMemory(memory: Tensor<'float32'>, mask: Tensor<'int64'>): Promise<DecoderMemory> {
    checkInputs(this.name, this.inputs, { memory, memory_mask: mask });
    const out = await this.memorySession.run({ memory });
    return { batch: memory.shape[0], cross: out as Record<string, Tensor<'float32'>>, mask };
  }

  /**
   * Decodes `ids [rows, new_tokens]` where `rows = memory.batch × group` (sample-major).
   * `attentionMask [rows, past + new]` is the padding mask over all tokens so far. Returns logits
   * `[rows, new_tokens, vocab]` and the cache extended by the new tokens.
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
      throw new PortMismatchError('decoder.attention_mask', `shape [${attentionMask.shape}] but [${rows}, ${past + newTokens}] (rows, past + new tokens) is needed`, 'total_tokens');
    if (past + newTokens > this.dims.text.maxPositions)
      throw new PortMismatchError('decoder.input_ids', `${past + newTokens} tokens exceed max_position_embeddings ${this.dims.text.maxPositions}`, 'tokens');
    const feeds: Record<string, Tensor> = { input_ids: ids, attention_mask: attentionMask, memory_mask: memory.mask, ...memory.cross };
    if (cache) Object.assign(feeds, cache.past);
    const out = await (cache ? this.stepSession : this.prefillSession).run(feeds);
    const next: Record<string, Tensor<'float32'>> = {};
    for (let i = 0; i < this.layers; i++)
      for (const kind of ['key', 'value'] as const)
        next[decoderTensorNames.pastName(kind, i)] = out[decoderTensorNames.presentName(kind, i)] as Tensor<'float32'>;
    return { logits: out.logits as Tensor<'float32'>, cache: { rows, length: past + newTokens, past: next } };
  }

  /** Reorders (and possibly repeats) cache rows: row `i` of the result is row `order[i]` of `cache` (beam reordering). */
  reorder(cache: DecoderCache, order: readonly number[]): DecoderCache {
    const rowSize = this.heads * cache.length * this.headDim;
    const past: Record<string, Tensor<'float32'>> = {};
    for (const [name, t] of Object.entries(cache.past)) {
      const data = new Float32Array(order.length * rowSize);
      order.forEach((src, dst) => data.set(t.data.subarray(src * rowSize, (src + 1) * rowSize), dst * rowSize));
      past[name] = tensor('float32', t.dims, [order.length, this.heads, cache.length, this.headDim], data);
    }
    return { rows: order.length, length: cache.length, past };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.memorySession.dispose(), this.prefillSession.dispose(), this.stepSession.dispose()]);
  }
}
