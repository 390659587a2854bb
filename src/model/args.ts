/**
 * What the model API takes and gives back: compile/fit/fitDataset/evaluate arguments, logs and
 * callbacks, History, named weights, and the checks that turn a user's tensor-like value (ours, a
 * `{ data, shape }` object or a TF.js tensor) into a Tensor.
 */
import type { DatasetSource } from '../data/stream.ts';
import type { Engine } from '../runtime/engine.ts';
import type { Optimizer } from '../optimizers.ts';
import { describe, sizeOf, Tensor, type HostData } from '../runtime/tensor.ts';

export interface CompileArgs {
  optimizer: string | Optimizer;
  /** One loss for every output, a list in the outputs' order, or an object by output name. */
  loss: string | string[] | Record<string, string>;
  /** Each output's factor in the total loss (Keras's loss_weights); 1 by default. */
  lossWeights?: number[] | Record<string, number>;
  /** Names counted for every output, or per output: a list of lists, or an object by output name. */
  metrics?: string | string[] | string[][] | Record<string, string | string[]>;
  /** The engine to run on; the default engine otherwise. */
  engine?: Engine;
}

export interface Logs {
  loss: number;
  accuracy?: number;
  val_loss?: number;
  val_accuracy?: number;
  [metric: string]: number | undefined;
}

export interface Callbacks {
  onTrainBegin?(logs?: Logs): void | Promise<void>;
  onTrainEnd?(logs?: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  /** Called before each batch with `{ batch, size }`. */
  onBatchBegin?(batch: number, logs?: Logs & { size: number }): void | Promise<void>;
  /** Called after each batch with the latest metrics read from the GPU (read at most every `logEveryMs`). */
  onBatchEnd?(batch: number, logs: Logs & { size: number }): void | Promise<void>;
}

/**
 * What fit takes as `callbacks`: an object of hooks, a Callback (e.g. callbacks.earlyStopping(),
 * which has these hooks), or a list of these.
 */
export type CallbackArg = Callbacks | readonly Callbacks[];

export interface FitArgs {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  validationSplit?: number;
  validationData?: [ModelData, ModelData];
  callbacks?: CallbackArg;
  /** 0 silent, 1 progress bar (Node, default there), 2 one line per epoch. */
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  /** How often batch logs are refreshed from the GPU (default 500 ms): each refresh is a readback. */
  logEveryMs?: number;
  /**
   * Class index → weight of its samples' loss (`{ 0: 1, 1: 5 }`); per output a list or an object
   * by output name. The loss is the batch mean of weight × loss, as in TF.js and Keras.
   */
  classWeight?: Readonly<Record<number, number>> | readonly Readonly<Record<number, number>>[] | Readonly<Record<string, Readonly<Record<number, number>>>>;
  /** A weight per sample ([N]) for every output, or per output a list or an object by output name; multiplies classWeight. */
  sampleWeight?: TensorLike | readonly TensorLike[] | Readonly<Record<string, TensorLike>>;
}

export interface FitDatasetArgs {
  /** Default 1. */
  epochs?: number;
  /** Batches per epoch; the dataset's iterator then runs on across epochs. Default: an epoch is one pass (a new iterator each epoch). */
  batchesPerEpoch?: number;
  /** A dataset, or [x, y] tensors. */
  validationData?: DatasetSource | [ModelData, ModelData];
  /** Batches of a validation dataset to evaluate each epoch (default: all). */
  validationBatches?: number;
  /** The batch size of [x, y] validation data (default 32). */
  validationBatchSize?: number;
  callbacks?: CallbackArg;
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  classWeight?: FitArgs['classWeight'];
  /** Dropout's seed (the model's by default). */
  seed?: number;
  /** How often batch logs are refreshed from the GPU (default 500 ms). */
  logEveryMs?: number;
}

export interface EvaluateArgs {
  batchSize?: number;
}

/**
 * A TensorFlow.js tensor as this engine reads it: its shape, its dtype and its values through
 * `dataSync()` (a tfjs tensor, or anything written like one).
 */
export interface TfTensorLike {
  readonly shape: readonly number[];
  readonly dtype?: string;
  dataSync(): ArrayLike<number>;
}

/** A host tensor (ours), `{ values: TypedArray, shape }`, or a TensorFlow.js tensor. */
export type TensorLike = Tensor | TfTensorLike | { values: HostData; shape: readonly number[] };

export type ModelData = TensorLike | readonly TensorLike[] | Readonly<Record<string, TensorLike>>;

export interface NamedWeight {
  name: string;
  shape: number[];
  values: Float32Array;
  /** From getWeights(): whether the optimizer updates it (setWeights ignores this). */
  trainable?: boolean;
}

/**
 * A weight as getWeights() gives it: a host tensor (so TF.js code's `w.dataSync()`, `await w.data()`
 * and `w.shape` keep working) with its Keras name and whether the optimizer updates it.
 */
export class WeightTensor extends Tensor<Float32Array> implements NamedWeight {
  constructor(
    readonly name: string,
    values: Float32Array,
    shape: readonly number[],
    readonly trainable: boolean,
  ) {
    super(values, shape);
  }
}

export class History {
  readonly epoch: number[] = [];
  readonly history: Record<string, number[]> = {};
  record(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [key, value] of Object.entries(logs)) {
      if (typeof value === 'number') (this.history[key] ??= []).push(value);
    }
  }
  get loss(): number[] {
    return this.history.loss ?? [];
  }
  get accuracy(): number[] {
    return this.history.accuracy ?? [];
  }
  get val_loss(): number[] {
    return this.history.val_loss ?? [];
  }
  get val_accuracy(): number[] {
    return this.history.val_accuracy ?? [];
  }
}

