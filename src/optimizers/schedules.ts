/**
 * Keras's learning-rate schedules (keras.optimizers.schedules), as `optimizers.schedules.*`: an
 * optimizer created with one evaluates it on the GPU every step (shaders/schedules.ts) at Keras's
 * step, the number of updates already applied. `valueAt(step)` is the same formula in float64 on
 * the host (what `optimizer.learningRate` reports). Saved in model.json as Keras 3 serializes
 * them ({ module, class_name, config, registered_name }).
 */
import type { ScheduleSpec } from '../../shaders/schedules.ts';
import { describe } from '../runtime/tensor.ts';
import { checkBoolean, checkKeys, checkNumber, required } from './validation.ts';

export type ScheduleClassName = 'ExponentialDecay' | 'InverseTimeDecay' | 'PiecewiseConstantDecay' | 'PolynomialDecay' | 'CosineDecay';

/** A schedule's Keras config values. */
export type ScheduleConfigValue = number | boolean | string | null | number[];

export abstract class LearningRateSchedule {
  abstract readonly className: ScheduleClassName;
  readonly name: string;

  /** `name` as Keras keeps it (its default is the class name, or 'PiecewiseConstant'). */
  protected constructor(owner: string, name: unknown, fallback = owner) {
    if (name !== undefined && name !== null && typeof name !== 'string') throw new TypeError(`${owner}: name must be a string, got ${describe(name)}`);
    this.name = name ?? fallback;
  }

  /** The rate of the update that follows `step` applied updates (Keras's formula, float64). */
  abstract valueAt(step: number): number;

  /** The plain numbers the WGSL is generated from. */
  abstract spec(): ScheduleSpec;

  /** Keras's snake_case config. */
  abstract getConfig(): Record<string, ScheduleConfigValue>;
}

const positive = (owner: string, name: string, v: unknown) => checkNumber(owner, name, v, (x) => x > 0, 'a finite number > 0');
const rate = (owner: string, name: string, v: unknown) => checkNumber(owner, name, v, (x) => x >= 0, 'a finite number ≥ 0');

export interface ExponentialDecayConfig {
  initialLearningRate: number;
  decaySteps: number;
  decayRate: number;
  staircase?: boolean;
  name?: string;
}

/** initialLearningRate · decayRate^(step / decaySteps) (the exponent floored with staircase). */
export class ExponentialDecay extends LearningRateSchedule {
  readonly className = 'ExponentialDecay';
  readonly initialLearningRate: number;
  readonly decaySteps: number;
  readonly decayRate: number;
  readonly staircase: boolean;

  constructor(config: ExponentialDecayConfig) {
    const o = 'ExponentialDecay';
    const c = checkKeys(o, config, ['initialLearningRate', 'decaySteps', 'decayRate', 'staircase', 'name'], '{ initialLearningRate: 0.1, decaySteps: 1000, decayRate: 0.96 }');
    super(o, c.name);
    this.initialLearningRate = rate(o, 'initialLearningRate', required(o, 'initialLearningRate', c.initialLearningRate));
    this.decaySteps = positive(o, 'decaySteps', required(o, 'decaySteps', c.decaySteps));
    this.decayRate = positive(o, 'decayRate', required(o, 'decayRate', c.decayRate));
    this.staircase = checkBoolean(o, 'staircase', c.staircase ?? false);
  }

  valueAt(step: number): number {
    const p = step / this.decaySteps;
    return this.initialLearningRate * this.decayRate ** (this.staircase ? Math.floor(p) : p);
  }

  spec(): ScheduleSpec {
    return { kind: 'exponential', initial: this.initialLearningRate, decaySteps: this.decaySteps, decayRate: this.decayRate, staircase: this.staircase };
  }

  getConfig() {
    return { initial_learning_rate: this.initialLearningRate, decay_steps: this.decaySteps, decay_rate: this.decayRate, staircase: this.staircase, name: this.name };
  }
}

