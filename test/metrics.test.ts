/**
 * The metric ops (src/ops/metrics) and their kernels (shaders/metric-*.ts): every metric over
 * several batches, the last one partial (StepInfo rows; padding rows hold NaN outputs and, for
 * sparse labels, classes past the last, which must not leak in), on plain, softmax-fused and
 * sigmoid-fused outputs, against a float64 reference of TF.js's / Keras's formula and against
 * TF.js itself (cpu backend) on the same rows. Each slice sits at an unaligned word offset of a
 * sentinel-filled accumulator, which must come back untouched around it.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { metricKernelSource } from '../shaders/metric-formulas.ts';
import { Random } from '../src/layers/initializers.ts';
import { resolveLoss } from '../src/ops/losses/index.ts';
import { METRICS_BYTES, readMetrics } from '../src/ops/losses/metrics.ts';
import { isMetricName, metricNames, resolveMetric, sparseTopKCategoricalAccuracy, topKCategoricalAccuracy, type MetricOp } from '../src/ops/metrics/index.ts';
import type { LabelLayout } from '../src/ops/losses/loss.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { measuredErrors, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('METRIC_ERRORS', ['float64', 'tfjs']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Fused = 'softmax' | 'sigmoid' | undefined;

// ---- data --------------------------------------------------------------------------------

function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.uniform(lo, hi));
}

function classes(n: number, width: number, seed: number): Uint32Array {
  const r = new Random(seed);
  return Uint32Array.from({ length: n }, () => Math.min(width - 1, Math.floor(r.next() * width)));
}

function oneHot(labels: ArrayLike<number>, width: number): Float32Array {
  const t = new Float32Array(labels.length * width);
  for (let p = 0; p < labels.length; p++) t[p * width + labels[p]!] = 1;
  return t;
}

const signs = (n: number, seed: number) => uniform(n, seed, 0, 1).map((v) => (v < 0.5 ? -1 : 1));
const bits = (n: number, seed: number) => signs(n, seed).map((s) => (s > 0 ? 1 : 0));
const relError = (actual: number, expected: number) => Math.abs(actual - expected) / Math.abs(expected);

// ---- float64 references of TF.js's / Keras's formulas ------------------------------------

const EPS = 1e-7;
const clip = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const sum = (a: readonly number[]) => a.reduce((s, v) => s + v, 0);

function softmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  return e.map((v) => v / sum(e));
}

function logSoftmax(z: readonly number[]): number[] {
  const m = Math.max(...z);
  const lse = m + Math.log(sum(z.map((v) => Math.exp(v - m))));
  return z.map((v) => v - lse);
}

/** Per-element terms (y the prediction), averaged over the last axis unless `sum`. */
const TERMS: Record<string, { term: (y: number, t: number) => number; sum?: boolean }> = {
  meanSquaredError: { term: (y, t) => (y - t) ** 2 },
  meanAbsoluteError: { term: (y, t) => Math.abs(y - t) },
  meanAbsolutePercentageError: { term: (y, t) => (100 * Math.abs(t - y)) / Math.max(Math.abs(t), EPS) },
  meanSquaredLogarithmicError: { term: (y, t) => (Math.log1p(Math.max(y, EPS)) - Math.log1p(Math.max(t, EPS))) ** 2 },
  binaryCrossentropy: { term: (y, t) => -t * Math.log(clip(y, EPS, 1 - EPS)) - (1 - t) * Math.log(1 - clip(y, EPS, 1 - EPS)) },
  hinge: { term: (y, t) => Math.max(0, 1 - t * y) },
  squaredHinge: { term: (y, t) => Math.max(0, 1 - t * y) ** 2 },
  logcosh: { term: (y, t) => y - t + softplus(-2 * (y - t)) - Math.LN2 },
  poisson: { term: (y, t) => y - t * Math.log(y + EPS) },
  kullbackLeiblerDivergence: { term: (y, t) => t * Math.log(clip(t, EPS, 1) / clip(y, EPS, 1)), sum: true },
};

/** Per-position values from the prediction row p, the raw output row z and the label row t (or [class]). */
const ROWS: Record<string, (p: number[], t: number[], z: number[], fused: Fused) => number> = {
  categoricalCrossentropy: (p, t, z, fused) => {
    if (fused === 'softmax') return -sum(logSoftmax(z).map((l, j) => t[j]! * l));
    return -sum(p.map((v, j) => t[j]! * Math.log(clip(v / sum(p), EPS, 1 - EPS))));
  },
  sparseCategoricalCrossentropy: (p, [label], z, fused) => {
    if (fused === 'softmax') return -logSoftmax(z)[label!]!;
    const c = p.map((v) => clip(v, EPS, 1 - EPS));
    return -Math.log(clip(c[label!]! / sum(c), EPS, 1 - EPS));
  },
  cosineProximity: (p, t) => -cosine(p, t, EPS),
  cosineSimilarity: (p, t) => cosine(p, t, 1e-12),
  categoricalHinge: (p, t) => Math.max(0, 1 + Math.max(...p.map((v, j) => (1 - t[j]!) * v)) - sum(p.map((v, j) => t[j]! * v))),
};

