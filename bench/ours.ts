/**
 * Our engine on the tutorial CNN, in whichever environment imports this (Node with Dawn, or a page):
 * the FMA ceiling on the engine's own device, then per batch size: training throughput from timed
 * windows inside one ordinary `fit()`, the engine's counters over those windows, prediction
 * throughput from `predict()`, and a per-dispatch breakdown of one captured training step.
 */
import { createEngine, mnistCnn, Tensor, type Engine, type EngineStats, type LayersModel } from '../src/index.ts';
import type { Dispatch } from '../src/runtime/engine.ts';
import type { Mnist } from '../src/data/mnist.ts';
import type { BenchConfig } from './config.ts';
import { modelFlops, type ModelFlops } from './flops.ts';
import { probeFmaCeiling, type ProbeResult } from './fma-probe.ts';
import { profileStep, type StepProfile } from './profile.ts';
import { median, throughput, windowTimes, type PredictResult, type TrainResult } from './results.ts';

export interface StepCounters {
  submits: number;
  readbacks: number;
  buffersCreated: number;
  bindGroupsCreated: number;
  dispatches: number;
  pipelinesCompiled: number;
}

export interface OurTrainResult extends TrainResult {
  /** Engine counters per step over the timed windows. */
  countersPerStep: StepCounters;
  /** Loss and accuracy fit() reported for the run (a check that it trained, not a quality figure). */
  loss: number;
  accuracy: number;
}

export interface EngineResult {
  environment: string;
  adapter: string;
  isFallbackAdapter: boolean;
  kernelStyle: string;
  hasTimestamps: boolean;
  probe: ProbeResult;
  flops: ModelFlops;
  train: OurTrainResult[];
  predict: PredictResult[];
  profiles: { batch: number; profile: StepProfile }[];
}

const COUNTERS: (keyof StepCounters)[] = ['submits', 'readbacks', 'buffersCreated', 'bindGroupsCreated', 'dispatches', 'pipelinesCompiled'];

function countersPerStep(before: EngineStats, after: EngineStats, steps: number): StepCounters {
  return Object.fromEntries(COUNTERS.map((k) => [k, (after[k] - before[k]) / steps])) as unknown as StepCounters;
}

/** The first `n` rows of an MNIST split, as a tensor view on the same bytes. */
export function rows(split: Mnist['train'], n: number): { x: Tensor; y: Tensor } {
  if (n > split.labels.shape[0]!) throw new Error(`the benchmark needs ${n} samples but the split holds ${split.labels.shape[0]}`);
  return {
    x: new Tensor(split.images.data.subarray(0, n * 784), [n, 28, 28, 1]),
    y: new Tensor(split.labels.data.subarray(0, n), [n]),
  };
}

function compiledCnn(engine: Engine): LayersModel {
  const model = mnistCnn();
  model.compile({ optimizer: 'rmsprop', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine });
  return model;
}

async function train(engine: Engine, mnist: Mnist, batch: number, config: BenchConfig, flops: ModelFlops, ceiling: number, capture: boolean) {
  const { warmupSteps: warmup, windows, stepsPerWindow: k } = config;
  // One extra step at the end: fit() reads the metrics back on its last step, outside every window.
  const steps = warmup + windows * k + 1;
  const { x, y } = rows(mnist.train, steps * batch);
  const model = compiledCnn(engine);
  const times: number[] = [];
  const stats: EngineStats[] = [];
  let captured: Dispatch[] | undefined;
  const history = await model.fit(x, y, {
    epochs: 1,
    batchSize: batch,
    verbose: 0,
    // Batch logs would read the metrics back: only the last step does, outside the windows.
    logEveryMs: Infinity,
    callbacks: {
      onBatchEnd(step) {
        // fit() keeps two steps in flight: this runs once step-1 has finished and `step` is queued.
        times[step] = performance.now();
        stats[step] = engine.stats();
        if (capture && step === warmup - 1) {
          engine.onEncode = (dispatches) => {
            captured = [...dispatches];
            engine.onEncode = undefined;
          };
        }
      },
    },
  });
  engine.onEncode = undefined;
  const windowMs = windowTimes(times, warmup, windows, k);
  const first = warmup - 1;
  const last = warmup - 1 + windows * k;
  const msPerStep = median(windowMs);
  const result: OurTrainResult = {
    batch,
    steps: { warmup, windows, perWindow: k },
    windowMs,
    msPerStep,
    ...throughput(batch / (msPerStep / 1000), flops.training, ceiling),
    countersPerStep: countersPerStep(stats[first]!, stats[last]!, windows * k),
    loss: history.loss[0] ?? NaN,
    accuracy: history.accuracy[0] ?? NaN,
  };
  return { model, result, captured };
}

