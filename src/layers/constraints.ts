/**
 * Weight constraints as TF.js takes them: `constraints.maxNorm({ maxValue, axis })`,
 * `constraints.minMaxNorm({ minValue, maxValue, rate, axis })`, `constraints.nonNeg()`,
 * `constraints.unitNorm({ axis })` or their names ('maxNorm', 'minMaxNorm', 'nonNeg', 'unitNorm',
 * the Keras class names, Keras's snake_case names), with TF.js's defaults. A constraint projects
 * its weight after every optimizer step, as Keras does (src/ops/regularizers.ts). The norms are
 * L2 norms over `axis` (default 0: for a Dense kernel [in, out], each unit's incoming weights;
 * for a convolution kernel [kH, kW, inC, outC] Keras's advice is axis [0, 1, 2]), scaled by
 * desired / (1e-7 + norm) as TF.js computes it.
 */
import { describeValue, kerasObject } from './keras-json.ts';

/** One axis or several; negative counts from the end. */
export type ConstraintAxis = number | readonly number[];

export interface MaxNormArgs {
  /** Default 2. */
  maxValue?: number;
  /** Default 0. */
  axis?: ConstraintAxis;
}

export interface MinMaxNormArgs {
  /** Default 0. */
  minValue?: number;
  /** Default 1. */
  maxValue?: number;
  /** How far each step moves the norm into [minValue, maxValue]: 1 (default) all the way. */
  rate?: number;
  /** Default 0. */
  axis?: ConstraintAxis;
}

export interface UnitNormArgs {
  /** Default 0. */
  axis?: ConstraintAxis;
}

/** The norm clipped to [0, maxValue]. */
export class MaxNorm {
  static readonly className = 'MaxNorm';
  readonly kind = 'maxNorm';
  readonly maxValue: number;
  readonly axis: ConstraintAxis;
  constructor(args: MaxNormArgs = {}, what = 'MaxNorm') {
    const a = fields(args, ['maxValue', 'axis'], what);
    this.maxValue = nonNegative(a.maxValue, 2, `${what}: maxValue`);
    this.axis = axisArg(a.axis, `${what}: axis`);
  }
  getClassName(): string {
    return MaxNorm.className;
  }
  getConfig(): { maxValue: number; axis: ConstraintAxis } {
    return { maxValue: this.maxValue, axis: this.axis };
  }
}

/** The norm moved by `rate` towards [minValue, maxValue]. */
export class MinMaxNorm {
  static readonly className = 'MinMaxNorm';
  readonly kind = 'minMaxNorm';
  readonly minValue: number;
  readonly maxValue: number;
  readonly rate: number;
  readonly axis: ConstraintAxis;
  constructor(args: MinMaxNormArgs = {}, what = 'MinMaxNorm') {
    const a = fields(args, ['minValue', 'maxValue', 'rate', 'axis'], what);
    this.minValue = nonNegative(a.minValue, 0, `${what}: minValue`);
    this.maxValue = nonNegative(a.maxValue, 1, `${what}: maxValue`);
    if (this.minValue > this.maxValue) throw new Error(`${what}: minValue ${this.minValue} must not exceed maxValue ${this.maxValue}`);
    this.rate = nonNegative(a.rate, 1, `${what}: rate`);
    if (this.rate > 1) throw new Error(`${what}: rate must be in [0, 1], got ${this.rate}`);
    this.axis = axisArg(a.axis, `${what}: axis`);
  }
  getClassName(): string {
    return MinMaxNorm.className;
  }
  getConfig(): { minValue: number; maxValue: number; rate: number; axis: ConstraintAxis } {
    return { minValue: this.minValue, maxValue: this.maxValue, rate: this.rate, axis: this.axis };
  }
}

/** Negative values become 0. */
export class NonNeg {
  static readonly className = 'NonNeg';
  readonly kind = 'nonNeg';
  getClassName(): string {
    return NonNeg.className;
  }
  getConfig(): Record<string, never> {
    return {};
  }
}