// ---- argument checks ----------------------------------------------------------------------

/** A Tensor from ours, from `{ values: TypedArray, shape }`, or from a TF.js tensor (`shape`, `dtype`, `dataSync()`). */
export function asTensor(value: TensorLike, what: string): Tensor {
  if (value instanceof Tensor) return value;
  const v = value as { values?: unknown; data?: unknown; shape?: unknown; dtype?: unknown; dataSync?: unknown };
  if (v && typeof v === 'object' && Array.isArray(v.shape) && typeof v.dataSync === 'function') {
    if (v.dtype !== undefined && v.dtype !== 'float32' && v.dtype !== 'int32' && v.dtype !== 'bool') throw new Error(`${what}: a ${String(v.dtype)} tensor cannot feed a model; expected float32, int32 or bool`);
    const data = (v.dataSync as () => unknown).call(v);
    // A bool tensor's values come as a Uint8Array, which would read as pixels (scaled by 1/255).
    const typed = data instanceof Float32Array || data instanceof Int32Array ? data : ArrayBuffer.isView(data) || Array.isArray(data) ? Float32Array.from(data as unknown as ArrayLike<number>) : data;
    if (!ArrayBuffer.isView(typed)) throw new Error(`${what}: dataSync() returned ${describe(data)}, not the tensor's values`);
    return asTensor({ values: typed as HostData, shape: v.shape as number[] }, what);
  }
  if (v && typeof v === 'object' && ArrayBuffer.isView(v.values) && Array.isArray(v.shape)) {
    try {
      return new Tensor(v.values as HostData, v.shape as number[]);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
  }
  if (v && typeof v === 'object' && ArrayBuffer.isView(v.data) && Array.isArray(v.shape)) {
    throw new Error(`${what}: got { data, shape }; a plain tensor object names its values 'values' ({ values, shape }), or build one with tensor(data, shape)`);
  }
  throw new Error(`${what}: expected a tensor (tensor(data, shape)), got ${describe(value)}`);
}

export function integerArg(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer ≥ ${min}, got ${describe(value)}`);
  }
  return value;
}

export function sliceRows(t: Tensor, start: number, end: number): Tensor {
  const row = sizeOf(t.shape.slice(1));
  return new Tensor(t.values.subarray(start * row, end * row) as HostData, [end - start, ...t.shape.slice(1)]);
}

export function formatLogs(logs: Logs): string {
  return Object.entries(logs)
    .filter(([k, v]) => typeof v === 'number' && k !== 'size')
    .map(([k, v]) => `${k}: ${(v as number).toFixed(4)}`)
    .join(' - ');
}

export function isNodeTerminal(): boolean {
  return typeof process !== 'undefined' && !!process.stdout && typeof (globalThis as { window?: unknown }).window === 'undefined';
}
