/**
 * The loss kernels: each reads the model's output and the batch's labels, adds its loss sum and
 * accuracy count to the metrics accumulator (src/ops/losses/metrics.ts) and, in training, writes
 * the gradient of the batch-mean loss w.r.t. the output. The formulas are TF.js 4.22's
 * (tfjs-layers losses.js), with Keras's Huber (TF.js layers has none).
 *
 * The mean is over real positions: the StepInfo uniform says how many of the plan's `batch` rows
 * are real (`rows`); a sample of shape [..., width] has `positions` per-position losses (the
 * product of the axes but the last), so the batch's loss is the sum of rows × positions of them
 * over that count (TF.js's `mean` of the loss tensor). The padding rows get a zero gradient and
 * add nothing to the metrics.
 *
 * Two generators share one skeleton:
 *  - elementwiseLoss: a per-element term of (output, label) and its derivative, reduced over the
 *    last axis by mean or sum (ELEMENTWISE_LOSSES, one table row per loss);
 *  - rowLoss: losses that need a whole position's row at once (crossentropies, categorical hinge,
 *    cosine proximity; ROW_LOSSES).
 *
 * There is no f32 atomic, so the batch reduction happens inside one workgroup: its invocations
 * stride over the batch, each keeping a Kahan sum, then a tree reduction and one Kahan addition
 * into the accumulator. Loss outputs are small (a classifier head, a regression target), so one
 * workgroup is cheap; it also needs no scratch buffer.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { metricsWgsl } from './metrics.ts';
import { STEP_INFO_STRUCT, type KernelSource } from './kernel.ts';
import { constants, f32 } from './wgsl.ts';

/** TF.js's fuzz factor, `tf.backend().epsilon()` under float32: its clips use it. */
export const EPSILON = 1e-7;

/** Keras's default Huber delta. */
export const HUBER_DELTA = 1.0;

/** The accuracy a loss kernel counts (see src/ops/losses/loss.ts, AccuracyKind), or null for none. */
export type AccuracyCount = 'sparse' | 'categorical' | 'binary' | null;

export interface LossKernelGeometry {
  /** Rows of the plan; StepInfo.rows of them are real. */
  batch: number;
  /** Per-position losses per sample: the product of the output's per-sample axes but the last. */
  positions: number;
  /** The output's last axis, which a per-position loss reduces over. */
  width: number;
}

export interface LossKernelOptions {
  /** False for evaluation: only the metrics are accumulated, and there is no gradient binding. */
  withGradient: boolean;
  accuracy: AccuracyCount;
}

/** The activation the output holds the pre-activation of (a fused loss), which predictions pass through. */
type Activation = 'none' | 'sigmoid' | 'softmax';

// ---- helper functions ----------------------------------------------------------------------

