/**
 * The metric kernels by name: what each metric computes per position (or per element), on the
 * skeleton of shaders/metric-kernels.ts. The elementwise metrics take their per-element term from
 * the loss table (shaders/losses.ts ELEMENTWISE_LOSSES), so a metric and the loss of the same
 * name compute the same function; the rest are written here.
 *
 * Every metric reads the model's prediction through `prediction(i)`, which applies the softmax or
 * sigmoid the loss folded into itself. Where that activation is the metric's own (binary
 * crossentropy after a sigmoid, the categorical ones after a softmax) the metric reads the logits
 * instead, exactly as the fused loss does: the same value as the loss, without TF.js's clips.
 */
import type { KernelSource } from './kernel.ts';
import { ELEMENTWISE_LOSSES, type ElementwiseLossName } from './losses.ts';
import { metricKernel, type MetricAccumulation, type MetricActivation, type MetricKernelGeometry } from './metric-kernels.ts';

export type { MetricKernelGeometry };

/** The elementwise metrics: the loss whose term they take, on predictions or (`logits`) on the fused activation's input. */
const ELEMENTWISE_METRICS = {
  meanSquaredError: { term: 'meanSquaredError' },
  meanAbsoluteError: { term: 'meanAbsoluteError' },
  meanAbsolutePercentageError: { term: 'meanAbsolutePercentageError' },
  meanSquaredLogarithmicError: { term: 'meanSquaredLogarithmicError' },
  binaryCrossentropy: { term: 'binaryCrossentropy', logits: { activation: 'sigmoid', term: 'sigmoidBinaryCrossentropy' } },
  hinge: { term: 'hinge' },
  squaredHinge: { term: 'squaredHinge' },
  logcosh: { term: 'logcosh' },
  poisson: { term: 'poisson' },
  kullbackLeiblerDivergence: { term: 'kullbackLeiblerDivergence' },
} as const satisfies Readonly<Record<string, { term: ElementwiseLossName; logits?: { activation: 'sigmoid'; term: ElementwiseLossName } }>>;

/** A metric that needs a whole row: `value` is the body of `fn position_value(p: u32) -> f32`. */
interface RowMetric {
  formula: string;
  labels: 'sparse' | 'dense';
  value: string;
  /** The same metric on the logits of this activation (the output holds them): body and formula. */
  logits?: { activation: 'softmax'; value: string; formula: string };
}

const ROW_METRICS = {
  categoricalCrossentropy: {
    formula: "TF.js's on probabilities: r = y / sum(y), -sum t log clip(r, EPSILON, 1 - EPSILON)",
    labels: 'dense',
    value: `let base = p * WIDTH;
  begin_row(base);
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += prediction(base + j); }
  var ce = 0.0;
  for (var j = 0u; j < WIDTH; j++) {
    ce -= labels[base + j] * log(clamp(prediction(base + j) / s, EPSILON, ONE_MINUS_EPSILON));
  }
  return ce;`,
    logits: {
      activation: 'softmax',
      formula: '-sum t log softmax(x) on the logits x, as the fused loss',
      value: `let base = p * WIDTH;
  begin_row(base);
  // -log p_j = log s + (m - x_j): two non-negative terms.
  var ce = 0.0;
  for (var j = 0u; j < WIDTH; j++) { ce += labels[base + j] * (rowLogSum + (rowMax - output[base + j])); }
  return ce;`,
    },
  },
  sparseCategoricalCrossentropy: {
    formula: "TF.js's on probabilities: c = clip(y, EPSILON, 1 - EPSILON), -log clip(c[label] / sum(c), EPSILON, 1 - EPSILON); NaN for a label >= WIDTH",
    labels: 'sparse',
    value: `let base = p * WIDTH;
  begin_row(base);
  var s = 0.0;
  for (var j = 0u; j < WIDTH; j++) { s += clamp(prediction(base + j), EPSILON, ONE_MINUS_EPSILON); }
  let label = labels[p];
  let r = clamp(prediction(base + min(label, WIDTH - 1u)), EPSILON, ONE_MINUS_EPSILON) / s;
  var ce = -log(clamp(r, EPSILON, ONE_MINUS_EPSILON));
  if (label >= WIDTH) { ce = nan_from(label); }
  return ce;`,
    logits: {
      activation: 'softmax',
      formula: '-log softmax(x)[label] on the logits x, as the fused loss; NaN for a label >= WIDTH',
      value: `let base = p * WIDTH;
  begin_row(base);
  let label = labels[p];
  var ce = rowLogSum + (rowMax - output[base + min(label, WIDTH - 1u)]);
  if (label >= WIDTH) { ce = nan_from(label); }
  return ce;`,
    },
  },
  cosineProximity: {
    formula: "TF.js's: -sum (t / |t|) (y / |y|), |v| = sqrt(max(sum v^2, EPSILON)): -1 when aligned",
    labels: 'dense',
    value: cosine('-', 'EPSILON'),
  },
  cosineSimilarity: {
    formula: "Keras's CosineSimilarity: sum (t / |t|) (y / |y|), |v| = sqrt(max(sum v^2, 1e-12)): 1 when aligned",
    labels: 'dense',
    value: cosine('', 'L2_EPSILON'),
  },
  categoricalHinge: {
    formula: 'max(0, 1 + max_j (1 - t_j) y_j - sum t y)',
    labels: 'dense',
    value: `let base = p * WIDTH;
  begin_row(base);
  var truth = 0.0;
  var rival = (1.0 - labels[base]) * prediction(base);
  for (var j = 0u; j < WIDTH; j++) {
    let y = prediction(base + j);
    truth += labels[base + j] * y;
    rival = max(rival, (1.0 - labels[base + j]) * y);
  }
  return max(0.0, 1.0 + (rival - truth));`,
  },
} as const satisfies Readonly<Record<string, RowMetric>>;

