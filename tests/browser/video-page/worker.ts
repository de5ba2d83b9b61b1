/// <reference lib="webworker" />
// Runs a measurement inside a dedicated worker (no document: only WebCodecs can decode here).
import { describeError, measure, type MeasureRequest } from './measure';

self.onmessage = async (e: MessageEvent<MeasureRequest>) => {
  try {
    self.postMessage(await measure(e.data));
  } catch (err) {
    self.postMessage(describeError(err));
  }
};
