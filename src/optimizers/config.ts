/**
 * Optimizers in model.json's `training_config.optimizer_config`, both ways. Where TF.js has the
 * optimizer we write what TF.js writes (its class names, camelCase keys: its loader requires
 * them), plus our options it ignores (clipping, weight decay, amsgrad, SGD's Keras momentum);
 * AdamW and Nadam, which TF.js lacks, as Keras writes them. We read both forms, and Keras
 * (Python) files; unknown class names and keys are errors, so nothing is silently dropped.
 */
import { describe } from '../runtime/tensor.ts';
import { Adadelta, Adagrad, RMSprop } from './adaptive.ts';
import { Adam, Adamax, AdamW, Nadam } from './adam.ts';
import { Optimizer, type ConfigValue } from './optimizer.ts';
import { scheduleFromConfig, serializeSchedule } from './schedules.ts';
import { Momentum, SGD } from './sgd.ts';

export interface OptimizerConfig {
  class_name: string;
  config: Record<string, ConfigValue>;
}

/** Our options TF.js's configs do not have, camelCase, when set. */
function extras(o: Optimizer): Record<string, number> {
  return {
    ...(o.clipnorm !== undefined && { clipnorm: o.clipnorm }),
    ...(o.clipvalue !== undefined && { clipvalue: o.clipvalue }),
    ...(o.globalClipnorm !== undefined && { globalClipnorm: o.globalClipnorm }),
    ...(o.weightDecay > 0 && { weightDecay: o.weightDecay }),
  };
}

/**
 * `optimizer_config` for model.json: RMSprop is TF.js's 'RMSProp' with `decay` for ρ; AdamW and
 * Nadam as Keras writes them. A schedule goes in `learningRateSchedule` beside its current value
 * as `learningRate`, which is what TF.js (without schedules) then trains at.
 */
export function optimizerConfig(o: Optimizer): OptimizerConfig {
  const schedule = o.learningRateSchedule && { learningRateSchedule: serializeSchedule(o.learningRateSchedule) };
  const tfjs = (class_name: string, config: Record<string, ConfigValue>): OptimizerConfig => ({ class_name, config: { learningRate: o.learningRate, ...schedule, ...config, ...extras(o) } });
  if (o instanceof SGD) return tfjs('SGD', o.momentum > 0 ? { momentum: o.momentum, nesterov: o.nesterov } : {});
  if (o instanceof Momentum) return tfjs('Momentum', { momentum: o.momentum, useNesterov: o.useNesterov });
  if (o instanceof Adagrad) return tfjs('Adagrad', { initialAccumulatorValue: o.initialAccumulatorValue, epsilon: o.epsilon });
  if (o instanceof Adadelta) return tfjs('Adadelta', { rho: o.rho, epsilon: o.epsilon });
  if (o instanceof Adam) return tfjs('Adam', { beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon, ...(o.amsgrad && { amsgrad: true }) });
  if (o instanceof Adamax) return tfjs('Adamax', { beta1: o.beta1, beta2: o.beta2, epsilon: o.epsilon, decay: o.decay });
  if (o instanceof RMSprop) return tfjs('RMSProp', { decay: o.rho, momentum: o.momentum, epsilon: o.epsilon, centered: o.centered });
  // Keras's own: snake_case, the clipping options null when unset.
  return { class_name: o.className, config: { clipnorm: null, global_clipnorm: null, clipvalue: null, ...o.getConfig() } };
}

/** Keras base-optimizer keys: our option, or null for options that must hold their neutral value. */
const KERAS_BASE: Record<string, string | null> = {
  learning_rate: 'learningRate',
  weight_decay: 'weightDecay',
  clipnorm: 'clipnorm',
  clipvalue: 'clipvalue',
  global_clipnorm: 'globalClipnorm',
  name: null,
  lr: null,
  decay: null,
  use_ema: null,
  ema_momentum: null,
  ema_overwrite_frequency: null,
  loss_scale_factor: null,
  gradient_accumulation_steps: null,
  jit_compile: null,
  is_legacy_optimizer: null,
};

/** Our camelCase options, as optimizerConfig writes them into TF.js's configs. */
const OURS: Record<string, string> = { learningRate: 'learningRate', learningRateSchedule: 'learningRateSchedule', clipnorm: 'clipnorm', clipvalue: 'clipvalue', globalClipnorm: 'globalClipnorm', weightDecay: 'weightDecay' };

const ADAM_KEYS = { beta1: 'beta1', beta2: 'beta2', beta_1: 'beta1', beta_2: 'beta2', epsilon: 'epsilon' };

