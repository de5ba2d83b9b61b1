import { PortMismatchError } from './errors.js';
import type { DType, Tensor } from './tensor.js';

/**
 * One axis of a port: a symbolic name, optionally bound to a size that the module's
 * configuration fixes (e.g. `{ name: 'hidden', size: 1024 }`). Unbound axes are dynamic.
 */
export interface DimSpec {
  readonly name: string;
  readonly size?: number;
}

/** A typed module input or output. */
export interface PortSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly DimSpec[];
  readonly description?: string;
}

export function port(name: string, dtype: DType, dims: readonly (string | DimSpec)[], description?: string): PortSpec {
  return { name, dtype, dims: dims.map((d) => (typeof d === 'string' ? { name: d } : d)), description };
}

export function formatPort(p: PortSpec): string {
  return `${p.name}: ${p.dtype}[${p.dims.map((d) => (d.size === undefined ? d.name : `${d.name}=${d.size}`)).join(', ')}]`;
}

/**
 * Checks that an output port can feed an input port: same dtype, same rank, same dim names,
 * and equal sizes where both sides fix one. Throws naming both ports and the dim at fault.
 */
export function checkConnection(from: PortSpec, fromLabel: string, to: PortSpec, toLabel: string): void {
  const where = `${fromLabel} -> ${toLabel}`;
  if (from.dtype !== to.dtype) throw new PortMismatchError(where, `dtype ${from.dtype} cannot feed ${to.dtype} (${formatPort(from)} vs ${formatPort(to)})`);
  if (from.dims.length !== to.dims.length)
    throw new PortMismatchError(where, `rank ${from.dims.length} cannot feed rank ${to.dims.length} (${formatPort(from)} vs ${formatPort(to)})`);
  from.dims.forEach((fd, i) => {
    const td = to.dims[i];
    if (fd.name !== td.name)
      throw new PortMismatchError(where, `axis ${i} is '${fd.name}' but '${td.name}' is expected (${formatPort(from)} vs ${formatPort(to)})`, td.name);
    if (fd.size !== undefined && td.size !== undefined && fd.size !== td.size)
      throw new PortMismatchError(where, `dim '${td.name}' is ${fd.size} but ${td.size} is expected (${formatPort(from)} vs ${formatPort(to)})`, td.name);
  });
}

/** Checks a runtime tensor against a port; symbolic sizes are recorded in `bindings` so one name has one size per call. */
export function checkTensor(p: PortSpec, t: Tensor, label: string, bindings: Map<string, number> = new Map()): void {
  const where = `${label}.${p.name}`;
  if (t.dtype !== p.dtype) throw new PortMismatchError(where, `dtype ${t.dtype}, expected ${p.dtype}`);
  if (t.shape.length !== p.dims.length) throw new PortMismatchError(where, `shape [${t.shape}] has rank ${t.shape.length}, expected ${formatPort(p)}`);
  p.dims.forEach((d, i) => {
    const size = t.shape[i];
    const fixed = d.size ?? bindings.get(d.name);
    if (fixed !== undefined && fixed !== size)
      throw new PortMismatchError(where, `dim '${d.name}' (axis ${i}) is ${size}, expected ${fixed}; shape [${t.shape}] vs ${formatPort(p)}`, d.name);
    bindings.set(d.name, size);
  });
}
