import { createInterface } from 'node:readline';
import { InvalidOptionError } from '@mplug2/core';
import { Mplug2Tokenizer } from '@mplug2/text-encoder';
import type { Command } from '../cli.js';

const KINDS = ['question', 'answer', 'caption'] as const;

export const tokenizeCommand: Command = {
  name: 'tokenize',
  summary: 'tokenize JSON lines {"text": ...} from stdin exactly as the reference (question, answer or caption rules)',
  usage: 'mplug2 tokenize --kind question|answer|caption < texts.jsonl',
  options: { kind: { type: 'string' } },
  async run({ values }, ctx) {
    const kind = values.kind as (typeof KINDS)[number] | undefined;
    if (!kind || !KINDS.includes(kind)) throw new InvalidOptionError('--kind', `must be one of ${KINDS.join(', ')}${kind ? `, got '${kind}'` : ''}`);
    const tok = Mplug2Tokenizer.fromVocab();
    const rl = createInterface({ input: ctx.stdin, crlfDelay: Infinity });
    let line = 0;
    for await (const raw of rl) {
      line++;
      if (!raw.trim()) continue;
      let text: unknown;
      try {
        text = (JSON.parse(raw) as { text?: unknown }).text;
      } catch (e) {
        throw new InvalidOptionError('stdin', `line ${line} is not JSON: ${(e as Error).message}`);
      }
      if (typeof text !== 'string') throw new InvalidOptionError('stdin', `line ${line} has no string "text" field`);
      const enc = kind === 'question' ? tok.encodeQuestions([text]) : kind === 'answer' ? tok.encodeAnswers([text]) : tok.encodeCaptions([text]);
      ctx.stdout.write(JSON.stringify({ input_ids: enc.inputIds[0], attention_mask: enc.attentionMask[0] }) + '\n');
    }
  },
};
