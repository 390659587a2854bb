/**
 * What one `npm run bench` measures and for how long. Every knob is a flag (`npm run bench --
 * --steps 4`) or an environment variable (BENCH_STEPS=4); the Node side parses them and hands the
 * same object to the page, and the report prints it, so a result always says what produced it.
 */
import type { TuneMode } from '../src/runtime/tuning.ts';

export const BASELINES = ['tfjs-webgpu', 'tfjs-webgl', 'jax-webgpu'] as const;
export type BaselineName = (typeof BASELINES)[number];
export const TARGETS = ['node', 'chromium'] as const;
export type Target = (typeof TARGETS)[number];
export const MODELS = ['tutorial', 'residual', 'lstm', 'charlm'] as const;
export type ModelName = (typeof MODELS)[number];
/** The language model's kinds (src/models/charlm.ts). */
export const CHARLM_KINDS = ['transformer', 'lstm'] as const;
export type CharLmKindName = (typeof CHARLM_KINDS)[number];

export interface BenchConfig {
  /** Which models to measure (bench/models.ts). */
  models: ModelName[];
  /** Where to run our engine. */
  targets: Target[];
  /** Training batch sizes for our engine. */
  batches: number[];
  /**
   * Untimed steps first: step 0 builds the plan and compiles pipelines, and since fit() keeps two
   * steps in flight, the first window can only start once step 0 has completed (≥ 2).
   */
  warmupSteps: number;
  /** Timed windows; ms/step is the median over windows. */
  windows: number;
  stepsPerWindow: number;
  /** Test images predicted per batch size (10,000 = the whole test set). */
  predictSamples: number;
  /** Timed predict() calls over those images (median taken), like the training windows. */
  predictRuns: number;
  /** Replays of the training step for the per-dispatch breakdown (median per dispatch). */
  profileRuns: number;
  /** Batch sizes the breakdown is taken at (a subset of `batches`). */
  profileBatches: number[];
  /** Frameworks compared with in Chromium; none with `--baselines none`. */
  baselines: BaselineName[];
  baselineBatches: number[];
  /** Their fit loops wait for each step, so one untimed step covers their compilation. */
  baselineWarmupSteps: number;
  baselineWindows: number;
  baselineStepsPerWindow: number;
  baselinePredictSamples: number;
  /** Repetitions of each FMA-probe configuration (the best counts: it is a ceiling). */
  probeRuns: number;
  /** The residual model's batch sizes (ours and the frameworks; the profile where in profileBatches). */
  residualBatches: number[];
  /** The frameworks' windows for the residual model (a TF.js step on it takes minutes on a CPU adapter). */
  residualBaselineWindows: number;
  residualBaselineSteps: number;
  /** The LSTM classifier's batch sizes (ours and the frameworks). */
  lstmBatches: number[];
  /** The frameworks' windows on the LSTM classifier (TF.js's LSTM step takes seconds on a CPU adapter). */
  lstmBaselineWindows: number;
  lstmBaselineSteps: number;
  /** Sequences (or windows) predicted per batch size on the sequence models (ours and the frameworks, capped by `baselinePredictSamples` for theirs). */
  sequencePredictSamples: number;
  /** The language model's kinds measured, its batch sizes and its window length in characters. */
  charlmKinds: CharLmKindName[];
  charlmBatches: number[];
  charlmSequence: number;
  /** Our engine's tuning on first use (EngineOptions.tune); the bench reports what it measured and kept. */
  tune: TuneMode;
}

export const DEFAULTS: BenchConfig = {
  models: [...MODELS],
  targets: ['node', 'chromium'],
  batches: [64, 256],
  warmupSteps: 2,
  windows: 3,
  stepsPerWindow: 1,
  predictSamples: 1024,
  predictRuns: 3,
  profileRuns: 3,
  profileBatches: [64],
  tune: 'off',
  baselines: [...BASELINES],
  baselineBatches: [64],
  baselineWarmupSteps: 1,
  baselineWindows: 2,
  baselineStepsPerWindow: 1,
  baselinePredictSamples: 256,
  probeRuns: 3,
  residualBatches: [64],
  residualBaselineWindows: 1,
  residualBaselineSteps: 1,
  lstmBatches: [64],
  lstmBaselineWindows: 1,
  lstmBaselineSteps: 1,
  sequencePredictSamples: 128,
  charlmKinds: [...CHARLM_KINDS],
  charlmBatches: [32],
  charlmSequence: 64,
};

