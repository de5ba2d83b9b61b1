import { InvalidOptionError } from '@mplug2/core';
import { LanceVectorStore, Retriever, searchVideos } from '@mplug2/tasks';
import { intOption, requirePositional, type Command } from '../cli.js';
import { backendOption } from './shared.js';

export const searchCommand: Command = {
  name: 'search',
  summary: 'search an index for the videos that best match a text (ITC, then ITM re-ranking)',
  usage: 'mplug2 search <model-dir> --db <path> --text "..." [--k 10] [--rerank 128] [--itm-score prob|logit] [--backend auto|cpu|wasm|webgpu|cuda] [--json]',
  options: {
    db: { type: 'string' },
    text: { type: 'string' },
    k: { type: 'string' },
    rerank: { type: 'string' },
    'itm-score': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(this, positionals, 0, 'model-dir');
    const db = values.db as string | undefined;
    const text = values.text as string | undefined;
    if (!db) throw new InvalidOptionError('--db', `is required (usage: ${this.usage})`);
    if (!text) throw new InvalidOptionError('--text', `is required (usage: ${this.usage})`);
    const itmScore = (values['itm-score'] as string | undefined) ?? 'prob';
    if (itmScore !== 'prob' && itmScore !== 'logit') throw new InvalidOptionError('--itm-score', `'${itmScore}' is not prob or logit`);
    const k = intOption(values, 'k', 10);
    const rerank = intOption(values, 'rerank', undefined, 0);
    // The store first: without @lancedb/lancedb (an optional peer) this fails before the model is loaded.
    const store = await LanceVectorStore.open(db);
    const retriever = await Retriever.load(dir, { backend: backendOption(values) }).catch(async (e) => {
      await store.close();
      throw e;
    });
    try {
      if ((await store.count(retriever.modelId)) === 0)
        throw new InvalidOptionError('--db', `${db} holds no videos indexed with model ${retriever.modelId} (run mplug2 index first)`);
      const r = await searchVideos(retriever, store, text, { k, rerank, itmScore: itmScore === 'logit' ? 'logit' : 'probability' });
      for (const w of r.warnings) ctx.stderr.write(`mplug2: warning: ${w}\n`);
      if (values.json) {
        ctx.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      for (const h of r.hits)
        ctx.stdout.write(
          `${String(h.rank).padStart(3)}  ${h.score.toFixed(4)}  itc ${h.itc.toFixed(4)}  itm ${h.itm === null ? '   -  ' : h.itm.toFixed(4)}  ${h.path}\n`,
        );
    } finally {
      await store.close();
      await retriever.dispose();
    }
  },
};
