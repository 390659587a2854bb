/**
 * model.fitDataset and model.evaluateDataset (TF.js's names and semantics): batches streamed from
 * a dataset (src/data/stream.ts) through a BatchFeeder. While the GPU runs a step, the next batch
 * is read from the dataset, checked and written into the other staging area; nothing is read
 * back per step but the throttled logs. A bad batch is an Error naming its epoch and index,
 * raised at its turn: the steps before it are done, it changes nothing.
 */
import type { Plan } from '../graph/plan.ts';
import { closeIterator, isDatasetSource, openIterator, readBatch, type BatchIterator, type DatasetSource } from '../data/stream.ts';
import { sameLayout } from '../data/device-dataset.ts';
import { stepInfoData } from '../../shaders/kernel.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { describe } from '../runtime/tensor.ts';
import { integerArg, type FitDatasetArgs, type History, type Logs, type ModelData } from './args.ts';
import { BatchFeeder, feederFor, type CheckedBatch } from './batch-feeder.ts';
import type { DeviceState } from './device.ts';
import { readLogs, resetMetrics } from './logs.ts';
import type { ModelRuntime } from './runtime.ts';
import { perOutputClassWeights, type ClassWeight } from './sample-weights.ts';
import { evaluateBatches, EpochLoop, loopOptions } from './training-loop.ts';

/** What reading the next batch gave: a checked batch, the end of the data, or the Error to raise at its turn. */
type Next = { batch: CheckedBatch } | { done: true } | { error: Error };