/** WGSL helpers a loss body may call, by name; a kernel includes those its code mentions. */
const HELPERS: Readonly<Record<string, { code: string; uses?: readonly string[] }>> = {
  log_1p: {
    code: `// log(1 + x) for x > -1 to about an ulp (WGSL has no log1p). For -0.5 < x < 1 it is
// 2 atanh(w), w = x / (2 + x), |w| < 1/3, whose odd series converges fast; elsewhere the
// rounding of 1 + x costs nothing (x <= -0.5: it is exact; x >= 1: it is relatively tiny).
fn log_1p(x: f32) -> f32 {
  if (x <= -0.5 || x >= 1.0) { return log(1.0 + x); }
  let w = x / (2.0 + x);
  let w2 = w * w;
  // 2 (w + w^3/3 + ... + w^13/13): the next term is below 2e-8 relative.
  return 2.0 * w * (1.0 + w2 * (1.0 / 3.0 + w2 * (1.0 / 5.0 + w2 * (1.0 / 7.0 + w2 * (1.0 / 9.0 + w2 * (1.0 / 11.0 + w2 / 13.0))))));
}`,
  },
  sigmoid: {
    code: `// 1 / (1 + exp(-x)) without overflow: exp only ever sees -|x|.
fn sigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}`,
  },
  tanh_stable: {
    code: `// tanh(x) without the overflow of exp(2x) nor the cancellation of 1 - exp(-2|x|) near 0.
fn tanh_stable(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.125) {
    let a2 = a * a;
    // x - x^3/3 + 2x^5/15 - 17x^7/315: the next term is below 2e-9 relative.
    return x * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0))));
  }
  let e = exp(-2.0 * a);
  return sign(x) * ((1.0 - e) / (1.0 + e));
}`,
  },
  log_cosh: {
    uses: ['log_1p'],
    code: `// log(cosh(x)) = |x| + log(1 + exp(-2|x|)) - log 2, which cancels for small |x|: there
// its series instead.
fn log_cosh(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.25) {
    let a2 = a * a;
    // x^2/2 - x^4/12 + x^6/45 - 17x^8/2520 + 31x^10/14175: the next term is below 3e-9 relative.
    return a2 * (0.5 + a2 * (-1.0 / 12.0 + a2 * (1.0 / 45.0 + a2 * (-17.0 / 2520.0 + a2 * (31.0 / 14175.0)))));
  }
  return (a - LN2) + log_1p(exp(-2.0 * a));
}`,
  },
  in_clip: {
    code: `// The derivative of clip(x, EPSILON, ONE_MINUS_EPSILON): 1 inside, bounds included (as TF.js's
// clipByValue gradient), 0 outside.
fn in_clip(x: f32) -> f32 {
  return select(0.0, 1.0, x >= EPSILON && x <= ONE_MINUS_EPSILON);
}`,
  },
  nan_from: {
    code: `// A quiet NaN at run time (WGSL has no NaN literal): for a bad sparse label, so that the loss
// shows it instead of training silently on a wrong class.
fn nan_from(bits: u32) -> f32 {
  return bitcast<f32>(0x7fc00000u | bits);
}`,
  },
};

/** The helpers `code` calls, with theirs, in dependency order. */
function helpersFor(code: string): string {
  const included: string[] = [];
  const visit = (name: string) => {
    if (included.includes(name)) return;
    for (const dep of HELPERS[name]!.uses ?? []) visit(dep);
    included.push(name);
  };
  for (const name of Object.keys(HELPERS)) if (new RegExp(`\\b${name}\\(`).test(code)) visit(name);
  return included.map((name) => HELPERS[name]!.code).join('\n\n');
}

// ---- the elementwise family ------------------------------------------------------------------

/**
 * One elementwise loss: the WGSL bodies of `fn loss_term(y: f32, t: f32) -> f32` (y the output,
 * t the label) and of its derivative `fn loss_term_grad(y: f32, t: f32) -> f32` (d term / d y),
 * and how a position's terms reduce over the last axis.
 */
export interface ElementwiseLoss {
  term: string;
  grad: string;
  reduce: 'mean' | 'sum';
  /** The output is the pre-activation of this (a fused loss): accuracy judges the activated value. */
  activation?: 'sigmoid';
  /** One line for the generated code's header. */
  formula: string;
}