export type InverseTimeDecayConfig = ExponentialDecayConfig;

/** initialLearningRate / (1 + decayRate · step / decaySteps) (the quotient floored with staircase). */
export class InverseTimeDecay extends LearningRateSchedule {
  readonly className = 'InverseTimeDecay';
  readonly initialLearningRate: number;
  readonly decaySteps: number;
  readonly decayRate: number;
  readonly staircase: boolean;

  constructor(config: InverseTimeDecayConfig) {
    const o = 'InverseTimeDecay';
    const c = checkKeys(o, config, ['initialLearningRate', 'decaySteps', 'decayRate', 'staircase', 'name'], '{ initialLearningRate: 0.1, decaySteps: 1000, decayRate: 0.5 }');
    super(o, c.name);
    this.initialLearningRate = rate(o, 'initialLearningRate', required(o, 'initialLearningRate', c.initialLearningRate));
    this.decaySteps = positive(o, 'decaySteps', required(o, 'decaySteps', c.decaySteps));
    this.decayRate = rate(o, 'decayRate', required(o, 'decayRate', c.decayRate));
    this.staircase = checkBoolean(o, 'staircase', c.staircase ?? false);
  }

  valueAt(step: number): number {
    const p = step / this.decaySteps;
    return this.initialLearningRate / (1 + this.decayRate * (this.staircase ? Math.floor(p) : p));
  }

  spec(): ScheduleSpec {
    return { kind: 'inverseTime', initial: this.initialLearningRate, decaySteps: this.decaySteps, decayRate: this.decayRate, staircase: this.staircase };
  }

  getConfig() {
    return { initial_learning_rate: this.initialLearningRate, decay_steps: this.decaySteps, decay_rate: this.decayRate, staircase: this.staircase, name: this.name };
  }
}

export interface PiecewiseConstantDecayConfig {
  boundaries: number[];
  values: number[];
  name?: string;
}

/** values[0] up to and including boundaries[0], values[k] for boundaries[k−1] < step ≤ boundaries[k], the last value after. */
export class PiecewiseConstantDecay extends LearningRateSchedule {
  readonly className = 'PiecewiseConstantDecay';
  readonly boundaries: readonly number[];
  readonly values: readonly number[];

  constructor(config: PiecewiseConstantDecayConfig) {
    const o = 'PiecewiseConstantDecay';
    const c = checkKeys(o, config, ['boundaries', 'values', 'name'], '{ boundaries: [100, 200], values: [0.1, 0.01, 0.001] }');
    super(o, c.name, 'PiecewiseConstant');
    const list = (name: string, v: unknown) => {
      if (!Array.isArray(v)) throw new TypeError(`${o}: ${name} must be an array of numbers, got ${describe(v)}`);
      return v.map((x, i) => checkNumber(o, `${name}[${i}]`, x, (y) => y >= 0, 'a finite number ≥ 0'));
    };
    this.boundaries = list('boundaries', required(o, 'boundaries', c.boundaries));
    this.values = list('values', required(o, 'values', c.values));
    if (this.values.length !== this.boundaries.length + 1) {
      throw new Error(`${o}: values must have one more element than boundaries, got ${this.values.length} values for ${this.boundaries.length} boundaries`);
    }
    this.boundaries.forEach((b, i) => {
      if (i > 0 && !(b > this.boundaries[i - 1]!)) throw new Error(`${o}: boundaries must increase, got ${this.boundaries[i - 1]} then ${b}`);
    });
  }

  valueAt(step: number): number {
    const k = this.boundaries.filter((b) => step > b).length;
    return this.values[k]!;
  }

  spec(): ScheduleSpec {
    return { kind: 'piecewise', boundaries: this.boundaries, values: this.values };
  }

  getConfig() {
    return { boundaries: [...this.boundaries], values: [...this.values], name: this.name };
  }
}

