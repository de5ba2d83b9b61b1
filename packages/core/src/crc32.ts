// CRC-32 (IEEE 802.3, the ZIP checksum): the one implementation, for the ZIP reader, the torch.save
// writer and the test builders. Table driven in JS; node:zlib's native one where the runtime has it.

let CRC_TABLE: Uint32Array | undefined;
function crcTable(): Uint32Array {
  if (CRC_TABLE) return CRC_TABLE;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return (CRC_TABLE = t);
}

/** CRC-32 of `data`, continuing from `crc` (0 to start). Pure JS. */
export function crc32(data: Uint8Array, crc = 0): number {
  const t = crcTable();
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

type Zlib = typeof import('node:zlib');
let zlibModule: Promise<Zlib | null> | undefined;
/** node:zlib if this runtime has it (Node), else null (browser). Loaded on first use only. */
export function loadZlib(): Promise<Zlib | null> {
  // The specifier is built at run time so browser bundlers never try to resolve a Node built-in.
  zlibModule ??= (import(/* @vite-ignore */ /* webpackIgnore: true */ ['node', 'zlib'].join(':')) as Promise<Zlib>).then(
    (m) => m as Zlib,
    () => null,
  );
  return zlibModule;
}

/**
 * CRC-32 continuing from `crc`, with node:zlib's native implementation when present (Node ≥ 20.15),
 * else the JS one: for large data (tensor records, whole checkpoint entries).
 */
export async function crc32Fast(data: Uint8Array, crc = 0): Promise<number> {
  const z = await loadZlib();
  if (z && typeof z.crc32 === 'function') return z.crc32(data, crc) >>> 0;
  return crc32(data, crc);
}
