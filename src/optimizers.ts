/**
 * Optimizers as the model compiles them: each knows its state slots (one flat buffer per slot, the
 * size of the flat parameter buffer), builds its single update dispatch, and fills the 16-byte
 * uniform (learning rate, Adam's step size) that the plan writes before every step.
 */
import { adamUpdate, rmspropUpdate, sgdUpdate } from '../shaders/optimizers.ts';
import type { KernelSource } from '../shaders/kernel.ts';
import type { BufferView, Dispatch, Engine } from './runtime/engine.ts';
import { describe } from './runtime/tensor.ts';

/** Size of the per-step uniform: { lr: f32, alpha: f32, epsilon: f32, unused: f32 }. */
export const HYPER_BYTES = 16;

export interface OptimizerViews {
  params: BufferView;
  grads: BufferView;
  /** One view per `slotNames` entry, in that order, each as large as `params`; zeroed before step 1. */
  slots: readonly BufferView[];
  /** HYPER_BYTES of a buffer with UNIFORM usage, holding `hyperparameters(step)`. */
  hyper: BufferView;
}

export abstract class Optimizer {
  static readonly HYPER_BYTES = HYPER_BYTES;
  /** Names of the state slots (used for checkpoints), in the order `update` binds them. */
  abstract readonly slotNames: readonly string[];
  private lr = 0;

  /** Keras class name, saved in model.json's training config. */
  readonly className: 'RMSprop' | 'Adam' | 'SGD';

  constructor(className: 'RMSprop' | 'Adam' | 'SGD', learningRate: number) {
    this.className = className;
    this.learningRate = learningRate;
  }

  /** Settable between steps (schedules): the uniform carries it, so no pipeline changes. */
  get learningRate(): number {
    return this.lr;
  }

  set learningRate(value: number) {
    this.lr = checkNumber(this.className, 'learningRate', value, (v) => v > 0, 'a finite number > 0');
  }

  protected abstract kernel(n: number): KernelSource;

  /** The one dispatch that updates all `n` parameters in place. */
  update(engine: Engine, n: number, views: OptimizerViews): Dispatch {
    if (views.slots.length !== this.slotNames.length) {
      throw new Error(`${this.className} needs ${this.slotNames.length} slot buffers (${this.slotNames.join(', ') || 'none'}), got ${views.slots.length}`);
    }
    return engine.kernel(this.kernel(n), [views.params, views.grads, ...views.slots, views.hyper]);
  }

  /** Contents of the uniform for the 1-based step `step`. */
  hyperparameters(step: number): Float32Array {
    if (!Number.isInteger(step) || step < 1) throw new Error(`${this.className}: step must be an integer ≥ 1, got ${step}`);
    return new Float32Array([this.lr, this.stepSize(step), this.stepEpsilon(step), 0]);
  }

  /** The `alpha` field of the uniform; only Adam uses it. */
  protected stepSize(_step: number): number {
    return 0;
  }

  /** The `epsilon` field of the uniform; only Adam uses it. */
  protected stepEpsilon(_step: number): number {
    return 0;
  }

  /** Keras/TF.js-style snake_case config. */
  abstract getConfig(): Record<string, number | boolean>;
}

export interface RMSpropConfig {
  learningRate?: number;
  rho?: number;
  momentum?: number;
  epsilon?: number;
  centered?: boolean;
}

export class RMSprop extends Optimizer {
  readonly slotNames: readonly string[];
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;

  constructor(config: RMSpropConfig = {}) {
    const c = checkKeys('RMSprop', config, ['learningRate', 'rho', 'momentum', 'epsilon', 'centered']);
    super('RMSprop', c.learningRate ?? 1e-3);
    this.rho = checkNumber('RMSprop', 'rho', c.rho ?? 0.9, (v) => v >= 0 && v < 1, 'in [0, 1)');
    this.momentum = checkMomentum('RMSprop', c.momentum ?? 0);
    this.epsilon = checkEpsilon('RMSprop', c.epsilon ?? 1e-7);
    this.centered = checkBoolean('RMSprop', 'centered', c.centered ?? false);
    // TF.js's slot names.
    this.slotNames = ['rms', ...(this.momentum > 0 ? ['momentum'] : []), ...(this.centered ? ['mg'] : [])];
  }

  protected kernel(n: number): KernelSource {
    return rmspropUpdate(n, { rho: this.rho, epsilon: this.epsilon, momentum: this.momentum, centered: this.centered });
  }

  getConfig() {
    return { learning_rate: this.learningRate, rho: this.rho, momentum: this.momentum, epsilon: this.epsilon, centered: this.centered };
  }
}

export interface AdamConfig {
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  amsgrad?: boolean;
}

export class Adam extends Optimizer {
  readonly slotNames: readonly string[];
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly amsgrad: boolean;