function cosine(y: number[], t: number[], eps: number): number {
  const yn = Math.sqrt(Math.max(sum(y.map((v) => v * v)), eps));
  const tn = Math.sqrt(Math.max(sum(t.map((v) => v * v)), eps));
  return sum(y.map((v, j) => (v / yn) * (t[j]! / tn)));
}

/** The metric over `positions` positions of `width` (every batch's real rows, in order). */
function reference(name: string, fused: Fused, y: ArrayLike<number>, t: ArrayLike<number>, positions: number, width: number, k = 5): number {
  const rowOf = (a: ArrayLike<number>, p: number) => Array.from({ length: width }, (_, j) => a[p * width + j]!);
  const z = Array.from({ length: positions }, (_, p) => rowOf(y, p));
  const pred = z.map((row) => (fused === 'softmax' ? softmax(row) : fused === 'sigmoid' ? row.map(sigmoid) : row));
  const labelRow = (p: number) => rowOf(t, p);
  const flat = (f: (p: number, j: number) => number) => z.flatMap((row, p) => row.map((_, j) => f(p, j)));
  const base = name === 'rootMeanSquaredError' ? 'meanSquaredError' : name;
  if (TERMS[base]) {
    const { term, sum: summed } = TERMS[base]!;
    const onLogits = base === 'binaryCrossentropy' && fused === 'sigmoid';
    const total = sum(flat((p, j) => (onLogits ? softplus(z[p]![j]!) - z[p]![j]! * t[p * width + j]! : term(pred[p]![j]!, t[p * width + j]!))));
    const mean = total / (positions * (summed ? 1 : width));
    return name === 'rootMeanSquaredError' ? Math.sqrt(mean) : mean;
  }
  if (ROWS[name]) {
    const sparse = name === 'sparseCategoricalCrossentropy';
    return sum(z.map((row, p) => ROWS[name]!(pred[p]!, sparse ? [t[p]!] : labelRow(p), row, fused))) / positions;
  }
  if (name === 'topKCategoricalAccuracy' || name === 'sparseTopKCategoricalAccuracy') {
    const hits = pred.map((row, p) => {
      const target = name === 'sparseTopKCategoricalAccuracy' ? t[p]! : labelRow(p).indexOf(Math.max(...labelRow(p)));
      return row.filter((v) => v > row[target]!).length < k ? 1 : 0;
    });
    return sum(hits) / positions;
  }
  if (name === 'precision' || name === 'recall') {
    const predicted = flat((p, j) => (pred[p]![j]! > 0.5 ? 1 : 0));
    const actual = flat((p, j) => (t[p * width + j] !== 0 ? 1 : 0));
    const tp = sum(predicted.map((v, i) => v * actual[i]!));
    const denominator = sum(name === 'precision' ? predicted : actual);
    return denominator === 0 ? 0 : tp / denominator;
  }
  if (name === 'r2Score') {
    const labels = flat((p, j) => t[p * width + j]!);
    const mean = sum(labels) / labels.length;
    const residuals = sum(flat((p, j) => (t[p * width + j]! - pred[p]![j]!) ** 2));
    return 1 - residuals / sum(labels.map((v) => (v - mean) ** 2));
  }
  throw new Error(`no reference for ${name}`);
}

// ---- TF.js twins ---------------------------------------------------------------------------

type TfMetric = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** The function TF.js layers compiles for a loss name (its metrics share these formulas). */
function tfjsLoss(name: string): TfMetric {
  const input = tf.input({ shape: [1] });
  const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 1 }).apply(input) as tf.SymbolicTensor });
  m.compile({ optimizer: 'sgd', loss: name });
  const fn = (m as unknown as { lossFunctions: TfMetric[] }).lossFunctions[0]!;
  m.dispose();
  return fn;
}

const thresholded = (y: tf.Tensor) => tf.cast(tf.greater(y, 0.5), 'float32');

/** TF.js's own function for each metric it has (tf.metrics, or the loss of the same formula). */
const TFJS: Record<string, () => TfMetric> = {
  meanSquaredError: () => tf.metrics.meanSquaredError,
  meanAbsoluteError: () => tf.metrics.meanAbsoluteError,
  meanAbsolutePercentageError: () => tf.metrics.meanAbsolutePercentageError,
  binaryCrossentropy: () => tf.metrics.binaryCrossentropy,
  categoricalCrossentropy: () => tf.metrics.categoricalCrossentropy,
  cosineProximity: () => tf.metrics.cosineProximity,
  cosineSimilarity: () => (t, y) => tf.neg(tf.metrics.cosineProximity(t, y)),
  rootMeanSquaredError: () => (t, y) => tf.sqrt(tf.mean(tf.metrics.meanSquaredError(t, y))),
  // TF.js counts yPred == 1: it is handed the thresholded prediction.
  precision: () => (t, y) => tf.metrics.precision(t, thresholded(y)),
  recall: () => (t, y) => tf.metrics.recall(t, thresholded(y)),
  r2Score: () => tf.metrics.r2Score,
  ...Object.fromEntries(
    ['sparseCategoricalCrossentropy', 'meanSquaredLogarithmicError', 'hinge', 'squaredHinge', 'categoricalHinge', 'logcosh', 'poisson', 'kullbackLeiblerDivergence'].map((n) => [n, () => tfjsLoss(n)]),
  ),
};

