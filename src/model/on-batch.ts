/**
 * trainOnBatch, testOnBatch and predictOnBatch (TF.js's names and return values): one batch from
 * the host through the model's plans, for custom training loops (a GAN alternating two models
 * that share layers, reinforcement learning, a hand-made schedule). Each call stages its batch
 * (src/model/batch-feeder.ts), runs one submit and reads back what it returns: the loss and
 * metrics of that batch, or the predictions.
 */
import { sizeOf, Tensor } from '../runtime/tensor.ts';
import type { ModelData } from './args.ts';
import { feederFor } from './batch-feeder.ts';
import { runEvaluateStep } from './fit-dataset.ts';
import { readLogs, resetMetrics, tfjsValues } from './logs.ts';
import type { ModelRuntime } from './runtime.ts';
import { perOutputClassWeights, perOutputSampleWeights } from './sample-weights.ts';

/** Keras's optional per-batch weights for trainOnBatch. */
export interface OnBatchWeights {
  classWeight?: unknown;
  sampleWeight?: unknown;
}

/** One optimizer step on (x, y); returns the batch's loss, or [loss, ...metrics] in TF.js's metricsNames order. */
export async function trainOnBatch(rt: ModelRuntime, x: ModelData, y: ModelData, weights: OnBatchWeights = {}): Promise<number | number[]> {
  const compiled = rt.compiled('trainOnBatch()');
  const names = rt.outputNames;
  const classWeights = perOutputClassWeights(weights.classWeight, names, 'trainOnBatch(): classWeight');
  // The sample weights are checked against the batch's rows (x is checked again with y below).
  const rows = weights.sampleWeight == null ? 0 : rt.checkInputs(x, 'x')[0]!.shape[0]!;
  const sampleWeights = perOutputSampleWeights(weights.sampleWeight, names, rows, 'trainOnBatch(): sampleWeight');
  const flags = names.map((_, i) => classWeights[i] !== undefined || sampleWeights[i] !== undefined);
  const weighted = flags.some((w) => w) ? flags : undefined;
  const state = await rt.deviceState();
  const feeder = feederFor(rt, state, 'train', weighted);
  const batch = feeder.check(x, y, '', { classWeights, sampleWeights });
  const plan = await feeder.planFor(batch.size, undefined, true);
  resetMetrics(state);
  rt.trainStep(state, plan, feeder.stage(batch, plan), 0, batch.size, rt.seed);
  return tfjsValues(await readLogs(state, compiled), compiled);
}

/** The loss (and metrics) of the model on (x, y), without training: a number or [loss, ...metrics], as TF.js. */
export async function testOnBatch(rt: ModelRuntime, x: ModelData, y: ModelData): Promise<number | number[]> {
  const compiled = rt.compiled('testOnBatch()');
  const state = await rt.deviceState();
  const feeder = feederFor(rt, state, 'evaluate');
  const batch = feeder.check(x, y, '');
  const plan = await feeder.planFor(batch.size, undefined, true);
  resetMetrics(state);
  runEvaluateStep(state, plan, feeder.stage(batch, plan), batch.size, true);
  return tfjsValues(await readLogs(state, compiled), compiled);
}

/** The model's outputs for one batch: one tensor per output, [rows, ...outputShape]. */
export async function predictOnBatch(rt: ModelRuntime, x: ModelData): Promise<Tensor<Float32Array>[]> {
  const graph = rt.graph('predictOnBatch()');
  const state = await rt.deviceState();
  const feeder = feederFor(rt, state, 'predict');
  const batch = feeder.check(x, undefined, '');
  const plan = await feeder.planFor(batch.size, undefined, true);
  runEvaluateStep(state, plan, feeder.stage(batch, plan), batch.size, true);
  const tensors: Tensor<Float32Array>[] = [];
  for (const [i, out] of plan.outputs.entries()) {
    const shape = graph.outputs[i]!.shape;
    const data = new Float32Array(await state.engine.read(out, batch.size * sizeOf(shape) * 4));
    tensors.push(new Tensor(data, [batch.size, ...shape]));
  }
  return tensors;
}
