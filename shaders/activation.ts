/**
 * Activation kernels: one generic elementwise kernel whose WGSL carries the activation as named
 * functions (`fn activate(x: T) -> T`, `fn derivative(x: T) -> T`), softmax and log-softmax along
 * any axis (PReLU's kernels are in shaders/prelu.ts).
 *
 * Every formula is written for `T`, a WGSL alias of f32 or vec4f (four elements per invocation
 * when the element count is a multiple of 4): builtins act per component, and branches are
 * `select`s, which both widths accept. Numerically stable forms throughout: no `exp` of a positive
 * argument (so nothing overflows for |x| up to 1e4 and beyond), no WGSL `tanh` (it overflows to NaN
 * through exp on some drivers), and series where `1 − e` or `log(1 + e)` would cancel near 0.
 */
import type { KernelSource } from './kernel.ts';
import { constants, flatIndex, grid } from './wgsl.ts';

const WG = 256;
/** One invocation per softmax line: lines are short (classes, channels), a loop each. */
const LINE_WG = 64;

/**
 * An elementwise activation with its parameters: TF.js's activation names (`reluClipped` is the
 * ReLU layer's `maxValue`, `leakyRelu` and `thresholdedRelu` its advanced-activation layers).
 */
export type Pointwise =
  | { kind: 'linear' | 'relu' | 'relu6' | 'selu' | 'sigmoid' | 'hardSigmoid' | 'softplus' | 'softsign' | 'tanh' | 'swish' | 'mish' | 'gelu' | 'gelu_new' }
  | { kind: 'elu'; alpha: number }
  | { kind: 'leakyRelu'; alpha: number }
  | { kind: 'reluClipped'; maxValue: number }
  | { kind: 'thresholdedRelu'; theta: number };

export type PointwiseKind = Pointwise['kind'];

// ---- stable building blocks (WGSL, generic in T) ----------------------------------------------

type Helper = 'sigmoid' | 'log1p' | 'expm1' | 'tanh' | 'sech2' | 'erfc';

const HELPERS: Record<Helper, { needs: Helper[]; code: string }> = {
  sigmoid: {
    needs: [],
    code: `
// σ(x) = 1 / (1 + e^−x), computed from e = e^−|x| ≤ 1 on both sides: it never overflows.
fn stable_sigmoid(x: T) -> T {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(e * r, r, x >= T(0.0));
}`,
  },
  log1p: {
    needs: [],
    code: `
// log(1 + e) for 0 ≤ e ≤ 1 as 2·atanh(s), s = e / (2 + e) ≤ 1/3: the odd series to s¹⁵ is exact
// to f32 and, unlike log(1.0 + e), keeps its relative precision for tiny e.
fn log1p(e: T) -> T {
  let s = e / (2.0 + e);
  let s2 = s * s;
  return 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 / 15.0)))))));
}`,
  },
  expm1: {
    needs: [],
    code: `
// e^x − 1 for x ≤ 0: Taylor to x⁹ on (−0.5, 0], where exp(x) − 1 would cancel; exp(x) − 1 below.
fn expm1(x: T) -> T {
  let series = x * (1.0 + x * (1.0 / 2.0 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0 + x / 362880.0))))))));
  return select(exp(x) - 1.0, series, x > T(-0.5));
}`,
  },
  tanh: {
    needs: [],
    code: `
// tanh(x) = sign(x)·(1 − e)/(1 + e), e = e^−2|x| ≤ 1 (no overflow); the odd Taylor series to x⁹
// below |x| = 0.25, where 1 − e would cancel.
fn stable_tanh(x: T) -> T {
  let e = exp(-2.0 * abs(x));
  let far = sign(x) * (1.0 - e) / (1.0 + e);
  let x2 = x * x;
  let near = x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
  return select(far, near, abs(x) < T(0.25));
}`,
  },
  sech2: {
    needs: [],
    code: `
// 1 − tanh²(x) = 4e/(1 + e)², e = e^−2|x|: exact where tanh(x) rounds to ±1.
fn sech2(x: T) -> T {
  let e = exp(-2.0 * abs(x));
  let d = 1.0 + e;
  return 4.0 * e / (d * d);
}`,
  },
  erfc: {
    needs: [],
    code: `
// erfc(x) with fractional error < 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit), so the
// Gaussian CDF Φ(x) = erfc(−x/√2)/2 keeps its relative precision in the far left tail.
fn erfc(x: T) -> T {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return select(2.0 - r, r, x >= T(0.0));
}`,
  },
};

