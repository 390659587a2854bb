/**
 * What the training and inference loops (training-loop.ts, fit-dataset.ts, on-batch.ts) need from
 * a model, without widening its public API: LayersModel builds one ModelRuntime over its private
 * state and hands it to them.
 */
import type { CallbackModel } from '../callbacks/list.ts';
import type { DeviceDataset } from '../data/device-dataset.ts';
import type { Plan, PlanMode } from '../graph/plan.ts';
import type { SymbolicTensor } from '../layers/layer.ts';
import type { Dispatch } from '../runtime/engine.ts';
import type { Tensor } from '../runtime/tensor.ts';
import type { ModelData } from './args.ts';
import type { Compiled } from './compile.ts';
import type { DeviceState } from './device.ts';

/** The samples a model runs on: a tensor per input and, to train or evaluate, per output its targets and optional loss weights. */
export interface Batches {
  xs: Tensor[];
  ys: Tensor[] | undefined;
  /** Per output, one loss weight per sample (classWeight, sampleWeight); absent: unweighted. */
  weights?: (Float32Array | undefined)[] | undefined;
}

export interface ModelRuntime {
  /** The model as callbacks see it (stopTraining, weights, optimizer, save). */
  readonly model: CallbackModel;
  /** The seed fit uses by default (dropout masks, shuffling). */
  readonly seed: number;
  /** The graph's inputs and outputs; `what` names the caller in the Error of a model not built. */
  graph(what: string): { inputs: readonly SymbolicTensor[]; outputs: readonly SymbolicTensor[] };
  /** The compiled losses and optimizer; `what` names the caller in the Error of a model not compiled. */
  compiled(what: string): Compiled;
  /** The output names (the layers that make them), as classWeight and sampleWeight objects name outputs. */
  readonly outputNames: string[];
  /** The device state with every weight current (pulled from other holders, stale ones uploaded). */
  deviceState(): Promise<DeviceState>;
  /**
   * The plan of `batch` rows for `mode`; `weighted[i]`: output i's loss reads per-row weights
   * (train only), which the plan's binding holds (`plan.model.losses[i].sampleWeights`).
   */
  plan(state: DeviceState, batch: number, mode: PlanMode, weighted?: readonly boolean[]): Promise<Plan>;
  /** The plans of `mode` (and weighting) built so far, by batch size. */
  plans(state: DeviceState, mode: PlanMode, weighted?: readonly boolean[]): Plan[];
  /**
   * One optimizer step: the step counter, StepInfo (`offset` of the batch in the index buffer,
   * `size` real rows) and the optimizer's hyperparameters, then `gather` and the plan in one
   * submit; the trained layers' newest values are on this device from then on.
   */
  trainStep(state: DeviceState, plan: Plan, gather: readonly Dispatch[], offset: number, size: number, seed: number): void;
  /** x and y checked against the model (shapes, labels), with `Error`s naming `xWhat` / `yWhat`. */
  checkData(x: ModelData, y: ModelData, xWhat: string, yWhat: string): Batches;
  checkInputs(x: ModelData, what: string): Tensor[];
  /** Layers reading a model input check its values (e.g. Embedding's indices); `what` names the data. */
  checkInputValues(xs: readonly Tensor[]): void;
  /** The batches uploaded to the GPU (cached while among the last few used). */
  dataset(state: DeviceState, data: Batches): DeviceDataset;
}