export const ELEMENTWISE_LOSSES = {
  meanSquaredError: {
    formula: 'mean over the last axis of (y - t)^2',
    term: 'let d = y - t;\n  return d * d;',
    grad: 'return 2.0 * (y - t);',
    reduce: 'mean',
  },
  meanAbsoluteError: {
    formula: 'mean over the last axis of |y - t|',
    term: 'return abs(y - t);',
    grad: 'return sign(y - t);',
    reduce: 'mean',
  },
  meanAbsolutePercentageError: {
    formula: '100 * mean over the last axis of |(t - y) / max(|t|, EPSILON)|',
    term: 'return 100.0 * abs((t - y) / max(abs(t), EPSILON));',
    grad: 'return 100.0 * sign(y - t) / max(abs(t), EPSILON);',
    reduce: 'mean',
  },
  meanSquaredLogarithmicError: {
    formula: 'mean over the last axis of (log(1 + max(y, EPSILON)) - log(1 + max(t, EPSILON)))^2',
    term: 'let d = log_1p(max(y, EPSILON)) - log_1p(max(t, EPSILON));\n  return d * d;',
    grad: 'let c = max(y, EPSILON);\n  let d = log_1p(c) - log_1p(max(t, EPSILON));\n  // The clip passes no gradient below EPSILON.\n  return select(0.0, 2.0 * d / (1.0 + c), y >= EPSILON);',
    reduce: 'mean',
  },
  huber: {
    formula: "Keras's Huber: mean over the last axis of d^2/2 where |d| <= delta, else delta (|d| - delta/2); d = y - t",
    term: 'let a = abs(y - t);\n  return select(HUBER_DELTA * (a - 0.5 * HUBER_DELTA), 0.5 * a * a, a <= HUBER_DELTA);',
    grad: 'return clamp(y - t, -HUBER_DELTA, HUBER_DELTA);',
    reduce: 'mean',
  },
  logcosh: {
    formula: 'mean over the last axis of log(cosh(y - t))',
    term: 'return log_cosh(y - t);',
    grad: 'return tanh_stable(y - t);',
    reduce: 'mean',
  },
  poisson: {
    formula: 'mean over the last axis of y - t log(y + EPSILON)',
    term: 'return y - t * log(y + EPSILON);',
    grad: 'return 1.0 - t / (y + EPSILON);',
    reduce: 'mean',
  },
  hinge: {
    formula: 'mean over the last axis of max(0, 1 - t y) (labels -1 or 1, as TF.js: no 0/1 conversion)',
    term: 'return max(0.0, 1.0 - t * y);',
    grad: 'return select(0.0, -t, 1.0 - t * y > 0.0);',
    reduce: 'mean',
  },
  squaredHinge: {
    formula: 'mean over the last axis of max(0, 1 - t y)^2',
    term: 'let h = max(0.0, 1.0 - t * y);\n  return h * h;',
    grad: 'return -2.0 * t * max(0.0, 1.0 - t * y);',
    reduce: 'mean',
  },
  kullbackLeiblerDivergence: {
    formula: 'sum over the last axis of t log(clip(t, EPSILON, 1) / clip(y, EPSILON, 1))',
    term: 'return t * log(clamp(t, EPSILON, 1.0) / clamp(y, EPSILON, 1.0));',
    grad: 'return select(0.0, -t / clamp(y, EPSILON, 1.0), y >= EPSILON && y <= 1.0);',
    reduce: 'sum',
  },
  binaryCrossentropy: {
    formula: "TF.js's on probabilities: mean over the last axis of -t log p - (1 - t) log(1 - p), p = clip(y, EPSILON, 1 - EPSILON)",
    // TF.js computes it as the logistic loss of z = log(p / (1 - p)); this is the same function,
    // with log(1 - p) exact for small p.
    term: 'let p = clamp(y, EPSILON, ONE_MINUS_EPSILON);\n  return -t * log(p) - (1.0 - t) * log_1p(-p);',
    grad: 'let p = clamp(y, EPSILON, ONE_MINUS_EPSILON);\n  return in_clip(y) * ((p - t) / (p * (1.0 - p)));',
    reduce: 'mean',
  },
  sigmoidBinaryCrossentropy: {
    formula: 'binary crossentropy of sigmoid(y), fused: mean over the last axis of max(y, 0) - y t + log(1 + exp(-|y|))',
    term: 'return max(y, 0.0) - y * t + log_1p(exp(-abs(y)));',
    grad: 'return sigmoid(y) - t;',
    reduce: 'mean',
    activation: 'sigmoid',
  },
} as const satisfies Readonly<Record<string, ElementwiseLoss>>;

export type ElementwiseLossName = keyof typeof ELEMENTWISE_LOSSES;

/** The kernel of an elementwise loss (ELEMENTWISE_LOSSES). Bindings: see lossBindings. */
export function elementwiseLoss(name: ElementwiseLossName, g: LossKernelGeometry, options: LossKernelOptions): KernelSource {
  const loss: ElementwiseLoss | undefined = Object.hasOwn(ELEMENTWISE_LOSSES, name) ? ELEMENTWISE_LOSSES[name] : undefined;
  if (!loss) throw new Error(`elementwiseLoss: unknown loss '${String(name)}'`);
  const fns = `// A position's loss is the ${loss.reduce} of loss_term over its WIDTH elements.
fn loss_term(y: f32, t: f32) -> f32 {
  ${loss.term}
}

fn loss_term_grad(y: f32, t: f32) -> f32 {
  ${loss.grad}
}`;
  return lossKernel({ name, formula: loss.formula, g, options, sparse: false, activation: loss.activation ?? 'none', elementwise: { reduce: loss.reduce }, fns });
}

