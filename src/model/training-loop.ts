/**
 * fit, evaluate and predict over arrays, and the epoch loop fit and fitDataset share: callbacks
 * (through CallbackList), the progress bar, batch logs read back at most every `logEveryMs`, two
 * steps in flight, validation, `lr` in the logs once a callback changed it, and History.
 */
import { CallbackList } from '../callbacks/list.ts';
import { Random } from '../layers/initializers.ts';
import type { Plan } from '../graph/plan.ts';
import type { DeviceDataset } from '../data/device-dataset.ts';
import { ProgressBar } from '../progress.ts';
import type { View } from '../runtime/engine.ts';
import { stepInfoData } from '../../shaders/kernel.ts';
import { describe, sizeOf, Tensor } from '../runtime/tensor.ts';
import { formatLogs, History, integerArg, isNodeTerminal, sliceRows, type EvaluateArgs, type FitArgs, type Logs, type ModelData } from './args.ts';
import { indexBuffer, type DeviceState } from './device.ts';
import { readLogs, resetMetrics } from './logs.ts';
import type { Batches, ModelRuntime } from './runtime.ts';
import { lossWeightsPerSample } from './sample-weights.ts';

export interface EpochLoopOptions {
  epochs: number;
  verbose: 0 | 1 | 2;
  logEveryMs: number;
  callbacks: unknown;
}

/** The per-output loss-weight views a plan's losses read (undefined for unweighted outputs). */
export function lossWeightViews(plan: Plan): (View | undefined)[] {
  return plan.model.losses?.map((l) => l.sampleWeights) ?? [];
}

/** The epochs of a training run around its steps: the caller submits each step between batchBegin and batchEnd. */
export class EpochLoop {
  readonly history = new History();
  private readonly callbacks: CallbackList;
  private bar: ProgressBar | undefined;
  private logs: Logs = { loss: NaN };
  private lastLogs: Logs = { loss: NaN };
  private lastRead = 0;
  /** The last two steps submitted: the GPU works on the newer while we wait for the older. */
  private older: Promise<void> | undefined;
  private newer: Promise<void> | undefined;
  private startLearningRate: number | undefined;

  constructor(
    private readonly rt: ModelRuntime,
    private readonly state: DeviceState,
    private readonly options: EpochLoopOptions,
  ) {
    this.callbacks = CallbackList.from(options.callbacks, rt.model);
  }

  /** Whether a callback (or a failure) asked training to stop. */
  get stopped(): boolean {
    return this.rt.model.stopTraining;
  }

  async begin(): Promise<void> {
    this.rt.model.stopTraining = false;
    this.startLearningRate = this.rt.model.optimizer?.learningRate;
    await this.callbacks.trainBegin();
  }

  /** `steps`: the epoch's batches when known (the progress bar needs them). */
  async epochBegin(epoch: number, steps: number | undefined): Promise<void> {
    await this.callbacks.epochBegin(epoch);
    const { verbose, epochs } = this.options;
    this.bar = verbose === 1 && steps !== undefined ? new ProgressBar(steps, `Epoch ${epoch + 1}/${epochs}`) : undefined;
    resetMetrics(this.state);
    this.logs = { loss: NaN };
    this.lastRead = performance.now();
  }

  batchBegin(step: number, size: number): Promise<void> {
    // TF.js's batch-begin logs: the batch's index and size, no metrics yet.
    return this.callbacks.batchBegin(step, { batch: step, size } as unknown as Logs & { size: number });
  }

  /** Call right after submitting a step. */
  submitted(): void {
    const done = this.state.engine.sync();
    done.catch(() => {}); // awaited in batchEnd or drain(); an early exit must not leave it unhandled
    this.older = this.newer;
    this.newer = done;
  }

  /** Waits for the step before this one, reads the logs when due (`last`: the epoch's last step) and calls onBatchEnd. */
  async batchEnd(step: number, size: number, last: boolean): Promise<void> {
    const older = this.older;
    this.older = undefined;
    if (older) await older;
    const wantLogs = this.bar !== undefined || this.callbacks.wantsBatchLogs;
    if (wantLogs && (performance.now() - this.lastRead >= this.options.logEveryMs || last)) {
      this.logs = await readLogs(this.state, this.rt.compiled('fit()'));
      this.lastRead = performance.now();
      this.bar?.update(step + 1, this.logs);
    }
    await this.callbacks.batchEnd(step, { ...this.logs, batch: step, size });
  }

  /** Waits for every submitted step. */
  async drain(): Promise<void> {
    const pending = [this.older, this.newer];
    this.older = this.newer = undefined;
    for (const p of pending) if (p) await p;
  }

