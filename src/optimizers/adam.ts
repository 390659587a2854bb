/**
 * The Adam family: Adam (TF.js's ε placement, Keras's amsgrad), AdamW (Keras's: decoupled weight
 * decay, ε on the raw √v), Adamax (TF.js and Keras agree; TF.js's `decay`) and Nadam (Keras 3).
 * Their bias corrections are computed on the GPU each step from the step counter (1 − β^t from
 * ln β taken in float64, see shaders/optimizers.ts STEP_MATH).
 */
import { adamaxRule, adamRule, nadamRule } from '../../shaders/update-rules.ts';
import { BASE_KEYS, Optimizer, type BaseOptimizerConfig } from './optimizer.ts';
import { checkBeta, checkBoolean, checkEpsilon, checkKeys, checkNumber } from './validation.ts';

export interface AdamConfig extends BaseOptimizerConfig {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  amsgrad?: boolean;
}

/** Adam and AdamW: the same moments and amsgrad, with ε placed as TF.js (Adam) or Keras (AdamW) places it. */
abstract class AdamMoments extends Optimizer {
  readonly slotNames: readonly string[];
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly amsgrad: boolean;

  constructor(
    name: 'Adam' | 'AdamW',
    c: AdamConfig,
    private readonly epsilonForm: 'tfjs' | 'keras',
  ) {
    super(name, c, 1e-3);
    this.beta1 = checkBeta(name, 'beta1', c.beta1 ?? 0.9);
    this.beta2 = checkBeta(name, 'beta2', c.beta2 ?? 0.999);
    this.epsilon = checkEpsilon(name, c.epsilon ?? 1e-7);
    this.amsgrad = checkBoolean(name, 'amsgrad', c.amsgrad ?? false);
    this.slotNames = ['m', 'v', ...(this.amsgrad ? ['vhat'] : [])];
  }

  protected rule() {
    return adamRule({ beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, amsgrad: this.amsgrad, epsilonForm: this.epsilonForm });
  }

  /** The Keras config fields after the base ones. */
  protected momentsConfig() {
    return { beta_1: this.beta1, beta_2: this.beta2, epsilon: this.epsilon, amsgrad: this.amsgrad };
  }
}

const ADAM_KEYS = [...BASE_KEYS, 'beta1', 'beta2', 'epsilon', 'amsgrad'] as const;

/** Adam as TF.js: w ← w − lr·m̂/(√v̂ + ε); amsgrad (Keras's) divides by max over steps of v. */
export class Adam extends AdamMoments {
  constructor(config: AdamConfig = {}) {
    super('Adam', checkKeys('Adam', config, ADAM_KEYS), 'tfjs');
  }

  getConfig() {
    return { ...this.baseConfig(), ...this.momentsConfig() };
  }
}

export interface AdamWConfig extends AdamConfig {
  weightDecay?: number;
}

/** keras.optimizers.AdamW: w ← w − w·weightDecay·lr, then Keras's Adam step α·m/(√v + ε). */
export class AdamW extends AdamMoments {
  constructor(config: AdamWConfig = {}) {
    const c = checkKeys('AdamW', config, ADAM_KEYS);
    if (c.weightDecay === null) throw new RangeError('AdamW: weightDecay must be a finite number ≥ 0, got null');
    super('AdamW', { ...c, weightDecay: c.weightDecay ?? 0.004 }, 'keras');
  }

  getConfig() {
    return { ...this.baseConfig(), weight_decay: this.weightDecay, ...this.momentsConfig() };
  }
}

export interface AdamaxConfig extends BaseOptimizerConfig {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** TF.js's: the rate of step t is lr / (1 + decay·(t − 1)). */
  decay?: number;
}

/** Adamax: m ← β1m + (1−β1)g, u ← max(β2u, |g|), w ← w − lr/(1 − β1^t)·m/(u + ε). */
export class Adamax extends Optimizer {
  readonly slotNames: readonly string[] = ['m', 'v'];
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly decay: number;

  constructor(config: AdamaxConfig = {}) {
    const c = checkKeys('Adamax', config, [...BASE_KEYS, 'beta1', 'beta2', 'epsilon', 'decay']);
    super('Adamax', c, 1e-3);
    this.beta1 = checkBeta('Adamax', 'beta1', c.beta1 ?? 0.9);
    this.beta2 = checkBeta('Adamax', 'beta2', c.beta2 ?? 0.999);
    this.epsilon = checkEpsilon('Adamax', c.epsilon ?? 1e-7);
    this.decay = checkNumber('Adamax', 'decay', c.decay ?? 0, (v) => v >= 0, 'a finite number ≥ 0');
  }

  protected rule() {
    return adamaxRule({ beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, decay: this.decay });
  }

  getConfig() {
    return { ...this.baseConfig(), beta_1: this.beta1, beta_2: this.beta2, epsilon: this.epsilon, ...(this.decay > 0 && { decay: this.decay }) };
  }
}

export interface NadamConfig extends BaseOptimizerConfig {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/** keras.optimizers.Nadam (Keras 3): Adam with Nesterov momentum and the 0.96^t momentum cache. */
export class Nadam extends Optimizer {
  readonly slotNames: readonly string[] = ['m', 'v'];
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;

  constructor(config: NadamConfig = {}) {
    const c = checkKeys('Nadam', config, [...BASE_KEYS, 'beta1', 'beta2', 'epsilon']);
    super('Nadam', c, 1e-3);
    this.beta1 = checkBeta('Nadam', 'beta1', c.beta1 ?? 0.9);
    this.beta2 = checkBeta('Nadam', 'beta2', c.beta2 ?? 0.999);
    this.epsilon = checkEpsilon('Nadam', c.epsilon ?? 1e-7);
  }

  protected rule() {
    return nadamRule({ beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon });
  }

  getConfig() {
    return { ...this.baseConfig(), beta_1: this.beta1, beta_2: this.beta2, epsilon: this.epsilon };
  }
}
