/**
 * Float64 references of the losses' formulas (TF.js 4.22's, Keras's Huber) and of the accuracy a
 * loss kernel counts: a loss's sum over positions and its analytic gradient, per loss name
 * ('/fused' when the loss reads the pre-activation of its fused softmax or sigmoid).
 */
import { Random } from '../../src/layers/initializers.ts';
import { resolveLoss } from '../../src/ops/losses/index.ts';
import type { AccuracyKind } from '../../src/ops/losses/loss.ts';

export const EPS = 1e-7;
const clip = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
export const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * A loss over `positions` positions of `width` (the real rows only): the sum of the per-position
 * losses and its gradient w.r.t. y. `t` is dense (like y) or one class per position.
 */
export type Reference = (y: ArrayLike<number>, t: ArrayLike<number>, positions: number, width: number) => { sum: number; grad: Float64Array };

function elementwiseRef(term: (y: number, t: number) => number, dterm: (y: number, t: number) => number, reduce: 'mean' | 'sum'): Reference {
  return (y, t, positions, width) => {
    const k = reduce === 'mean' ? width : 1;
    const grad = new Float64Array(positions * width);
    let sum = 0;
    for (let i = 0; i < positions * width; i++) {
      sum += term(y[i]!, t[i]!) / k;
      grad[i] = dterm(y[i]!, t[i]!) / k;
    }
    return { sum, grad };
  };
}

/** `row(y, t)`: one position's loss and gradient; t is the label row, or [class] for sparse labels. */
function rowRef(row: (y: number[], t: number[]) => { loss: number; grad: number[] }, sparse = false): Reference {
  return (y, t, positions, width) => {
    const grad = new Float64Array(positions * width);
    let sum = 0;
    for (let p = 0; p < positions; p++) {
      const ys = Array.from({ length: width }, (_, j) => y[p * width + j]!);
      const ts = sparse ? [t[p]!] : Array.from({ length: width }, (_, j) => t[p * width + j]!);
      const r = row(ys, ts);
      sum += r.loss;
      r.grad.forEach((g, j) => (grad[p * width + j] = g));
    }
    return { sum, grad };
  };
}

export function logSoftmax(z: number[]): number[] {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return z.map((v) => v - lse);
}

/** TF.js's categoricalCrossentropy on probabilities: r = y/Σy, q = clip(r), −Σ t log q. */
function ceProbabilities(y: number[], t: number[]) {
  const s = y.reduce((a, b) => a + b, 0);
  const r = y.map((v) => v / s);
  const q = r.map((v) => clip(v, EPS, 1 - EPS));
  const g = r.map((v, j) => (v >= EPS && v <= 1 - EPS ? -t[j]! / q[j]! : 0)); // d loss / d r
  const gr = g.reduce((a, gj, j) => a + gj * r[j]!, 0);
  return { loss: -t.reduce((a, tj, j) => a + tj * Math.log(q[j]!), 0), grad: g.map((gj) => (gj - gr) / s) };
}

