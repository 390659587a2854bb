/**
 * Helpers shared by layer configs: validating Keras-style arguments (padding modes), and the
 * Keras/TF.js serialization of initializers for getConfig().
 */
import {
  checkInitializerObject,
  INITIALIZER_FIELDS,
  initializerKind,
  parseInitializer,
  resolveInitializer,
  VARIANCE_SCALING_NAMED,
  type Initializer,
  type InitializerObject,
  type ResolvedInitializer,
  type VarianceScalingName,
} from './initializers.ts';
import { serializeActivation, type ActivationName } from '../ops/activation.ts';
import type { Padding } from '../ops/window.ts';
import { describeValue, jsonText, kerasObject } from './keras-json.ts';
import { constraintAxes, constraintConfig, constraintFromConfig, parseConstraint, type Constraint } from './constraints.ts';
import type { WeightSpec } from './layer.ts';
import { parseRegularizer, regularizerConfig, regularizerFromConfig, type Regularizer } from './regularizers.ts';

export function padding(value: unknown, what: string): Padding {
  if (value === undefined) return 'valid';
  if (value === 'valid' || value === 'same') return value;
  throw new Error(`${what} must be 'valid' or 'same', got ${JSON.stringify(value)}`);
}

/**
 * Keras class names as TF.js 4.22 writes them into model.json. The named VarianceScaling initializers
 * (glorotUniform … leCunUniform) are written as VarianceScaling with their scale/mode/distribution,
 * as TF.js and Python Keras 2 do.
 */
const KERAS_INITIALIZER_CLASS: Readonly<Record<ResolvedInitializer['kind'], string>> = {
  zeros: 'Zeros',
  ones: 'Ones',
  constant: 'Constant',
  randomUniform: 'RandomUniform',
  randomNormal: 'RandomNormal',
  truncatedNormal: 'TruncatedNormal',
  varianceScaling: 'VarianceScaling',
  orthogonal: 'Orthogonal',
  identity: 'Identity',
};

const snakeCase = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camelCase = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * `{class_name, config}` as TF.js 4.22 writes an initializer into model.json: every field with its
 * default filled in, in TF.js's order, enum values in snake_case, `seed: null` when none was given.
 */
export function initializerConfig(init: Initializer): { class_name: string; config: Record<string, unknown> } {
  const r = resolveInitializer(init);
  const config: Record<string, unknown> = {};
  for (const field of INITIALIZER_FIELDS[r.kind]) {
    const value = (r as Record<string, unknown>)[field];
    config[field] = field === 'mode' || field === 'distribution' ? snakeCase(value as string) : value;
  }
  return { class_name: KERAS_INITIALIZER_CLASS[r.kind], config };
}

// ---- reading configs back (model.json) --------------------------------------------------------

/**
 * The fields Keras writes for every layer with a kernel and a bias (Conv2D, Dense), its
 * regularizers and constraints (`regularization`, from parseRegularization) included.
 */
export function kernelLayerConfig(
  activation: ActivationName,
  useBias: boolean,
  kernel: Initializer,
  bias: Initializer,
  regularization: Readonly<Record<string, WeightRegularization>> = {},
  activity?: Regularizer,
): Record<string, unknown> {
  return {
    activation: serializeActivation(activation),
    use_bias: useBias,
    kernel_initializer: initializerConfig(kernel),
    bias_initializer: initializerConfig(bias),
    kernel_regularizer: regularizerConfig(regularization.kernel?.regularizer),
    bias_regularizer: regularizerConfig(regularization.bias?.regularizer),
    activity_regularizer: regularizerConfig(activity),
    kernel_constraint: constraintConfig(regularization.kernel?.constraint),
    bias_constraint: constraintConfig(regularization.bias?.constraint),
  };
}

// ---- regularizers and constraints of a layer's weights ----------------------------------------

/** A weight's regularizer and constraint, as its layer's config gave them. */
export interface WeightRegularization {
  /** The TF.js field prefix: 'kernel' for kernelRegularizer and kernelConstraint. */
  field: string;
  regularizer?: Regularizer;
  constraint?: Constraint;
}

/**
 * Reads `<field>Regularizer` and `<field>Constraint` from a layer's TF.js config for each entry of
 * `fields` (TF.js field prefix → the weight's spec name, e.g. `{ depthwise: 'depthwise_kernel' }`);
 * the result is keyed by spec name. `who` names the layer in errors.
 */
export function parseRegularization(config: object, fields: Readonly<Record<string, string>>, who: string): Record<string, WeightRegularization> {
  const c = config as Record<string, unknown>;
  const out: Record<string, WeightRegularization> = {};
  for (const [field, spec] of Object.entries(fields)) {
    out[spec] = {
      field,
      regularizer: parseRegularizer(c[`${field}Regularizer`], `${who}: ${field}Regularizer`),
      constraint: parseConstraint(c[`${field}Constraint`], `${who}: ${field}Constraint`),
    };
  }
  return out;
}

/**
 * The weight specs with their regularizers and constraints attached (by spec name); a norm
 * constraint's axis is checked against its weight's rank here, where the shape is known.
 */