  constructor(config: AdamConfig = {}) {
    const c = checkKeys('Adam', config, ['learningRate', 'beta1', 'beta2', 'epsilon', 'amsgrad']);
    super('Adam', c.learningRate ?? 1e-3);
    this.beta1 = checkNumber('Adam', 'beta1', c.beta1 ?? 0.9, (v) => v >= 0 && v < 1, 'in [0, 1)');
    this.beta2 = checkNumber('Adam', 'beta2', c.beta2 ?? 0.999, (v) => v >= 0 && v < 1, 'in [0, 1)');
    this.epsilon = checkEpsilon('Adam', c.epsilon ?? 1e-7);
    this.amsgrad = checkBoolean('Adam', 'amsgrad', c.amsgrad ?? false);
    this.slotNames = ['m', 'v', ...(this.amsgrad ? ['vhat'] : [])];
  }

  protected kernel(n: number): KernelSource {
    return adamUpdate(n, { beta1: this.beta1, beta2: this.beta2, amsgrad: this.amsgrad });
  }

  /** α = lr·√(1−β2^t)/(1−β1^t), in float64 so late steps lose nothing to f32 powers. */
  protected override stepSize(step: number): number {
    return (this.learningRate * Math.sqrt(1 - this.beta2 ** step)) / (1 - this.beta1 ** step);
  }

  /** ε·√(1−β2^t): TF.js adds ε to the bias-corrected √v̂, which is this added to √v. */
  protected override stepEpsilon(step: number): number {
    return this.epsilon * Math.sqrt(1 - this.beta2 ** step);
  }

  getConfig() {
    return { learning_rate: this.learningRate, beta_1: this.beta1, beta_2: this.beta2, epsilon: this.epsilon, amsgrad: this.amsgrad };
  }
}

export interface SGDConfig {
  learningRate?: number;
  momentum?: number;
  nesterov?: boolean;
}

export class SGD extends Optimizer {
  readonly slotNames: readonly string[];
  readonly momentum: number;
  readonly nesterov: boolean;

  constructor(config: SGDConfig = {}) {
    const c = checkKeys('SGD', config, ['learningRate', 'momentum', 'nesterov']);
    super('SGD', c.learningRate ?? 0.01);
    this.momentum = checkMomentum('SGD', c.momentum ?? 0);
    this.nesterov = checkBoolean('SGD', 'nesterov', c.nesterov ?? false);
    this.slotNames = this.momentum > 0 ? ['momentum'] : [];
  }

  protected kernel(n: number): KernelSource {
    return sgdUpdate(n, { momentum: this.momentum, nesterov: this.nesterov });
  }

  getConfig() {
    return { learning_rate: this.learningRate, momentum: this.momentum, nesterov: this.nesterov };
  }
}

export const optimizers = {
  rmsprop: (config?: RMSpropConfig): Optimizer => new RMSprop(config),
  adam: (config?: AdamConfig): Optimizer => new Adam(config),
  sgd: (config?: SGDConfig): Optimizer => new SGD(config),
};

const OPTIMIZER_NAMES = Object.keys(optimizers) as (keyof typeof optimizers)[];

/** An Optimizer instance, or a name ('rmsprop', 'RMSprop', 'adam', 'sgd'...) for Keras defaults. */
export function resolveOptimizer(value: unknown): Optimizer {
  if (value instanceof Optimizer) return value;
  const name = typeof value === 'string' ? value.toLowerCase() : undefined;
  const known = OPTIMIZER_NAMES.find((k) => k === name);
  if (!known) {
    const shown = typeof value === 'string' ? value : describe(value);
    throw new Error(`unknown optimizer '${shown}'; known: ${OPTIMIZER_NAMES.join(', ')}`);
  }
  return optimizers[known]();
}

// ---- config validation --------------------------------------------------------------------

/** Rejects non-objects and unknown keys (a snake_case `learning_rate` would otherwise be ignored). */
function checkKeys<T extends object>(owner: string, config: T, known: readonly (keyof T & string)[]): T {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new TypeError(`${owner}: config must be an object like { learningRate: 0.001 }, got ${describe(config)}`);
  }
  for (const key of Object.keys(config)) {
    if (!(known as readonly string[]).includes(key)) throw new Error(`${owner}: unknown option '${key}'; known: ${known.join(', ')}`);
  }
  return config;
}

function checkNumber(owner: string, name: string, value: unknown, ok: (v: number) => boolean, range: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
    throw new RangeError(`${owner}: ${name} must be ${range}, got ${typeof value === 'number' ? value : describe(value)}`);
  }
  return value;
}

/** Keras accepts momentum in [0, 1]. */
function checkMomentum(owner: string, value: unknown): number {
  return checkNumber(owner, 'momentum', value, (v) => v >= 0 && v <= 1, 'in [0, 1]');
}

/** ε > 0: the zero-gradient padding between weights would otherwise compute 0/0. */
function checkEpsilon(owner: string, value: unknown): number {
  return checkNumber(owner, 'epsilon', value, (v) => v > 0, 'a finite number > 0');
}

