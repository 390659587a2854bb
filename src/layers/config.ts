/**
 * Helpers shared by layer configs: validating Keras-style arguments (padding modes), and the
 * Keras/TF.js serialization of initializers for getConfig().
 */
import { parseInitializer, type Initializer } from './initializers.ts';
import { serializeActivation, type ActivationName } from '../ops/activation.ts';
import type { Padding } from '../ops/window.ts';

export function padding(value: unknown, what: string): Padding {
  if (value === undefined) return 'valid';
  if (value === 'valid' || value === 'same') return value;
  throw new Error(`${what} must be 'valid' or 'same', got ${JSON.stringify(value)}`);
}

const KERAS_INITIALIZER_CLASS: Record<Exclude<Initializer, object>, string> = {
  glorotUniform: 'GlorotUniform',
  glorotNormal: 'GlorotNormal',
  heNormal: 'HeNormal',
  heUniform: 'HeUniform',
  zeros: 'Zeros',
  ones: 'Ones',
};

/** `{class_name, config}` as Keras/TF.js write an initializer into model.json. */
export function initializerConfig(init: Initializer): { class_name: string; config: Record<string, unknown> } {
  if (typeof init === 'string') {
    // The random families carry a seed in Keras; ours come from the model's seed, so it is null here.
    const seeded = init !== 'zeros' && init !== 'ones';
    return { class_name: KERAS_INITIALIZER_CLASS[init], config: seeded ? { seed: null } : {} };
  }
  switch (init.kind) {
    case 'constant':
      return { class_name: 'Constant', config: { value: init.value } };
    case 'randomNormal':
      return { class_name: 'RandomNormal', config: { mean: init.mean ?? 0, stddev: init.stddev ?? 0.05, seed: null } };
    case 'randomUniform':
      return { class_name: 'RandomUniform', config: { minval: init.minval ?? -0.05, maxval: init.maxval ?? 0.05, seed: null } };
  }
}

// ---- reading configs back (model.json) --------------------------------------------------------

/** Keras regularizers and constraints: we implement none, so model.json must leave them null. */
/** The fields Keras writes for every layer with a kernel and a bias (Conv2D, Dense). */
export function kernelLayerConfig(activation: ActivationName, useBias: boolean, kernel: Initializer, bias: Initializer): Record<string, unknown> {
  return {
    activation: serializeActivation(activation),
    use_bias: useBias,
    kernel_initializer: initializerConfig(kernel),
    bias_initializer: initializerConfig(bias),
    kernel_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint: null,
    bias_constraint: null,
  };
}

export const NO_REGULARIZERS: Readonly<Record<string, readonly unknown[]>> = {
  kernel_regularizer: [null],
  bias_regularizer: [null],
  activity_regularizer: [null],
  kernel_constraint: [null],
  bias_constraint: [null],
};

/**
 * Checks a layer's Keras config read from model.json before the layer's fromConfig maps it: an
 * object whose `name` is a non-empty string, whose other keys are the layer's own (`keys`; the
 * constructor validates their values) or options we do not implement (`neutral`: the values that
 * make them no-ops). Any other key or value is an error rather than something silently ignored.
 * `batch_input_shape` is left to the model loader, which builds the input from it.
 */
export function kerasConfig(className: string, config: unknown, keys: readonly string[], neutral: Readonly<Record<string, readonly unknown[]>> = {}): Record<string, unknown> {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new Error(`${className}: config must be an object, got ${describeValue(config)}`);
  }
  const accepted: Record<string, readonly unknown[]> = { trainable: [true, false], dtype: ['float32', null], ...neutral };
  for (const [key, value] of Object.entries(config)) {
    if (key === 'name') {
      if (typeof value !== 'string' || value === '') throw new Error(`${className}: name must be a non-empty string, got ${describeValue(value)}`);
    } else if (key !== 'batch_input_shape' && !keys.includes(key)) {
      const allowed = Object.hasOwn(accepted, key) ? accepted[key]! : undefined;
      if (!allowed) {
        throw new Error(`${className}: unknown config key '${key}'; known: ${['name', 'batch_input_shape', ...keys, ...Object.keys(accepted)].join(', ')}`);
      }
      if (value !== undefined && !allowed.some((a) => jsonText(a) === jsonText(value))) {
        throw new Error(`${className}: ${key} ${describeValue(value)} is not supported, only ${allowed.map((a) => JSON.stringify(a)).join(' or ')}`);
      }
    }
  }
  return config as Record<string, unknown>;
}

/** JSON text of a value, undefined for what JSON cannot hold (BigInts and cycles from a handler's objects). */
function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/** A value as JSON for error messages, cut at 80 characters. */
export function describeValue(value: unknown): string {
  const text = jsonText(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Keras's VarianceScaling parameters of the initializers we have (TF.js saves Glorot/He this way). */
const VARIANCE_SCALING: readonly { scale: number; mode: string; distributions: readonly string[]; init: Initializer }[] = [
  { scale: 1, mode: 'fan_avg', distributions: ['uniform'], init: 'glorotUniform' },
  { scale: 1, mode: 'fan_avg', distributions: ['normal', 'truncated_normal'], init: 'glorotNormal' },
  { scale: 2, mode: 'fan_in', distributions: ['normal', 'truncated_normal'], init: 'heNormal' },
  { scale: 2, mode: 'fan_in', distributions: ['uniform'], init: 'heUniform' },
];

/**
 * The inverse of initializerConfig: `{class_name, config}` from model.json (undefined when the key is
 * absent or null, leaving the layer's default). Seeds are ignored: ours derive from the model seed.
 */
export function initializerFromConfig(value: unknown, what: string): Initializer | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return parseInitializer(value, what);
  const v = value as { class_name?: unknown; config?: unknown };
  const config = (v.config ?? {}) as Record<string, unknown>;
  if (typeof value !== 'object' || typeof v.class_name !== 'string' || typeof config !== 'object' || config === null) {
    throw new Error(`${what}: expected {class_name, config}, got ${describeValue(value)}`);
  }
  const num = (key: string, fallback: number): number => {
    const n = config[key] ?? fallback;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error(`${what}: ${v.class_name}.${key} must be a finite number, got ${describeValue(n)}`);
    return n;
  };
  const named = Object.entries(KERAS_INITIALIZER_CLASS).find(([, cls]) => cls === v.class_name);
  if (named) return named[0] as Initializer;
  switch (v.class_name) {
    case 'Constant':
      return { kind: 'constant', value: num('value', 0) };
    case 'RandomNormal':
      return { kind: 'randomNormal', mean: num('mean', 0), stddev: num('stddev', 0.05) };
    case 'RandomUniform':
      return { kind: 'randomUniform', minval: num('minval', -0.05), maxval: num('maxval', 0.05) };
    case 'VarianceScaling': {
      const scale = num('scale', 1);
      const match = VARIANCE_SCALING.find((s) => s.scale === scale && s.mode === config.mode && s.distributions.includes(config.distribution as string));
      if (match) return match.init;
      throw new Error(
        `${what}: VarianceScaling ${describeValue({ scale, mode: config.mode, distribution: config.distribution })} is none of ours; known: ` +
          VARIANCE_SCALING.map((s) => `${s.init} (scale ${s.scale}, ${s.mode}, ${s.distributions.join('/')})`).join(', '),
      );
    }
  }
  throw new Error(`${what}: unknown initializer '${v.class_name}'; known: ${[...Object.values(KERAS_INITIALIZER_CLASS), 'Constant', 'RandomNormal', 'RandomUniform', 'VarianceScaling'].join(', ')}`);
}
