/** Types for fuzz-hostile.mjs (hostile `.pth` mutations; see that file). */
export interface HostileMutation {
  readonly kind: string;
  /** Reproducible description, e.g. `#3 broadcast: extra dim 1048576 with stride 0`. */
  readonly label: string;
  readonly bytes: Uint8Array;
  /** The only acceptable error code (a policy refusal), when set. */
  readonly expect?: string;
}
export interface ZipInput {
  name: string;
  data: Uint8Array;
  method?: 0 | 8;
  payload?: Uint8Array;
  size?: number;
  crc?: number;
}
export interface PthAnalysis {
  readonly bytes: Uint8Array;
  readonly pkl: Uint8Array;
  readonly pklEntry: { readonly name: string };
  readonly entries: readonly { readonly name: string; readonly data: Uint8Array }[];
  readonly ops: readonly { readonly op: number; readonly pos: number; readonly end: number }[];
  readonly views: readonly { readonly offset: number; readonly size: number[]; readonly sizeTuple: number; readonly stride: number[]; readonly strideTuple: number }[];
}
export const HOSTILE_KINDS: readonly string[];
export const UNKNOWN_OPCODES: readonly number[];
export function hostileMutations(bytes: Uint8Array, seed: number, count: number, kinds?: readonly string[]): Generator<HostileMutation>;
export function analysePth(bytes: Uint8Array): PthAnalysis;
export function writeZip(entries: readonly ZipInput[]): Uint8Array;
export function pickleOps(pkl: Uint8Array): { op: number; pos: number; end: number }[];
export function rng(seed: number): () => number;