/** The body of a cosine metric: `sign` '-' for TF.js's proximity, '' for Keras's similarity. */
function cosine(sign: '-' | '', epsilon: string): string {
  return `let base = p * WIDTH;
  begin_row(base);
  var tt = 0.0;
  var yy = 0.0;
  for (var j = 0u; j < WIDTH; j++) {
    let t = labels[base + j];
    let y = prediction(base + j);
    tt += t * t;
    yy += y * y;
  }
  let tNorm = sqrt(max(tt, ${epsilon}));
  let yNorm = sqrt(max(yy, ${epsilon}));
  var cosine = 0.0;
  for (var j = 0u; j < WIDTH; j++) { cosine += (labels[base + j] / tNorm) * (prediction(base + j) / yNorm); }
  return ${sign}cosine;`;
}

export type ElementwiseMetricName = keyof typeof ELEMENTWISE_METRICS;
export type RowMetricName = keyof typeof ROW_METRICS;
export type MetricKernelName = ElementwiseMetricName | RowMetricName | 'topKCategoricalAccuracy' | 'sparseTopKCategoricalAccuracy' | 'precision' | 'recall' | 'r2Score';

/** The labels each kernel reads: class indices or values shaped like the output. */
export function metricKernelLabels(name: MetricKernelName): 'sparse' | 'dense' {
  if (name === 'sparseTopKCategoricalAccuracy') return 'sparse';
  return Object.hasOwn(ROW_METRICS, name) ? ROW_METRICS[name as RowMetricName].labels : 'dense';
}

export interface MetricKernelOptions {
  /** The activation the loss folded into itself: the output holds its input. */
  fused?: 'softmax' | 'sigmoid' | undefined;
  /** Word offset of the metric's slice in the accumulator binding. */
  base: number;
  /** Top-k's k. */
  k?: number;
}

/** The accumulation each kernel uses (and so its slice layout, ACCUMULATOR_LAYOUT). */
export function metricKernelAccumulation(name: MetricKernelName): MetricAccumulation {
  if (name === 'topKCategoricalAccuracy' || name === 'sparseTopKCategoricalAccuracy') return 'hits';
  if (name === 'precision' || name === 'recall') return 'confusion';
  if (name === 'r2Score') return 'r2';
  return 'mean';
}

