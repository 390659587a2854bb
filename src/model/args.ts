/**
 * What the model API takes and gives back: compile/fit/evaluate arguments, logs and callbacks,
 * History, named weights, and the checks that turn a user's tensor-like value into a Tensor.
 */
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
  /** Called after each batch with the latest metrics read from the GPU (read at most every `logEveryMs`). */
  onBatchEnd?(batch: number, logs: Logs & { size: number }): void | Promise<void>;
}

export interface FitArgs {
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  validationSplit?: number;
  validationData?: [ModelData, ModelData];
  callbacks?: Callbacks;
  /** 0 silent, 1 progress bar (Node, default there), 2 one line per epoch. */
  verbose?: 0 | 1 | 2;
  initialEpoch?: number;
  /** How often batch logs are refreshed from the GPU (default 500 ms): each refresh is a readback. */
  logEveryMs?: number;
}

export interface EvaluateArgs {
  batchSize?: number;
}

/** A host tensor, or anything shaped like one. */
export type TensorLike = Tensor | { data: HostData; shape: readonly number[] };

/** x or y of a model: a tensor, or for several inputs (outputs) a list in their order or an object by name. */
export type ModelData = TensorLike | readonly TensorLike[] | Readonly<Record<string, TensorLike>>;

export interface NamedWeight {
  name: string;
  shape: number[];
  data: Float32Array;
  /** From getWeights(): whether the optimizer updates it (setWeights ignores this). */
  trainable?: boolean;
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

export function asTensor(value: TensorLike, what: string): Tensor {
  if (value instanceof Tensor) return value;
  const v = value as { data?: unknown; shape?: unknown };
  if (v && typeof v === 'object' && ArrayBuffer.isView(v.data) && Array.isArray(v.shape)) {
    try {
      return new Tensor(v.data as HostData, v.shape as number[]);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`);
    }
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
  return new Tensor(t.data.subarray(start * row, end * row) as HostData, [end - start, ...t.shape.slice(1)]);
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
