import { readFileSync } from 'node:fs';
import path from 'node:path';

/** A multipart request: an optional file (field 'video' unless named) and text fields (repeatable). */
export interface FormSpec {
  readonly video?: string | { readonly name: string; readonly bytes: Uint8Array; readonly field?: string };
  readonly fields?: readonly (readonly [string, string])[];
}

export function formData(spec: FormSpec): FormData {
  const form = new FormData();
  for (const [k, v] of spec.fields ?? []) form.append(k, v);
  if (typeof spec.video === 'string') form.append('video', new Blob([readFileSync(spec.video)]), path.basename(spec.video));
  else if (spec.video) form.append(spec.video.field ?? 'video', new Blob([new Uint8Array(spec.video.bytes)]), spec.video.name);
  return form;
}

/** POSTs a multipart form; returns status, headers and the parsed JSON body. */
export async function postForm(base: string, route: string, spec: FormSpec, headers: Record<string, string> = {}) {
  const res = await fetch(base + route, { method: 'POST', body: formData(spec), headers });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}

/** Parses server-sent events out of a response body as they arrive; `onEvent` may return true to stop reading. */
export async function readEvents(
  res: Response,
  onEvent: (e: { event: string; data: any }) => boolean | void = () => undefined,
): Promise<{ event: string; data: any }[]> {
  const events: { event: string; data: any }[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return events;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null');
      events.push({ event, data });
      if (onEvent({ event, data })) {
        await reader.cancel();
        return events;
      }
    }
  }
}

/** One sample of a Prometheus text exposition (sum over series matching all `labels`). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}