function tfjsValue(name: string, fused: Fused, y: Float32Array, t: Float32Array | Uint32Array, shape: number[], sparse: boolean): number | undefined {
  const fn = TFJS[name]?.();
  if (!fn) return undefined;
  return tf.tidy(() => {
    const z = tf.tensor(y, shape);
    const pred = fused === 'softmax' ? tf.softmax(z) : fused === 'sigmoid' ? tf.sigmoid(z) : z;
    const labels = sparse ? tf.tensor(Float32Array.from(t), shape.slice(0, -1)) : tf.tensor(t, shape);
    return tf.mean(fn(labels, pred)).dataSync()[0]!;
  });
}

// ---- GPU runner ----------------------------------------------------------------------------

const SENTINEL = 0xdeadbeef;

interface Batch {
  y: Float32Array;
  t: Float32Array | Uint32Array;
  rows: number;
}

/**
 * Runs `op` over the batches (each padded to `batch` rows with NaN outputs and bad labels) into a
 * slice at word `at` of a sentinel-filled accumulator; returns the value and the raw slice.
 */
async function runMetric(e: Engine, op: MetricOp, batches: Batch[], o: { batch: number; shape: number[]; fused: Fused; labels: LabelLayout; at?: number }) {
  const at = o.at ?? 3;
  const total = at + op.words + 5;
  const init = new Uint32Array(total).fill(SENTINEL);
  init.fill(0, at, at + op.words);
  const acc = uploadView(e, init);
  const sample = o.shape.reduce((a, b) => a * b, 1);
  const positions = sample / o.shape[o.shape.length - 1]!;
  const step = e.uniform(STEP_INFO_BYTES, 'step-info');
  const stepInfo = { buffer: step, offset: 0, size: STEP_INFO_BYTES };
  for (const b of batches) {
    const y = new Float32Array(o.batch * sample).fill(NaN);
    y.set(b.y);
    const t = o.labels === 'sparse' ? new Uint32Array(o.batch * positions).fill(999) : new Float32Array(o.batch * sample).fill(NaN);
    t.set(b.t);
    e.write(step, stepInfoData(0, 0, 0, b.rows));
    const views = { output: uploadView(e, y), labels: uploadView(e, t), accumulator: { buffer: acc.buffer, offset: at * 4, size: op.words * 4 }, stepInfo };
    e.run(op.dispatches(e, { batch: o.batch, outputShape: o.shape }, views, { fused: o.fused, labels: o.labels }));
  }
  const words = new Uint32Array(await e.read(acc, total * 4));
  const outside = [...words.subarray(0, at), ...words.subarray(at + op.words)];
  expect(outside.every((w) => w === SENTINEL)).toBe(true);
  const slice = words.slice(at, at + op.words);
  return { value: op.value(slice), slice };
}

// ---- every metric against float64 and TF.js -------------------------------------------------

type Data = (positions: number, width: number, seed: number) => { y: Float32Array; t: Float32Array | Uint32Array };

const sym = (n: number, s: number) => uniform(n, s, -2, 2);
const regression: Data = (p, w, s) => ({ y: sym(p * w, s), t: sym(p * w, s + 1) });
const logitsVsBits: Data = (p, w, s) => ({ y: uniform(p * w, s, -4, 4), t: bits(p * w, s + 1) });
const logitsVsOneHot: Data = (p, w, s) => ({ y: uniform(p * w, s, -3, 3), t: oneHot(classes(p, w, s + 1), w) });
const logitsVsClasses: Data = (p, w, s) => ({ y: uniform(p * w, s, -3, 3), t: classes(p, w, s + 1) });
const logitsVsUnit: Data = (p, w, s) => ({ y: uniform(p * w, s, -3, 3), t: uniform(p * w, s + 1, 0, 1) });
const near: Data = (p, w, s) => {
  const t = sym(p * w, s);
  return { y: t.map((v, i) => v + uniform(p * w, s + 1, -0.8, 0.8)[i]!), t };
};

interface Case {
  name: string;
  fused: Fused;
  data: Data;
}