// ---- the row-wise family -------------------------------------------------------------------

/**
 * One row-wise loss: the WGSL body of `fn position_loss(p: u32) -> f32`, which returns the loss of
 * position p (its row of WIDTH outputs starts at p * WIDTH; a sparse label is labels[p]) and
 * passes each element's d(loss)/d(output) to `store_grad(i, g)` (which scales it to the batch mean,
 * or drops it when evaluating).
 */
export interface RowLoss {
  labels: 'sparse' | 'dense';
  activation: Activation;
  body: string;
  formula: string;
}

/** max and log Σ exp of a row of logits, shared by the fused crossentropies. */
const SOFTMAX_STATS = `let base = p * WIDTH;
  var m = output[base];
  for (var j = 1u; j < WIDTH; j++) { m = max(m, output[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += exp(output[base + j] - m); }
  // s >= 1 (the max term is exp(0)): log(s) is finite and >= 0.
  let logS = log(s);`;

export const ROW_LOSSES = {
  softmaxCrossentropy: {
    formula: '-sum t log softmax(x) over the last axis, fused with the softmax: x are logits',
    labels: 'dense',
    activation: 'softmax',
    body: `${SOFTMAX_STATS}
  // -log p_j = log s + (m - x_j): two non-negative terms, so logits of 1e4 neither overflow nor cancel.
  var loss = 0.0;
  var tSum = 0.0;
  for (var j = 0u; j < WIDTH; j++) {
    let t = labels[base + j];
    tSum += t;
    loss += t * (logS + (m - output[base + j]));
  }
  // d/dx_j = p_j sum(t) - t_j, which on a one-hot row is the sparse p_j - [j == label], bit for bit.
  for (var j = 0u; j < WIDTH; j++) {
    let prob = exp((output[base + j] - m) - logS);
    store_grad(base + j, prob * tSum - labels[base + j]);
  }
  return loss;`,
  },
  sparseSoftmaxCrossentropy: {
    formula: '-log softmax(x)[label], fused with the softmax: x are logits, labels are class indices',
    labels: 'sparse',
    activation: 'softmax',
    body: `${SOFTMAX_STATS}
  let label = labels[p];
  var loss = logS + (m - output[base + min(label, WIDTH - 1u)]);
  if (label >= WIDTH) { loss = nan_from(label); }
  for (var j = 0u; j < WIDTH; j++) {
    let prob = exp((output[base + j] - m) - logS);
    store_grad(base + j, prob - select(0.0, 1.0, j == label));
  }
  return loss;`,
  },
  categoricalCrossentropy: {
    formula: "TF.js's on probabilities: r = y / sum(y), q = clip(r, EPSILON, 1 - EPSILON), -sum t log q",
    labels: 'dense',
    activation: 'none',
    body: `let base = p * WIDTH;
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += output[base + j]; }
  // g_j = d loss / d r_j = -t_j / q_j inside the clip; d r_i / d y_j = ([i == j] - r_i) / s.
  var loss = 0.0;
  var gr = 0.0; // sum g_i r_i
  for (var j = 0u; j < WIDTH; j++) {
    let r = output[base + j] / s;
    let q = clamp(r, EPSILON, ONE_MINUS_EPSILON);
    let t = labels[base + j];
    loss -= t * log(q);
    gr += in_clip(r) * (-t / q) * r;
  }
  for (var j = 0u; j < WIDTH; j++) {
    let r = output[base + j] / s;
    let q = clamp(r, EPSILON, ONE_MINUS_EPSILON);
    store_grad(base + j, (in_clip(r) * (-labels[base + j] / q) - gr) / s);
  }
  return loss;`,
  },
  sparseCategoricalCrossentropy: {
    formula: "TF.js's on probabilities: c = clip(y, EPSILON, 1 - EPSILON), r = c / sum(c), -log clip(r[label], EPSILON, 1 - EPSILON)",
    labels: 'sparse',
    activation: 'none',
    body: `let base = p * WIDTH;
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += clamp(output[base + j], EPSILON, ONE_MINUS_EPSILON); }
  let label = labels[p];
  let r = clamp(output[base + min(label, WIDTH - 1u)], EPSILON, ONE_MINUS_EPSILON) / s;
  let q = clamp(r, EPSILON, ONE_MINUS_EPSILON);
  var loss = -log(q);
  if (label >= WIDTH) { loss = nan_from(label); }
  // Only r[label] carries a gradient: g = -1/q inside the clip, and d r_label / d c_j = ([j == label] - r) / s.
  let g = in_clip(r) * (-1.0 / q);
  for (var j = 0u; j < WIDTH; j++) {
    let dc = (select(0.0, g, j == label) - g * r) / s;
    store_grad(base + j, in_clip(output[base + j]) * dc);
  }
  return loss;`,
  },
  categoricalHinge: {
    formula: 'max(0, 1 + max_j (1 - t_j) y_j - sum t y)',
    labels: 'dense',
    activation: 'none',
    body: `let base = p * WIDTH;
  var truth = 0.0; // sum t y
  var rival = (1.0 - labels[base]) * output[base]; // max (1 - t) y
  for (var j = 0u; j < WIDTH; j++) {
    let t = labels[base + j];
    let y = output[base + j];
    truth += t * y;
    if (j > 0u) { rival = max(rival, (1.0 - t) * y); }
  }
  let margin = 1.0 + (rival - truth);
  // As TF.js's max gradient, every element equal to the maximum gets its share.
  for (var j = 0u; j < WIDTH; j++) {
    let t = labels[base + j];
    let atMax = select(0.0, 1.0 - t, (1.0 - t) * output[base + j] == rival);
    store_grad(base + j, select(0.0, atMax - t, margin > 0.0));
  }
  return max(0.0, margin);`,
  },
  cosineProximity: {
    formula: "-sum (t / |t|) (y / |y|) with |v| = sqrt(max(sum v^2, EPSILON)) (TF.js's l2Normalize): -1 when aligned",
    labels: 'dense',
    activation: 'none',
    body: `let base = p * WIDTH;
  var tt = 0.0;
  var yy = 0.0;
  for (var j = 0u; j < WIDTH; j++) {
    let t = labels[base + j];
    let y = output[base + j];
    tt += t * t;
    yy += y * y;
  }
  let tNorm = sqrt(max(tt, EPSILON));
  let yNorm = sqrt(max(yy, EPSILON));
  var cosine = 0.0;
  for (var j = 0u; j < WIDTH; j++) { cosine += (labels[base + j] / tNorm) * (output[base + j] / yNorm); }
  // d/dy_j = (-t_j / |t| + cosine y_j / |y| [sum y^2 >= EPSILON]) / |y|
  let normGrad = select(0.0, 1.0, yy >= EPSILON);
  for (var j = 0u; j < WIDTH; j++) {
    let g = -(labels[base + j] / tNorm) + cosine * (output[base + j] / yNorm) * normGrad;
    store_grad(base + j, g / yNorm);
  }
  return -cosine;`,
  },
} as const satisfies Readonly<Record<string, RowLoss>>;

