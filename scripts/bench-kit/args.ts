/**
 * The kit's command line (`run.sh [options]`): which models and batch sizes, how long to time them,
 * whether TF.js runs beside ours, a time budget and where the JSON goes. Parsed into KitOptions
 * and then into the bench's own BenchConfig (bench/config.ts), so the kit measures exactly as
 * `npm run bench` does.
 */
import { DEFAULTS, type BenchConfig } from '../../bench/config.ts';

/** The models the kit measures, in the order it runs them. */
export const KIT_MODELS = ['tutorial', 'residual', 'lstm'] as const;
export type KitModel = (typeof KIT_MODELS)[number];

export interface KitOptions {
  models: KitModel[];
  /** Training batch sizes per model (ours, and TF.js where it runs). */
  batches: Record<KitModel, number[]>;
  /** Untimed steps before the windows (≥ 2: fit() keeps two steps in flight). */
  warmup: number;
  /** Timed windows (ms/step is their median) and steps per window. */
  windows: number;
  steps: number;
  /** Samples predict() is timed on, per batch size, and how many timed calls (median taken). */
  predict: number;
  predictRuns: number;
  /** Replays of one training step for the per-op timings (0: none), at these batch sizes (empty: every one). */
  profileRuns: number;
  profileBatches: number[];
  /** Repetitions of each variant of the FMA-ceiling probe. */
  probeRuns: number;
  /** TF.js webgpu on the same Dawn adapter, on these models (a subset of `models`), at these batch sizes (empty: the same as ours). */
  tfjs: boolean;
  tfjsModels: KitModel[];
  tfjsBatches: number[];
  tfjsWarmup: number;
  tfjsWindows: number;
  tfjsSteps: number;
  tfjsPredict: number;
  /** No measurement starts after this many minutes (0: no limit); what is left is reported as skipped. */
  maxMinutes: number;
  /** Our engine's tuning on first use (EngineOptions.tune): the kit measures with it, and prints what it kept. */
  tune: 'off' | 'first-use' | 'exhaustive';
  /** The tutorial recipe timed through fit() (scripts/bench-kit/recipe.ts): 'auto' runs it on adapters that are not a fallback (CPU) adapter. */
  recipe: 'auto' | 'on' | 'off';
  /** The GPU's fp32 peak in GFLOP/s from its spec sheet, for the products target (0: the FMA probe's ceiling stands in). */
  peakGflops: number;
  /** Where the JSON copy of the results goes (empty: next to the kit). */
  json: string;
  help: boolean;
}

/** A full run, sized for a GPU: every model at the issue's batch sizes, enough steps to time milliseconds. */
export const KIT_DEFAULTS: KitOptions = {
  models: [...KIT_MODELS],
  batches: { tutorial: [64, 256, 1024], residual: [64, 256], lstm: [64, 256] },
  warmup: 3,
  windows: 5,
  steps: 5,
  predict: 1024,
  predictRuns: 3,
  profileRuns: 3,
  profileBatches: [],
  probeRuns: 3,
  tfjs: true,
  tfjsModels: [...KIT_MODELS],
  tfjsBatches: [],
  tfjsWarmup: 2,
  tfjsWindows: 3,
  tfjsSteps: 3,
  tfjsPredict: 1024,
  maxMinutes: 0,
  tune: 'first-use',
  recipe: 'auto',
  peakGflops: 0,
  json: '',
  help: false,
};

/** `--quick`: every section once, as fast as it can be measured (batch 64 only, one short window each). */
export const QUICK: Partial<KitOptions> = {
  batches: { tutorial: [64], residual: [64], lstm: [64] },
  warmup: 2,
  windows: 2,
  steps: 1,
  predict: 256,
  predictRuns: 1,
  profileRuns: 1,
  probeRuns: 1,
  tfjsWarmup: 1,
  tfjsWindows: 1,
  tfjsSteps: 1,
  tfjsPredict: 128,
};

interface Flag {
  name: string;
  /** Placeholder of the value ('' for a switch). */
  value: string;
  help: string;
  apply(options: KitOptions, raw: string): void;
}

