/**
 * Optimizers as the model compiles them (src/optimizers/): each knows its state slots, builds the
 * dispatches of one step over the flat parameter buffer, and keeps the rate uniform current.
 */
export { HYPER_BYTES, Optimizer, type BaseOptimizerConfig, type ConfigValue, type OptimizerClassName, type OptimizerViews } from './optimizers/optimizer.ts';
export { SGD, Momentum, type SGDConfig, type MomentumConfig } from './optimizers/sgd.ts';
export { Adagrad, Adadelta, RMSprop, type AdagradConfig, type AdadeltaConfig, type RMSpropConfig } from './optimizers/adaptive.ts';
export { Adam, AdamW, Adamax, Nadam, type AdamConfig, type AdamWConfig, type AdamaxConfig, type NadamConfig } from './optimizers/adam.ts';
export {
  LearningRateSchedule,
  ExponentialDecay,
  InverseTimeDecay,
  PiecewiseConstantDecay,
  PolynomialDecay,
  CosineDecay,
  schedules,
  scheduleFromConfig,
  serializeSchedule,
  type ExponentialDecayConfig,
  type InverseTimeDecayConfig,
  type PiecewiseConstantDecayConfig,
  type PolynomialDecayConfig,
  type CosineDecayConfig,
} from './optimizers/schedules.ts';
export { optimizers, resolveOptimizer } from './optimizers/factories.ts';
export { optimizerConfig, optimizerFromConfig, tfjsSlotNames, type OptimizerConfig } from './optimizers/config.ts';
export { train } from './optimizers/train.ts';
