// Types of kernel-graphs.mjs for the TypeScript browser page that imports it.
export interface KernelVariant {
  readonly name: string;
  readonly kind: 'fp32' | 'int8' | 'q4';
  readonly blockSize?: number;
  readonly symmetric?: boolean;
  readonly accuracyLevel?: number;
}
export declare const KERNEL_SHAPES: readonly (readonly [number, number])[];
export declare function kernelValues(n: number): Float32Array;
export declare function kernelGraph(onnx: unknown, variant: KernelVariant, M: number, K: number, N: number): Uint8Array;
export declare function kernelThroughput(
  core: unknown,
  onnx: unknown,
  variants: readonly KernelVariant[],
  options: { M: number; rounds?: number; backend?: string; threads?: number; shapes?: readonly (readonly [number, number])[] },
): Promise<Record<string, number>>;