export function regularized(specs: WeightSpec[], regularization: Readonly<Record<string, WeightRegularization>>, who: string): WeightSpec[] {
  return specs.map((spec) => {
    const r = Object.hasOwn(regularization, spec.name) ? regularization[spec.name] : undefined;
    if (!r || (!r.regularizer && !r.constraint)) return spec;
    if (r.constraint && r.constraint.kind !== 'nonNeg') constraintAxes(r.constraint, spec.shape.length, `${who}: ${r.field}Constraint (on the ${spec.name} of shape [${spec.shape.join(', ')}])`);
    return { ...spec, ...(r.regularizer ? { regularizer: r.regularizer } : {}), ...(r.constraint ? { constraint: r.constraint } : {}) };
  });
}

/** The model.json keys of `fields`' regularizers and constraints (`kernel_regularizer`, `kernel_constraint`, …). */
export function regularizationKeys(fields: readonly string[]): string[] {
  return fields.flatMap((f) => [`${snakeCase(f)}_regularizer`, `${snakeCase(f)}_constraint`]);
}

/** TF.js config fields (`kernelRegularizer`, `kernelConstraint`, …) from a Keras config's snake_case ones; `className` names the layer in errors. */
export function regularizationFromConfig(c: Record<string, unknown>, fields: readonly string[], className: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const key = snakeCase(f);
    out[`${f}Regularizer`] = regularizerFromConfig(c[`${key}_regularizer`], `${className}: ${key}_regularizer`);
    out[`${f}Constraint`] = constraintFromConfig(c[`${key}_constraint`], `${className}: ${key}_constraint`);
  }
  return out;
}

/** A Keras config's activity_regularizer as the TF.js field. */
export function activityFromConfig(c: Record<string, unknown>, className: string): Regularizer | undefined {
  return regularizerFromConfig(c.activity_regularizer, `${className}: activity_regularizer`);
}

/** The regularizer/constraint fields of a layer that takes none (kept for layers without weights to regularize). */
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
/**
 * The inverse of initializerConfig: an initializer from model.json (undefined when the key is absent
 * or null, leaving the layer's default). Reads what TF.js writes and what Keras 2 and 3 write: names
 * (any spelling parseInitializer knows), `{class_name, config}` with any of their class names
 * (GlorotUniform, LecunNormal, OrthogonalInitializer, …; Keras 3's `module` and `registered_name`
 * beside them), VarianceScaling modes and distributions in snake_case or camelCase. A VarianceScaling
 * that is one of the named ones (as TF.js writes glorotUniform) comes back as that name.
 */
export function initializerFromConfig(value: unknown, what: string): Initializer | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return parseInitializer(value, what);
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what}: expected {class_name, config}, got ${describeValue(value)}`);
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!['class_name', 'config', 'module', 'registered_name'].includes(key)) {
      throw new Error(`${what}: unknown key '${key}' beside class_name; expected class_name, config (and Keras 3's module, registered_name), got ${describeValue(v)}`);
    }
  }
  const className = v.class_name;
  const config = v.config ?? {};
  if (typeof className !== 'string' || typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new Error(`${what}: expected {class_name: string, config: object}, got ${describeValue(value)}`);
  }
  const kind = initializerKind(className);
  if (!kind) {
    throw new Error(
      `${what}: unknown initializer class '${className}'; known: ${[...new Set([...Object.values(KERAS_INITIALIZER_CLASS), 'GlorotUniform', 'GlorotNormal', 'HeNormal', 'HeUniform', 'LeCunNormal', 'LeCunUniform', 'LecunNormal', 'LecunUniform', 'OrthogonalInitializer'])].join(', ')}`,
    );
  }
  const fields: Record<string, unknown> = { kind };
  for (const [key, field] of Object.entries(config as Record<string, unknown>)) {
    if (key === 'dtype' && (field === null || field === 'float32')) continue; // tf.keras v1 initializers write it
    if (key === 'seed' && field !== null && typeof field === 'object') {
      throw new Error(`${what}: ${className}.seed must be a number or null, got ${describeValue(field)} (a Keras SeedGenerator cannot be read)`);
    }
    if ((key === 'mode' || key === 'distribution') && typeof field === 'string') fields[key] = camelCase(field);
    else fields[key] = field;
  }
  if (kind === 'constant' && fields.value === undefined) fields.value = 0; // Keras's default
  const init = checkInitializerObject(fields, `${what}: ${className}`);
  return canonical(init);
}

/** An initializer's name when it has no parameters (only seed null), a VarianceScaling's name when it is a named one, else itself. */
function canonical(init: InitializerObject): Initializer {
  if (init.kind === 'varianceScaling') {
    const r = resolveInitializer(init) as Extract<ResolvedInitializer, { kind: 'varianceScaling' }>;
    const named = (Object.keys(VARIANCE_SCALING_NAMED) as VarianceScalingName[]).find((name) => {
      const s = VARIANCE_SCALING_NAMED[name];
      return s.scale === r.scale && s.mode === r.mode && s.distribution === r.distribution;
    });
    if (!named) return init;
    return r.seed === null ? named : { kind: named, seed: r.seed };
  }
  const bare = Object.entries(init).every(([k, v]) => k === 'kind' || (k === 'seed' && v === null));
  if (bare && init.kind !== 'constant') return init.kind;
  return init;
}

export { describeValue, kerasObject };
