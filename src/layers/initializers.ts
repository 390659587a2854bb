/**
 * Weight initializers: every TF.js / Keras initializer, by name ('glorotUniform', 'glorot_uniform',
 * 'GlorotUniform') or as an object made by the `initializers.*` factories (TF.js's names, fields and
 * defaults). Without a `seed`, values are drawn from the model's seeded generator (in graph order,
 * see LayersModel.setGraph), so the same model seed gives the same model. With a `seed`, that weight
 * draws from its own generator seeded by it: reproducible, and independent of the model seed and of
 * the other weights. We cannot reproduce TF.js's (or TensorFlow's) random streams bit for bit, so a
 * seed gives the same values here every time, but not the values TF.js would give for that seed.
 *
 * Fans follow Keras: for a conv kernel [kh, kw, cin, cout] the receptive field kh·kw multiplies cin
 * and cout; a dense kernel [in, out] has fanIn = in, fanOut = out (TF.js computes the same for ranks
 * 2 to 5; for rank 1 and rank > 5 TF.js uses sqrt(size) for both, Keras and we the shape's own).
 *
 * Where TF.js 4.22 departs from Keras we follow Keras, and say so:
 * - VarianceScaling 'normal' (so glorotNormal, heNormal, leCunNormal) is a normal truncated at two
 *   standard deviations and divided by 0.87962566103423978 so that its std is sqrt(scale / fan), as
 *   Keras does; TF.js omits that correction (its spread is narrower). 'truncatedNormal' is the same
 *   distribution (Keras's name for it; TF.js 4.22 draws uniform values for it by mistake).
 * - randomUniform/randomNormal/truncatedNormal honour a 0 given for a field; TF.js replaces 0 by the
 *   default (it writes `args.minval || -0.05`), so `randomUniform({ minval: 0 })` spans [-0.05, 0.05)
 *   in TF.js and [0, 0.05) here.
 */
import type { Shape } from '../runtime/tensor.ts';

export type FanMode = 'fanIn' | 'fanOut' | 'fanAvg';
/** TF.js's distributions, and Keras's 'untruncatedNormal' (a plain normal) read from Keras's model.json. */
export type Distribution = 'normal' | 'uniform' | 'truncatedNormal' | 'untruncatedNormal';

/** Initializers that a name alone defines (TF.js's identifiers; 'constant' needs a value). */
export type InitializerName =
  | 'glorotUniform'
  | 'glorotNormal'
  | 'heNormal'
  | 'heUniform'
  | 'leCunNormal'
  | 'leCunUniform'
  | 'zeros'
  | 'ones'
  | 'identity'
  | 'orthogonal'
  | 'truncatedNormal'
  | 'randomNormal'
  | 'randomUniform'
  | 'varianceScaling';

/** The named VarianceScaling initializers (TF.js's GlorotUniform … LeCunUniform classes). */
export type VarianceScalingName = 'glorotUniform' | 'glorotNormal' | 'heNormal' | 'heUniform' | 'leCunNormal' | 'leCunUniform';

/** A seed of its own: a number, or null/absent to draw from the model's seeded generator. */
type Seeded = { seed?: number | null };

export type InitializerObject =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | ({ kind: 'randomUniform'; minval?: number; maxval?: number } & Seeded)
  | ({ kind: 'randomNormal'; mean?: number; stddev?: number } & Seeded)
  | ({ kind: 'truncatedNormal'; mean?: number; stddev?: number } & Seeded)
  | ({ kind: 'varianceScaling'; scale?: number; mode?: FanMode; distribution?: Distribution } & Seeded)
  | ({ kind: VarianceScalingName } & Seeded)
  | ({ kind: 'orthogonal'; gain?: number } & Seeded)
  | { kind: 'identity'; gain?: number };

export type Initializer = InitializerName | InitializerObject;
export type InitializerKind = InitializerObject['kind'];

/** TF.js's identifiers (INITIALIZER_IDENTIFIER_REGISTRY_SYMBOL_MAP's keys), 'constant' included. */
export const INITIALIZER_NAMES = [
  'constant',
  'glorotNormal',
  'glorotUniform',
  'heNormal',
  'heUniform',
  'identity',
  'leCunNormal',
  'leCunUniform',
  'ones',
  'orthogonal',
  'randomNormal',
  'randomUniform',
  'truncatedNormal',
  'varianceScaling',
  'zeros',
] as const satisfies readonly InitializerKind[];