export type RowLossName = keyof typeof ROW_LOSSES;

/** The kernel of a row-wise loss (ROW_LOSSES). Bindings: see lossBindings. */
export function rowLoss(name: RowLossName, g: LossKernelGeometry, options: LossKernelOptions): KernelSource {
  const loss: RowLoss | undefined = Object.hasOwn(ROW_LOSSES, name) ? ROW_LOSSES[name] : undefined;
  if (!loss) throw new Error(`rowLoss: unknown loss '${String(name)}'`);
  const fns = `fn position_loss(p: u32) -> f32 {
  ${loss.body}
}`;
  return lossKernel({ name, formula: loss.formula, g, options, sparse: loss.labels === 'sparse', activation: loss.activation, fns });
}

// ---- the shared skeleton -------------------------------------------------------------------

/**
 * The bindings of every loss kernel, in order: output f32 [batch, positions, width] (read); labels
 * (read: sparse u32 [batch, positions], dense f32 like the output); with a gradient, grad f32 like
 * the output (overwritten with d(batch-mean loss)/d(output), zero on padding rows); the metrics
 * accumulator (added to); the StepInfo uniform.
 */
export function lossBindings(withGradient: boolean): KernelSource['bindings'] {
  return ['read', 'read', ...(withGradient ? (['write'] as const) : []), 'write', 'uniform'];
}