/** What each kind computes, as WGSL over `T`; `derivative` reads x (dy/dx at the forward's input). */
interface Formula {
  /** Comment line of the generated WGSL: the formula in words. */
  doc: string;
  helpers: Helper[];
  /** Named f32 constants of the kind (`ALPHA`, ...). */
  constants?: Record<string, number>;
  activate: string;
  derivative: string;
}

/** TF.js's SELU constants (tfjs-core ops/selu_util): scale and scale·alpha. */
export const SELU_SCALE = 1.0507009873554805;
export const SELU_SCALE_ALPHA = 1.7580993408473768;
/** gelu_new's tanh approximation: √(2/π) and the cubic coefficient. */
export const GELU_NEW_K = Math.sqrt(2 / Math.PI);
export const GELU_NEW_C = 0.044715;

function formula(a: Pointwise): Formula {
  switch (a.kind) {
    case 'linear':
      return { doc: 'linear: y = x', helpers: [], activate: 'x', derivative: 'T(1.0)' };
    case 'relu':
      return { doc: 'relu: y = max(x, 0); dy/dx = [x > 0]', helpers: [], activate: 'max(x, T(0.0))', derivative: 'select(T(0.0), T(1.0), x > T(0.0))' };
    case 'relu6':
      // TF.js: minimum(6, relu(x)), whose gradient passes where 0 < x < 6.
      return {
        doc: 'relu6: y = min(max(x, 0), 6); dy/dx = [0 < x < 6]',
        helpers: [],
        activate: 'clamp(x, T(0.0), T(6.0))',
        derivative: 'select(T(0.0), T(1.0), (x > T(0.0)) & (x < T(6.0)))',
      };
    case 'reluClipped':
      // TF.js's ReLU layer: clipByValue(relu(x), 0, maxValue); the clip's gradient is inclusive.
      return {
        doc: 'relu with maxValue: y = clamp(x, 0, MAX_VALUE); dy/dx = [0 < x ≤ MAX_VALUE]',
        helpers: [],
        constants: { MAX_VALUE: a.maxValue },
        activate: 'clamp(x, T(0.0), T(MAX_VALUE))',
        derivative: 'select(T(0.0), T(1.0), (x > T(0.0)) & (x <= T(MAX_VALUE)))',
      };
    case 'leakyRelu':
      return {
        doc: 'leakyRelu: y = x for x ≥ 0, ALPHA·x below; dy/dx = 1 for x > 0, ALPHA otherwise',
        helpers: [],
        constants: { ALPHA: a.alpha },
        activate: 'select(ALPHA * x, x, x >= T(0.0))',
        derivative: 'select(T(ALPHA), T(1.0), x > T(0.0))',
      };
    case 'thresholdedRelu':
      return {
        doc: 'thresholdedRelu: y = x·[x > THETA]; dy/dx = [x > THETA]',
        helpers: [],
        constants: { THETA: a.theta },
        activate: 'select(T(0.0), x, x > T(THETA))',
        derivative: 'select(T(0.0), T(1.0), x > T(THETA))',
      };
    case 'elu':
      // exp only of min(x, 0): the unselected side never overflows.
      return {
        doc: 'elu: y = x for x ≥ 0, ALPHA·(eˣ − 1) below; dy/dx = 1 for x ≥ 0, ALPHA·eˣ below',
        helpers: ['expm1'],
        constants: { ALPHA: a.alpha },
        activate: 'select(ALPHA * expm1(min(x, T(0.0))), x, x >= T(0.0))',
        derivative: 'select(ALPHA * exp(min(x, T(0.0))), T(1.0), x >= T(0.0))',
      };
    case 'selu':
      return {
        doc: 'selu: y = SCALE·x for x ≥ 0, SCALE_ALPHA·(eˣ − 1) below (TF.js constants); dy/dx = SCALE for x > 0, SCALE_ALPHA·eˣ otherwise',
        helpers: ['expm1'],
        constants: { SCALE: SELU_SCALE, SCALE_ALPHA: SELU_SCALE_ALPHA },
        activate: 'select(SCALE_ALPHA * expm1(min(x, T(0.0))), SCALE * x, x >= T(0.0))',
        derivative: 'select(SCALE_ALPHA * exp(min(x, T(0.0))), T(SCALE), x > T(0.0))',
      };
    case 'sigmoid':
      return {
        doc: "sigmoid: y = σ(x); dy/dx = σ(x)σ(−x) = e/(1 + e)², e = e^−|x|",
        helpers: ['sigmoid'],
        activate: 'stable_sigmoid(x)',
        derivative: 'sigmoid_slope(x)',
      };
    case 'hardSigmoid':
      // TF.js: clipByValue(0.2·x + 0.5, 0, 1), gradient inclusive at the clip bounds.
      return {
        doc: 'hardSigmoid (TF.js): y = clamp(0.2·x + 0.5, 0, 1); dy/dx = 0.2 where 0 ≤ 0.2·x + 0.5 ≤ 1',
        helpers: [],
        activate: 'clamp(0.2 * x + 0.5, T(0.0), T(1.0))',
        derivative: 'select(T(0.0), T(0.2), (0.2 * x + 0.5 >= T(0.0)) & (0.2 * x + 0.5 <= T(1.0)))',
      };
    case 'softplus':
      return {
        doc: 'softplus: y = log(1 + eˣ) = max(x, 0) + log(1 + e^−|x|); dy/dx = σ(x)',
        helpers: ['log1p', 'sigmoid'],
        activate: 'max(x, T(0.0)) + log1p(exp(-abs(x)))',
        derivative: 'stable_sigmoid(x)',
      };
    case 'softsign':
      return { doc: 'softsign: y = x/(1 + |x|); dy/dx = 1/(1 + |x|)²', helpers: [], activate: 'x / (1.0 + abs(x))', derivative: '1.0 / ((1.0 + abs(x)) * (1.0 + abs(x)))' };
    case 'tanh':
      return { doc: 'tanh: y = tanh(x); dy/dx = 1 − tanh²(x) = sech²(x)', helpers: ['tanh', 'sech2'], activate: 'stable_tanh(x)', derivative: 'sech2(x)' };
    case 'swish':
      return {
        doc: 'swish: y = x·σ(x); dy/dx = σ(x)·(1 + x·σ(−x))',
        helpers: ['sigmoid'],
        activate: 'x * stable_sigmoid(x)',
        derivative: 'stable_sigmoid(x) * (1.0 + x * stable_sigmoid(-x))',
      };
    case 'mish':
      return {
        doc: 'mish: y = x·tanh(softplus(x)); dy/dx = t + x·(1 − t²)·σ(x), t = tanh(softplus(x)) in closed form (mish_parts)',
        helpers: ['sigmoid'],
        activate: 'x * mish_tanh(x)',
        derivative: 'mish_slope(x)',
      };
    case 'gelu':
      return {
        doc: 'gelu (exact, TF.js): y = x·Φ(x), Φ(x) = erfc(−x/√2)/2; dy/dx = Φ(x) + x·e^(−x²/2)/√(2π)',
        helpers: ['erfc'],
        constants: { FRAC_1_SQRT_2: Math.SQRT1_2, FRAC_1_SQRT_2PI: 1 / Math.sqrt(2 * Math.PI) },
        activate: 'x * 0.5 * erfc(-x * FRAC_1_SQRT_2)',
        derivative: '0.5 * erfc(-x * FRAC_1_SQRT_2) + x * FRAC_1_SQRT_2PI * exp(-0.5 * x * x)',
      };
    case 'gelu_new':
      // 0.5·x·(1 + tanh(u)) = x·σ(2u): the same function without 1 + tanh(u) cancelling for x < 0.
      return {
        doc: 'gelu_new: y = 0.5·x·(1 + tanh(u)) = x·σ(2u), u = K·(x + C·x³); dy/dx = σ(2u) + 2x·σ(2u)σ(−2u)·K·(1 + 3C·x²)',
        helpers: ['sigmoid'],
        constants: { K: GELU_NEW_K, C: GELU_NEW_C },
        activate: 'x * stable_sigmoid(2.0 * K * (x + C * x * x * x))',
        derivative: 'gelu_new_slope(x)',
      };
  }
}