async function predict(model: LayersModel, mnist: Mnist, batch: number, samples: number, runs: number, flops: ModelFlops, ceiling: number): Promise<PredictResult> {
  // A one-batch call first builds the predict plan and compiles its pipelines.
  await model.predict(rows(mnist.test, Math.min(batch, samples)).x, { batchSize: batch });
  const runsMs: number[] = [];
  for (let run = 0; run < runs; run++) {
    // Fresh bytes each call (the model caches datasets by their bytes): the upload to the device
    // is part of what a user's predict() costs.
    const images = rows(mnist.test, samples).x;
    const x = new Tensor(images.data.slice(), images.shape);
    const start = performance.now();
    await model.predict(x, { batchSize: batch });
    runsMs.push(performance.now() - start);
  }
  const ms = median(runsMs);
  return { batch, samples, ms, runsMs, ...throughput(samples / (ms / 1000), flops.forward, ceiling) };
}

export async function benchEngine(environment: string, mnist: Mnist, config: BenchConfig, log: (line: string) => void): Promise<EngineResult> {
  const engine = await createEngine();
  try {
    log(`${environment}: adapter ${engine.adapterDescription}${engine.isFallbackAdapter ? ' (fallback adapter)' : ''}, kernels '${engine.kernelStyle}'`);
    const probe = await probeFmaCeiling(engine.device, config.probeRuns, (line) => log(`${environment}: ${line}`));
    const flops = modelFlops(mnistCnn());
    const result: EngineResult = {
      environment,
      adapter: engine.adapterDescription,
      isFallbackAdapter: engine.isFallbackAdapter,
      kernelStyle: engine.kernelStyle,
      hasTimestamps: engine.hasTimestamps,
      probe,
      flops,
      train: [],
      predict: [],
      profiles: [],
    };
    for (const batch of config.batches) {
      const capture = config.profileRuns > 0 && config.profileBatches.includes(batch);
      const { model, result: trained, captured } = await train(engine, mnist, batch, config, flops, probe.gflops, capture);
      result.train.push(trained);
      log(`${environment}: train batch ${batch}: ${trained.msPerStep.toFixed(0)} ms/step (windows ${trained.windowMs.map((m) => m.toFixed(0)).join(', ')}), ${trained.samplesPerSec.toFixed(1)} samples/s`);
      try {
        // The replay first: it reuses the step's StepInfo uniform as fit() left it, which predict() rewrites.
        if (captured) {
          const profile = await profileStep(engine, captured, config.profileRuns);
          result.profiles.push({ batch, profile });
          log(`${environment}: breakdown batch ${batch} by ${profile.method}: ${profile.totalMs.toFixed(0)} ms over ${captured.length} dispatches (step wall ${profile.wallMs.toFixed(0)} ms)`);
        }
        const predicted = await predict(model, mnist, batch, config.predictSamples, config.predictRuns, flops, probe.gflops);
        result.predict.push(predicted);
        log(`${environment}: predict batch ${batch}: ${predicted.samples} images in ${predicted.ms.toFixed(0)} ms (median of ${predicted.runsMs!.map((m) => m.toFixed(0)).join(', ')}), ${predicted.samplesPerSec.toFixed(1)} samples/s`);
      } finally {
        model.dispose();
      }
    }
    return result;
  } finally {
    engine.dispose();
  }
}