  /** The epoch's logs (and `validate()`'s under val_ names), onEpochEnd, then History (callbacks may add keys). */
  async epochEnd(epoch: number, validate?: () => Promise<Logs>): Promise<void> {
    await this.drain();
    const logs = await readLogs(this.state, this.rt.compiled('fit()'));
    if (validate) for (const [key, value] of Object.entries(await validate())) logs[`val_${key}`] = value;
    const rate = this.rt.model.optimizer?.learningRate;
    if (rate !== undefined && rate !== this.startLearningRate) logs.lr = rate;
    this.bar?.finish(logs);
    const { verbose, epochs } = this.options;
    if (verbose === 2 || (verbose === 1 && !this.bar)) console.log(`Epoch ${epoch + 1}/${epochs} - ${formatLogs(logs)}`);
    await this.callbacks.epochEnd(epoch, logs);
    this.history.record(epoch, logs);
    this.lastLogs = logs;
  }

  async end(): Promise<History> {
    await this.callbacks.trainEnd(this.lastLogs);
    return this.history;
  }
}

/** fit's and fitDataset's shared arguments, checked. */
export function loopOptions(args: { epochs?: number; verbose?: 0 | 1 | 2; logEveryMs?: number; callbacks?: unknown }, what: string, minEpochs = 0): EpochLoopOptions {
  const verbose = args.verbose ?? (isNodeTerminal() ? 1 : 0);
  if (verbose !== 0 && verbose !== 1 && verbose !== 2) throw new Error(`${what}: verbose must be 0, 1 or 2, got ${describe(verbose)}`);
  const logEveryMs = args.logEveryMs ?? 500;
  if (typeof logEveryMs !== 'number' || !(logEveryMs >= 0)) throw new Error(`${what}: logEveryMs must be a number ≥ 0, got ${describe(logEveryMs)}`);
  return { epochs: integerArg(args.epochs ?? 1, 'epochs', minEpochs), verbose, logEveryMs, callbacks: args.callbacks };
}

/** Rows [a, b) of every tensor and weight array of `data`. */
function rowsOf(data: Batches, a: number, b: number): Batches {
  return {
    xs: data.xs.map((t) => sliceRows(t, a, b)),
    ys: data.ys?.map((t) => sliceRows(t, a, b)),
    weights: data.weights?.map((w) => w?.subarray(a, b)),
  };
}

/** model.fit over arrays kept on the GPU: each step gathers its batch through the epoch's permutation. */
export async function fitArrays(rt: ModelRuntime, x: ModelData, y: ModelData, args: FitArgs): Promise<History> {
  rt.compiled('fit()');
  const options = loopOptions(args, 'fit()');
  const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
  const initialEpoch = integerArg(args.initialEpoch ?? 0, 'initialEpoch', 0);
  const seed = args.seed ?? rt.seed;
  let data = rt.checkData(x, y, 'x', 'y');
  data.weights = lossWeightsPerSample(data.ys!, rt.graph('fit()').outputs.map((t) => t.shape), rt.outputNames, args, 'fit()');
  let validation: Batches | undefined;
  if (args.validationData) {
    if (!Array.isArray(args.validationData) || args.validationData.length !== 2) throw new Error(`fit(): validationData must be [x, y], got ${describe(args.validationData)}`);
    validation = rt.checkData(args.validationData[0], args.validationData[1], 'validationData[0]', 'validationData[1]');
  } else if (args.validationSplit !== undefined) {
    const split = args.validationSplit;
    if (typeof split !== 'number' || !(split > 0 && split < 1)) throw new Error(`fit(): validationSplit must be a number in (0, 1), got ${describe(split)}`);
    // Keras takes the LAST fraction of the samples, before any shuffling; validation is unweighted.
    const n = data.xs[0]!.shape[0]!;
    const cut = Math.floor(n * (1 - split));
    if (cut < 1 || cut >= n) throw new Error(`fit(): validationSplit ${split} leaves no training or no validation samples out of ${n}`);
    validation = { ...rowsOf(data, cut, n), weights: undefined };
    data = rowsOf(data, 0, cut);
  }
  const state = await rt.deviceState();
  const dataset = rt.dataset(state, data);
  const n = dataset.count;
  const steps = Math.ceil(n / batchSize);
  // One plan for every step: the partial last batch runs through it too (see runBatches()); the
  // loss counts only its real rows, averages over them and gives the others a zero gradient.
  const plan = await rt.plan(state, Math.min(batchSize, n), 'train', data.weights?.map((w) => w !== undefined));
  const random = new Random(seed);
  // Resuming at initialEpoch (after loadModel) must shuffle as the uninterrupted run did.
  if (args.shuffle !== false) for (let e = 0; e < initialEpoch; e++) random.permutation(n);
  const loop = new EpochLoop(rt, state, options);
  await loop.begin();
  for (let epoch = initialEpoch; epoch < options.epochs && !loop.stopped; epoch++) {
    await loop.epochBegin(epoch, steps);
    const order = args.shuffle === false ? undefined : random.permutation(n);
    const indices = indexBuffer(state, 'train', n, order);
    for (let step = 0; step < steps; step++) {
      const offset = step * batchSize;
      const size = Math.min(batchSize, n - offset);
      await loop.batchBegin(step, size);
      rt.trainStep(state, plan, dataset.gather(plan.batch, indices, state.stepInfo, plan.xs, plan.labels, lossWeightViews(plan)), offset, size, seed);
      loop.submitted();
      await loop.batchEnd(step, size, step === steps - 1);
      if (loop.stopped) break;
    }
    await loop.epochEnd(epoch, validation && (() => evaluateBatches(rt, state, validation, batchSize)));
  }
  return loop.end();
}