/** Extra WGSL some kinds' expressions call (after the helpers). */
function kindFunctions(kind: PointwiseKind): string {
  switch (kind) {
    case 'sigmoid':
      return `
fn sigmoid_slope(x: T) -> T {
  let e = exp(-abs(x));
  let d = 1.0 + e;
  return e / (d * d);
}`;
    case 'mish':
      return `
// tanh(softplus(x)) = ((1 + eˣ)² − 1)/((1 + eˣ)² + 1) = n/d. With w = e^−|x|: for x ≤ 0,
// n = w² + 2w and d − n = 2; for x > 0 (numerator and denominator divided by e^2x), n = 1 + 2w and
// d − n = 2w². Nothing overflows or cancels, and 1 − t² = (d − n)(d + n)/d² exactly.
struct MishParts { t: T, sech2: T }
fn mish_parts(x: T) -> MishParts {
  let w = exp(-abs(x));
  let left = x <= T(0.0);
  let n = select(1.0 + 2.0 * w, w * (w + 2.0), left);
  let gap = select(2.0 * w * w, T(2.0), left);
  let d = n + gap;
  return MishParts(n / d, gap * (d + n) / (d * d));
}
fn mish_tanh(x: T) -> T { return mish_parts(x).t; }
fn mish_slope(x: T) -> T {
  let p = mish_parts(x);
  return p.t + x * p.sech2 * stable_sigmoid(x);
}`;
    case 'gelu_new':
      return `
fn gelu_new_slope(x: T) -> T {
  let v = 2.0 * K * (x + C * x * x * x);
  let s = stable_sigmoid(v);
  return s + 2.0 * x * s * stable_sigmoid(-v) * K * (1.0 + 3.0 * C * x * x);
}`;
    default:
      return '';
  }
}

