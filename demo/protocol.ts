/** Messages between the demo page and its worker (the worker owns the GPU; the page only renders). */
import type { MnistModelName, ModelApi, NamedWeight } from '../src/index.ts';

export type OptimizerName = 'rmsprop' | 'adam' | 'sgd';
/** 'integer' trains with sparse categorical crossentropy, 'onehot' with categorical crossentropy. */
export type LabelEncoding = 'integer' | 'onehot';

export interface TrainConfig {
  /** Which model of the catalog (src/models/catalog.ts) to build. */
  model: MnistModelName;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  labels: LabelEncoding;
  /** How the model is defined; only the tutorial CNN has both forms (the others ignore it). */
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
  /** Classifies a drawing with the digit model and/or the transfer model's new head. */
  | { type: 'classify'; id: number; pixels: Uint8Array; digits: boolean; transfer: boolean }
  | { type: 'weights'; id: number }
  | { type: 'transferTrain'; config: TransferConfig };

/** Where the transfer base comes from: the model trained on the page, or the one saved in this browser. */
export type TransferSource = 'trained' | 'saved';

export interface TransferConfig {
  source: TransferSource;
  /** The new classes' names (2 to 5). */
  classes: string[];
  /** The drawn examples: a class index and the 28×28 pixels the pad made of the drawing. */
  examples: { label: number; pixels: Uint8Array }[];
  epochs: number;
}

/** The model the worker keeps in IndexedDB after each training, the base the 'saved' source loads. */
export interface SavedBase {
  path: string;
  model: MnistModelName;
  /** When it was saved, as ISO text. */
  savedAt: string;
}

export interface TransferReport {
  source: TransferSource;
  /** The base model's catalog name (as saved) and the layer it was cut at. */
  baseModel: MnistModelName | 'unknown';
  featureLayer: string;
  featureShape: number[];
  trainableParams: number;
  totalParams: number;
  classes: string[];
  examples: number;
  epochs: number;
  /** The last epoch's loss and accuracy over the examples. */
  loss: number;
  accuracy: number;
  trainMs: number;
}

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
  /** `probabilities`: the digit model's, when asked and trained; `transfer`: the new head's, likewise. */
  | { type: 'classified'; id: number; probabilities?: Float32Array; transfer?: Float32Array }
  | { type: 'weights'; id: number; weights: NamedWeight[] }
  | { type: 'saved'; base: SavedBase | null }
  | { type: 'transferProgress'; text: string; epoch?: number; epochs?: number; loss?: number; accuracy?: number }
  | ({ type: 'transferTrained' } & TransferReport)
  | { type: 'transferError'; message: string };