/** Each kind's fields, in the order TF.js writes them into model.json. */
export const INITIALIZER_FIELDS: Readonly<Record<InitializerKind, readonly string[]>> = {
  zeros: [],
  ones: [],
  constant: ['value'],
  randomUniform: ['minval', 'maxval', 'seed'],
  randomNormal: ['mean', 'stddev', 'seed'],
  truncatedNormal: ['mean', 'stddev', 'seed'],
  varianceScaling: ['scale', 'mode', 'distribution', 'seed'],
  glorotUniform: ['seed'],
  glorotNormal: ['seed'],
  heNormal: ['seed'],
  heUniform: ['seed'],
  leCunNormal: ['seed'],
  leCunUniform: ['seed'],
  orthogonal: ['gain', 'seed'],
  identity: ['gain'],
};

/** scale, mode and distribution of the named VarianceScaling initializers (as TF.js defines them). */
export const VARIANCE_SCALING_NAMED: Readonly<Record<VarianceScalingName, { scale: number; mode: FanMode; distribution: Distribution }>> = {
  glorotUniform: { scale: 1, mode: 'fanAvg', distribution: 'uniform' },
  glorotNormal: { scale: 1, mode: 'fanAvg', distribution: 'normal' },
  heNormal: { scale: 2, mode: 'fanIn', distribution: 'normal' },
  heUniform: { scale: 2, mode: 'fanIn', distribution: 'uniform' },
  leCunNormal: { scale: 1, mode: 'fanIn', distribution: 'normal' },
  leCunUniform: { scale: 1, mode: 'fanIn', distribution: 'uniform' },
};

export const FAN_MODES: readonly FanMode[] = ['fanIn', 'fanOut', 'fanAvg'];
export const DISTRIBUTIONS: readonly Distribution[] = ['normal', 'uniform', 'truncatedNormal', 'untruncatedNormal'];

/**
 * Every name an initializer goes by, to its kind: TF.js's camelCase identifiers, Keras's snake_case
 * names and aliases, and the class names of TF.js, Keras 2 and Keras 3 (which TF.js and Keras also
 * accept as names).
 */
const NAMES: Readonly<Record<string, InitializerKind>> = (() => {
  const table: Record<string, InitializerKind> = {};
  for (const kind of INITIALIZER_NAMES) {
    table[kind] = kind; // TF.js identifier
    table[kind.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = kind; // Keras snake_case
    table[kind[0]!.toUpperCase() + kind.slice(1)] = kind; // TF.js class name
  }
  Object.assign(table, {
    LecunNormal: 'leCunNormal', // Keras's class names and snake_case
    LecunUniform: 'leCunUniform',
    lecun_normal: 'leCunNormal',
    lecun_uniform: 'leCunUniform',
    OrthogonalInitializer: 'orthogonal', // Keras 3's class name
    orthogonal_initializer: 'orthogonal',
    IdentityInitializer: 'identity', // Keras 3's compatibility alias
    zero: 'zeros', // Keras's aliases
    one: 'ones',
    uniform: 'randomUniform',
    normal: 'randomNormal',
  } satisfies Record<string, InitializerKind>);
  delete table['le_cun_normal'];
  delete table['le_cun_uniform'];
  return table;
})();

/** The kind an initializer name stands for (any of TF.js's or Keras's spellings), or undefined. */
export function initializerKind(name: string): InitializerKind | undefined {
  return Object.hasOwn(NAMES, name) ? NAMES[name] : undefined;
}

function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
  }
}

const quoted = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/**
 * Checks an initializer object's fields (`where` names the argument in errors) and returns a copy
 * without the fields left undefined.
 */
