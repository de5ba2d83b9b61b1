/**
 * `pipeline(task, model, options)`: the one-liner transformers.js users know, over the task classes.
 * Browser-safe: this entry knows the generating tasks; the Node entry (`pipeline-node.ts`) adds the ones
 * that need Node (retrieval, zero-shot classification, feature extraction).
 */
import { InvalidOptionError, type Backend, type LoadProgressEvent } from '@mplug2/core';
import { Captioner, type CaptionOptions, type CaptionResult } from './caption.js';
import { openModelInput, type ModelInput, type TaskLoadOptions, type VideoFeatures, type VideoInput } from './common.js';
import { VideoQA, type QAOptions, type QAResult } from './videoqa.js';

export interface PipelineOptions extends Omit<TaskLoadOptions, 'backend' | 'onProgress'> {
  /** Where it runs (transformers.js' name): `auto` (default; `cpu` in Node), `cpu`, `wasm`, `webgpu`, `cuda`. */
  readonly device?: Backend | 'auto';
  /** The same as `device` (this SDK's name); give one of the two. */
  readonly backend?: Backend | 'auto';
  /**
   * The compute precision the model must have been converted with (`mplug2 convert --compute`): a model of
   * another precision is refused with `INVALID_OPTION` instead of running silently at the wrong one.
   */
  readonly dtype?: 'fp32' | 'fp16';
  /** Load progress (transformers.js' name for `onProgress`): download and session events. */
  readonly progress_callback?: (event: LoadProgressEvent) => void;
  readonly onProgress?: (event: LoadProgressEvent) => void;
}

/** What every pipeline has besides being callable. */
export interface PipelineHandle<T> {
  readonly task: string;
  /** The task object underneath (`VideoQA`, `Captioner`, ...), for everything the one-liner does not cover. */
  readonly instance: T;
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type VideoQuestionAnsweringPipeline = PipelineHandle<VideoQA> &
  ((video: VideoInput | VideoFeatures, question: string | readonly string[], options?: QAOptions) => Promise<QAResult[]>);

/** A caption, also under transformers.js' `generated_text`. */
export type CaptioningOutput = CaptionResult & { readonly generated_text: string };
export type VideoCaptioningPipeline = PipelineHandle<Captioner> &
  ((video: VideoInput | readonly VideoInput[] | VideoFeatures, options?: CaptionOptions) => Promise<CaptioningOutput[]>);

export interface BrowserPipelines {
  'video-question-answering': VideoQuestionAnsweringPipeline;
  'visual-question-answering': VideoQuestionAnsweringPipeline;
  'video-captioning': VideoCaptioningPipeline;
  'video-to-text': VideoCaptioningPipeline;
  'image-to-text': VideoCaptioningPipeline;
}

/** A task's loader and its call, as a pipeline table entry. */
export type PipelineFactory = (
  model: ModelInput,
  options: TaskLoadOptions,
) => Promise<{ instance: { dispose(): Promise<void> }; call: (...args: never[]) => unknown }>;

const videoQA: PipelineFactory = async (model, options) => {
  const instance = await VideoQA.load(model, options);
  return { instance, call: (video: VideoInput | VideoFeatures, question: string | readonly string[], o?: QAOptions) => instance.ask(video, question, o) };
};

const captioning: PipelineFactory = async (model, options) => {
  const instance = await Captioner.load(model, options);
  return {
    instance,
    call: async (video: VideoInput | readonly VideoInput[] | VideoFeatures, o?: CaptionOptions) =>
      (await instance.caption(video, o)).map((r) => ({ ...r, generated_text: r.caption })),
  };
};

export const BROWSER_PIPELINES: Readonly<Record<keyof BrowserPipelines, PipelineFactory>> = {
  'video-question-answering': videoQA,
  'visual-question-answering': videoQA,
  'video-captioning': captioning,
  'video-to-text': captioning,
  'image-to-text': captioning,
};

/** Turns pipeline options into the task's load options (and checks them). */
export function taskLoadOptions(options: PipelineOptions): TaskLoadOptions {
  const { device, backend, dtype, progress_callback, onProgress, ...rest } = options;
  if (device && backend && device !== backend) throw new InvalidOptionError('device', `'${device}' and backend '${backend}' disagree; give one of them`);
  if (progress_callback && onProgress) throw new InvalidOptionError('progress_callback', 'give progress_callback or onProgress, not both');
  if (dtype !== undefined && dtype !== 'fp32' && dtype !== 'fp16') throw new InvalidOptionError('dtype', `'${String(dtype)}' is not fp32 or fp16`);
  return { ...rest, backend: device ?? backend, onProgress: progress_callback ?? onProgress };
}

/** Builds the pipeline for `task` from `table` (the browser's or Node's). */
export async function createPipeline(
  table: Readonly<Record<string, PipelineFactory>>,
  task: string,
  model: ModelInput,
  options: PipelineOptions = {},
): Promise<PipelineHandle<unknown> & ((...args: never[]) => unknown)> {
  const factory = Object.hasOwn(table, task) ? table[task] : undefined;
  if (!factory) throw new InvalidOptionError('task', `'${task}' is not a pipeline task here (tasks: ${Object.keys(table).join(', ')})`);
  const loadOptions = taskLoadOptions(options);
  const source = await openModelInput(model, loadOptions, `loading the ${task} pipeline`);
  const compute = source.manifest.graphOptions.compute;
  if (options.dtype && compute !== options.dtype)
    throw new InvalidOptionError(
      'dtype',
      `'${options.dtype}' asked for, but ${source.location} computes in ${compute} (convert it with \`mplug2 convert --compute ${options.dtype}\`)`,
    );
  const { instance, call } = await factory(source, loadOptions);
  const dispose = () => instance.dispose();
  return Object.assign((...args: never[]) => (call as (...a: never[]) => unknown)(...args), {
    task,
    instance,
    dispose,
    [Symbol.asyncDispose]: dispose,
  });
}

/**
 * Loads `model` (a URL here, or any `ModelSource`) for `task` and returns a function that runs it:
 *
 * ```ts
 * const answerer = await pipeline('video-question-answering', 'https://example.com/models/msrvtt-qa/', { device: 'webgpu' });
 * const [{ answer, score }] = await answerer(video, 'what is the man doing?');
 * ```
 */
export function pipeline<T extends keyof BrowserPipelines>(task: T, model: ModelInput, options?: PipelineOptions): Promise<BrowserPipelines[T]> {
  return createPipeline(BROWSER_PIPELINES, task, model, options) as Promise<BrowserPipelines[T]>;
}