/** The kernel of metric `name` on outputs of geometry `g` (bindings: METRIC_BINDINGS). */
export function metricKernelSource(name: MetricKernelName, g: MetricKernelGeometry, o: MetricKernelOptions): KernelSource {
  const activation: MetricActivation = o.fused ?? 'none';
  const common = { g, base: o.base };
  if (Object.hasOwn(ELEMENTWISE_METRICS, name)) {
    const metric: { term: ElementwiseLossName; logits?: { activation: 'sigmoid'; term: ElementwiseLossName } } = ELEMENTWISE_METRICS[name as ElementwiseMetricName];
    const onLogits = metric.logits !== undefined && metric.logits.activation === o.fused;
    const termName = onLogits ? metric.logits!.term : metric.term;
    const loss = ELEMENTWISE_LOSSES[termName];
    const fns = `// One term per element; a position's value is their ${loss.reduce} over WIDTH.
fn metric_term(y: f32, t: f32) -> f32 {
  ${loss.term}
}

fn position_terms(p: u32, sum: vec2f) -> vec2f {
  let base = p * WIDTH;
  begin_row(base);
  var s = sum;
  for (var j = 0u; j < WIDTH; j++) { s = kahan_add(s, metric_term(prediction(base + j), labels[base + j])); }
  return s;
}`;
    return metricKernel({
      ...common,
      name: `${name}${onLogits ? '-on-logits' : ''}`,
      formula: onLogits ? loss.formula : `${loss.formula}${activation === 'none' ? '' : `, on ${activation}(output)`}`,
      labels: 'dense',
      activation: onLogits ? 'none' : activation,
      accumulation: 'mean',
      termsPerValue: loss.reduce === 'mean' ? 'width' : 1,
      fns,
    });
  }
  if (Object.hasOwn(ROW_METRICS, name)) {
    const metric: RowMetric = ROW_METRICS[name as RowMetricName];
    const onLogits = metric.logits !== undefined && metric.logits.activation === o.fused;
    const fns = `fn position_value(p: u32) -> f32 {
  ${onLogits ? metric.logits!.value : metric.value}
}

fn position_terms(p: u32, sum: vec2f) -> vec2f {
  return kahan_add(sum, position_value(p));
}`;
    return metricKernel({
      ...common,
      name: `${name}${onLogits ? '-on-logits' : ''}`,
      formula: onLogits ? metric.logits!.formula : `${metric.formula}${activation === 'none' ? '' : `, on ${activation}(output)`}`,
      labels: metric.labels,
      activation,
      accumulation: 'mean',
      termsPerValue: 1,
      fns,
    });
  }
  if (name === 'topKCategoricalAccuracy' || name === 'sparseTopKCategoricalAccuracy') return topK(name, g, o);
  if (name === 'precision' || name === 'recall') {
    const counted = name === 'precision' ? 'predicted' : 'actual';
    return metricKernel({
      ...common,
      name,
      formula: `Keras's ${name === 'precision' ? 'Precision' : 'Recall'} over every element: true positives / ${counted} positives, predicted = prediction > THRESHOLD, actual = label != 0`,
      labels: 'dense',
      activation,
      accumulation: 'confusion',
      fns: `// (true positives, ${counted} positives) of position p's elements.
fn position_confusion(p: u32) -> vec2u {
  let base = p * WIDTH;
  begin_row(base);
  var counts = vec2u(0u);
  for (var j = 0u; j < WIDTH; j++) {
    let predicted = prediction(base + j) > THRESHOLD;
    let actual = labels[base + j] != 0.0;
    counts += vec2u(select(0u, 1u, predicted && actual), select(0u, 1u, ${counted}));
  }
  return counts;
}`,
    });
  }
  if (name === 'r2Score') {
    return metricKernel({
      ...common,
      name,
      formula: 'TF.js r2Score over every element seen: 1 - sum (t - y)^2 / sum (t - mean(t))^2',
      labels: 'dense',
      activation,
      accumulation: 'r2',
      fns: '// r2 reads prediction() and the labels in the skeleton.',
    });
  }
  throw new Error(`metricKernelSource: unknown metric '${String(name)}'`);
}

/** Top-k accuracy (Keras's in_top_k): the label's class is a hit when fewer than K classes score above it (ties count in). */
function topK(name: 'topKCategoricalAccuracy' | 'sparseTopKCategoricalAccuracy', g: MetricKernelGeometry, o: MetricKernelOptions): KernelSource {
  const k = o.k;
  if (!Number.isInteger(k) || k! < 1) throw new Error(`${name}: k must be a positive integer, got ${String(k)}`);
  const sparse = name === 'sparseTopKCategoricalAccuracy';
  // Softmax keeps the order of the logits, so ranks read them (as the accuracy kernels do);
  // sigmoid saturates where logits still differ, so ranks are judged after it.
  const score = o.fused === 'sigmoid' ? 'sigmoid(output[i])' : 'output[i]';
  return metricKernel({
    g,
    base: o.base,
    name,
    formula: `the ${sparse ? 'label' : "label row's first maximum"} is among the top K = ${k} scores (${o.fused === 'sigmoid' ? 'sigmoid of the output' : o.fused === 'softmax' ? 'logits' : 'the output'}), ties counted in`,
    labels: sparse ? 'sparse' : 'dense',
    activation: 'none',
    accumulation: 'hits',
    keyExtra: `k${k}:${o.fused ?? 'plain'}`,
    fns: `const K = ${k}u;

// What ranks the classes: ${score}.
fn rank_score(i: u32) -> f32 {
  return ${score};
}

fn position_hits(p: u32) -> u32 {
  let base = p * WIDTH;
  let label = ${sparse ? 'labels[p]' : 'argmax_labels(base)'};
  if (label >= WIDTH) { return 0u; } // a bad class index is never a hit
  let s = rank_score(base + label);
  var above = 0u;
  for (var j = 0u; j < WIDTH; j++) { above += select(0u, 1u, rank_score(base + j) > s); }
  return select(0u, 1u, above < K);
}`,
  });
}