const CASES: Case[] = [
  { name: 'meanSquaredError', fused: undefined, data: regression },
  { name: 'meanSquaredError', fused: 'softmax', data: logitsVsUnit },
  { name: 'meanSquaredError', fused: 'sigmoid', data: logitsVsUnit },
  { name: 'meanAbsoluteError', fused: undefined, data: regression },
  { name: 'meanAbsoluteError', fused: 'sigmoid', data: logitsVsBits },
  { name: 'meanAbsolutePercentageError', fused: undefined, data: (p, w, s) => ({ y: sym(p * w, s), t: uniform(p * w, s + 1, 0.5, 2).map((v, i) => v * signs(p * w, s + 2)[i]!) }) },
  { name: 'meanSquaredLogarithmicError', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, -0.5, 3), t: uniform(p * w, s + 1, 0, 3) }) },
  { name: 'rootMeanSquaredError', fused: undefined, data: regression },
  { name: 'binaryCrossentropy', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, 0.02, 0.98), t: bits(p * w, s + 1) }) },
  { name: 'binaryCrossentropy', fused: 'sigmoid', data: logitsVsBits },
  { name: 'binaryCrossentropy', fused: 'softmax', data: logitsVsOneHot },
  // Soft labels that do not sum to 1 and unnormalized outputs: TF.js normalizes the output.
  { name: 'categoricalCrossentropy', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, 0.05, 1), t: uniform(p * w, s + 1, 0, 1) }) },
  { name: 'categoricalCrossentropy', fused: 'softmax', data: logitsVsOneHot },
  { name: 'categoricalCrossentropy', fused: 'sigmoid', data: logitsVsOneHot },
  { name: 'sparseCategoricalCrossentropy', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, 0.05, 1), t: classes(p, w, s + 1) }) },
  { name: 'sparseCategoricalCrossentropy', fused: 'softmax', data: logitsVsClasses },
  { name: 'cosineProximity', fused: undefined, data: near },
  { name: 'cosineProximity', fused: 'softmax', data: logitsVsUnit },
  { name: 'cosineSimilarity', fused: undefined, data: near },
  { name: 'categoricalHinge', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, -1, 1), t: oneHot(classes(p, w, s + 1), w) }) },
  { name: 'hinge', fused: undefined, data: (p, w, s) => ({ y: sym(p * w, s), t: signs(p * w, s + 1) }) },
  { name: 'squaredHinge', fused: undefined, data: (p, w, s) => ({ y: sym(p * w, s), t: signs(p * w, s + 1) }) },
  { name: 'logcosh', fused: undefined, data: regression },
  { name: 'poisson', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, 0.1, 3), t: uniform(p * w, s + 1, 0, 3) }) },
  { name: 'kullbackLeiblerDivergence', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, 0.01, 0.3), t: uniform(p * w, s + 1, 0.05, 1) }) },
  { name: 'topKCategoricalAccuracy', fused: undefined, data: (p, w, s) => ({ y: sym(p * w, s), t: oneHot(classes(p, w, s + 1), w) }) },
  { name: 'topKCategoricalAccuracy', fused: 'softmax', data: logitsVsOneHot },
  { name: 'topKCategoricalAccuracy', fused: 'sigmoid', data: logitsVsOneHot },
  { name: 'sparseTopKCategoricalAccuracy', fused: undefined, data: (p, w, s) => ({ y: sym(p * w, s), t: classes(p, w, s + 1) }) },
  { name: 'sparseTopKCategoricalAccuracy', fused: 'softmax', data: logitsVsClasses },
  { name: 'precision', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, 0, 1), t: bits(p * w, s + 1) }) },
  { name: 'precision', fused: 'sigmoid', data: logitsVsBits },
  { name: 'precision', fused: 'softmax', data: logitsVsOneHot },
  { name: 'recall', fused: undefined, data: (p, w, s) => ({ y: uniform(p * w, s, 0, 1), t: bits(p * w, s + 1) }) },
  { name: 'recall', fused: 'sigmoid', data: logitsVsBits },
  { name: 'r2Score', fused: undefined, data: near },
  { name: 'r2Score', fused: 'sigmoid', data: (p, w, s) => ({ y: uniform(p * w, s, -3, 3), t: uniform(p * w, s, -3, 3).map((v, i) => sigmoid(v) + uniform(p * w, s + 1, -0.2, 0.2)[i]!) }) },
];

/** Two geometries: [batch 5, 7] over batches of 5, 5 and 3 real rows; [batch 4, 3, w] (rank 3) over 4 and 2. */
const GEOMETRIES = [
  { title: '[5, 7] rows 5+5+3', batch: 5, shape: [7], rows: [5, 5, 3], at: 3 },
  { title: '[4, 3, 9] rows 4+2', batch: 4, shape: [3, 9], rows: [4, 2], at: 69 },
];