export const REFERENCES: Record<string, Reference> = {
  meanSquaredError: elementwiseRef((y, t) => (y - t) ** 2, (y, t) => 2 * (y - t), 'mean'),
  meanAbsoluteError: elementwiseRef((y, t) => Math.abs(y - t), (y, t) => Math.sign(y - t), 'mean'),
  meanAbsolutePercentageError: elementwiseRef(
    (y, t) => (100 * Math.abs(t - y)) / Math.max(Math.abs(t), EPS),
    (y, t) => (100 * Math.sign(y - t)) / Math.max(Math.abs(t), EPS),
    'mean',
  ),
  meanSquaredLogarithmicError: elementwiseRef(
    (y, t) => (Math.log1p(Math.max(y, EPS)) - Math.log1p(Math.max(t, EPS))) ** 2,
    (y, t) => (y >= EPS ? (2 * (Math.log1p(y) - Math.log1p(Math.max(t, EPS)))) / (1 + y) : 0),
    'mean',
  ),
  huber: elementwiseRef(
    (y, t) => (Math.abs(y - t) <= 1 ? 0.5 * (y - t) ** 2 : Math.abs(y - t) - 0.5),
    (y, t) => clip(y - t, -1, 1),
    'mean',
  ),
  // TF.js: d + softplus(−2d) − log 2.
  logcosh: elementwiseRef((y, t) => y - t + softplus(-2 * (y - t)) - Math.LN2, (y, t) => Math.tanh(y - t), 'mean'),
  poisson: elementwiseRef((y, t) => y - t * Math.log(y + EPS), (y, t) => 1 - t / (y + EPS), 'mean'),
  hinge: elementwiseRef((y, t) => Math.max(0, 1 - t * y), (y, t) => (1 - t * y > 0 ? -t : 0), 'mean'),
  squaredHinge: elementwiseRef((y, t) => Math.max(0, 1 - t * y) ** 2, (y, t) => -2 * t * Math.max(0, 1 - t * y), 'mean'),
  kullbackLeiblerDivergence: elementwiseRef(
    (y, t) => t * Math.log(clip(t, EPS, 1) / clip(y, EPS, 1)),
    (y, t) => (y >= EPS && y <= 1 ? -t / y : 0),
    'sum',
  ),
  // TF.js: z = log(p / (1 − p)) of the clipped p, then the logistic loss of z.
  binaryCrossentropy: elementwiseRef(
    (y, t) => {
      const p = clip(y, EPS, 1 - EPS);
      const z = Math.log(p / (1 - p));
      return softplus(z) - z * t;
    },
    (y, t) => (y >= EPS && y <= 1 - EPS ? (y - t) / (y * (1 - y)) : 0),
    'mean',
  ),
  'binaryCrossentropy/fused': elementwiseRef((z, t) => softplus(z) - z * t, (z, t) => sigmoid(z) - t, 'mean'),
  'categoricalCrossentropy/fused': rowRef((z, t) => {
    const lp = logSoftmax(z);
    const tSum = t.reduce((a, b) => a + b, 0);
    return { loss: -t.reduce((a, tj, j) => a + tj * lp[j]!, 0), grad: lp.map((l, j) => Math.exp(l) * tSum - t[j]!) };
  }),
  'sparseCategoricalCrossentropy/fused': rowRef((z, [label]) => {
    const lp = logSoftmax(z);
    return { loss: -lp[label!]!, grad: lp.map((l, j) => Math.exp(l) - (j === label ? 1 : 0)) };
  }, true),
  categoricalCrossentropy: rowRef(ceProbabilities),
  // TF.js clips y first, then runs categoricalCrossentropy (which normalizes and clips again).
  sparseCategoricalCrossentropy: rowRef((y, [label]) => {
    const c = y.map((v) => clip(v, EPS, 1 - EPS));
    const r = ceProbabilities(c, oneHotRow(label!, y.length));
    return { loss: r.loss, grad: r.grad.map((g, j) => (y[j]! >= EPS && y[j]! <= 1 - EPS ? g : 0)) };
  }, true),
  categoricalHinge: rowRef((y, t) => {
    const truth = t.reduce((a, tj, j) => a + tj * y[j]!, 0);
    const rival = Math.max(...y.map((v, j) => (1 - t[j]!) * v));
    const margin = 1 + (rival - truth);
    const grad = y.map((v, j) => (margin > 0 ? ((1 - t[j]!) * v === rival ? 1 - t[j]! : 0) - t[j]! : 0));
    return { loss: Math.max(0, margin), grad };
  }),
  cosineProximity: rowRef((y, t) => {
    const tt = t.reduce((a, v) => a + v * v, 0);
    const yy = y.reduce((a, v) => a + v * v, 0);
    const tn = Math.sqrt(Math.max(tt, EPS));
    const yn = Math.sqrt(Math.max(yy, EPS));
    const cos = t.reduce((a, tj, j) => a + (tj / tn) * (y[j]! / yn), 0);
    return { loss: -cos, grad: y.map((v, j) => (-(t[j]! / tn) + cos * (v / yn) * (yy >= EPS ? 1 : 0)) / yn) };
  }),
};

function oneHotRow(label: number, width: number): number[] {
  return Array.from({ length: width }, (_, j) => (j === label ? 1 : 0));
}