interface Option {
  key: keyof BenchConfig;
  flag: string;
  help: string;
  parse(raw: string): BenchConfig[keyof BenchConfig];
}

const int = (min: number) => (raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`expected an integer ≥ ${min}, got '${raw}'`);
  return n;
};
const ints = (raw: string): number[] => raw.split(',').map((s) => int(1)(s.trim()));
const choices = <T extends string>(allowed: readonly T[], none: boolean) => (raw: string): T[] => {
  if (none && raw === 'none') return [];
  const list = raw.split(',').map((s) => s.trim()) as T[];
  const bad = list.filter((s) => !allowed.includes(s));
  if (bad.length) throw new Error(`unknown ${bad.join(', ')}; expected some of ${allowed.join(', ')}${none ? ' or none' : ''}`);
  return list;
};

const OPTIONS: Option[] = [
  { key: 'models', flag: 'models', help: `models measured: ${MODELS.join(',')}`, parse: choices(MODELS, false) },
  { key: 'targets', flag: 'targets', help: 'where our engine runs: node,chromium', parse: choices(TARGETS, false) },
  { key: 'batches', flag: 'batches', help: 'training batch sizes', parse: ints },
  { key: 'warmupSteps', flag: 'warmup', help: 'untimed steps before the windows (≥ 2: fit() keeps two steps in flight)', parse: int(2) },
  { key: 'windows', flag: 'windows', help: 'timed windows (median taken)', parse: int(1) },
  { key: 'stepsPerWindow', flag: 'steps', help: 'training steps per window', parse: int(1) },
  { key: 'predictSamples', flag: 'predict', help: 'test images predicted (max 10000)', parse: int(1) },
  { key: 'predictRuns', flag: 'predict-runs', help: 'timed predict() calls over them (median taken)', parse: int(1) },
  { key: 'tune', flag: 'tune', help: "our engine's tuning: off, first-use or exhaustive", parse: (raw) => choices(['off', 'first-use', 'exhaustive'] as const, false)(raw)[0]! },
  { key: 'profileRuns', flag: 'profile-runs', help: 'replays for the per-dispatch breakdown (0: none)', parse: int(0) },
  { key: 'profileBatches', flag: 'profile-batches', help: 'batch sizes broken down per dispatch', parse: ints },
  { key: 'baselines', flag: 'baselines', help: `frameworks in Chromium: ${BASELINES.join(',')} or none`, parse: choices(BASELINES, true) },
  { key: 'baselineBatches', flag: 'baseline-batches', help: 'batch sizes for the frameworks', parse: ints },
  { key: 'baselineWarmupSteps', flag: 'baseline-warmup', help: 'untimed framework steps', parse: int(1) },
  { key: 'baselineWindows', flag: 'baseline-windows', help: 'timed framework windows', parse: int(1) },
  { key: 'baselineStepsPerWindow', flag: 'baseline-steps', help: 'framework steps per window', parse: int(1) },
  { key: 'baselinePredictSamples', flag: 'baseline-predict', help: 'test images the frameworks predict', parse: int(1) },
  { key: 'probeRuns', flag: 'probe-runs', help: 'repetitions of each FMA-probe variant', parse: int(1) },
  { key: 'residualBatches', flag: 'residual-batches', help: 'batch sizes for the residual model (ours and the frameworks)', parse: ints },
  { key: 'residualBaselineWindows', flag: 'residual-baseline-windows', help: 'timed framework windows on the residual model', parse: int(1) },
  { key: 'residualBaselineSteps', flag: 'residual-baseline-steps', help: 'framework steps per window on the residual model', parse: int(1) },
  { key: 'lstmBatches', flag: 'lstm-batches', help: 'batch sizes for the LSTM classifier (ours and the frameworks)', parse: ints },
  { key: 'lstmBaselineWindows', flag: 'lstm-baseline-windows', help: 'timed framework windows on the LSTM classifier', parse: int(1) },
  { key: 'lstmBaselineSteps', flag: 'lstm-baseline-steps', help: 'framework steps per window on the LSTM classifier', parse: int(1) },
  { key: 'sequencePredictSamples', flag: 'sequence-predict', help: 'sequences predicted on the LSTM classifier and the language model', parse: int(1) },
  { key: 'charlmKinds', flag: 'charlm-kinds', help: `language model kinds: ${CHARLM_KINDS.join(',')}`, parse: choices(CHARLM_KINDS, false) },
  { key: 'charlmBatches', flag: 'charlm-batches', help: 'batch sizes for the language model (ours only)', parse: ints },
  { key: 'charlmSequence', flag: 'charlm-sequence', help: 'characters per language-model window (tokens per sample)', parse: int(2) },
];