/** The norm set to 1. */
export class UnitNorm {
  static readonly className = 'UnitNorm';
  readonly kind = 'unitNorm';
  readonly axis: ConstraintAxis;
  constructor(args: UnitNormArgs = {}, what = 'UnitNorm') {
    const a = fields(args, ['axis'], what);
    this.axis = axisArg(a.axis, `${what}: axis`);
  }
  getClassName(): string {
    return UnitNorm.className;
  }
  getConfig(): { axis: ConstraintAxis } {
    return { axis: this.axis };
  }
}

export type Constraint = MaxNorm | MinMaxNorm | NonNeg | UnitNorm;

/** What a layer's `…Constraint` field takes: a constraint, or one of the names. */
export type ConstraintIdentifier = Constraint | 'maxNorm' | 'minMaxNorm' | 'nonNeg' | 'unitNorm' | 'MaxNorm' | 'MinMaxNorm' | 'NonNeg' | 'UnitNorm';

function fields(args: unknown, known: readonly string[], what: string): Record<string, unknown> {
  if (args === undefined || args === null) return {};
  if (typeof args !== 'object' || Array.isArray(args)) throw new Error(`${what}: expected { ${known.join(', ')} }, got ${describeValue(args)}`);
  for (const key of Object.keys(args)) if (!known.includes(key)) throw new Error(`${what}: unknown field '${key}'; known: ${known.join(', ')}`);
  return args as Record<string, unknown>;
}

function nonNegative(value: unknown, fallback: number, what: string): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`${what} must be a finite number ≥ 0, got ${describeValue(value)}`);
  return value;
}

function axisArg(value: unknown, what: string): ConstraintAxis {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (Array.isArray(value) && value.length > 0 && value.every((a) => typeof a === 'number' && Number.isInteger(a))) {
    if (new Set(value).size !== value.length) throw new Error(`${what} must not repeat an axis, got ${describeValue(value)}`);
    return [...(value as number[])];
  }
  throw new Error(`${what} must be an integer axis or a non-empty array of them, got ${describeValue(value)}`);
}

/** TF.js's `tf.constraints`: maxNorm, minMaxNorm, nonNeg and unitNorm. */
export const constraints = {
  /** Each norm over `axis` clipped to at most maxValue (default 2; axis default 0). */
  maxNorm(args: MaxNormArgs = {}): MaxNorm {
    return new MaxNorm(args, 'constraints.maxNorm');
  },
  /** Each norm over `axis` moved by `rate` into [minValue, maxValue] (defaults 0, 1, 1; axis 0). */
  minMaxNorm(args: MinMaxNormArgs = {}): MinMaxNorm {
    return new MinMaxNorm(args, 'constraints.minMaxNorm');
  },
  /** Negative weights set to 0. */
  nonNeg(): NonNeg {
    return new NonNeg();
  },
  /** Each norm over `axis` set to 1 (axis default 0). */
  unitNorm(args: UnitNormArgs = {}): UnitNorm {
    return new UnitNorm(args, 'constraints.unitNorm');
  },
};

/** The class name each spelling of a constraint stands for. */
const NAMES: Readonly<Record<string, string>> = {
  maxNorm: 'MaxNorm',
  max_norm: 'MaxNorm',
  MaxNorm: 'MaxNorm',
  minMaxNorm: 'MinMaxNorm',
  min_max_norm: 'MinMaxNorm',
  MinMaxNorm: 'MinMaxNorm',
  nonNeg: 'NonNeg',
  non_neg: 'NonNeg',
  NonNeg: 'NonNeg',
  unitNorm: 'UnitNorm',
  unit_norm: 'UnitNorm',
  UnitNorm: 'UnitNorm',
};