export interface PolynomialDecayConfig {
  initialLearningRate: number;
  decaySteps: number;
  endLearningRate?: number;
  power?: number;
  cycle?: boolean;
  name?: string;
}

/**
 * (initial − end)·(1 − step/decaySteps)^power + end, the step held at decaySteps; with `cycle`,
 * decaySteps grows to the first multiple of itself at or past the step.
 */
export class PolynomialDecay extends LearningRateSchedule {
  readonly className = 'PolynomialDecay';
  readonly initialLearningRate: number;
  readonly decaySteps: number;
  readonly endLearningRate: number;
  readonly power: number;
  readonly cycle: boolean;

  constructor(config: PolynomialDecayConfig) {
    const o = 'PolynomialDecay';
    const c = checkKeys(o, config, ['initialLearningRate', 'decaySteps', 'endLearningRate', 'power', 'cycle', 'name'], '{ initialLearningRate: 0.1, decaySteps: 1000 }');
    super(o, c.name);
    this.initialLearningRate = rate(o, 'initialLearningRate', required(o, 'initialLearningRate', c.initialLearningRate));
    this.decaySteps = positive(o, 'decaySteps', required(o, 'decaySteps', c.decaySteps));
    this.endLearningRate = rate(o, 'endLearningRate', c.endLearningRate ?? 0.0001);
    this.power = positive(o, 'power', c.power ?? 1);
    this.cycle = checkBoolean(o, 'cycle', c.cycle ?? false);
  }

  valueAt(step: number): number {
    let decaySteps = this.decaySteps;
    let s = step;
    if (this.cycle) decaySteps *= step === 0 ? 1 : Math.ceil(step / this.decaySteps);
    else s = Math.min(step, this.decaySteps);
    return (this.initialLearningRate - this.endLearningRate) * (1 - s / decaySteps) ** this.power + this.endLearningRate;
  }

  spec(): ScheduleSpec {
    return { kind: 'polynomial', initial: this.initialLearningRate, decaySteps: this.decaySteps, end: this.endLearningRate, power: this.power, cycle: this.cycle };
  }

  getConfig() {
    return { initial_learning_rate: this.initialLearningRate, decay_steps: this.decaySteps, end_learning_rate: this.endLearningRate, power: this.power, cycle: this.cycle, name: this.name };
  }
}

export interface CosineDecayConfig {
  initialLearningRate: number;
  decaySteps: number;
  alpha?: number;
  warmupTarget?: number | null;
  warmupSteps?: number;
  name?: string;
}

/**
 * Keras 3's cosine decay with linear warm-up: without warmupTarget, initial·((1−α)·½(1 + cos(π·s/decaySteps)) + α)
 * with s held at decaySteps; with it, a line from initialLearningRate to warmupTarget over
 * warmupSteps, then the same decay from warmupTarget.
 */
export class CosineDecay extends LearningRateSchedule {
  readonly className = 'CosineDecay';
  readonly initialLearningRate: number;
  readonly decaySteps: number;
  readonly alpha: number;
  readonly warmupTarget: number | null;
  readonly warmupSteps: number;

  constructor(config: CosineDecayConfig) {
    const o = 'CosineDecay';
    const c = checkKeys(o, config, ['initialLearningRate', 'decaySteps', 'alpha', 'warmupTarget', 'warmupSteps', 'name'], '{ initialLearningRate: 0.1, decaySteps: 1000 }');
    super(o, c.name);
    this.initialLearningRate = rate(o, 'initialLearningRate', required(o, 'initialLearningRate', c.initialLearningRate));
    this.decaySteps = positive(o, 'decaySteps', required(o, 'decaySteps', c.decaySteps));
    this.alpha = checkNumber(o, 'alpha', c.alpha ?? 0, (v) => v >= 0 && v <= 1, 'in [0, 1]');
    this.warmupTarget = c.warmupTarget === undefined || c.warmupTarget === null ? null : rate(o, 'warmupTarget', c.warmupTarget);
    this.warmupSteps = rate(o, 'warmupSteps', c.warmupSteps ?? 0);
  }

