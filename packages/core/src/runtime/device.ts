import { Mplug2Error } from '../errors.js';
import type { DType, DTypeArrays, Tensor } from '../tensor.js';

/**
 * A tensor that stays in device memory (a WebGPU buffer owned by onnxruntime) between runs:
 * module outputs that feed other sessions on the same device (decoder cross K/V, the KV cache
 * across decoding steps) never round-trip through JS memory. Dtype, dims and shape are known;
 * reading `data` throws — use `ModuleSession.download` (or `downloadTensor`) for the values.
 */
export interface DeviceTensor<D extends DType = DType> extends Tensor<D> {
  readonly location: 'gpu-buffer';
  /** The onnxruntime tensor (an `ort.Tensor` with `location === 'gpu-buffer'`). */
  readonly handle: unknown;
  /** Label for errors (`module.output`). */
  readonly label: string;
  /** The backend whose device holds it (always `webgpu` today). */
  readonly backend: 'webgpu';
  readonly disposed: boolean;
  /** Releases the device buffer now (also done when the tensor is garbage-collected). */
  dispose(): void;
}

interface OrtDeviceTensor {
  readonly dims: readonly number[];
  readonly type: string;
  dispose(): void;
}

/**
 * The session a device tensor came from. onnxruntime frees a session's device buffers when the
 * session is released, and disposing a tensor after that crashes onnxruntime-node: the session
 * disposes its live tensors first, then marks itself released so late disposals are no-ops.
 */
export interface DeviceTensorOwner {
  released: boolean;
  readonly live: Set<WeakRef<DeviceTensor>>;
}

export function newDeviceTensorOwner(): DeviceTensorOwner {
  return { released: false, live: new Set() };
}

/** Disposes the owner's live tensors and marks it released (call right before releasing the session). */
export function releaseDeviceTensorOwner(owner: DeviceTensorOwner): void {
  for (const ref of owner.live) ref.deref()?.dispose();
  owner.live.clear();
  owner.released = true;
}

// Buffers of tensors that are dropped without dispose() are released when the wrapper is collected.
const finalizer =
  typeof FinalizationRegistry !== 'undefined'
    ? new FinalizationRegistry<{ ortTensor: OrtDeviceTensor; owner: DeviceTensorOwner | null; ref: WeakRef<DeviceTensor> | null }>((h) => {
        if (h.ref) h.owner?.live.delete(h.ref);
        if (h.owner?.released) return;
        try {
          h.ortTensor.dispose();
        } catch {
          /* already released */
        }
      })
    : null;

class GpuTensor<D extends DType> implements DeviceTensor<D> {
  readonly location = 'gpu-buffer' as const;
  readonly backend = 'webgpu' as const;
  private released = false;
  private readonly ref: WeakRef<DeviceTensor> | null;

  constructor(
    readonly dtype: D,
    readonly dims: readonly string[],
    readonly shape: readonly number[],
    private readonly ortTensor: OrtDeviceTensor,
    readonly label: string,
    private readonly owner: DeviceTensorOwner | null,
  ) {
    this.ref = typeof WeakRef !== 'undefined' && owner ? new WeakRef<DeviceTensor>(this) : null;
    if (this.ref) owner!.live.add(this.ref);
    finalizer?.register(this, { ortTensor, owner, ref: this.ref }, this);
  }

  get handle(): unknown {
    if (this.released) throw new Mplug2Error('TENSOR_DISPOSED', `${this.label}: device tensor was disposed`);
    return this.ortTensor;
  }

  get data(): DTypeArrays[D] {
    throw new Mplug2Error('TENSOR_ON_DEVICE', `${this.label}: the tensor is in GPU memory; download it first (ModuleSession.download / downloadTensor)`);
  }

  get disposed(): boolean {
    return this.released;
  }

  /** For `using`: the same as `dispose()`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  dispose(): void {
    if (this.released) return;
    this.released = true;
    finalizer?.unregister(this);
    if (this.ref) this.owner?.live.delete(this.ref);
    if (!this.owner?.released) this.ortTensor.dispose();
  }
}

/** Wraps an onnxruntime GPU-buffer tensor (internal: sessions create these). */
export function wrapDeviceTensor<D extends DType>(
  dtype: D,
  dims: readonly string[],
  ortTensor: OrtDeviceTensor,
  label: string,
  owner: DeviceTensorOwner | null = null,
): DeviceTensor<D> {
  return new GpuTensor(dtype, dims, ortTensor.dims.map(Number), ortTensor, label, owner);
}

export function isDeviceTensor(t: unknown): t is DeviceTensor {
  return t instanceof GpuTensor;
}

/** Disposes every device tensor among `tensors` (CPU tensors are ignored). */
export function disposeDeviceTensors(tensors: Iterable<Tensor> | Record<string, Tensor>): void {
  const list = Symbol.iterator in (tensors as object) ? (tensors as Iterable<Tensor>) : Object.values(tensors as Record<string, Tensor>);
  for (const t of list) if (isDeviceTensor(t)) t.dispose();
}