/**
 * A layer's constraint field (`what` names the layer and field in errors): undefined for
 * null/undefined; a constraint; a name (its defaults); a TF.js constraint object (`getClassName()`
 * and `getConfig()`, as `tf.constraints.maxNorm()` returns); or `{className | class_name, config}`.
 */
export function parseConstraint(value: unknown, what: string): Constraint | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof MaxNorm || value instanceof MinMaxNorm || value instanceof NonNeg || value instanceof UnitNorm) return value;
  const expected = `constraints.maxNorm(…), constraints.minMaxNorm(…), constraints.nonNeg(), constraints.unitNorm(…) or one of ${Object.keys(NAMES)
    .map((n) => `'${n}'`)
    .join(', ')}`;
  if (typeof value === 'string') {
    const className = Object.hasOwn(NAMES, value) ? NAMES[value] : undefined;
    if (!className) throw new Error(`${what}: unknown constraint '${value}'; expected ${expected}`);
    return constraintFromClass(className, {}, what, false);
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    const v = value as { getClassName?: unknown; getConfig?: unknown };
    if (typeof v.getClassName === 'function' && typeof v.getConfig === 'function') {
      return constraintFromClass(String((v.getClassName as () => unknown).call(value)), (v.getConfig as () => unknown).call(value), what, false);
    }
    return constraintFromConfig(value, what);
  }
  throw new Error(`${what}: expected ${expected}, got ${describeValue(value)}`);
}

/** `{class_name, config}` as TF.js writes a constraint into model.json (snake_case fields), or null. */
export function constraintConfig(c: Constraint | undefined): { class_name: string; config: Record<string, unknown> } | null {
  if (!c) return null;
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(c.getConfig())) config[key.replace(/[A-Z]/g, (ch) => `_${ch.toLowerCase()}`)] = Array.isArray(value) ? [...value] : value;
  return { class_name: c.getClassName(), config };
}

/**
 * A constraint from model.json (undefined for null): `{class_name, config}` with the snake_case
 * fields TF.js and Keras write (Keras 3's `module` and `registered_name` beside them), or a name.
 */
export function constraintFromConfig(value: unknown, what: string): Constraint | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return parseConstraint(value, what);
  const { className, config } = kerasObject(value, what);
  return constraintFromClass(className, config, what, true);
}

/** A constraint of `className` from its config: camelCase fields (TF.js objects) or snake_case ones (model.json). */
function constraintFromClass(className: string, config: unknown, what: string, snakeCase: boolean): Constraint {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error(`${what}: ${className}.config must be an object, got ${describeValue(config)}`);
  const args: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) args[snakeCase ? key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase()) : key] = value;
  const where = `${what}: ${className}`;
  switch (className) {
    case 'MaxNorm':
      return new MaxNorm(args, where);
    case 'MinMaxNorm':
      return new MinMaxNorm(args, where);
    case 'NonNeg':
      fields(args, [], where);
      return new NonNeg();
    case 'UnitNorm':
      return new UnitNorm(args, where);
    default:
      throw new Error(`${what}: unknown constraint class '${className}'; known: MaxNorm, MinMaxNorm, NonNeg, UnitNorm`);
  }
}

/** The constraint's axes for a weight of `rank` dimensions, each in [0, rank); throws naming `what` when one is out of range. */
export function constraintAxes(c: Exclude<Constraint, NonNeg>, rank: number, what: string): number[] {
  const list = typeof c.axis === 'number' ? [c.axis] : [...c.axis];
  const axes = list.map((a) => {
    if (a < -rank || a >= rank) throw new Error(`${what}: axis ${describeValue(c.axis)} is out of range for a weight of rank ${rank} (axes lie in [${-rank}, ${rank - 1}])`);
    return a < 0 ? a + rank : a;
  });
  if (new Set(axes).size !== axes.length) throw new Error(`${what}: axis ${describeValue(c.axis)} names the same axis twice for a weight of rank ${rank}`);
  return axes.sort((x, y) => x - y);
}
