/**
 * Optimizers as the model compiles them: each knows its state slots (one flat buffer per slot, the
 * size of the flat parameter buffer), builds its single update dispatch, and fills the 16-byte
 * uniform (learning rate, Adam's step size) that the plan writes before every step.
 */
import { adamUpdate, rmspropUpdate, sgdUpdate } from '../shaders/optimizers.ts';
import type { KernelSource } from '../shaders/kernel.ts';
import type { BufferView, Dispatch, Engine } from './runtime/engine.ts';
import { describe } from './runtime/tensor.ts';

/** Size of the per-step uniform: { lr: f32, alpha: f32, unused: f32 × 2 }. */
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
    return new Float32Array([this.lr, this.stepSize(step), 0, 0]);
  }

  /** The `alpha` field of the uniform; only Adam uses it. */
  protected stepSize(_step: number): number {
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
    return adamUpdate(n, { beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, amsgrad: this.amsgrad });
  }

  /** α = lr·√(1−β2^t)/(1−β1^t), in float64 so late steps lose nothing to f32 powers. */
  protected override stepSize(step: number): number {
    return (this.learningRate * Math.sqrt(1 - this.beta2 ** step)) / (1 - this.beta1 ** step);
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