export function checkInitializerObject(value: Record<string, unknown>, where: string): InitializerObject {
  const kind = value.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(INITIALIZER_FIELDS, kind)) {
    throw new Error(`${where}: kind must be one of ${quoted(Object.keys(INITIALIZER_FIELDS))}, got ${show(kind)}`);
  }
  const fields = INITIALIZER_FIELDS[kind as InitializerKind];
  const out: Record<string, unknown> = { kind };
  for (const [key, v] of Object.entries(value)) {
    if (key === 'kind') continue;
    if (!fields.includes(key)) {
      throw new Error(`${where}: ${kind} has no field '${key}'; expected ${fields.length ? fields.join(', ') : 'none'}, got ${key}: ${show(v)}`);
    }
    if (v === undefined) continue;
    const field = `${where}: ${kind} ${key}`;
    if (key === 'seed') {
      if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) throw new Error(`${field} must be a finite number or null, got ${show(v)}`);
    } else if (key === 'mode') {
      if (!FAN_MODES.includes(v as FanMode)) throw new Error(`${field} must be one of ${quoted(FAN_MODES)}, got ${show(v)}`);
    } else if (key === 'distribution') {
      if (!DISTRIBUTIONS.includes(v as Distribution)) throw new Error(`${field} must be one of ${quoted(DISTRIBUTIONS)}, got ${show(v)}`);
    } else {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${field} must be a finite number, got ${show(v)}`);
      if (key === 'scale' && v < 0) throw new Error(`${field} must be ≥ 0, got ${v}`);
    }
    out[key] = v;
  }
  if (kind === 'constant' && out.value === undefined) throw new Error(`${where}: constant needs a value (a finite number), got none`);
  return out as InitializerObject;
}

/**
 * An initializer argument of a layer (`argument` names it in errors): a name in any of TF.js's or
 * Keras's spellings, or an object from `initializers.*`. The six names the layers had before
 * ('glorotUniform', 'glorotNormal', 'heNormal', 'heUniform', 'zeros', 'ones') stay names.
 */
export function parseInitializer(value: unknown, argument: string): Initializer {
  if (typeof value === 'string') {
    const kind = initializerKind(value);
    if (kind === 'constant') return { kind: 'constant', value: 0 }; // Keras's default value
    if (kind) return kind;
    throw new Error(
      `${argument}: unknown initializer '${value}'; known: ${INITIALIZER_NAMES.join(', ')} (or their Keras snake_case or class names)`,
    );
  }
  if (value && typeof value === 'object' && !Array.isArray(value) && 'kind' in value) {
    return checkInitializerObject(value as Record<string, unknown>, argument);
  }
  throw new Error(
    `${argument}: expected an initializer name (${INITIALIZER_NAMES.join(', ')}) or an object from initializers.*, got ${show(value)}`,
  );
}

/** Every parameter of an initializer, TF.js's defaults filled in; the named VarianceScaling ones as VarianceScaling. */
export type ResolvedInitializer =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | { kind: 'randomUniform'; minval: number; maxval: number; seed: number | null }
  | { kind: 'randomNormal'; mean: number; stddev: number; seed: number | null }
  | { kind: 'truncatedNormal'; mean: number; stddev: number; seed: number | null }
  | { kind: 'varianceScaling'; scale: number; mode: FanMode; distribution: Distribution; seed: number | null }
  | { kind: 'orthogonal'; gain: number; seed: number | null }
  | { kind: 'identity'; gain: number };

export function resolveInitializer(init: Initializer): ResolvedInitializer {
  const o: InitializerObject = typeof init === 'string' ? ({ kind: init } as InitializerObject) : init;
  const seed = 'seed' in o ? (o.seed ?? null) : null;
  switch (o.kind) {
    case 'zeros':
    case 'ones':
      return { kind: o.kind };
    case 'constant':
      return { kind: 'constant', value: o.value };
    case 'randomUniform':
      return { kind: 'randomUniform', minval: o.minval ?? -0.05, maxval: o.maxval ?? 0.05, seed };
    case 'randomNormal':
    case 'truncatedNormal':
      return { kind: o.kind, mean: o.mean ?? 0, stddev: o.stddev ?? 0.05, seed };
    case 'varianceScaling':
      return { kind: 'varianceScaling', scale: o.scale ?? 1, mode: o.mode ?? 'fanIn', distribution: o.distribution ?? 'normal', seed };
    case 'orthogonal':
      return { kind: 'orthogonal', gain: o.gain ?? 1, seed };
    case 'identity':
      return { kind: 'identity', gain: o.gain ?? 1 };
    default: {
      const named = Object.hasOwn(VARIANCE_SCALING_NAMED, o.kind) ? VARIANCE_SCALING_NAMED[o.kind] : undefined;
      // Only unchecked values get here (parseInitializer and the factories check the kind).
      if (!named) throw new Error(`unknown initializer ${show(init)}; parse it with parseInitializer() or make it with initializers.*`);
      return { kind: 'varianceScaling', ...named, seed };
    }
  }
}

/** Mulberry32: small, fast, seedable; good enough for initial weights and shuffles. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Keras's truncated normal: redraw values beyond two standard deviations. */
  truncatedNormal(): number {
    for (;;) {
      const x = this.normal();
      if (Math.abs(x) <= 2) return x;
    }
  }
  /** Fisher–Yates shuffle of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

/**
 * The generator of an initializer's own `seed`: the seed's 64 bits hashed to a 32-bit state, so that
 * every seed (negative, fractional, beyond 2³²) has its own stream, apart from the model's.
 */
export function seededRandom(seed: number): Random {
  const words = new Uint32Array(new Float64Array([seed]).buffer);
  let h = Math.imul(words[0]! ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul((words[1]! + 0x632be5ab) | 0, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return new Random((h ^ (h >>> 16)) >>> 0);
}

export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[shape.length - 2]! * receptive, fanOut: shape[shape.length - 1]! * receptive };
}

/** Keras's factor that brings a normal truncated at ±2σ back to std σ. */
const TRUNCATED_STD = 0.87962566103423978;

/**
 * The initial values of a weight of `shape`. Draws from `random` (the model's generator) unless the
 * initializer has a seed of its own. `what` names the weight in errors (identity and orthogonal
 * accept only some shapes).
 */
export function initialize(init: Initializer, shape: Shape, random: Random, what = 'initializer'): Float32Array {
  const r = resolveInitializer(init);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const source = 'seed' in r && r.seed !== null ? seededRandom(r.seed) : random;
  const fill = (f: () => number) => {
    for (let i = 0; i < n; i++) out[i] = f();
  };
  switch (r.kind) {
    case 'zeros':
      break;
    case 'ones':
      out.fill(1);
      break;
    case 'constant':
      out.fill(r.value);
      break;
    case 'randomUniform':
      fill(() => source.uniform(r.minval, r.maxval));
      break;
    case 'randomNormal':
      fill(() => r.mean + r.stddev * source.normal());
      break;
    case 'truncatedNormal':
      fill(() => r.mean + r.stddev * source.truncatedNormal());
      break;
    case 'varianceScaling': {
      // Written so that the named initializers give exactly the values of their earlier formulas
      // (e.g. glorotUniform's sqrt(6 / (fanIn + fanOut))): 3 / ((a + b) / 2) rounds as 6 / (a + b).
      const { fanIn, fanOut } = fans(shape);
      const fan = Math.max(1, r.mode === 'fanIn' ? fanIn : r.mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2);
      if (r.distribution === 'uniform') {
        const limit = Math.sqrt((3 * r.scale) / fan);
        fill(() => source.uniform(-limit, limit));
      } else if (r.distribution === 'untruncatedNormal') {
        const std = Math.sqrt(r.scale / fan);
        fill(() => std * source.normal());
      } else {
        const std = Math.sqrt(r.scale / fan) / TRUNCATED_STD;
        fill(() => std * source.truncatedNormal());
      }
      break;
    }
    case 'identity': {
      if (shape.length !== 2 || shape[0] !== shape[1]) {
        throw new Error(`${what}: the identity initializer needs a 2-D square shape, got [${shape.join(', ')}]`);
      }
      for (let i = 0; i < shape[0]!; i++) out[i * shape[0]! + i] = r.gain;
      break;
    }
    case 'orthogonal': {
      if (shape.length < 2) throw new Error(`${what}: the orthogonal initializer needs a shape of rank ≥ 2, got [${shape.join(', ')}]`);
      out.set(orthogonal(shape, r.gain, source));
      break;
    }
  }
  return out;
}

/**
 * TF.js's (and Keras's) orthogonal matrix: the shape flattened to [rows = all but the last axis,
 * cols = the last axis], a [max, min] matrix of standard normals, its QR factorization (Householder,
 * in float64), Q's columns multiplied by the signs of R's diagonal (so that Q is Haar-distributed),
 * transposed when rows < cols, times gain.
 */
function orthogonal(shape: Shape, gain: number, random: Random): Float64Array {
  const cols = shape[shape.length - 1]!;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const m = Math.max(rows, cols);
  const k = Math.min(rows, cols);
  const result = new Float64Array(rows * cols);
  if (k === 0) return result;
  // [m, k] stored column by column (column c at c·m) so the inner loops run over contiguous memory;
  // drawn in row-major order.
  const a = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) a[c * m + i] = random.normal();
  const vs: Float64Array[] = [];
  const diag = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const col = j * m;
    let norm = 0;
    for (let i = j; i < m; i++) norm += a[col + i]! ** 2;
    norm = Math.sqrt(norm);
    const v = new Float64Array(m); // the reflector's vector, zero above row j
    vs.push(v);
    if (norm === 0) continue; // a zero column (probability 0): no reflection, R's diagonal 0
    const x0 = a[col + j]!;
    const alpha = x0 > 0 ? -norm : norm;
    for (let i = j; i < m; i++) v[i] = a[col + i]!;
    v[j] = x0 - alpha;
    let vnorm = 0;
    for (let i = j; i < m; i++) vnorm += v[i]! ** 2;
    vnorm = Math.sqrt(vnorm);
    for (let i = j; i < m; i++) v[i] = v[i]! / vnorm;
    reflect(a, v, j, m, j, k);
    diag[j] = a[col + j]!;
  }
  // Q = H₀ H₁ … H_{k-1} applied to the first k columns of the identity.
  const q = new Float64Array(m * k);
  for (let j = 0; j < k; j++) q[j * m + j] = 1;
  // Columns before j are still unit vectors there (zero in rows ≥ j), which H_j leaves alone.
  for (let j = k - 1; j >= 0; j--) reflect(q, vs[j]!, j, m, j, k);
  for (let c = 0; c < k; c++) {
    const s = (diag[c]! < 0 ? -1 : 1) * gain;
    for (let i = 0; i < m; i++) q[c * m + i] = q[c * m + i]! * s;
  }
  if (rows >= cols) {
    for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) result[i * cols + c] = q[c * m + i]!;
  } else {
    for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) result[i * cols + c] = q[i * m + c]!; // Qᵀ
  }
  return result;
}

/** x[from:, c] -= 2 v (vᵀ x[from:, c]) for the columns c0..c1-1 of a column-major [m, ·] matrix. */
function reflect(x: Float64Array, v: Float64Array, from: number, m: number, c0: number, c1: number): void {
  for (let c = c0; c < c1; c++) {
    const col = c * m;
    let dot = 0;
    for (let i = from; i < m; i++) dot += v[i]! * x[col + i]!;
    if (dot === 0) continue;
    dot *= 2;
    for (let i = from; i < m; i++) x[col + i] = x[col + i]! - dot * v[i]!;
  }
}

type SeedArg = { seed?: number | null };

function make<T extends InitializerObject>(kind: T['kind'], args: object | undefined, required = false): T {
  const where = `initializers.${kind}`;
  if (args === undefined && !required) return checkInitializerObject({ kind }, where) as T;
  if (!args || typeof args !== 'object' || Array.isArray(args)) {
    throw new Error(`${where}: expected an object of ${INITIALIZER_FIELDS[kind].join(', ')}, got ${show(args)}`);
  }
  if ('kind' in args) throw new Error(`${where}: has no field 'kind'; expected ${INITIALIZER_FIELDS[kind].join(', ') || 'none'}`);
  return checkInitializerObject({ ...args, kind }, where) as T;
}

/**
 * TF.js's `tf.initializers.*` factories, with its field names and defaults; each returns an
 * initializer to pass as a layer's kernelInitializer / biasInitializer.
 */
export const initializers = {
  zeros: (): InitializerObject => ({ kind: 'zeros' }),
  ones: (): InitializerObject => ({ kind: 'ones' }),
  /** Every value `value` (required). */
  constant: (args: { value: number }): InitializerObject => make('constant', args, true),
  /** Uniform in [minval, maxval); defaults -0.05, 0.05. */
  randomUniform: (args?: { minval?: number; maxval?: number } & SeedArg): InitializerObject => make('randomUniform', args),
  /** Normal; defaults mean 0, stddev 0.05. */
  randomNormal: (args?: { mean?: number; stddev?: number } & SeedArg): InitializerObject => make('randomNormal', args),
  /** Normal with values beyond 2·stddev redrawn; defaults mean 0, stddev 0.05. */
  truncatedNormal: (args?: { mean?: number; stddev?: number } & SeedArg): InitializerObject => make('truncatedNormal', args),
  /** std (or limit/√3) sqrt(scale / fan); defaults scale 1, mode 'fanIn', distribution 'normal'. */
  varianceScaling: (args?: { scale?: number; mode?: FanMode; distribution?: Distribution } & SeedArg): InitializerObject => make('varianceScaling', args),
  glorotUniform: (args?: SeedArg): InitializerObject => make('glorotUniform', args),
  glorotNormal: (args?: SeedArg): InitializerObject => make('glorotNormal', args),
  heNormal: (args?: SeedArg): InitializerObject => make('heNormal', args),
  heUniform: (args?: SeedArg): InitializerObject => make('heUniform', args),
  leCunNormal: (args?: SeedArg): InitializerObject => make('leCunNormal', args),
  leCunUniform: (args?: SeedArg): InitializerObject => make('leCunUniform', args),
  /** A (semi-)orthogonal matrix times gain (default 1); shapes of rank ≥ 2. */
  orthogonal: (args?: { gain?: number } & SeedArg): InitializerObject => make('orthogonal', args),
  /** gain (default 1) times the identity; 2-D square shapes only. */
  identity: (args?: { gain?: number }): InitializerObject => make('identity', args),
};