// ---- accuracy references -----------------------------------------------------------------

export function firstArgmax(a: ArrayLike<number>, base: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[base + j]! > a[base + best]!) best = j;
  return best;
}

/** Matches and what they are out of, over `positions` positions; `activation` turns outputs into predictions. */
export function accuracyRef(kind: AccuracyKind, y: ArrayLike<number>, t: ArrayLike<number>, positions: number, width: number, activation: 'none' | 'sigmoid' | 'softmax') {
  let correct = 0;
  for (let p = 0; p < positions; p++) {
    const base = p * width;
    if (kind === 'sparse') correct += firstArgmax(y, base, width) === t[p] ? 1 : 0;
    else if (kind === 'categorical') correct += firstArgmax(y, base, width) === firstArgmax(t, base, width) ? 1 : 0;
    else {
      const row = Array.from({ length: width }, (_, j) => y[base + j]!);
      const probs = activation === 'sigmoid' ? row.map(sigmoid) : activation === 'softmax' ? logSoftmax(row).map(Math.exp) : row;
      probs.forEach((v, j) => (correct += v > 0.5 === t[base + j]! > 0.5 ? 1 : 0));
    }
  }
  return { correct, accuracyCount: kind === 'binary' ? positions * width : positions };
}

/**
 * A batch's loss as the kernels define it, the float64 weighted / masked mean over the real
 * positions (`y`, `t` hold only those, `rows` × `positions` of `width`): the loss, its gradient,
 * and the accuracy's correct and counted positions.
 */
export function lossMeanRef(c: LossCase, y: ArrayLike<number>, t: ArrayLike<number>, o: { rows: number; positions: number; width: number; weights?: ArrayLike<number>; mask?: ArrayLike<number>; accuracy: AccuracyKind | null }) {
  const { rows, positions, width } = o;
  const ref = REFERENCES[c.loss + (c.fused ? '/fused' : '')]!;
  const sparse = resolveLoss(c.loss).labels === 'sparse';
  const activation = c.fused ? resolveLoss(c.loss).fuses! : 'none';
  const grad = new Float64Array(rows * positions * width);
  let sum = 0;
  let kept = 0;
  let correct = 0;
  for (let p = 0; p < rows * positions; p++) {
    const ys = Array.from({ length: width }, (_, j) => y[p * width + j]!);
    const ts = sparse ? [t[p]!] : Array.from({ length: width }, (_, j) => t[p * width + j]!);
    const keep = o.mask ? (o.mask[p] !== 0 ? 1 : 0) : 1;
    const factor = keep * (o.weights ? o.weights[Math.floor(p / positions)]! : 1);
    const r = ref(ys, ts, 1, width);
    sum += factor * r.sum;
    r.grad.forEach((gj, j) => (grad[p * width + j] = factor * gj));
    kept += keep;
    if (keep && o.accuracy) correct += accuracyRef(o.accuracy, ys, ts, 1, width, activation).correct;
  }
  const denom = o.mask ? Math.max(kept, 1) : rows * positions;
  const perAccuracy = o.accuracy === 'binary' ? width : 1;
  return { loss: sum / denom, grad: grad.map((v) => v / denom), correct, accuracyCount: o.accuracy ? (o.mask ? kept : rows * positions) * perAccuracy : 0 };
}

// ---- data --------------------------------------------------------------------------------

export function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.uniform(lo, hi));
}

export function classes(n: number, width: number, seed: number): Uint32Array {
  const r = new Random(seed);
  return Uint32Array.from({ length: n }, () => Math.min(width - 1, Math.floor(r.next() * width)));
}

export function oneHot(labels: ArrayLike<number>, width: number): Float32Array {
  const t = new Float32Array(labels.length * width);
  for (let p = 0; p < labels.length; p++) t[p * width + labels[p]!] = 1;
  return t;
}

export function signs(n: number, seed: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => (r.next() < 0.5 ? -1 : 1));
}

export function bits(n: number, seed: number): Float32Array {
  return signs(n, seed).map((s) => (s > 0 ? 1 : 0));
}