function int(flag: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${flag}: expected an integer ≥ ${min}, got '${raw}'`);
  return n;
}

function ints(flag: string, raw: string): number[] {
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new Error(`--${flag}: expected a comma-separated list of batch sizes, got '${raw}'`);
  return list.map((s) => int(flag, s, 1));
}

function models(flag: string, raw: string): KitModel[] {
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const m of list) {
    if (!(KIT_MODELS as readonly string[]).includes(m)) throw new Error(`--${flag}: unknown model '${m}'; expected some of ${KIT_MODELS.join(',')}`);
  }
  if (list.length === 0) throw new Error(`--${flag}: expected some of ${KIT_MODELS.join(',')}, got '${raw}'`);
  return KIT_MODELS.filter((m) => list.includes(m));
}

const FLAGS: Flag[] = [
  { name: 'quick', value: '', help: 'every section once, fast: batch 64 only, short windows (flags after it still apply)', apply: () => {} },
  { name: 'models', value: 'LIST', help: `models to run: ${KIT_MODELS.join(',')}`, apply: (o, r) => void (o.models = models('models', r)) },
  { name: 'batches', value: 'LIST', help: 'batch sizes of the tutorial CNN', apply: (o, r) => void (o.batches.tutorial = ints('batches', r)) },
  { name: 'residual-batches', value: 'LIST', help: 'batch sizes of the residual CNN', apply: (o, r) => void (o.batches.residual = ints('residual-batches', r)) },
  { name: 'lstm-batches', value: 'LIST', help: 'batch sizes of the LSTM classifier', apply: (o, r) => void (o.batches.lstm = ints('lstm-batches', r)) },
  { name: 'warmup', value: 'N', help: 'untimed training steps first (≥ 2)', apply: (o, r) => void (o.warmup = int('warmup', r, 2)) },
  { name: 'windows', value: 'N', help: 'timed windows (ms/step is their median)', apply: (o, r) => void (o.windows = int('windows', r, 1)) },
  { name: 'steps', value: 'N', help: 'training steps per window', apply: (o, r) => void (o.steps = int('steps', r, 1)) },
  { name: 'predict', value: 'N', help: 'samples predicted per batch size', apply: (o, r) => void (o.predict = int('predict', r, 1)) },
  { name: 'predict-runs', value: 'N', help: 'timed predict() calls (median taken)', apply: (o, r) => void (o.predictRuns = int('predict-runs', r, 1)) },
  {
    name: 'tune',
    value: 'MODE',
    help: "our engine's tuning: off, first-use (default) or exhaustive",
    apply: (o, r) => {
      if (r !== 'off' && r !== 'first-use' && r !== 'exhaustive') throw new Error(`--tune: expected off, first-use or exhaustive, got '${r}'`);
      o.tune = r;
    },
  },
  { name: 'profile-runs', value: 'N', help: 'replays of one step for the per-op timings (0: none)', apply: (o, r) => void (o.profileRuns = int('profile-runs', r, 0)) },
  { name: 'profile-batches', value: 'LIST', help: 'batch sizes timed per op (default: every one)', apply: (o, r) => void (o.profileBatches = ints('profile-batches', r)) },
  { name: 'probe-runs', value: 'N', help: 'repetitions of the FMA-ceiling probe', apply: (o, r) => void (o.probeRuns = int('probe-runs', r, 1)) },
  { name: 'no-tfjs', value: '', help: 'skip TF.js webgpu', apply: (o) => void (o.tfjs = false) },
  { name: 'tfjs-models', value: 'LIST', help: 'models TF.js runs (default: all that ours runs)', apply: (o, r) => void (o.tfjsModels = models('tfjs-models', r)) },
  { name: 'tfjs-batches', value: 'LIST', help: 'batch sizes TF.js runs (default: the same as ours)', apply: (o, r) => void (o.tfjsBatches = ints('tfjs-batches', r)) },
  { name: 'tfjs-warmup', value: 'N', help: 'untimed TF.js steps', apply: (o, r) => void (o.tfjsWarmup = int('tfjs-warmup', r, 1)) },
  { name: 'tfjs-windows', value: 'N', help: 'timed TF.js windows', apply: (o, r) => void (o.tfjsWindows = int('tfjs-windows', r, 1)) },
  { name: 'tfjs-steps', value: 'N', help: 'TF.js steps per window', apply: (o, r) => void (o.tfjsSteps = int('tfjs-steps', r, 1)) },
  { name: 'tfjs-predict', value: 'N', help: 'samples TF.js predicts', apply: (o, r) => void (o.tfjsPredict = int('tfjs-predict', r, 1)) },
  {
    name: 'recipe',
    value: 'WHEN',
    help: 'time the tutorial recipe (5 epochs of 60,000 at batch 64) through fit(): auto (default: not on fallback adapters), on or off',
    apply: (o, r) => {
      if (r !== 'auto' && r !== 'on' && r !== 'off') throw new Error(`--recipe: expected auto, on or off, got '${r}'`);
      o.recipe = r;
    },
  },
  {
    name: 'peak-gflops',
    value: 'N',
    help: "the GPU's fp32 peak in GFLOP/s (spec sheet) for the products target; default: the FMA probe's ceiling",
    apply: (o, r) => void (o.peakGflops = int('peak-gflops', r, 1)),
  },
  { name: 'max-minutes', value: 'M', help: 'start no measurement after M minutes (0: no limit)', apply: (o, r) => void (o.maxMinutes = int('max-minutes', r, 0)) },
  { name: 'json', value: 'PATH', help: 'where to write the JSON results (default: results/ next to the kit)', apply: (o, r) => void (o.json = r) },
  { name: 'help', value: '', help: 'this text', apply: (o) => void (o.help = true) },
];

/** The options text `--help` prints, with each default. */
export function kitUsage(): string {
  const lines = FLAGS.map((f) => `  --${(f.name + (f.value ? ` ${f.value}` : '')).padEnd(24)} ${f.help}`);
  const d = KIT_DEFAULTS;
  return [
    'usage: ./run.sh [options]',
    ...lines,
    `defaults: tutorial ${d.batches.tutorial.join(',')}; residual ${d.batches.residual.join(',')}; lstm ${d.batches.lstm.join(',')}; ` +
      `warmup ${d.warmup}, ${d.windows} windows × ${d.steps} steps; TF.js ${d.tfjsWarmup} + ${d.tfjsWindows} × ${d.tfjsSteps} steps`,
  ].join('\n');
}

/** Options from argv: defaults, then --quick's (wherever it stands), then every other flag in order. */
export function parseKitArgs(argv: readonly string[]): KitOptions {
  const options: KitOptions = structuredClone(KIT_DEFAULTS);
  if (argv.includes('--quick')) Object.assign(options, structuredClone(QUICK));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const flag = match && FLAGS.find((f) => f.name === match[1]);
    if (!flag) throw new Error(`unknown argument '${arg}'\n${kitUsage()}`);
    let raw = match![2];
    if (flag.value && raw === undefined) {
      raw = argv[++i];
      if (raw === undefined) throw new Error(`--${flag.name} needs a value (${flag.value})`);
    } else if (!flag.value && raw !== undefined) {
      throw new Error(`--${flag.name} takes no value, got '${arg}'`);
    }
    flag.apply(options, raw ?? '');
  }
  options.tfjsModels = options.tfjsModels.filter((m) => options.models.includes(m));
  return options;
}

/** Every batch size of a model that is timed per op. */
export function profiledBatches(options: KitOptions, model: KitModel): number[] {
  const batches = options.batches[model];
  return options.profileRuns === 0 ? [] : options.profileBatches.length ? batches.filter((b) => options.profileBatches.includes(b)) : batches;
}

/** TF.js's batch sizes on a model: ours, narrowed by --tfjs-batches; none where TF.js does not run it. */
export function tfjsBatches(options: KitOptions, model: KitModel): number[] {
  if (!options.tfjs || !options.tfjsModels.includes(model)) return [];
  const batches = options.batches[model];
  return options.tfjsBatches.length ? batches.filter((b) => options.tfjsBatches.includes(b)) : batches;
}

/**
 * The bench's config for one model at one batch size (ours: `batch`; TF.js: the same batch when
 * it runs there, else none), with the kit's timing; bench/ours.ts and bench/tfjs.ts read it.
 */
export function benchConfigFor(options: KitOptions, model: KitModel, batch: number): BenchConfig {
  const tfjs = tfjsBatches(options, model).includes(batch);
  const profiled = profiledBatches(options, model).includes(batch);
  return {
    ...structuredClone(DEFAULTS),
    models: [model],
    targets: ['node'],
    batches: [batch],
    warmupSteps: options.warmup,
    windows: options.windows,
    stepsPerWindow: options.steps,
    predictSamples: options.predict,
    predictRuns: options.predictRuns,
    profileRuns: profiled ? options.profileRuns : 0,
    profileBatches: profiled ? [batch] : [],
    baselines: tfjs ? ['tfjs-webgpu'] : [],
    baselineBatches: tfjs ? [batch] : [],
    baselineWarmupSteps: options.tfjsWarmup,
    baselineWindows: options.tfjsWindows,
    baselineStepsPerWindow: options.tfjsSteps,
    baselinePredictSamples: options.tfjsPredict,
    probeRuns: options.probeRuns,
    tune: options.tune,
  };
}

/** The most training samples a model's run takes at its largest batch (fit() runs warmup + windows × steps + 1 steps). */
export function trainingSamplesNeeded(options: KitOptions, model: KitModel): number {
  const steps = options.warmup + options.windows * options.steps + 1;
  const tfjsSteps = options.tfjsWarmup + options.tfjsWindows * options.tfjsSteps;
  const ours = Math.max(0, ...options.batches[model]) * steps;
  const theirs = Math.max(0, ...tfjsBatches(options, model)) * tfjsSteps;
  return Math.max(ours, theirs);
}
