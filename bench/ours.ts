/**
 * Our engine on one of the bench's models (models.ts, sequence-models.ts), in whichever environment imports this (Node with Dawn, or a page):
 * the FMA ceiling on the engine's own device, then per batch size: training throughput from timed
 * windows inside one ordinary `fit()`, the engine's counters over those windows, prediction
 * throughput from `predict()`, and a per-dispatch breakdown of one captured training step.
 */
import { createEngine, type Engine, type EngineStats, type LayersModel, type TuningRecord, type TuningStats, type VariantRow } from '../src/index.ts';
import type { Dispatch } from '../src/runtime/engine.ts';
import type { BenchConfig } from './config.ts';
import { modelFlops, type ModelFlops } from './flops.ts';
import { probeFmaCeiling, type ProbeResult } from './fma-probe.ts';
import { profileStep, type StepProfile } from './profile.ts';
import type { BenchModel } from './models.ts';
import { median, throughput, windowTimes, type PredictResult, type TrainResult } from './results.ts';

export { rows } from './models.ts';

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
  /** Tokens per second, for models measured in tokens (batch × tokens per sample / step time). */
  tokensPerSec?: number;
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
  /** What tuning on first use measured and kept (BenchConfig.tune), and the variant each layer ran at the first batch size. */
  tuning?: { stats: TuningStats; records: TuningRecord[] };
  variants?: VariantRow[];
}

const COUNTERS: (keyof StepCounters)[] = ['submits', 'readbacks', 'buffersCreated', 'bindGroupsCreated', 'dispatches', 'pipelinesCompiled'];

function countersPerStep(before: EngineStats, after: EngineStats, steps: number): StepCounters {
  return Object.fromEntries(COUNTERS.map((k) => [k, (after[k] - before[k]) / steps])) as unknown as StepCounters;
}

function compiled(engine: Engine, spec: BenchModel): LayersModel {
  const model = spec.build();
  model.compile({ optimizer: spec.optimizer ?? 'rmsprop', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine });
  return model;
}

async function train(engine: Engine, spec: BenchModel, batch: number, config: BenchConfig, flops: ModelFlops, ceiling: number, capture: boolean) {
  const { warmupSteps: warmup, windows, stepsPerWindow: k } = config;
  // One extra step at the end: fit() reads the metrics back on its last step, outside every window.
  const steps = warmup + windows * k + 1;
  const { x, y } = spec.train(steps * batch);
  const model = compiled(engine, spec);
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
    ...(spec.tokensPerSample ? { tokensPerSec: (batch * spec.tokensPerSample) / (msPerStep / 1000) } : {}),
    countersPerStep: countersPerStep(stats[first]!, stats[last]!, windows * k),
    loss: history.loss[0] ?? NaN,
    accuracy: history.accuracy[0] ?? NaN,
  };
  return { model, result, captured };
}

async function predict(model: LayersModel, spec: BenchModel, batch: number, samples: number, runs: number, flops: ModelFlops, ceiling: number): Promise<PredictResult> {
  // A one-batch call first builds the predict plan and compiles its pipelines.
  await model.predict(spec.test(Math.min(batch, samples)), { batchSize: batch });
  const runsMs: number[] = [];
  for (let run = 0; run < runs; run++) {
    // Fresh bytes each call (the model caches datasets by their bytes): the upload to the device
    // is part of what a user's predict() costs.
    const x = spec.test(samples);
    const start = performance.now();
    await model.predict(x, { batchSize: batch });
    runsMs.push(performance.now() - start);
  }
  const ms = median(runsMs);
  return { batch, samples, ms, runsMs, ...throughput(samples / (ms / 1000), flops.forward, ceiling) };
}

/** FLOPs per sample of a bench model: conv/dense only for the tutorial (as always), cheap ops too for the rest. */
export function benchModelFlops(spec: Pick<BenchModel, 'name' | 'build'>): ModelFlops {
  return modelFlops(spec.build(), { cheapOps: spec.name !== 'tutorial' });
}

/**
 * `probe`: the FMA ceiling already measured in this environment (by the previous model's run), so
 * that it is taken once per environment; without it the probe runs first.
 */
export async function benchEngine(environment: string, spec: BenchModel, config: BenchConfig, log: (line: string) => void, knownProbe?: ProbeResult): Promise<EngineResult> {
  const engine = await createEngine({ tune: config.tune, tuningStore: false });
  const tag = spec.name === 'tutorial' ? environment : `${environment} ${spec.name}${spec.variant ? ` (${spec.variant})` : ''}`;
  try {
    log(`${tag}: adapter ${engine.adapterDescription}${engine.isFallbackAdapter ? ' (fallback adapter)' : ''}, kernels '${engine.kernelStyle}'`);
    const probe = knownProbe ?? (await probeFmaCeiling(engine.device, config.probeRuns, (line) => log(`${environment}: ${line}`)));
    const flops = benchModelFlops(spec);
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
      const { model, result: trained, captured } = await train(engine, spec, batch, config, flops, probe.gflops, capture);
      result.train.push(trained);
      const tokens = trained.tokensPerSec === undefined ? '' : `, ${trained.tokensPerSec.toFixed(0)} tokens/s`;
      log(`${tag}: train batch ${batch}: ${trained.msPerStep.toFixed(0)} ms/step (windows ${trained.windowMs.map((m) => m.toFixed(0)).join(', ')}), ${trained.samplesPerSec.toFixed(1)} samples/s${tokens}, ${trained.countersPerStep.dispatches} dispatches/step`);
      try {
        // The replay first: it reuses the step's StepInfo uniform as fit() left it, which predict() rewrites.
        if (captured) {
          const profile = await profileStep(engine, captured, config.profileRuns);
          result.profiles.push({ batch, profile });
          log(`${tag}: breakdown batch ${batch} by ${profile.method}: ${profile.totalMs.toFixed(0)} ms over ${captured.length} dispatches (step wall ${profile.wallMs.toFixed(0)} ms)`);
        }
        // What each layer ran at this batch size (tuned choices included): a fresh plan records them.
        result.variants ??= await model.describeVariants({ batchSize: batch });
        const predicted = await predict(model, spec, batch, config.predictSamples, config.predictRuns, flops, probe.gflops);
        result.predict.push(predicted);
        log(`${tag}: predict batch ${batch}: ${predicted.samples} samples in ${predicted.ms.toFixed(0)} ms (median of ${predicted.runsMs!.map((m) => m.toFixed(0)).join(', ')}), ${predicted.samplesPerSec.toFixed(1)} samples/s`);
      } finally {
        model.dispose();
      }
    }
    if (config.tune !== 'off') {
      result.tuning = { stats: engine.stats().tuning, records: engine.tuning.list() };
      const t = result.tuning.stats;
      log(`${tag}: tuning '${config.tune}': ${t.geometries} geometries, ${t.candidates} candidates timed in ${t.ms.toFixed(0)} ms, ${t.changed} choice(s) differ from the hand policy`);
    }
    return result;
  } finally {
    engine.dispose();
  }
}
