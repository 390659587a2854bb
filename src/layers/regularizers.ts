/**
 * Weight and activity regularizers as TF.js takes them: `regularizers.l1({ l1 })`,
 * `regularizers.l2({ l2 })`, `regularizers.l1l2({ l1, l2 })` or the strings 'l1', 'l2', 'l1l2'
 * (each rate 0.01 by default, as in TF.js), all one class, L1L2, whose penalty is
 * l1·Σ|x| + l2·Σx². model.json holds them as TF.js writes them, `{class_name: 'L1L2', config:
 * {l1, l2}}`, and reads Keras's L1 and L2 classes too. The plan adds the penalties to the
 * training loss and their gradients to the weights' (src/ops/regularizers.ts).
 */
import { describeValue, kerasObject } from './keras-json.ts';

/** TF.js's rate when a regularizer is given without one. */
export const DEFAULT_RATE = 0.01;

export interface L1L2Args {
  /** The rate of Σ|x|; default 0.01 (TF.js). */
  l1?: number | null;
  /** The rate of Σx²; default 0.01 (TF.js). */
  l2?: number | null;
}

/** l1·Σ|x| + l2·Σx², TF.js's and Keras's L1L2. */
export class L1L2 {
  static readonly className = 'L1L2';
  readonly l1: number;
  readonly l2: number;

  constructor(args: L1L2Args = {}, what = 'L1L2') {
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new Error(`${what}: expected { l1, l2 }, got ${describeValue(args)}`);
    for (const key of Object.keys(args)) if (key !== 'l1' && key !== 'l2') throw new Error(`${what}: unknown field '${key}'; known: l1, l2`);
    this.l1 = rate(args.l1, `${what}: l1`);
    this.l2 = rate(args.l2, `${what}: l2`);
  }

  getClassName(): string {
    return L1L2.className;
  }

  /** TF.js's config (also its model.json config). */
  getConfig(): { l1: number; l2: number } {
    return { l1: this.l1, l2: this.l2 };
  }

  /** Whether the penalty is zero whatever the values (both rates 0): the plan skips it. */
  get isZero(): boolean {
    return this.l1 === 0 && this.l2 === 0;
  }
}

export type Regularizer = L1L2;

/** What a layer's `…Regularizer` field takes: a regularizer, or one of the names. */
export type RegularizerIdentifier = Regularizer | 'l1' | 'l2' | 'l1l2' | 'L1L2';

function rate(value: unknown, what: string): number {
  if (value === undefined || value === null) return DEFAULT_RATE;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`${what} must be a finite number ≥ 0, got ${describeValue(value)}`);
  return value;
}

/** TF.js's `tf.regularizers`: l1, l2 and l1l2 (rates default to 0.01). */
export const regularizers = {
  /** l1·Σ|x| (l1 default 0.01). */
  l1(args: { l1?: number } = {}): L1L2 {
    return new L1L2({ l1: (args as L1L2Args | undefined)?.l1 ?? null, l2: 0 }, 'regularizers.l1');
  },
  /** l2·Σx² (l2 default 0.01). */
  l2(args: { l2?: number } = {}): L1L2 {
    return new L1L2({ l1: 0, l2: (args as L1L2Args | undefined)?.l2 ?? null }, 'regularizers.l2');
  },
  /** l1·Σ|x| + l2·Σx² (each default 0.01). */
  l1l2(args: L1L2Args = {}): L1L2 {
    return new L1L2(args, 'regularizers.l1l2');
  },
};

/** The names a regularizer field takes: TF.js's ('l1l2', 'L1L2') and Keras's ('l1', 'l2', 'l1_l2', 'L1', 'L2'). */
const NAMED: Readonly<Record<string, () => L1L2>> = {
  l1: () => regularizers.l1(),
  L1: () => regularizers.l1(),
  l2: () => regularizers.l2(),
  L2: () => regularizers.l2(),
  l1l2: () => regularizers.l1l2(),
  l1_l2: () => regularizers.l1l2(),
  L1L2: () => regularizers.l1l2(),
};

/**
 * A layer's regularizer field (`what` names the layer and field in errors): undefined for
 * null/undefined; a regularizer; a name; a TF.js regularizer object (`getClassName()` and
 * `getConfig()`, as `tf.regularizers.l2()` returns); or `{className | class_name, config}`.
 */
export function parseRegularizer(value: unknown, what: string): Regularizer | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof L1L2) return value;
  const expected = `regularizers.l1({ l1 }), regularizers.l2({ l2 }), regularizers.l1l2({ l1, l2 }) or one of ${Object.keys(NAMED)
    .map((n) => `'${n}'`)
    .join(', ')}`;
  if (typeof value === 'string') {
    const make = Object.hasOwn(NAMED, value) ? NAMED[value] : undefined;
    if (!make) throw new Error(`${what}: unknown regularizer '${value}'; expected ${expected}`);
    return make();
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    const v = value as { getClassName?: unknown; getConfig?: unknown };
    if (typeof v.getClassName === 'function' && typeof v.getConfig === 'function') {
      return regularizerFromClass(String((v.getClassName as () => unknown).call(value)), (v.getConfig as () => unknown).call(value), what);
    }
    return regularizerFromConfig(value, what);
  }
  throw new Error(`${what}: expected ${expected}, got ${describeValue(value)}`);
}

/** `{class_name: 'L1L2', config: {l1, l2}}` as TF.js writes a regularizer into model.json, or null. */
export function regularizerConfig(r: Regularizer | undefined): { class_name: string; config: { l1: number; l2: number } } | null {
  return r ? { class_name: L1L2.className, config: r.getConfig() } : null;
}

/**
 * A regularizer from model.json (undefined for null): `{class_name, config}` with class L1L2,
 * L1 or L2 (Keras 3's `module` and `registered_name` beside them), TF.js's `className`, or a name.
 */
export function regularizerFromConfig(value: unknown, what: string): Regularizer | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return parseRegularizer(value, what);
  const { className, config } = kerasObject(value, what);
  return regularizerFromClass(className, config, what);
}

function regularizerFromClass(className: string, config: unknown, what: string): Regularizer {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error(`${what}: ${className}.config must be an object, got ${describeValue(config)}`);
  const c = config as Record<string, unknown>;
  const only = (fields: readonly string[]) => {
    for (const key of Object.keys(c)) if (!fields.includes(key)) throw new Error(`${what}: unknown ${className} config field '${key}'; known: ${fields.join(', ')}`);
  };
  const where = `${what}: ${className}`;
  switch (className) {
    case 'L1L2':
      only(['l1', 'l2']);
      return new L1L2({ l1: c.l1 as number | null, l2: c.l2 as number | null }, where);
    case 'L1':
      only(['l1']);
      return new L1L2({ l1: c.l1 as number | null, l2: 0 }, where);
    case 'L2':
      only(['l2']);
      return new L1L2({ l1: 0, l2: c.l2 as number | null }, where);
    default:
      throw new Error(`${what}: unknown regularizer class '${className}'; known: L1L2, L1, L2`);
  }
}
