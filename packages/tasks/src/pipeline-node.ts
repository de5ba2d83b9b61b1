/** Node's `pipeline()`: the browser's tasks plus retrieval, zero-shot classification and feature extraction. */
import { VideoEmbedder, type EmbedInput, type EmbedOptions, type VideoEmbedding } from '@mplug2/vision-encoder';
import type { ModelInput, VideoInput } from './common.js';
import { BROWSER_PIPELINES, createPipeline, type BrowserPipelines, type PipelineFactory, type PipelineHandle, type PipelineOptions } from './pipeline.js';
import { Retriever, indexVideos, searchVideos, zeroShotClassify, type SearchOptions, type SearchResult } from './retrieval.js';
import { MemoryVectorStore } from './store.js';

/** One class of a zero-shot result (transformers.js' `{ label, score }`), best first. */
export interface ZeroShotOutput {
  readonly label: string;
  /** Probability over the candidate labels (softmax of the ITC similarities / temperature). */
  readonly score: number;
  /** ITC cosine similarity of the video and the label's text. */
  readonly similarity: number;
}

export type ZeroShotVideoClassificationPipeline = PipelineHandle<Retriever> &
  ((video: VideoInput, candidateLabels: readonly string[], options?: { hypothesis_template?: string }) => Promise<ZeroShotOutput[]>);

/** Ranks the given video files for a text: ITC, then ITM re-ranking (`searchVideos` over an in-memory index). */
export type VideoTextRetrievalPipeline = PipelineHandle<Retriever> &
  ((text: string, videos: readonly string[], options?: Omit<SearchOptions, 'k'> & { k?: number }) => Promise<SearchResult>);

export type VideoFeatureExtractionPipeline = PipelineHandle<VideoEmbedder> &
  ((videos: EmbedInput | readonly EmbedInput[], options?: EmbedOptions) => Promise<VideoEmbedding[]>);

export interface NodePipelines extends BrowserPipelines {
  'zero-shot-video-classification': ZeroShotVideoClassificationPipeline;
  'video-text-retrieval': VideoTextRetrievalPipeline;
  'video-feature-extraction': VideoFeatureExtractionPipeline;
  'feature-extraction': VideoFeatureExtractionPipeline;
}

const zeroShot: PipelineFactory = async (model, options) => {
  const instance = await Retriever.load(model, options);
  return {
    instance,
    call: async (video: VideoInput, labels: readonly string[], o: { hypothesis_template?: string } = {}) => {
      const [r] = await zeroShotClassify(instance, video, labels, { template: o.hypothesis_template });
      return r.probs.map((p) => ({ label: p.label, score: p.prob, similarity: p.similarity }));
    },
  };
};

const retrieval: PipelineFactory = async (model, options) => {
  const instance = await Retriever.load(model, options);
  return {
    instance,
    call: async (text: string, videos: readonly string[], o: Omit<SearchOptions, 'k'> & { k?: number } = {}) => {
      const store = new MemoryVectorStore();
      try {
        await indexVideos(instance, store, videos);
        return await searchVideos(instance, store, text, { ...o, k: o.k ?? videos.length });
      } finally {
        await store.close();
      }
    },
  };
};

const features: PipelineFactory = async (model, options) => {
  const instance = await VideoEmbedder.load(model, options);
  return {
    instance,
    call: (videos: EmbedInput | readonly EmbedInput[], o?: EmbedOptions) => instance.embed(Array.isArray(videos) ? videos : [videos as EmbedInput], o),
  };
};

export const NODE_PIPELINES: Readonly<Record<keyof NodePipelines, PipelineFactory>> = {
  ...BROWSER_PIPELINES,
  'zero-shot-video-classification': zeroShot,
  'video-text-retrieval': retrieval,
  'video-feature-extraction': features,
  'feature-extraction': features,
};

/**
 * Loads `model` (a directory, an http(s) URL, or any `ModelSource`) for `task` and returns a function
 * that runs it (see the browser `pipeline`); in Node also `zero-shot-video-classification`,
 * `video-text-retrieval` and `video-feature-extraction`.
 */
export function pipeline<T extends keyof NodePipelines>(task: T, model: ModelInput, options?: PipelineOptions): Promise<NodePipelines[T]> {
  return createPipeline(NODE_PIPELINES, task, model, options) as Promise<NodePipelines[T]>;
}