/** Reads, converts and checks the next batch; failures are returned, not thrown, so they surface at their turn. */
async function fetchBatch(feeder: BatchFeeder, iterator: BatchIterator, what: string, first: CheckedBatch | undefined, classWeights?: readonly (ClassWeight | undefined)[]): Promise<Next> {
  let value: unknown;
  try {
    const result = await iterator.next();
    if (result.done) return { done: true };
    value = result.value;
  } catch (err) {
    return { error: new Error(`${what}: the dataset failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }) };
  }
  try {
    const { xs, ys } = await readBatch(value, what);
    const batch = feeder.check(xs as ModelData, ys as ModelData, what, { classWeights });
    if (first && !sameLayout(first.layout, batch.layout)) {
      const i = batch.layout.inputs.findIndex((c, k) => c.source !== first.layout.inputs[k]!.source);
      const kind = (s: string | undefined) => (s === 'uint8' ? 'uint8 (pixels, scaled by 1/255)' : 'float32 or int32');
      const detail = i >= 0 ? `input ${i} is ${kind(batch.layout.inputs[i]!.source)}, but the first batch's was ${kind(first.layout.inputs[i]!.source)}` : 'its layout differs from the first batch';
      throw new Error(`${what}: xs: ${detail}; every batch of a dataset must keep the same dtypes`);
    }
    return { batch };
  } catch (err) {
    return { error: err as Error };
  }
}

/** model.fitDataset(dataset, args): trains on streamed batches; an epoch is `batchesPerEpoch` batches, or one pass over the dataset. */
export async function fitDataset(rt: ModelRuntime, dataset: DatasetSource, args: FitDatasetArgs = {}): Promise<History> {
  rt.compiled('fitDataset()');
  if (!args || typeof args !== 'object') throw new Error(`fitDataset(): args must be an object, got ${describe(args)}`);
  const options = loopOptions(args, 'fitDataset()', 1);
  const batchesPerEpoch = args.batchesPerEpoch === undefined ? undefined : integerArg(args.batchesPerEpoch, 'batchesPerEpoch', 1);
  const initialEpoch = integerArg(args.initialEpoch ?? 0, 'initialEpoch', 0);
  if ((args as { validationSplit?: unknown }).validationSplit !== undefined) throw new Error('fitDataset(): validationSplit is not supported (as in TF.js); pass validationData (a dataset or [x, y])');
  const validationBatches = args.validationBatches === undefined ? undefined : integerArg(args.validationBatches, 'validationBatches', 1);
  const validationBatchSize = integerArg(args.validationBatchSize ?? 32, 'validationBatchSize', 1);
  const seed = args.seed ?? rt.seed;
  const classWeights = perOutputClassWeights(args.classWeight, rt.outputNames, 'fitDataset(): classWeight');
  const weighted = classWeights.some((c) => c !== undefined) ? classWeights.map((c) => c !== undefined) : undefined;
  let validate: (() => Promise<Logs>) | undefined;
  const validationData = args.validationData;
  if (Array.isArray(validationData)) {
    if (validationData.length !== 2) throw new Error(`fitDataset(): validationData must be a dataset or [x, y], got ${describe(validationData)}`);
    const data = rt.checkData(validationData[0] as ModelData, validationData[1] as ModelData, 'validationData[0]', 'validationData[1]');
    validate = async () => evaluateBatches(rt, await rt.deviceState(), data, validationBatchSize);
  } else if (validationData !== undefined && validationData !== null) {
    if (!isDatasetSource(validationData)) throw new Error(`fitDataset(): validationData must be a dataset or [x, y], got ${describe(validationData)}`);
    validate = () => evaluateDataset(rt, validationData, { batches: validationBatches }, 'fitDataset(): validationData');
  }

  const state = await rt.deviceState();
  const feeder = feederFor(rt, state, 'train', weighted);
  const loop = new EpochLoop(rt, state, options);
  let plan: Plan | undefined;
  let first: CheckedBatch | undefined;
  let iterator: BatchIterator | undefined;
  try {
    // With batchesPerEpoch the iterator runs on across epochs (TF.js's rule); without, each epoch opens a new one.
    if (batchesPerEpoch !== undefined) iterator = await openIterator(dataset, 'fitDataset()');
    await loop.begin();
    for (let epoch = initialEpoch; epoch < options.epochs && !loop.stopped; epoch++) {
      await loop.epochBegin(epoch, batchesPerEpoch);
      if (batchesPerEpoch === undefined) {
        await closeIterator(iterator);
        iterator = await openIterator(dataset, 'fitDataset()');
      }
      const what = (step: number) => `fitDataset(): epoch ${epoch + 1}, batch ${step}`;
      let next = await fetchBatch(feeder, iterator!, what(0), first, classWeights);
      let step = 0;
      let complete = false;
      for (;;) {
        if ('error' in next) throw next.error;
        if ('done' in next) {
          if (batchesPerEpoch === undefined) {
            if (step === 0) throw new Error(`${what(0)}: the dataset gave no batches: its iterator was already finished. Pass a function returning a new iterable, or a dataset with iterator(), so that each epoch starts over`);
            complete = true;
          } else {
            // TF.js's rule: a dataset that runs out before batchesPerEpoch × epochs batches ends training.
            console.warn(`fitDataset(): batchesPerEpoch is ${batchesPerEpoch}, but the dataset ran out after ${step} batches of epoch ${epoch + 1}; training stops. A dataset must give at least batchesPerEpoch × epochs batches (${batchesPerEpoch * options.epochs} here).`);
            rt.model.stopTraining = true;
          }
          break;
        }
        const batch = next.batch;
        first ??= batch;
        if (!plan || batch.size > plan.batch) plan = await feeder.planFor(batch.size, plan);
        await loop.batchBegin(step, batch.size);
        rt.trainStep(state, plan, feeder.stage(batch, plan), 0, batch.size, seed);
        loop.submitted();
        // The next batch is read and checked while the GPU runs this step.
        const last = batchesPerEpoch !== undefined && step + 1 >= batchesPerEpoch;
        next = last ? { done: true } : await fetchBatch(feeder, iterator!, what(step + 1), first, classWeights);
        await loop.batchEnd(step, batch.size, 'done' in next);
        step++;
        if (last) {
          complete = true;
          break;
        }
        if (loop.stopped) break;
      }
      await loop.epochEnd(epoch, complete ? validate : undefined);
    }
  } finally {
    await loop.drain().catch(() => {});
    await closeIterator(iterator);
  }
  return loop.end();
}

/**
 * model.evaluateDataset(dataset, { batches }): the logs over the dataset's batches (all of them,
 * or the first `batches`), averaged over samples as evaluate() does.
 */
export async function evaluateDataset(rt: ModelRuntime, dataset: DatasetSource, args: { batches?: number | undefined } = {}, who = 'evaluateDataset()'): Promise<Logs> {
  const compiled = rt.compiled(who);
  const batches = args.batches === undefined ? undefined : integerArg(args.batches, 'batches', 1);
  const state = await rt.deviceState();
  const feeder = feederFor(rt, state, 'evaluate');
  const engine = state.engine;
  const iterator = await openIterator(dataset, who);
  let plan: Plan | undefined;
  let first: CheckedBatch | undefined;
  let count = 0;
  try {
    resetMetrics(state);
    for (let b = 0; batches === undefined || b < batches; b++) {
      const next = await fetchBatch(feeder, iterator, `${who}: batch ${b}`, first);
      if ('error' in next) throw next.error;
      if ('done' in next) {
        if (batches !== undefined) console.warn(`${who}: the dataset ran out after ${b} of ${batches} batches`);
        break;
      }
      const batch = next.batch;
      first ??= batch;
      const fresh = !plan || batch.size > plan.batch;
      if (fresh) plan = await feeder.planFor(batch.size, plan);
      runEvaluateStep(state, plan!, feeder.stage(batch, plan!), batch.size, fresh);
      count++;
      if (count % 4 === 0) await engine.sync();
    }
  } finally {
    await closeIterator(iterator);
  }
  if (count === 0) throw new Error(`${who}: the dataset gave no batches`);
  return readLogs(state, compiled);
}

/** One evaluate (or predict) batch: StepInfo, then gather, the plan's weight transforms on a new plan, and the plan. */
export function runEvaluateStep(state: DeviceState, plan: Plan, gather: readonly Dispatch[], size: number, withSetup: boolean): void {
  const engine = state.engine;
  engine.write(state.stepInfo, stepInfoData(0, state.iterations, 0, size));
  engine.submit((encoder) => engine.encode(encoder, [...(withSetup ? plan.setup : []), ...gather, ...plan.dispatches]));
}
