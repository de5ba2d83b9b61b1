/**
 * The frame table of an MP4/MOV video track, read from the container's sample tables (no
 * decoding): how many frames the container holds (what decord's `len(reader)` and ffprobe's
 * `nb_frames` report, the reference's `vlen`) and when each frame is presented, so that the same
 * frame indices the reference samples can be shown by a browser; and where every sample's bytes
 * lie, which are keyframes and the codec configuration, so a WebCodecs `VideoDecoder` can decode
 * them (webcodecs.ts). Browser-safe.
 */

export interface Mp4FrameTable {
  /** Frames in the video track (`stsz` sample count). */
  readonly frameCount: number;
  /** Presentation start of every frame in seconds, in presentation order, relative to the first frame. */
  readonly times: Float64Array;
  /** Display duration of every frame in seconds (same order). */
  readonly durations: Float64Array;
  readonly timescale: number;
  readonly width: number;
  readonly height: number;
  /** Sample entry type (`avc1`, `hvc1`, `vp09`, `av01`, ...). */
  readonly codec: string;
  /** Average frame rate: frames / (last end − first start). */
  readonly fps: number;
  readonly durationS: number;
  /** Every sample (one coded frame) in decode order. */
  readonly samples: Mp4Samples;
  /** Decode-order sample of every frame in presentation order (they differ with B-frames). */
  readonly sampleOfFrame: Uint32Array;
  /** The sample entry's decoder configuration box (`avcC`, `hvcC`, `vpcC`, `av1C`), payload without the box header. */
  readonly codecConfig: { readonly type: string; readonly data: Uint8Array } | null;
}

/** Per-sample columns, decode order. */
export interface Mp4Samples {
  /** Byte offset of the sample in the file (`stco`/`co64` + `stsc` + `stsz`). */
  readonly offset: Float64Array;
  readonly size: Uint32Array;
  /** Presentation (composition) time in timescale units, `stts` + `ctts`, relative to the first frame. */
  readonly pts: Float64Array;
  /** 1 for sync samples (keyframes, `stss`; every sample when `stss` is absent). */
  readonly sync: Uint8Array;
}

interface Box {
  type: string;
  start: number; // payload start
  end: number;
}

/** Reads `[start, end)` of the source. */
export type ByteReader = (start: number, end: number) => Promise<Uint8Array>;

function boxesIn(view: DataView, start: number, end: number): Box[] {
  const out: Box[] = [];
  let o = start;
  while (o + 8 <= end) {
    let size = view.getUint32(o);
    const type = String.fromCharCode(view.getUint8(o + 4), view.getUint8(o + 5), view.getUint8(o + 6), view.getUint8(o + 7));
    let header = 8;
    if (size === 1) {
      if (o + 16 > end) break;
      size = Number(view.getBigUint64(o + 8));
      header = 16;
    } else if (size === 0) {
      size = end - o;
    }
    if (size < header || o + size > end) break;
    out.push({ type, start: o + header, end: o + size });
    o += size;
  }
  return out;
}

const child = (view: DataView, box: Box, type: string): Box | undefined => boxesIn(view, box.start, box.end).find((b) => b.type === type);

/** Finds the top-level `moov` box by walking box headers (works for faststart and moov-at-end files). */
async function readMoov(read: ByteReader, size: number): Promise<DataView | null> {
  let o = 0;
  while (o + 8 <= size) {
    const h = await read(o, Math.min(size, o + 16));
    const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
    let boxSize = v.getUint32(0);
    const type = String.fromCharCode(h[4], h[5], h[6], h[7]);
    let header = 8;
    if (boxSize === 1) {
      boxSize = Number(v.getBigUint64(8));
      header = 16;
    } else if (boxSize === 0) boxSize = size - o;
    if (boxSize < header) return null;
    if (type === 'moov') {
      const m = await read(o + header, Math.min(size, o + boxSize));
      return new DataView(m.buffer, m.byteOffset, m.byteLength);
    }
    o += boxSize;
  }
  return null;
}

const CODEC_CONFIG_BOXES = ['avcC', 'hvcC', 'vpcC', 'av1C'];

/** File offset of every sample: chunks (`stco`/`co64`) hold runs of consecutive samples (`stsc`) of `stsz` sizes. */
function sampleOffsets(moov: DataView, stbl: Box, sizes: Uint32Array): Float64Array {
  const offsets = new Float64Array(sizes.length);
  const stco = child(moov, stbl, 'stco');
  const co64 = child(moov, stbl, 'co64');
  const stsc = child(moov, stbl, 'stsc');
  if ((!stco && !co64) || !stsc) return offsets.fill(NaN);
  const chunks = stco ?? co64!;
  const chunkCount = moov.getUint32(chunks.start + 4);
  const chunkOffset = (c: number) => (stco ? moov.getUint32(stco.start + 8 + c * 4) : Number(moov.getBigUint64(co64!.start + 8 + c * 8)));
  const runs = moov.getUint32(stsc.start + 4);
  let sample = 0;
  for (let r = 0; r < runs && sample < sizes.length; r++) {
    const firstChunk = moov.getUint32(stsc.start + 8 + r * 12) - 1;
    const perChunk = moov.getUint32(stsc.start + 12 + r * 12);
    const endChunk = r + 1 < runs ? moov.getUint32(stsc.start + 20 + r * 12) - 1 : chunkCount;
    for (let c = firstChunk; c < endChunk && sample < sizes.length; c++) {
      let o = chunkOffset(c);
      for (let k = 0; k < perChunk && sample < sizes.length; k++, sample++) {
        offsets[sample] = o;
        o += sizes[sample];
      }
    }
  }
  // Samples no chunk covers (a broken table) have no location.
  return offsets.fill(NaN, sample);
}