describe('every metric over batches against float64 and TF.js', () => {
  for (const c of CASES) {
    for (const geometry of GEOMETRIES) {
      const title = `${c.name}${c.fused ? ` (fused ${c.fused})` : ''} ${geometry.title}`;
      it(title, async () => {
        const e = engine();
        const op = resolveMetric(c.name);
        const { batch, shape } = geometry;
        const width = shape[shape.length - 1]!;
        const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const sparse = op.labels === 'sparse';
        const seed = c.name.length * 131 + width * 7 + (c.fused === 'softmax' ? 1 : c.fused === 'sigmoid' ? 2 : 0);
        const batches = geometry.rows.map((rows, i) => ({ ...c.data(rows * positions, width, seed + 10 * i), rows }));
        const got = await runMetric(e, op, batches, { batch, shape, fused: c.fused, labels: op.labels, at: geometry.at });

        const n = sum(geometry.rows) * positions;
        const y = Float32Array.from(batches.flatMap((b) => [...b.y]));
        const t = sparse ? Uint32Array.from(batches.flatMap((b) => [...b.t])) : Float32Array.from(batches.flatMap((b) => [...b.t]));
        const expected = reference(c.name, c.fused, y, t, n, width);
        const err = record(title, 'float64', relError(got.value, expected));
        const twin = tfjsValue(c.name, c.fused, y, t, [sum(geometry.rows), ...shape], sparse);
        const tfErr = twin === undefined ? undefined : record(title, 'tfjs', relError(got.value, twin));
        console.log(`${title}: ${got.value.toPrecision(8)} vs float64 ${err.toExponential(1)}${tfErr === undefined ? ' (TF.js has none)' : `, vs TF.js ${tfErr.toExponential(1)}`}`);
        expect(Number.isFinite(expected)).toBe(true);
        expect(err).toBeLessThanOrEqual(1e-6);
        if (tfErr !== undefined) expect(tfErr).toBeLessThanOrEqual(1e-5);
      });
    }
  }
});

// ---- semantics ------------------------------------------------------------------------------

