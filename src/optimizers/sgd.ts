/** Gradient descent: Keras's SGD (momentum as a velocity in units of the step) and TF.js's MomentumOptimizer (momentum as an accumulated gradient). */
import { momentumRule, sgdRule } from '../../shaders/update-rules.ts';
import { BASE_KEYS, Optimizer, type BaseOptimizerConfig } from './optimizer.ts';
import { checkBoolean, checkKeys, checkMomentum, required } from './validation.ts';

export interface SGDConfig extends BaseOptimizerConfig {
  momentum?: number;
  nesterov?: boolean;
}

/** keras.optimizers.SGD: v ← momentum·v − lr·g, w ← w + v (nesterov: w ← w + momentum·v − lr·g). */
export class SGD extends Optimizer {
  readonly slotNames: readonly string[];
  readonly momentum: number;
  readonly nesterov: boolean;

  constructor(config: SGDConfig = {}) {
    const c = checkKeys('SGD', config, [...BASE_KEYS, 'momentum', 'nesterov']);
    super('SGD', c, 0.01);
    this.momentum = checkMomentum('SGD', c.momentum ?? 0);
    this.nesterov = checkBoolean('SGD', 'nesterov', c.nesterov ?? false);
    this.slotNames = this.momentum > 0 ? ['momentum'] : [];
  }

  protected rule() {
    return sgdRule({ momentum: this.momentum, nesterov: this.nesterov });
  }

  getConfig() {
    return { ...this.baseConfig(), momentum: this.momentum, nesterov: this.nesterov };
  }
}

export interface MomentumConfig extends BaseOptimizerConfig {
  momentum: number;
  useNesterov?: boolean;
}

/**
 * tf.train.momentum: a ← momentum·a + g, w ← w − lr·a (useNesterov: w ← w − lr·(g + momentum·a)).
 * The same steps as SGD with momentum at a constant rate; its slot holds −v/lr, as TF.js saves it.
 */
export class Momentum extends Optimizer {
  readonly slotNames: readonly string[] = ['momentum'];
  readonly momentum: number;
  readonly useNesterov: boolean;

  constructor(config: MomentumConfig) {
    const c = checkKeys('Momentum', config, [...BASE_KEYS, 'momentum', 'useNesterov'], '{ learningRate: 0.01, momentum: 0.9 }');
    super('Momentum', c, 0.01);
    this.momentum = checkMomentum('Momentum', required('Momentum', 'momentum', c.momentum));
    this.useNesterov = checkBoolean('Momentum', 'useNesterov', c.useNesterov ?? false);
  }

  protected rule() {
    return momentumRule({ momentum: this.momentum, useNesterov: this.useNesterov });
  }

  getConfig() {
    return { ...this.baseConfig(), momentum: this.momentum, use_nesterov: this.useNesterov };
  }
}
