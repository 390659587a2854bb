/** Messages between the demo page and its worker (the worker owns the GPU; the page only renders). */
import type { ModelApi, NamedWeight } from '../src/index.ts';

export type OptimizerName = 'rmsprop' | 'adam' | 'sgd';
/** 'integer' trains with sparse categorical crossentropy, 'onehot' with categorical crossentropy. */
export type LabelEncoding = 'integer' | 'onehot';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  labels: LabelEncoding;
  style: ModelApi;
  /** The first `trainCount` training images are used (0 < trainCount ≤ 60000). */
  trainCount: number;
  /** The first `testCount` test images are evaluated after training. */
  testCount: number;
}

export type ToWorker =
  | { type: 'load' }
  | { type: 'train'; config: TrainConfig }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'classify'; id: number; pixels: Uint8Array }
  | { type: 'weights'; id: number };

export interface BatchProgress {
  epoch: number;
  epochs: number;
  /** 0-based batch index inside the epoch. */
  batch: number;
  batchesPerEpoch: number;
  samplesDone: number;
  samplesTotal: number;
  /** Training time so far, pauses excluded. */
  elapsedMs: number;
  /** Running mean over the epoch so far (what Keras' progress bar shows). */
  loss: number;
  accuracy: number;
  /** This batch alone, recovered from the difference of running sums. */
  batchLoss: number;
  batchAccuracy: number;
}

export interface EvaluationResult {
  testCount: number;
  /** Mean crossentropy and accuracy over the evaluated test images, from the predictions below. */
  loss: number;
  accuracy: number;
  labels: Uint8Array;
  /** [testCount, 10] class probabilities, as model.predict returned them. */
  probabilities: Float32Array;
  /** Misclassified test images (index into the test set, 28×28 pixels). */
  misclassified: { index: number; image: Uint8Array }[];
  trainMs: number;
  evalMs: number;
  /** True when Stop ended training early. */
  stopped: boolean;
}

export type FromWorker =
  | { type: 'loading'; loaded: number; total: number }
  | { type: 'ready'; adapter: string; fallbackAdapter: boolean; trainAvailable: number; testAvailable: number }
  | { type: 'unavailable'; message: string }
  | { type: 'error'; message: string }
  | { type: 'summary'; text: string; params: number }
  | { type: 'phase'; phase: 'compiling' | 'training' | 'paused' | 'evaluating' }
  | ({ type: 'batch' } & BatchProgress)
  | { type: 'epoch'; epoch: number; loss: number; accuracy: number }
  | { type: 'evalProgress'; done: number; total: number }
  | ({ type: 'result' } & EvaluationResult)
  | { type: 'classified'; id: number; probabilities: Float32Array }
  | { type: 'weights'; id: number; weights: NamedWeight[] };