describe('semantics', () => {
  it("precision and recall are Keras's, counted over the epoch, not TF.js's mean of per-batch values", async () => {
    const e = engine();
    // Batch 1: one predicted positive, a true one. Batch 2: four predicted positives, one true.
    const b1 = { y: Float32Array.from([0.9, 0.1, 0.2, 0.3, 0.1]), t: Float32Array.from([1, 1, 0, 0, 1]), rows: 5 };
    const b2 = { y: Float32Array.from([0.9, 0.8, 0.7, 0.6, 0.1]), t: Float32Array.from([1, 0, 0, 0, 1]), rows: 5 };
    const o = { batch: 5, shape: [1], fused: undefined, labels: 'dense' as const };
    const precision = await runMetric(e, resolveMetric('precision'), [b1, b2], o);
    const recall = await runMetric(e, resolveMetric('recall'), [b1, b2], o);
    const perBatch = (fn: TfMetric) => sum([b1, b2].map((b) => tf.tidy(() => fn(tf.tensor(b.t, [5, 1]), thresholded(tf.tensor(b.y, [5, 1]))).dataSync()[0]!))) / 2;
    console.log(`precision: ours ${precision.value} (2 / 5), TF.js's per-batch mean ${perBatch(tf.metrics.precision)}; recall: ours ${recall.value}, TF.js's ${perBatch(tf.metrics.recall)}`);
    expect(precision.value).toBe(2 / 5);
    expect([...precision.slice]).toEqual([2, 5, 10]);
    expect(perBatch(tf.metrics.precision)).toBeCloseTo((1 + 1 / 4) / 2, 6);
    expect(recall.value).toBe(2 / 5);
    expect(perBatch(tf.metrics.recall)).toBeCloseTo((1 / 3 + 1 / 2) / 2, 6);
  });

  it('values are NaN with nothing counted, and precision is 0 with no predicted positives', async () => {
    const e = engine();
    for (const name of metricNames().filter((n) => isMetricName(n) && n !== 'crossentropy' && n !== 'ce')) {
      const op = resolveMetric(name);
      expect(op.value(new Uint32Array(op.words)), name).toBeNaN();
      expect(() => op.value(new Uint32Array(op.words - 1))).toThrow(new RegExp(`metric ${name}: needs its ${op.words} words`));
    }
    const none = await runMetric(e, resolveMetric('precision'), [{ y: new Float32Array(6).fill(0.2), t: bits(6, 1), rows: 3 }], { batch: 3, shape: [2], fused: undefined, labels: 'dense' });
    expect(none.value).toBe(0);
    const empty = await runMetric(e, resolveMetric('mse'), [{ y: new Float32Array(0), t: new Float32Array(0), rows: 0 }], { batch: 3, shape: [2], fused: undefined, labels: 'dense' });
    expect(empty.value).toBeNaN();
  });

  it('top-k counts ties at the boundary in (in_top_k), with any k below the classes', async () => {
    const e = engine();
    const width = 5;
    // Label class 0 scores 0.5; classes 1 and 2 score above it, 3 ties with it.
    const y = Float32Array.from([0.5, 0.9, 0.8, 0.5, 0.1, 0.1, 0.2, 0.3, 0.4, 0.05]);
    const labels = Uint32Array.from([0, 0]);
    const o = { batch: 2, shape: [width], fused: undefined, labels: 'sparse' as const };
    const values = [];
    for (const k of [1, 2, 3, 4]) values.push((await runMetric(e, sparseTopKCategoricalAccuracy(k), [{ y, t: labels, rows: 2 }], o)).value);
    expect(values).toEqual([0, 0, 0.5, 1]);
    const dense = await runMetric(e, topKCategoricalAccuracy(3), [{ y, t: oneHot(labels, width), rows: 2 }], { ...o, labels: 'dense' });
    expect(dense.value).toBe(0.5);
    // A class index past the last is never a hit.
    const bad = await runMetric(e, sparseTopKCategoricalAccuracy(4), [{ y, t: Uint32Array.from([7, 0]), rows: 2 }], o);
    expect(bad.value).toBe(0.5);
  });

  it('a sparse label outside [0, classes) makes sparseCategoricalCrossentropy NaN, fused or not', async () => {
    const e = engine();
    for (const fused of ['softmax', undefined] as const) {
      const y = uniform(12, 4, 0.05, 1);
      const got = await runMetric(e, resolveMetric('sparse_categorical_crossentropy'), [{ y, t: Uint32Array.from([1, 4, 0]), rows: 3 }], { batch: 3, shape: [4], fused, labels: 'sparse' });
      expect(got.value).toBeNaN();
    }
  });

  it('the crossentropy metrics on fused logits give the loss kernels’ value', async () => {
    const e = engine();
    const [batch, width] = [6, 5];
    for (const [loss, fused, data] of [
      ['categoricalCrossentropy', 'softmax', logitsVsOneHot],
      ['sparseCategoricalCrossentropy', 'softmax', logitsVsClasses],
      ['binaryCrossentropy', 'sigmoid', logitsVsBits],
    ] as const) {
      const { y, t } = data(batch, width, 77);
      const op = resolveLoss(loss);
      const metrics = uploadView(e, new Uint32Array(METRICS_BYTES / 4));
      const step = e.uniform(STEP_INFO_BYTES, 'step-info');
      e.write(step, stepInfoData(0, 0, 0, 4));
      const views = { output: uploadView(e, y), labels: uploadView(e, t), grad: null, metrics, stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES } };
      e.run(op.dispatches(e, { batch, outputShape: [width] }, views, { fused: true, accuracy: null }));
      const lossValue = readMetrics(await e.read(metrics, METRICS_BYTES));
      const metric = await runMetric(e, resolveMetric(loss), [{ y: y.subarray(0, 4 * width), t: t.subarray(0, op.labels === 'sparse' ? 4 : 4 * width), rows: 4 }], { batch, shape: [width], fused, labels: op.labels });
      expect(relError(metric.value, lossValue.lossSum / lossValue.count), loss).toBeLessThanOrEqual(1e-6);
    }
  });

  it('each invocation strides over several positions: [300, 10] with 250 real rows', async () => {
    const e = engine();
    const [batch, width, rows] = [300, 10, 250];
    for (const [name, fused, data] of [
      ['sparseTopKCategoricalAccuracy', 'softmax', logitsVsClasses],
      ['precision', 'sigmoid', logitsVsBits],
      ['sparseCategoricalCrossentropy', 'softmax', logitsVsClasses],
      ['r2Score', undefined, near],
    ] as const) {
      const op = resolveMetric(name);
      const { y, t } = data(rows, width, 31);
      const got = await runMetric(e, op, [{ y, t, rows }], { batch, shape: [width], fused, labels: op.labels });
      expect(relError(got.value, reference(name, fused, y, t, rows, width)), name).toBeLessThanOrEqual(1e-6);
    }
  });

  it('r2Score stays accurate over 400 batches of labels far from 0 (no cancelling sum of squares)', async () => {
    const e = engine();
    const [batch, width] = [8, 3];
    const t = uniform(batch * width, 12, 50, 51);
    const y = t.map((v, i) => v + uniform(batch * width, 13, -0.3, 0.3)[i]!);
    const op = resolveMetric('r2_score');
    const acc = uploadView(e, new Uint32Array(op.words));
    const step = e.uniform(STEP_INFO_BYTES, 'step-info');
    e.write(step, stepInfoData(0, 0, 0, batch));
    const views = { output: uploadView(e, y), labels: uploadView(e, t), accumulator: acc, stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES } };
    const [dispatch] = op.dispatches(e, { batch, outputShape: [width] }, views, { labels: 'dense' });
    e.run(Array.from({ length: 400 }, () => dispatch!));
    const value = op.value(await e.read(acc, op.words * 4));
    const expected = reference('r2Score', undefined, y, t, batch, width);
    // What running f32 sums of t and t² would give: the test can tell the cancellation apart.
    const f = Math.fround;
    let [s1, s2, res] = [0, 0, 0];
    for (let b = 0; b < 400; b++) {
      for (let i = 0; i < batch * width; i++) [s1, s2, res] = [f(s1 + t[i]!), f(s2 + f(t[i]! * t[i]!)), f(res + f((t[i]! - y[i]!) ** 2))];
    }
    const n = 400 * batch * width;
    const naive = 1 - res / (s2 - (s1 * s1) / n);
    console.log(`r2Score over 400 batches: ${value} vs ${expected}, ${relError(value, expected).toExponential(1)} (running sums of squares: ${relError(naive, expected).toExponential(1)})`);
    expect(relError(naive, expected)).toBeGreaterThan(1e-3);
    expect(relError(value, expected)).toBeLessThanOrEqual(2e-6);
  });

  it('a mean metric keeps 1000 batches accurate (Kahan), over a [200, 100] output (256-wide workgroup)', async () => {
    const e = engine();
    const [batch, width] = [200, 100];
    const { y, t } = regression(batch, width, 21);
    const op = resolveMetric('mae');
    const acc = uploadView(e, new Uint32Array(op.words));
    const step = e.uniform(STEP_INFO_BYTES, 'step-info');
    e.write(step, stepInfoData(0, 0, 0, 150));
    const views = { output: uploadView(e, y), labels: uploadView(e, t), accumulator: acc, stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES } };
    const [dispatch] = op.dispatches(e, { batch, outputShape: [width] }, views, { labels: 'dense' });
    e.run(Array.from({ length: 1000 }, () => dispatch!));
    const words = await e.read(acc, op.words * 4);
    const expected = reference('meanAbsoluteError', undefined, y, t, 150, width);
    // A plain f32 running sum of the per-batch totals drifts past the tolerance.
    const perBatch = Math.fround(expected * 150);
    let naive = 0;
    for (let i = 0; i < 1000; i++) naive = Math.fround(naive + perBatch);
    console.log(`mae over 1000 batches: ${relError(op.value(words), expected).toExponential(1)} (plain f32 sum: ${relError(naive / 150_000, expected).toExponential(1)})`);
    expect(relError(naive / 150_000, expected)).toBeGreaterThan(2e-6);
    expect(new Uint32Array(words)[2]).toBe(150_000);
    expect(relError(op.value(words), expected)).toBeLessThanOrEqual(2e-6);
  });
});