function checkBoolean(owner: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${owner}: ${name} must be true or false, got ${describe(value)}`);
  return value;
}

// ---- model.json training config -------------------------------------------------------------

export interface OptimizerConfig {
  class_name: string;
  config: Record<string, number | boolean>;
}

/**
 * `optimizer_config` as TF.js writes it into model.json (its class names and camelCase keys, which
 * its loader requires): RMSprop is 'RMSProp' with `decay` for ρ, SGD with momentum is 'Momentum'.
 * Adam's `amsgrad` is ours alone; TF.js ignores the key.
 */
export function optimizerConfig(optimizer: Optimizer): OptimizerConfig {
  const learningRate = optimizer.learningRate;
  if (optimizer instanceof RMSprop) {
    return { class_name: 'RMSProp', config: { learningRate, decay: optimizer.rho, momentum: optimizer.momentum, epsilon: optimizer.epsilon, centered: optimizer.centered } };
  }
  if (optimizer instanceof Adam) {
    return { class_name: 'Adam', config: { learningRate, beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon, ...(optimizer.amsgrad ? { amsgrad: true } : {}) } };
  }
  if (optimizer instanceof SGD && optimizer.momentum > 0) {
    return { class_name: 'Momentum', config: { learningRate, momentum: optimizer.momentum, useNesterov: optimizer.nesterov } };
  }
  return { class_name: 'SGD', config: { learningRate } };
}

/** Per optimizer class name in model.json: our class and its option for each config key (null: must be 0/null/false). */
const CONFIG_KEYS: Record<string, { make: (c: Record<string, unknown>) => Optimizer; keys: Record<string, string | null> }> = {
  // TF.js
  RMSProp: { make: (c) => new RMSprop(c), keys: { learningRate: 'learningRate', decay: 'rho', momentum: 'momentum', epsilon: 'epsilon', centered: 'centered' } },
  Adam: { make: (c) => new Adam(c), keys: { learningRate: 'learningRate', beta1: 'beta1', beta2: 'beta2', epsilon: 'epsilon', amsgrad: 'amsgrad', learning_rate: 'learningRate', beta_1: 'beta1', beta_2: 'beta2', ...kerasExtras() } },
  Momentum: { make: (c) => new SGD(c), keys: { learningRate: 'learningRate', momentum: 'momentum', useNesterov: 'nesterov' } },
  // Keras (Python); SGD's camelCase learningRate is TF.js's.
  RMSprop: { make: (c) => new RMSprop(c), keys: { learning_rate: 'learningRate', rho: 'rho', momentum: 'momentum', epsilon: 'epsilon', centered: 'centered', ...kerasExtras() } },
  SGD: { make: (c) => new SGD(c), keys: { learningRate: 'learningRate', learning_rate: 'learningRate', momentum: 'momentum', nesterov: 'nesterov', ...kerasExtras() } },
};

/** Keras optimizer options we do not implement; they must hold their neutral value. */
function kerasExtras(): Record<string, null> {
  return { decay: null, clipnorm: null, clipvalue: null, global_clipnorm: null, weight_decay: null, use_ema: null, name: null, lr: null };
}

/**
 * The optimizer of a model.json `optimizer_config`, as TF.js or Keras (Python) write it. Unknown
 * class names and keys are errors, so that nothing in the file is silently dropped.
 */
export function optimizerFromConfig(value: unknown): Optimizer {
  const v = value as { class_name?: unknown; config?: unknown } | null;
  if (!v || typeof v !== 'object' || typeof v.class_name !== 'string' || typeof v.config !== 'object' || v.config === null || Array.isArray(v.config)) {
    throw new Error(`optimizer_config must be {class_name, config}, got ${describe(value)}`);
  }
  const entry = Object.hasOwn(CONFIG_KEYS, v.class_name) ? CONFIG_KEYS[v.class_name] : undefined;
  if (!entry) throw new Error(`optimizer_config: unknown optimizer '${v.class_name}'; known: ${Object.keys(CONFIG_KEYS).join(', ')}`);
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(v.config as Record<string, unknown>)) {
    const option = Object.hasOwn(entry.keys, key) ? entry.keys[key] : undefined;
    if (option === undefined) throw new Error(`optimizer_config: unknown ${v.class_name} option '${key}'; known: ${Object.keys(entry.keys).join(', ')}`);
    if (option === null) {
      // Keras's `lr` is the old name of learning_rate; the others are features we do not have.
      if (key === 'lr' && typeof value === 'number') options.learningRate ??= value;
      else if (key === 'name' ? typeof value !== 'string' : !(value === null || value === 0 || value === false)) {
        throw new Error(`optimizer_config: ${v.class_name} option '${key}' = ${JSON.stringify(value)} is not supported`);
      }
    } else if (value !== null) {
      options[option] = value;
    }
  }
  try {
    return entry.make(options);
  } catch (err) {
    throw new Error(`optimizer_config (${v.class_name}): ${(err as Error).message}`);
  }
}

/**
 * The slots TF.js keeps for this optimizer, in the order it saves them: its RMSProp always has a
 * momentum slot; ours only with momentum > 0 (a zero momentum makes it irrelevant either way).
 */
export function tfjsSlotNames(optimizer: Optimizer): readonly string[] {
  if (optimizer instanceof RMSprop) return ['rms', 'momentum', ...(optimizer.centered ? ['mg'] : [])];
  return optimizer.slotNames;
}
