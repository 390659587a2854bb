/** Per-element adaptive rates without bias correction: Adagrad, Adadelta (TF.js's rule) and RMSprop. */
import { adadeltaRule, adagradRule, rmspropRule } from '../../shaders/update-rules.ts';
import { BASE_KEYS, Optimizer, type BaseOptimizerConfig } from './optimizer.ts';
import { checkBeta, checkBoolean, checkEpsilon, checkKeys, checkMomentum, checkNumber } from './validation.ts';

export interface AdagradConfig extends BaseOptimizerConfig {
  initialAccumulatorValue?: number;
  epsilon?: number;
}

/** Adagrad: a ← a + g² (a starts at initialAccumulatorValue), w ← w − lr·g/√(a + ε). */
export class Adagrad extends Optimizer {
  readonly slotNames: readonly string[] = ['accumulator'];
  readonly initialAccumulatorValue: number;
  readonly epsilon: number;

  constructor(config: AdagradConfig = {}) {
    const c = checkKeys('Adagrad', config, [...BASE_KEYS, 'initialAccumulatorValue', 'epsilon']);
    super('Adagrad', c, 0.001);
    this.initialAccumulatorValue = checkNumber('Adagrad', 'initialAccumulatorValue', c.initialAccumulatorValue ?? 0.1, (v) => v >= 0, 'a finite number ≥ 0');
    this.epsilon = checkEpsilon('Adagrad', c.epsilon ?? 1e-7);
  }

  protected rule() {
    return adagradRule({ initialAccumulatorValue: this.initialAccumulatorValue, epsilon: this.epsilon });
  }

  getConfig() {
    return { ...this.baseConfig(), initial_accumulator_value: this.initialAccumulatorValue, epsilon: this.epsilon };
  }
}

export interface AdadeltaConfig extends BaseOptimizerConfig {
  rho?: number;
  epsilon?: number;
}

/**
 * Adadelta as TF.js runs it: Δ = √(u + ε)/√(a + ε)·g with the accumulated squared gradient from
 * before the step (Keras uses the updated one), w ← w − lr·Δ.
 */
export class Adadelta extends Optimizer {
  readonly slotNames: readonly string[] = ['accum_grad', 'accum_var'];
  readonly rho: number;
  readonly epsilon: number;

  constructor(config: AdadeltaConfig = {}) {
    const c = checkKeys('Adadelta', config, [...BASE_KEYS, 'rho', 'epsilon']);
    super('Adadelta', c, 0.001);
    this.rho = checkBeta('Adadelta', 'rho', c.rho ?? 0.95);
    this.epsilon = checkEpsilon('Adadelta', c.epsilon ?? 1e-7);
  }

  protected rule() {
    return adadeltaRule({ rho: this.rho, epsilon: this.epsilon });
  }

  getConfig() {
    return { ...this.baseConfig(), rho: this.rho, epsilon: this.epsilon };
  }
}

export interface RMSpropConfig extends BaseOptimizerConfig {
  rho?: number;
  momentum?: number;
  epsilon?: number;
  centered?: boolean;
}

/** RMSprop: w ← w − lr·g/√(v + ε) (centered: √(v − mg² + ε)), with optional momentum on the increments. */
export class RMSprop extends Optimizer {
  readonly slotNames: readonly string[];
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;

  constructor(config: RMSpropConfig = {}) {
    const c = checkKeys('RMSprop', config, [...BASE_KEYS, 'rho', 'momentum', 'epsilon', 'centered']);
    super('RMSprop', c, 1e-3);
    this.rho = checkBeta('RMSprop', 'rho', c.rho ?? 0.9);
    this.momentum = checkMomentum('RMSprop', c.momentum ?? 0);
    this.epsilon = checkEpsilon('RMSprop', c.epsilon ?? 1e-7);
    this.centered = checkBoolean('RMSprop', 'centered', c.centered ?? false);
    // TF.js's slot names.
    this.slotNames = ['rms', ...(this.momentum > 0 ? ['momentum'] : []), ...(this.centered ? ['mg'] : [])];
  }

  protected rule() {
    return rmspropRule({ rho: this.rho, epsilon: this.epsilon, momentum: this.momentum, centered: this.centered });
  }

  getConfig() {
    return { ...this.baseConfig(), rho: this.rho, momentum: this.momentum, epsilon: this.epsilon, centered: this.centered };
  }
}