/** model.evaluate over arrays: the logs of the whole set. */
export async function evaluateArrays(rt: ModelRuntime, x: ModelData, y: ModelData, args: EvaluateArgs): Promise<Logs> {
  rt.compiled('evaluate()');
  const data = rt.checkData(x, y, 'x', 'y');
  const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
  return evaluateBatches(rt, await rt.deviceState(), data, batchSize);
}

export async function evaluateBatches(rt: ModelRuntime, state: DeviceState, data: Batches, batchSize: number): Promise<Logs> {
  resetMetrics(state);
  await runBatches(rt, state, rt.dataset(state, { xs: data.xs, ys: data.ys }), 'evaluate', batchSize);
  return readLogs(state, rt.compiled('evaluate()'));
}

/**
 * Runs an evaluate or predict plan over the dataset in batches, up to 4 in flight. One plan for
 * all batches: the last, partial one runs through it too (its rows past the end gather the last
 * sample again, gathers clamp positions to the permutation, StepInfo's `rows` leaves them out of
 * the metrics). A plan of its own would compile every pipeline again for one batch, seconds on a
 * CPU adapter; the rows are independent, so the results are the same. `after` encodes what
 * follows each batch's plan (predict's copy of its real rows).
 */
async function runBatches(
  rt: ModelRuntime,
  state: DeviceState,
  dataset: DeviceDataset,
  mode: 'evaluate' | 'predict',
  batchSize: number,
  after?: (encoder: GPUCommandEncoder, plan: Plan, offset: number, size: number) => void,
): Promise<void> {
  const engine = state.engine;
  const indices = indexBuffer(state, 'eval', dataset.count);
  const planBatch = Math.min(batchSize, dataset.count);
  const plan = await rt.plan(state, planBatch, mode);
  for (let offset = 0; offset < dataset.count; offset += batchSize) {
    const size = Math.min(batchSize, dataset.count - offset);
    engine.write(state.stepInfo, stepInfoData(offset, state.iterations, 0, size));
    engine.submit((encoder) => {
      const setup = offset === 0 ? plan.setup : [];
      engine.encode(encoder, [...setup, ...dataset.gather(planBatch, indices, state.stepInfo, plan.xs, plan.labels), ...plan.dispatches]);
      after?.(encoder, plan, offset, size);
    });
    if ((offset / batchSize) % 4 === 3) await engine.sync();
  }
}

/** model.predict over arrays: one tensor [N, ...outputShape] per output. */
export async function predictArrays(rt: ModelRuntime, x: ModelData, args: EvaluateArgs): Promise<Tensor<Float32Array>[]> {
  const graph = rt.graph('predict()');
  const xs = rt.checkInputs(x, 'x');
  const batchSize = integerArg(args.batchSize ?? 32, 'batchSize', 1);
  const state = await rt.deviceState();
  const engine = state.engine;
  const dataset = rt.dataset(state, { xs, ys: undefined });
  const widths = graph.outputs.map((t) => sizeOf(t.shape));
  const results = widths.map((width, i) => engine.buffer(dataset.count * width * 4, `predictions ${i}`));
  try {
    await runBatches(rt, state, dataset, 'predict', batchSize, (encoder, plan, offset, size) =>
      plan.outputs.forEach((out, i) => encoder.copyBufferToBuffer(out.buffer, out.offset, results[i]!, offset * widths[i]! * 4, size * widths[i]! * 4)),
    );
    const tensors: Tensor<Float32Array>[] = [];
    for (const [i, result] of results.entries()) {
      const data = new Float32Array(await engine.read({ buffer: result, offset: 0, size: dataset.count * widths[i]! * 4 }));
      tensors.push(new Tensor(data, [dataset.count, ...graph.outputs[i]!.shape]));
    }
    return tensors;
  } finally {
    for (const result of results) engine.release(result);
  }
}
