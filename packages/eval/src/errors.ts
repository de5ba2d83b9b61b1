import { Mplug2Error } from '@mplug2/core';

/** An annotations or result file is unreadable or a line/entry lacks a field the task needs. */
export class AnnotationError extends Mplug2Error {
  constructor(
    readonly file: string,
    /** 1-based line (JSONL) or 0-based entry index (JSON array); undefined for the whole file. */
    readonly line: number | undefined,
    detail: string,
  ) {
    super('EVAL_ANNOTATIONS', `${file}${line !== undefined ? `:${line}` : ''}: ${detail}`);
  }
}

/**
 * An `--out` directory holds a run of another model, annotations file, task or result-changing
 * option. Nothing was overwritten; `restart` (CLI `--restart`) begins that directory again.
 */
export class EvalRunMismatchError extends Mplug2Error {
  constructor(
    readonly dir: string,
    readonly differences: readonly { field: string; existing: unknown; requested: unknown }[],
  ) {
    super(
      'EVAL_RUN_MISMATCH',
      `${dir} holds another evaluation run (${differences.map((d) => `${d.field}: ${JSON.stringify(d.existing)} there, ${JSON.stringify(d.requested)} now`).join('; ')}); use another --out or pass --restart to begin again`,
    );
  }
}