/** Invocations of the one workgroup: 64 keeps the tree reduction short; big outputs get 256. */
function workgroupSize(elements: number): number {
  return elements > 16384 ? 256 : 64;
}

function checkGeometry(who: string, g: LossKernelGeometry): void {
  for (const key of ['batch', 'positions', 'width'] as const) {
    const v = g[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${who}: ${key} must be a positive integer, got ${v}`);
  }
  if (g.batch * g.positions * g.width > 2 ** 31) throw new Error(`${who}: ${g.batch} × ${g.positions} × ${g.width} elements exceed the u32 indexing`);
}

interface KernelSpec {
  name: string;
  formula: string;
  g: LossKernelGeometry;
  options: LossKernelOptions;
  sparse: boolean;
  activation: Activation;
  /** Present for the elementwise family: a loop over elements instead of positions. */
  elementwise?: { reduce: 'mean' | 'sum' };
  /** WGSL: loss_term and loss_term_grad (elementwise) or position_loss (row-wise). */
  fns: string;
}

/** WGSL of `fn correct_at(p: u32) -> u32`: the accuracy matches at position p. */
function accuracyFns(kind: Exclude<AccuracyCount, null>, activation: Activation): string {
  // Sigmoid saturates where logits still differ, so predictions are judged after it, as TF.js
  // judges the model's output. Softmax keeps the order of the logits, so argmax reads them.
  const argmaxOutput = `// What argmax compares: ${activation === 'sigmoid' ? 'the sigmoid of the logits' : 'the output'}.
fn score(i: u32) -> f32 {
  return ${activation === 'sigmoid' ? 'sigmoid(output[i])' : 'output[i]'};
}

// The first maximum, as TF.js's argMax.
fn argmax_output(base: u32) -> u32 {
  var best = 0u;
  var top = score(base);
  for (var j = 1u; j < WIDTH; j++) {
    let v = score(base + j);
    if (v > top) { top = v; best = j; }
  }
  return best;
}`;
  if (kind === 'sparse') {
    return `${argmaxOutput}

fn correct_at(p: u32) -> u32 {
  return select(0u, 1u, argmax_output(p * WIDTH) == labels[p]);
}`;
  }
  if (kind === 'categorical') {
    return `${argmaxOutput}

fn argmax_labels(base: u32) -> u32 {
  var best = 0u;
  var top = labels[base];
  for (var j = 1u; j < WIDTH; j++) {
    if (labels[base + j] > top) { top = labels[base + j]; best = j; }
  }
  return best;
}

fn correct_at(p: u32) -> u32 {
  return select(0u, 1u, argmax_output(p * WIDTH) == argmax_labels(p * WIDTH));
}`;
  }
  // binary: per element, (prediction > 0.5) == (label > 0.5).
  const prob =
    activation === 'softmax' ? 'exp((output[base + j] - m) - logS)' : activation === 'sigmoid' ? 'sigmoid(output[base + j])' : 'output[base + j]';
  return `fn correct_at(p: u32) -> u32 {
  let base = p * WIDTH;
${activation === 'softmax' ? `  var m = output[base];
  for (var j = 1u; j < WIDTH; j++) { m = max(m, output[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += exp(output[base + j] - m); }
  let logS = log(s);
` : ''}  var n = 0u;
  for (var j = 0u; j < WIDTH; j++) {
    n += select(0u, 1u, (${prob} > 0.5) == (labels[base + j] > 0.5));
  }
  return n;
}`;
}

/** The f32 constants `code` uses, as named WGSL constants. */
function floatConstants(code: string): string {
  const all: Record<string, number> = { EPSILON, ONE_MINUS_EPSILON: 1 - EPSILON, HUBER_DELTA, LN2: Math.LN2 };
  return Object.entries(all)
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(code))
    .map(([name, value]) => `const ${name} = ${f32(value)};`)
    .join('\n');
}

function lossKernel(spec: KernelSpec): KernelSource {
  const { name, g, options, sparse, activation, elementwise } = spec;
  checkGeometry(name, g);
  const accuracy = options.accuracy;
  if (accuracy !== null && !['sparse', 'categorical', 'binary'].includes(accuracy)) throw new Error(`${name}: unknown accuracy '${String(accuracy)}'`);
  if (accuracy === 'sparse' && !sparse) throw new Error(`${name}: sparse accuracy needs sparse labels (class indices)`);
  if (accuracy !== null && accuracy !== 'sparse' && sparse) throw new Error(`${name}: ${accuracy} accuracy needs dense labels, this loss has class indices`);
  const withGradient = options.withGradient;
  const sample = g.positions * g.width;
  const wg = workgroupSize(g.batch * sample);
  const metricsBinding = withGradient ? 3 : 2;
  const accuracyCode = accuracy ? accuracyFns(accuracy, activation) : '';
  const body = `${spec.fns}\n\n${accuracyCode}`;
  const helpers = helpersFor(body);
  // The per-position loss is the mean (or sum) of the elements' terms, so a thread sums terms and
  // the batch's sum of per-position losses is that over WIDTH.
  const termsPerLoss = elementwise?.reduce === 'mean' ? g.width : 1;
  const accuracyCount = accuracy === 'binary' ? 'realPositions * WIDTH' : accuracy ? 'realPositions' : '0u';
  const code = wgsl`// ${name}: ${spec.formula}.
// The batch's loss is the mean over its real positions (StepInfo.rows rows of POSITIONS each).
${constants({ BATCH: g.batch, POSITIONS: g.positions, WIDTH: g.width, SAMPLE: sample, WG: wg })}
${floatConstants(`${helpers}\n${body}`)}

${STEP_INFO_STRUCT}

@group(0) @binding(0) var<storage, read> output: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<${sparse ? 'u32' : 'f32'}>;
#if ${withGradient}
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
#endif
${metricsWgsl(metricsBinding)}

@group(0) @binding(${metricsBinding + 1}) var<uniform> step: StepInfo;

// d(batch-mean loss) / d(per-position loss, or term): 1 / (real positions${termsPerLoss > 1 ? ' * WIDTH' : ''}).
var<private> gradScale: f32;

fn store_grad(i: u32, g: f32) {${withGradient ? ' grad[i] = g * gradScale; ' : ' /* evaluation: no gradient */ '}}

// A Kahan sum: x the sum, y what it lost to rounding, negated.
fn kahan_add(sum: vec2f, v: f32) -> vec2f {
  let y = v - sum.y;
  let t = sum.x + y;
  return vec2f(t, (t - sum.x) - y);
}

${helpers}

${body}

var<workgroup> lossPart: array<f32, WG>;
var<workgroup> correctPart: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let rows = min(step.rows, BATCH);
  let realPositions = rows * POSITIONS;
  gradScale = 1.0 / (f32(realPositions)${termsPerLoss > 1 ? ' * f32(WIDTH)' : ''});
  var loss = vec2f(0.0);
#if ${elementwise !== undefined}
  for (var i = lid; i < rows * SAMPLE; i += WG) {
    let y = output[i];
    let t = labels[i];
    loss = kahan_add(loss, loss_term(y, t));
    store_grad(i, loss_term_grad(y, t));
  }
#else
  for (var p = lid; p < realPositions; p += WG) {
    loss = kahan_add(loss, position_loss(p));
  }
#endif
#if ${withGradient}
  // The padding rows: no loss, no gradient.
  for (var i = rows * SAMPLE + lid; i < BATCH * SAMPLE; i += WG) { grad[i] = 0.0; }
#endif
  var correct = 0u;
#if ${accuracy !== null}
  for (var p = lid; p < realPositions; p += WG) { correct += correct_at(p); }
#endif

  lossPart[lid] = loss.x - loss.y;
  correctPart[lid] = correct;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      lossPart[lid] += lossPart[lid + stride];
      correctPart[lid] += correctPart[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    add_to_metrics(lossPart[0]${termsPerLoss > 1 ? ' / f32(WIDTH)' : ''}, realPositions, correctPart[0], ${accuracyCount});
  }
}`;
  return {
    key: `loss:${name}:${g.batch}x${g.positions}x${g.width}:${withGradient ? 'gradient' : 'metrics-only'}:${accuracy ?? 'no-accuracy'}`,
    bindings: lossBindings(withGradient),
    workgroups: [1, 1, 1],
    code,
  };
}