/** The helpers `names` need, each once, dependencies first. */
function helperCode(names: readonly Helper[]): string {
  const out: Helper[] = [];
  const add = (h: Helper): void => {
    if (out.includes(h)) return;
    HELPERS[h].needs.forEach(add);
    out.push(h);
  };
  names.forEach(add);
  return out.map((h) => HELPERS[h].code).join('\n');
}

function pointwiseKey(a: Pointwise): string {
  switch (a.kind) {
    case 'elu':
    case 'leakyRelu':
      return `${a.kind}(${a.alpha})`;
    case 'reluClipped':
      return `${a.kind}(${a.maxValue})`;
    case 'thresholdedRelu':
      return `${a.kind}(${a.theta})`;
    default:
      return a.kind;
  }
}

function checkCount(kernel: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${kernel}: the element count must be a positive integer, got ${n}`);
}

function checkParameters(a: Pointwise): void {
  const value = a.kind === 'elu' || a.kind === 'leakyRelu' ? a.alpha : a.kind === 'reluClipped' ? a.maxValue : a.kind === 'thresholdedRelu' ? a.theta : 0;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`activation ${a.kind}: its parameter must be a finite number, got ${String(value)}`);
}

/**
 * The generic elementwise kernel: `forward` writes ys[i] = activate(xs[i]) (bindings xs, ys);
 * `backward` writes dxs[i] = dys[i]·derivative(xs[i]) (bindings xs, dys, dxs): every pointwise
 * derivative here reads the forward's input x, which gives each kind its stable form.
 */
function pointwiseKernel(direction: 'forward' | 'backward', a: Pointwise, n: number, forcedLanes?: 1 | 4): KernelSource {
  checkCount(`activation ${direction}`, n);
  checkParameters(a);
  if (forcedLanes === 4 && n % 4 !== 0) throw new Error(`activation ${direction}: four lanes need an element count that is a multiple of 4, got ${n}`);
  const f = formula(a);
  const lanes = forcedLanes ?? (n % 4 === 0 ? 4 : 1);
  const count = n / lanes;
  const { workgroups, rowStride } = grid(count, WG);
  const forward = direction === 'forward';
  const bindings = forward
    ? `@group(0) @binding(0) var<storage, read> xs: array<T>;
@group(0) @binding(1) var<storage, read_write> ys: array<T>;`
    : `@group(0) @binding(0) var<storage, read> xs: array<T>;
@group(0) @binding(1) var<storage, read> dys: array<T>;
@group(0) @binding(2) var<storage, read_write> dxs: array<T>;`;
  const fn = forward ? `fn activate(x: T) -> T { return ${f.activate}; }` : `fn derivative(x: T) -> T { return ${f.derivative}; }`;
  const store = forward ? 'ys[i] = activate(xs[i]);' : 'dxs[i] = dys[i] * derivative(xs[i]);';
  return {
    // One f32 per invocation where n would allow four says so in its key.
    key: `activation-${direction}:${pointwiseKey(a)}:${n}${lanes === 1 && n % 4 === 0 ? ':scalar' : ''}`,
    bindings: forward ? ['read', 'write'] : ['read', 'read', 'write'],
    workgroups,
    code: `// ${f.doc}
alias T = ${lanes === 4 ? 'vec4f' : 'f32'};
${constants({ COUNT: count })} // ${lanes === 4 ? `vec4 groups of the ${n} elements` : 'elements'}
${f.constants ? `${constants(f.constants, 'f32')}\n` : ''}
${bindings}
${helperCode(f.helpers)}
${kindFunctions(a.kind)}

${fn}

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'COUNT', 'i')}
  ${store}
}`,
  };
}

/** y = act(x) over n elements. Bindings: x (read), y (write). `lanes`: 4 by default where n allows, else 1. */
export function activationForward(a: Pointwise, n: number, lanes?: 1 | 4): KernelSource {
  return pointwiseKernel('forward', a, n, lanes);
}

/** dx = dy·act′(x) over n elements. Bindings: x (the forward's input, read), dy (read), dx (write). `lanes` as activationForward's. */
export function activationBackward(a: Pointwise, n: number, lanes?: 1 | 4): KernelSource {
  return pointwiseKernel('backward', a, n, lanes);
}

// ---- softmax and log-softmax along an axis ------------------------------------------------------

/**
 * A tensor seen as [outer, width, inner] with the normalized axis in the middle: `outer · inner`
 * lines of `width` elements spaced `inner` apart (inner = 1: the last axis, contiguous rows).
 */
export interface AxisGeometry {
  outer: number;
  width: number;
  inner: number;
}

function checkAxis(kernel: string, g: AxisGeometry): void {
  for (const [name, v] of Object.entries(g)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${kernel}: ${name} must be a positive integer, got ${v}`);
  }
}