export function usage(): string {
  const lines = OPTIONS.map((o) => `  --${o.flag.padEnd(18)} ${o.help} (env BENCH_${envName(o.flag)}; default ${String(DEFAULTS[o.key])})`);
  return `usage: npm run bench -- [options]\n${lines.join('\n')}\n  --help`;
}

function envName(flag: string): string {
  return flag.toUpperCase().replace(/-/g, '_');
}

/** Flags override environment variables, which override the defaults. */
export function parseConfig(argv: readonly string[], env: Record<string, string | undefined>): BenchConfig {
  const config: BenchConfig = structuredClone(DEFAULTS);
  const set = (option: Option, raw: string, source: string) => {
    try {
      (config as unknown as Record<string, unknown>)[option.key] = option.parse(raw);
    } catch (err) {
      throw new Error(`${source}: ${(err as Error).message}\n${usage()}`);
    }
  };
  for (const option of OPTIONS) {
    const raw = env[`BENCH_${envName(option.flag)}`];
    if (raw !== undefined && raw !== '') set(option, raw, `BENCH_${envName(option.flag)}`);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [name, inline] = arg.startsWith('--') ? arg.slice(2).split(/=(.*)/s, 2) : [undefined, undefined];
    const option = OPTIONS.find((o) => o.flag === name);
    if (!option) throw new Error(`unknown argument '${arg}'\n${usage()}`);
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new Error(`--${name} needs a value\n${usage()}`);
    set(option, raw, `--${name}`);
  }
  config.predictSamples = Math.min(config.predictSamples, 10_000);
  config.baselinePredictSamples = Math.min(config.baselinePredictSamples, 10_000);
  return config;
}

/**
 * The config one model is measured under: the tutorial's is the config itself; the others take
 * their own batch sizes and framework windows (the language model runs no framework), and the
 * sequence models their own number of predicted sequences.
 */
export function modelConfig(config: BenchConfig, model: ModelName): BenchConfig {
  if (model === 'tutorial') return config;
  const own = (batches: number[], windows: number, steps: number): BenchConfig => ({
    ...config,
    batches,
    profileBatches: config.profileBatches.filter((b) => batches.includes(b)),
    baselineBatches: batches,
    baselineWindows: windows,
    baselineStepsPerWindow: steps,
  });
  if (model === 'residual') return own(config.residualBatches, config.residualBaselineWindows, config.residualBaselineSteps);
  const sequences = { predictSamples: config.sequencePredictSamples, baselinePredictSamples: Math.min(config.baselinePredictSamples, config.sequencePredictSamples) };
  if (model === 'lstm') return { ...own(config.lstmBatches, config.lstmBaselineWindows, config.lstmBaselineSteps), ...sequences };
  return { ...own(config.charlmBatches, 1, 1), ...sequences, baselines: [] };
}

/** One line per knob, for the report header (knobs a result written before they existed lacks are left out). */
export function describeConfig(config: BenchConfig): string {
  return OPTIONS.filter((o) => config[o.key] !== undefined).map((o) => `${o.flag}=${String(config[o.key]) || 'none'}`).join(' ');
}