/** A loss (by its TF.js name; fused: on the pre-activation of its fused activation) and data in its domain. */
export interface LossCase {
  loss: string;
  fused: boolean;
  /** y and labels for `positions` positions of `width` (labels: one class each when sparse). */
  data(positions: number, width: number, seed: number): { y: Float32Array; t: Float32Array | Uint32Array };
}

const sym = (n: number, s: number) => uniform(n, s, -2, 2);

/** Every loss, fused and on probabilities where it fuses an activation. */
export const LOSS_CASES: LossCase[] = [
  { loss: 'meanSquaredError', fused: false, data: (p, w, s) => ({ y: sym(p * w, s), t: sym(p * w, s + 1) }) },
  { loss: 'meanAbsoluteError', fused: false, data: (p, w, s) => ({ y: sym(p * w, s), t: sym(p * w, s + 1) }) },
  {
    loss: 'meanAbsolutePercentageError',
    fused: false,
    data: (p, w, s) => ({ y: sym(p * w, s), t: uniform(p * w, s + 1, 0.5, 2).map((v, i) => v * signs(p * w, s + 2)[i]!) }),
  },
  // Some outputs below 0: the clip at EPSILON passes no gradient there.
  { loss: 'meanSquaredLogarithmicError', fused: false, data: (p, w, s) => ({ y: uniform(p * w, s, -0.5, 3), t: uniform(p * w, s + 1, 0, 3) }) },
  { loss: 'huber', fused: false, data: (p, w, s) => ({ y: sym(p * w, s), t: sym(p * w, s + 1) }) },
  { loss: 'logcosh', fused: false, data: (p, w, s) => ({ y: sym(p * w, s), t: sym(p * w, s + 1) }) },
  { loss: 'poisson', fused: false, data: (p, w, s) => ({ y: uniform(p * w, s, 0.1, 3), t: uniform(p * w, s + 1, 0, 3) }) },
  { loss: 'hinge', fused: false, data: (p, w, s) => ({ y: sym(p * w, s), t: signs(p * w, s + 1) }) },
  { loss: 'squaredHinge', fused: false, data: (p, w, s) => ({ y: sym(p * w, s), t: signs(p * w, s + 1) }) },
  { loss: 'kullbackLeiblerDivergence', fused: false, data: (p, w, s) => ({ y: uniform(p * w, s, 0.01, 0.3), t: uniform(p * w, s + 1, 0.05, 1) }) },
  { loss: 'binaryCrossentropy', fused: false, data: (p, w, s) => ({ y: uniform(p * w, s, 0.02, 0.98), t: bits(p * w, s + 1) }) },
  { loss: 'binaryCrossentropy', fused: true, data: (p, w, s) => ({ y: uniform(p * w, s, -4, 4), t: bits(p * w, s + 1) }) },
  { loss: 'categoricalCrossentropy', fused: true, data: (p, w, s) => ({ y: uniform(p * w, s, -3, 3), t: oneHot(classes(p, w, s + 1), w) }) },
  { loss: 'sparseCategoricalCrossentropy', fused: true, data: (p, w, s) => ({ y: uniform(p * w, s, -3, 3), t: classes(p, w, s + 1) }) },
  // Soft labels that do not sum to 1, outputs that are not normalized: TF.js normalizes the output.
  { loss: 'categoricalCrossentropy', fused: false, data: (p, w, s) => ({ y: uniform(p * w, s, 0.05, 1), t: uniform(p * w, s + 1, 0, 1) }) },
  { loss: 'sparseCategoricalCrossentropy', fused: false, data: (p, w, s) => ({ y: uniform(p * w, s, 0.05, 1), t: classes(p, w, s + 1) }) },
  { loss: 'categoricalHinge', fused: false, data: (p, w, s) => ({ y: uniform(p * w, s, -1, 1), t: oneHot(classes(p, w, s + 1), w) }) },
  {
    loss: 'cosineProximity',
    fused: false,
    data: (p, w, s) => {
      const y = uniform(p * w, s, -1, 1);
      const noise = uniform(p * w, s + 1, -0.5, 0.5);
      return { y, t: y.map((v, i) => v + noise[i]!) };
    },
  },
];