function axisPrologue(g: AxisGeometry): string {
  return `${constants({ LINES: g.outer * g.inner, WIDTH: g.width, INNER: g.inner })}

// Line l is (o, k) = (l / INNER, l % INNER); its element j sits at o·WIDTH·INNER + j·INNER + k.
fn at(base: u32, j: u32) -> u32 { return base + j * INNER; }`;
}

const LINE_BASE = `let base = (line / INNER) * WIDTH * INNER + line % INNER;`;

/**
 * Softmax (`log` false) or log-softmax (`log` true) along the middle axis of [outer, width, inner],
 * max-subtracted so that no exp argument is positive: y = e^(x−m)/s, or y = (x − m) − log s with
 * s = Σ e^(x−m) ≥ 1. Bindings: x (read), y (write).
 */
export function axisSoftmaxForward(g: AxisGeometry, log: boolean): KernelSource {
  const name = log ? 'log-softmax' : 'softmax';
  checkAxis(`${name} forward`, g);
  const { workgroups, rowStride } = grid(g.outer * g.inner, LINE_WG);
  return {
    key: `axis-${name}-forward:${g.outer}x${g.width}x${g.inner}`,
    bindings: ['read', 'write'],
    workgroups,
    code: `// ${name} along an axis of WIDTH elements spaced INNER apart, one line per invocation.
${axisPrologue(g)}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${LINE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'LINES', 'line')}
  ${LINE_BASE}
  var m = x[base];
  for (var j = 1u; j < WIDTH; j++) { m = max(m, x[at(base, j)]); }
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += exp(x[at(base, j)] - m); }
${
  log
    ? `  let logS = log(s);
  for (var j = 0u; j < WIDTH; j++) { y[at(base, j)] = (x[at(base, j)] - m) - logS; }`
    : `  let inv = 1.0 / s; // s ≥ 1: the max term is exp(0)
  for (var j = 0u; j < WIDTH; j++) { y[at(base, j)] = exp(x[at(base, j)] - m) * inv; }`
}
}`,
  };
}

/**
 * Backward of axisSoftmaxForward from its output y: softmax dx = y ⊙ (dy − Σ dy⊙y); log-softmax
 * dx = dy − e^y · Σ dy. Bindings: y (read), dy (read), dx (write).
 */
export function axisSoftmaxBackward(g: AxisGeometry, log: boolean): KernelSource {
  const name = log ? 'log-softmax' : 'softmax';
  checkAxis(`${name} backward`, g);
  const { workgroups, rowStride } = grid(g.outer * g.inner, LINE_WG);
  return {
    key: `axis-${name}-backward:${g.outer}x${g.width}x${g.inner}`,
    bindings: ['read', 'read', 'write'],
    workgroups,
    code: `// ${name} backward along an axis of WIDTH elements spaced INNER apart, from the forward's output y.
${axisPrologue(g)}

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(${LINE_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  ${flatIndex(rowStride, 'LINES', 'line')}
  ${LINE_BASE}
  var s = 0.0;
${
  log
    ? `  for (var j = 0u; j < WIDTH; j++) { s += dy[at(base, j)]; }
  for (var j = 0u; j < WIDTH; j++) { let k = at(base, j); dx[k] = dy[k] - exp(y[k]) * s; }`
    : `  for (var j = 0u; j < WIDTH; j++) { let k = at(base, j); s += dy[k] * y[k]; }
  for (var j = 0u; j < WIDTH; j++) { let k = at(base, j); dx[k] = y[k] * (dy[k] - s); }`
}
}`,
  };
}
