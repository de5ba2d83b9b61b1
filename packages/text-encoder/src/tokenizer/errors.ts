import { Mplug2Error } from '@mplug2/core';

/**
 * One or more texts of a batch tokenise to more positions than the BERT text encoder has
 * (512, `[CLS]` included). The reference code does not truncate test questions (nor answers),
 * so rather than silently cutting them this is reported; every offending item is listed.
 */
export class SequenceTooLongError extends Mplug2Error {
  constructor(
    /** What was being encoded: `question`, `answer`, ... */
    readonly what: string,
    /** Index in the batch and length in token positions (`[CLS]` included) of each offender. */
    readonly items: readonly { index: number; length: number }[],
    readonly maxPositions: number,
  ) {
    super(
      'SEQUENCE_TOO_LONG',
      `${items.length} ${what}(s) exceed the text encoder's ${maxPositions} positions ([CLS] included): ` +
        `${items.map((it) => `#${it.index} has ${it.length}`).join(', ')}; shorten the text`,
    );
  }
}
