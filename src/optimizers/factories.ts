/** `optimizers.*` factories, their schedules, and the names `compile({ optimizer: 'adam' })` accepts. */
import { Adadelta, Adagrad, RMSprop, type AdadeltaConfig, type AdagradConfig, type RMSpropConfig } from './adaptive.ts';
import { Adam, Adamax, AdamW, Nadam, type AdamaxConfig, type AdamConfig, type AdamWConfig, type NadamConfig } from './adam.ts';
import { Optimizer } from './optimizer.ts';
import { schedules } from './schedules.ts';
import { Momentum, SGD, type MomentumConfig, type SGDConfig } from './sgd.ts';
import { describe } from '../runtime/tensor.ts';

/** Keras's optimizers with camelCase options (Keras's defaults), and `optimizers.schedules`. */
export const optimizers = {
  sgd: (config?: SGDConfig): Optimizer => new SGD(config),
  momentum: (config: MomentumConfig): Optimizer => new Momentum(config),
  adagrad: (config?: AdagradConfig): Optimizer => new Adagrad(config),
  adadelta: (config?: AdadeltaConfig): Optimizer => new Adadelta(config),
  adam: (config?: AdamConfig): Optimizer => new Adam(config),
  adamax: (config?: AdamaxConfig): Optimizer => new Adamax(config),
  rmsprop: (config?: RMSpropConfig): Optimizer => new RMSprop(config),
  adamw: (config?: AdamWConfig): Optimizer => new AdamW(config),
  nadam: (config?: NadamConfig): Optimizer => new Nadam(config),
  schedules,
};

/**
 * What a name in compile() gives: TF.js's compile defaults for the names TF.js knows (Adagrad at
 * 0.01, Adadelta at 1, Adamax at 0.002, as tfjs-layers' getOptimizer), Keras's for the others;
 * 'momentum' is tf.train.momentum(0.01, 0.9).
 */
const BY_NAME: Record<string, () => Optimizer> = {
  sgd: () => new SGD(),
  momentum: () => new Momentum({ learningRate: 0.01, momentum: 0.9 }),
  adagrad: () => new Adagrad({ learningRate: 0.01 }),
  adadelta: () => new Adadelta({ learningRate: 1 }),
  adam: () => new Adam(),
  adamax: () => new Adamax({ learningRate: 0.002 }),
  rmsprop: () => new RMSprop(),
  adamw: () => new AdamW(),
  nadam: () => new Nadam(),
};

/** An Optimizer instance, or a name ('adam', 'RMSProp', 'sgd', …, any case). */
export function resolveOptimizer(value: unknown): Optimizer {
  if (value instanceof Optimizer) return value;
  const name = typeof value === 'string' ? value.toLowerCase() : undefined;
  const make = name !== undefined && Object.hasOwn(BY_NAME, name) ? BY_NAME[name] : undefined;
  if (!make) {
    const shown = typeof value === 'string' ? value : describe(value);
    throw new Error(`unknown optimizer '${shown}'; known: ${Object.keys(BY_NAME).join(', ')}`);
  }
  return make();
}