  valueAt(step: number): number {
    const decayed = (s: number, from: number) => from * ((1 - this.alpha) * 0.5 * (1 + Math.cos((Math.PI * s) / this.decaySteps)) + this.alpha);
    if (this.warmupTarget === null) return decayed(Math.min(step, this.decaySteps), this.initialLearningRate);
    const s = Math.min(step, this.decaySteps + this.warmupSteps);
    if (s < this.warmupSteps) return (this.warmupTarget - this.initialLearningRate) * (s / this.warmupSteps) + this.initialLearningRate;
    return decayed(s - this.warmupSteps, this.warmupTarget);
  }

  spec(): ScheduleSpec {
    return { kind: 'cosine', initial: this.initialLearningRate, decaySteps: this.decaySteps, alpha: this.alpha, warmupTarget: this.warmupTarget, warmupSteps: this.warmupSteps };
  }

  getConfig() {
    return { initial_learning_rate: this.initialLearningRate, decay_steps: this.decaySteps, alpha: this.alpha, name: this.name, warmup_target: this.warmupTarget, warmup_steps: this.warmupSteps };
  }
}

/** `optimizers.schedules.*`: Keras's schedules with TF.js-style factory names and camelCase options. */
export const schedules = {
  exponentialDecay: (config: ExponentialDecayConfig) => new ExponentialDecay(config),
  inverseTimeDecay: (config: InverseTimeDecayConfig) => new InverseTimeDecay(config),
  piecewiseConstantDecay: (config: PiecewiseConstantDecayConfig) => new PiecewiseConstantDecay(config),
  polynomialDecay: (config: PolynomialDecayConfig) => new PolynomialDecay(config),
  cosineDecay: (config: CosineDecayConfig) => new CosineDecay(config),
};

/** A schedule as Keras 3 serializes it inside an optimizer's config. */
export interface SerializedSchedule {
  module: 'keras.optimizers.schedules';
  class_name: ScheduleClassName;
  config: Record<string, ScheduleConfigValue>;
  registered_name: null;
}

export function serializeSchedule(s: LearningRateSchedule): SerializedSchedule {
  return { module: 'keras.optimizers.schedules', class_name: s.className, config: s.getConfig(), registered_name: null };
}

const FROM_CONFIG: Record<ScheduleClassName, (c: Record<string, unknown>) => LearningRateSchedule> = {
  ExponentialDecay: (c) => new ExponentialDecay(c as never),
  InverseTimeDecay: (c) => new InverseTimeDecay(c as never),
  PiecewiseConstantDecay: (c) => new PiecewiseConstantDecay(c as never),
  PolynomialDecay: (c) => new PolynomialDecay(c as never),
  CosineDecay: (c) => new CosineDecay(c as never),
};

/** The schedule of a serialized { class_name, config } (Keras 2 or 3, snake_case or camelCase keys). */
export function scheduleFromConfig(value: unknown): LearningRateSchedule {
  const v = value as { class_name?: unknown; config?: unknown } | null;
  if (!v || typeof v !== 'object' || typeof v.class_name !== 'string' || typeof v.config !== 'object' || v.config === null) {
    throw new Error(`a learning-rate schedule must be {class_name, config}, got ${describe(value)}`);
  }
  const make = Object.hasOwn(FROM_CONFIG, v.class_name) ? FROM_CONFIG[v.class_name as ScheduleClassName] : undefined;
  if (!make) throw new Error(`unknown learning-rate schedule '${v.class_name}'; known: ${Object.keys(FROM_CONFIG).join(', ')}`);
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(v.config as Record<string, unknown>)) {
    if (value === null && key !== 'warmup_target' && key !== 'warmupTarget') continue;
    options[key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase())] = value;
  }
  return make(options);
}
