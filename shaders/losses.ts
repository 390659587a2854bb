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
 * Two generators share one skeleton (shaders/loss-kernel.ts):
 *  - elementwiseLoss: a per-element term of (output, label) and its derivative, reduced over the
 *    last axis by mean or sum (ELEMENTWISE_LOSSES, one table row per loss);
 *  - rowLoss: losses that need a whole position's row at once (crossentropies, categorical hinge,
 *    cosine proximity; ROW_LOSSES).

 */
import type { KernelSource } from './kernel.ts';
import { lossKernel, type AccuracyCount, type Activation, type KernelSpec, type LossKernelGeometry, type LossKernelOptions } from './loss-kernel.ts';

export { EPSILON, HUBER_DELTA } from './loss-kernel.ts';
export type { AccuracyCount, KernelSpec, LossKernelGeometry, LossKernelOptions };


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

/** The 'one-workgroup' kernel of an elementwise loss (ELEMENTWISE_LOSSES). Bindings: see lossBindings. */
export function elementwiseLoss(name: ElementwiseLossName, g: LossKernelGeometry, options: LossKernelOptions): KernelSource {
  return lossKernel(elementwiseLossSpec(name, g, options));
}

/** What every variant of an elementwise loss's kernels is generated from (shaders/loss-kernel.ts, shaders/loss-partials.ts). */
export function elementwiseLossSpec(name: ElementwiseLossName, g: LossKernelGeometry, options: LossKernelOptions): KernelSpec {
  const loss: ElementwiseLoss | undefined = Object.hasOwn(ELEMENTWISE_LOSSES, name) ? ELEMENTWISE_LOSSES[name] : undefined;
  if (!loss) throw new Error(`elementwiseLoss: unknown loss '${String(name)}'`);
  const fns = `// A position's loss is the ${loss.reduce} of loss_term over its WIDTH elements.
fn loss_term(y: f32, t: f32) -> f32 {
  ${loss.term}
}

fn loss_term_grad(y: f32, t: f32) -> f32 {
  ${loss.grad}
}`;
  return { name, formula: loss.formula, g, options, sparse: false, activation: loss.activation ?? 'none', elementwise: { reduce: loss.reduce }, fns };
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

/** The 'one-workgroup' kernel of a row-wise loss (ROW_LOSSES). Bindings: see lossBindings. */
export function rowLoss(name: RowLossName, g: LossKernelGeometry, options: LossKernelOptions): KernelSource {
  return lossKernel(rowLossSpec(name, g, options));
}

/** What every variant of a row-wise loss's kernels is generated from. */
export function rowLossSpec(name: RowLossName, g: LossKernelGeometry, options: LossKernelOptions): KernelSpec {
  const loss: RowLoss | undefined = Object.hasOwn(ROW_LOSSES, name) ? ROW_LOSSES[name] : undefined;
  if (!loss) throw new Error(`rowLoss: unknown loss '${String(name)}'`);
  const fns = `fn position_loss(p: u32) -> f32 {
  ${loss.body}
}`;
  return { name, formula: loss.formula, g, options, sparse: loss.labels === 'sparse', activation: loss.activation, fns };
}