/** Per class name in model.json: how to make it and its option for each key. */
const CLASSES: Record<string, { make: (c: Record<string, unknown>) => Optimizer; keys: Record<string, string | null> }> = {
  SGD: { make: (c) => new SGD(c), keys: { ...KERAS_BASE, ...OURS, momentum: 'momentum', nesterov: 'nesterov' } },
  Momentum: { make: (c) => new Momentum(c as never), keys: { ...OURS, momentum: 'momentum', useNesterov: 'useNesterov', use_nesterov: 'useNesterov', learning_rate: 'learningRate' } },
  Adagrad: { make: (c) => new Adagrad(c), keys: { ...KERAS_BASE, ...OURS, initialAccumulatorValue: 'initialAccumulatorValue', initial_accumulator_value: 'initialAccumulatorValue', epsilon: 'epsilon' } },
  Adadelta: { make: (c) => new Adadelta(c), keys: { ...KERAS_BASE, ...OURS, rho: 'rho', epsilon: 'epsilon' } },
  Adam: { make: (c) => new Adam(c), keys: { ...KERAS_BASE, ...OURS, ...ADAM_KEYS, amsgrad: 'amsgrad' } },
  AdamW: { make: (c) => new AdamW(c), keys: { ...KERAS_BASE, ...OURS, ...ADAM_KEYS, amsgrad: 'amsgrad' } },
  // TF.js's `decay` (and Keras 2's) is Adamax's rate decay, lr / (1 + decay·iterations).
  Adamax: { make: (c) => new Adamax(c), keys: { ...KERAS_BASE, ...OURS, ...ADAM_KEYS, decay: 'decay' } },
  Nadam: { make: (c) => new Nadam(c), keys: { ...KERAS_BASE, ...OURS, ...ADAM_KEYS } },
  // TF.js's RMSProp calls ρ `decay`.
  RMSProp: { make: (c) => new RMSprop(c), keys: { ...OURS, decay: 'rho', momentum: 'momentum', epsilon: 'epsilon', centered: 'centered' } },
  RMSprop: { make: (c) => new RMSprop(c), keys: { ...KERAS_BASE, ...OURS, rho: 'rho', momentum: 'momentum', epsilon: 'epsilon', centered: 'centered' } },
};

const CLIPPING = new Set(['clipnorm', 'clipvalue', 'globalClipnorm']);

/** Whether a Keras option we do not have holds its neutral value. */
function neutral(key: string, value: unknown): boolean {
  if (key === 'name') return typeof value === 'string';
  if (key === 'ema_momentum') return typeof value === 'number';
  if (key === 'jit_compile') return typeof value === 'boolean';
  return value === null || value === 0 || value === false;
}

/**
 * The optimizer of a model.json `optimizer_config`, as TF.js or Keras (Python) write it; a
 * learning rate that is a serialized schedule becomes that schedule.
 */
export function optimizerFromConfig(value: unknown): Optimizer {
  const v = value as { class_name?: unknown; config?: unknown } | null;
  if (!v || typeof v !== 'object' || typeof v.class_name !== 'string' || typeof v.config !== 'object' || v.config === null || Array.isArray(v.config)) {
    throw new Error(`optimizer_config must be {class_name, config}, got ${describe(value)}`);
  }
  const entry = Object.hasOwn(CLASSES, v.class_name) ? CLASSES[v.class_name] : undefined;
  if (!entry) throw new Error(`optimizer_config: unknown optimizer '${v.class_name}'; known: ${Object.keys(CLASSES).join(', ')}`);
  const options: Record<string, unknown> = {};
  const config = v.config as Record<string, unknown>;
  for (const [key, value] of Object.entries(config)) {
    const option = Object.hasOwn(entry.keys, key) ? entry.keys[key] : undefined;
    if (option === undefined) throw new Error(`optimizer_config: unknown ${v.class_name} option '${key}'; known: ${Object.keys(entry.keys).join(', ')}`);
    if (option === null) {
      // Keras's `lr` is the old name of learning_rate; the others are features we do not have.
      if (key === 'lr' && typeof value === 'number') options.learningRate ??= value;
      else if (!neutral(key, value)) throw new Error(`optimizer_config: ${v.class_name} option '${key}' = ${JSON.stringify(value)} is not supported`);
    } else if (value !== null && !(value === 0 && CLIPPING.has(option))) {
      // Keras treats a clipping threshold of 0 as none.
      options[option] = value;
    }
  }
  try {
    // A schedule: ours beside the current rate, or Keras's in place of the rate.
    const { learningRateSchedule, ...rest } = options;
    if (learningRateSchedule !== undefined) rest.learningRate = learningRateSchedule;
    if (rest.learningRate !== null && typeof rest.learningRate === 'object') rest.learningRate = scheduleFromConfig(rest.learningRate);
    return entry.make(rest);
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