// ---- names and errors ---------------------------------------------------------------------

describe('metric registry', () => {
  it('resolves TF.js names, Keras names and the short aliases', () => {
    const cases: Record<string, string> = {
      mse: 'meanSquaredError',
      MSE: 'meanSquaredError',
      mean_squared_error: 'meanSquaredError',
      mae: 'meanAbsoluteError',
      MAE: 'meanAbsoluteError',
      mape: 'meanAbsolutePercentageError',
      MAPE: 'meanAbsolutePercentageError',
      msle: 'meanSquaredLogarithmicError',
      root_mean_squared_error: 'rootMeanSquaredError',
      binary_crossentropy: 'binaryCrossentropy',
      bce: 'binaryCrossentropy',
      categorical_crossentropy: 'categoricalCrossentropy',
      sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
      cosine: 'cosineProximity',
      cosine_similarity: 'cosineSimilarity',
      top_k_categorical_accuracy: 'topKCategoricalAccuracy',
      sparse_top_k_categorical_accuracy: 'sparseTopKCategoricalAccuracy',
      Precision: 'precision',
      recall: 'recall',
      r2_score: 'r2Score',
      kld: 'kullbackLeiblerDivergence',
      log_cosh: 'logcosh',
    };
    for (const [alias, name] of Object.entries(cases)) expect(resolveMetric(alias).name).toBe(name);
    expect(resolveMetric('top_k_categorical_accuracy')).toBe(topKCategoricalAccuracy(5));
    expect(isMetricName('mape')).toBe(true);
    expect(isMetricName('accuracy')).toBe(false);
    expect(isMetricName('toString')).toBe(false);
    expect(resolveMetric('ce', { loss: 'sparseCategoricalCrossentropy', outputShape: [10] }).name).toBe('sparseCategoricalCrossentropy');
    expect(resolveMetric('crossentropy', { loss: 'meanSquaredError', outputShape: [10] }).name).toBe('categoricalCrossentropy');
    expect(resolveMetric('ce', { loss: 'categoricalCrossentropy', outputShape: [4, 1] }).name).toBe('binaryCrossentropy');
    expect(() => resolveMetric('ce')).toThrow(/needs the loss and output shape/);
    expect(() => resolveMetric('meanSquaredErr')).toThrow(/unknown metric 'meanSquaredErr'; known: meanSquaredError, meanAbsoluteError, .*r2Score/);
    expect(() => resolveMetric('acc')).toThrow(/'acc' is an accuracy, which the loss counts/);
    expect(() => resolveMetric(undefined)).toThrow(/unknown metric 'undefined'/);
  });

  it('refuses what a metric cannot apply to', () => {
    expect(() => resolveMetric('precision').check([10], 'sparse', 'model.compile')).toThrow(/model.compile: metric precision needs dense labels shaped like the output, but the loss takes class indices/);
    expect(() => resolveMetric('mse').check([10], 'sparse', 'fit')).toThrow(/metric meanSquaredError needs dense labels/);
    expect(() => resolveMetric('categoricalCrossentropy').check([10], 'sparse', 'fit')).toThrow(/use sparseCategoricalCrossentropy/);
    expect(() => resolveMetric('sparseCategoricalCrossentropy').check([10], 'dense', 'fit')).toThrow(/needs class-index \(sparse\) labels, but the loss takes dense labels; with one-hot labels use categoricalCrossentropy/);
    expect(() => resolveMetric('top_k_categorical_accuracy').check([5], 'dense', 'fit')).toThrow(/metric topKCategoricalAccuracy with k = 5 needs more than 5 classes .* got output shape \[5\]/);
    expect(() => resolveMetric('top_k_categorical_accuracy').check([10], 'sparse', 'fit')).toThrow(/use sparseTopKCategoricalAccuracy/);
    expect(() => sparseTopKCategoricalAccuracy(3).check([3], 'sparse', 'fit')).toThrow(/k = 3 needs more than 3 classes/);
    expect(() => topKCategoricalAccuracy(0)).toThrow(/k must be a positive integer, got 0/);
    expect(() => resolveMetric('categoricalCrossentropy').check([4, 1], 'dense', 'fit')).toThrow(/at least 2 classes/);
    expect(() => resolveMetric('mse').check([3, 0], 'dense', 'fit')).toThrow(/positive sizes, got \[3, 0\]/);
    expect(() => resolveMetric('r2Score').check([1], 'dense', 'fit')).not.toThrow();
    expect(() => sparseTopKCategoricalAccuracy(3).check([4], 'sparse', 'fit')).not.toThrow();
  });

  it('refuses bad dispatch arguments', () => {
    const e = engine();
    const v = uploadView(e, new Float32Array(64));
    const views = { output: v, labels: v, accumulator: v, stepInfo: v };
    const mse = resolveMetric('mse');
    expect(() => mse.dispatches(e, { batch: 0, outputShape: [2] }, views, { labels: 'dense' })).toThrow(/batch must be a positive integer/);
    expect(() => mse.dispatches(e, { batch: 2, outputShape: [2] }, { ...views, accumulator: { buffer: v.buffer, offset: 2 } }, { labels: 'dense' })).toThrow(/multiple of 4 bytes, got 2/);
    expect(() => mse.dispatches(e, { batch: 2, outputShape: [2] }, { ...views, accumulator: { buffer: v.buffer, offset: 0, size: 8 } }, { labels: 'dense' })).toThrow(/needs 12 bytes \(3 words\), got 8/);
    expect(() => mse.dispatches(e, { batch: 2, outputShape: [2] }, { ...views, accumulator: { buffer: v.buffer, offset: 248 } }, { labels: 'dense' })).toThrow(/runs past its buffer of 256 bytes/);
    expect(() => mse.dispatches(e, { batch: 2, outputShape: [2] }, views, { labels: 'dense', fused: 'relu' as 'softmax' })).toThrow(/fused must be 'softmax', 'sigmoid' or absent/);
    expect(() => resolveMetric('recall').dispatches(e, { batch: 2, outputShape: [2] }, views, { labels: 'sparse' })).toThrow(/dispatches: metric recall needs dense labels/);
  });

  it('kernels name every variant in their keys and bake their sizes', () => {
    const g = { batch: 8, positions: 1, width: 10 };
    const keys = new Set(
      [undefined, 'softmax', 'sigmoid'].flatMap((fused) =>
        (['meanSquaredError', 'binaryCrossentropy', 'categoricalCrossentropy', 'precision', 'r2Score'] as const).flatMap((name) =>
          [0, 5].map((base) => metricKernelSource(name, g, { fused: fused as Fused, base }).key),
        ),
      ),
    );
    keys.add(metricKernelSource('topKCategoricalAccuracy', g, { base: 0, k: 5 }).key);
    keys.add(metricKernelSource('topKCategoricalAccuracy', g, { base: 0, k: 3 }).key);
    keys.add(metricKernelSource('topKCategoricalAccuracy', g, { base: 0, k: 3, fused: 'sigmoid' }).key);
    keys.add(metricKernelSource('meanSquaredError', { ...g, positions: 2, width: 5 }, { base: 0 }).key);
    expect(keys.size).toBe(34);
    const code = metricKernelSource('meanSquaredLogarithmicError', { batch: 8, positions: 3, width: 5 }, { base: 7 }).code;
    expect(code).toContain('const BASE = 7u;');
    expect(code).toContain('const WIDTH = 5u;');
    expect(code).toMatch(/fn log_1p\(x: f32\) -> f32/);
    expect(code).not.toMatch(/fn sigmoid/);
    expect(() => metricKernelSource('meanSquaredError', { batch: 0, positions: 1, width: 3 }, { base: 0 })).toThrow(/batch must be a positive integer/);
    expect(() => metricKernelSource('sparseTopKCategoricalAccuracy', g, { base: 0 })).toThrow(/k must be a positive integer, got undefined/);
    expect(() => metricKernelSource('nope' as 'r2Score', g, { base: 0 })).toThrow(/unknown metric 'nope'/);
  });
});