/** Parses the first video track's frame table; null when the data is not an MP4/MOV with a video track. */
export async function readMp4FrameTable(read: ByteReader, size: number): Promise<Mp4FrameTable | null> {
  const head = await read(0, Math.min(size, 12));
  if (head.length < 8 || String.fromCharCode(head[4], head[5], head[6], head[7]) !== 'ftyp') return null;
  const moov = await readMoov(read, size);
  if (!moov) return null;
  for (const trak of boxesIn(moov, 0, moov.byteLength).filter((b) => b.type === 'trak')) {
    const mdia = child(moov, trak, 'mdia');
    const hdlr = mdia && child(moov, mdia, 'hdlr');
    if (!mdia || !hdlr) continue;
    const handler = String.fromCharCode(...[0, 1, 2, 3].map((i) => moov.getUint8(hdlr.start + 8 + i)));
    if (handler !== 'vide') continue;
    const mdhd = child(moov, mdia, 'mdhd');
    const stbl = (() => {
      const minf = child(moov, mdia, 'minf');
      return minf && child(moov, minf, 'stbl');
    })();
    if (!mdhd || !stbl) return null;
    const v1 = moov.getUint8(mdhd.start) === 1;
    const timescale = moov.getUint32(mdhd.start + (v1 ? 20 : 12));
    const stsz = child(moov, stbl, 'stsz');
    const stts = child(moov, stbl, 'stts');
    const stsd = child(moov, stbl, 'stsd');
    if (!stsz || !stts || !timescale) return null;
    const count = moov.getUint32(stsz.start + 8);
    const sizes = new Uint32Array(count);
    {
      const fixed = moov.getUint32(stsz.start + 4);
      for (let i = 0; i < count; i++) sizes[i] = fixed || moov.getUint32(stsz.start + 12 + i * 4);
    }
    // Decode times from stts.
    const dts = new Float64Array(count);
    const delta = new Float64Array(count);
    {
      const n = moov.getUint32(stts.start + 4);
      let i = 0;
      let t = 0;
      for (let e = 0; e < n && i < count; e++) {
        const c = moov.getUint32(stts.start + 8 + e * 8);
        const d = moov.getUint32(stts.start + 12 + e * 8);
        for (let k = 0; k < c && i < count; k++, i++) {
          dts[i] = t;
          delta[i] = d;
          t += d;
        }
      }
    }
    // Composition offsets (B-frames): pts = dts + offset.
    const pts = Float64Array.from(dts);
    const ctts = child(moov, stbl, 'ctts');
    if (ctts) {
      const signed = moov.getUint8(ctts.start) === 1;
      const n = moov.getUint32(ctts.start + 4);
      let i = 0;
      for (let e = 0; e < n && i < count; e++) {
        const c = moov.getUint32(ctts.start + 8 + e * 8);
        const off = signed ? moov.getInt32(ctts.start + 12 + e * 8) : moov.getUint32(ctts.start + 12 + e * 8);
        for (let k = 0; k < c && i < count; k++, i++) pts[i] += off;
      }
    }
    const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => pts[a] - pts[b]);
    const first = count ? pts[order[0]] : 0;
    for (let i = 0; i < count; i++) pts[i] -= first;
    const times = new Float64Array(count);
    const durations = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      times[i] = pts[order[i]] / timescale;
      const next = i + 1 < count ? pts[order[i + 1]] : pts[order[i]] + delta[order[i]];
      durations[i] = (next - pts[order[i]]) / timescale;
    }
    let codec = '';
    let width = 0;
    let height = 0;
    let codecConfig: Mp4FrameTable['codecConfig'] = null;
    if (stsd && moov.getUint32(stsd.start + 4) > 0) {
      const entry = boxesIn(moov, stsd.start + 8, stsd.end)[0];
      if (entry) {
        codec = entry.type;
        width = moov.getUint16(entry.start + 24);
        height = moov.getUint16(entry.start + 26);
        // A VisualSampleEntry's fixed fields take 78 bytes; its child boxes follow.
        const config = boxesIn(moov, entry.start + 78, entry.end).find((b) => CODEC_CONFIG_BOXES.includes(b.type));
        if (config) codecConfig = { type: config.type, data: new Uint8Array(moov.buffer.slice(moov.byteOffset + config.start, moov.byteOffset + config.end)) };
      }
    }
    const sync = new Uint8Array(count);
    const stss = child(moov, stbl, 'stss');
    if (stss) {
      const n = moov.getUint32(stss.start + 4);
      for (let e = 0; e < n; e++) {
        const sample = moov.getUint32(stss.start + 8 + e * 4) - 1;
        if (sample >= 0 && sample < count) sync[sample] = 1;
      }
    } else sync.fill(1);
    const samples: Mp4Samples = { offset: sampleOffsets(moov, stbl, sizes), size: sizes, pts, sync };
    const sampleOfFrame = Uint32Array.from(order);
    const span = count ? times[count - 1] + durations[count - 1] : 0;
    return {
      frameCount: count,
      times,
      durations,
      timescale,
      width,
      height,
      codec,
      fps: span > 0 ? count / span : 0,
      durationS: span,
      samples,
      sampleOfFrame,
      codecConfig,
    };
  }
  return null;
}
