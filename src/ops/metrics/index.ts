/**
 * The metrics compile() accepts beside the accuracy family, by TF.js's names, Keras's snake_case
 * names, Keras's class names and the short aliases either accepts ('mse', 'mae', 'mape', ...).
 * The accuracy metrics stay with the loss kernels (src/ops/losses/index.ts resolveAccuracyRequest).
 */
import type { Shape } from '../../runtime/tensor.ts';
import { resolveAccuracyRequest } from '../losses/index.ts';
import * as builtin from './builtin.ts';
import type { MetricOp } from './metric.ts';

export type { MetricOp, MetricOptions, MetricViews } from './metric.ts';
export { KernelMetric, metricKernelGeometry } from './kernel-metric.ts';
export { sparseTopKCategoricalAccuracy, topKCategoricalAccuracy, TOP_K_DEFAULT } from './builtin.ts';

/** Every metric under its canonical name, with the other names it answers to. */
const METRICS: ReadonlyArray<{ op: MetricOp; aliases: readonly string[] }> = [
  { op: builtin.meanSquaredError, aliases: ['mse', 'MSE', 'mean_squared_error', 'MeanSquaredError'] },
  { op: builtin.meanAbsoluteError, aliases: ['mae', 'MAE', 'mean_absolute_error', 'MeanAbsoluteError'] },
  { op: builtin.meanAbsolutePercentageError, aliases: ['mape', 'MAPE', 'mean_absolute_percentage_error', 'MeanAbsolutePercentageError'] },
  { op: builtin.meanSquaredLogarithmicError, aliases: ['msle', 'MSLE', 'mean_squared_logarithmic_error', 'MeanSquaredLogarithmicError'] },
  { op: builtin.rootMeanSquaredError, aliases: ['root_mean_squared_error', 'RootMeanSquaredError'] },
  { op: builtin.binaryCrossentropy, aliases: ['binary_crossentropy', 'bce', 'BCE', 'BinaryCrossentropy'] },
  { op: builtin.categoricalCrossentropy, aliases: ['categorical_crossentropy', 'CategoricalCrossentropy'] },
  { op: builtin.sparseCategoricalCrossentropy, aliases: ['sparse_categorical_crossentropy', 'SparseCategoricalCrossentropy'] },
  { op: builtin.cosineProximity, aliases: ['cosine', 'cosine_proximity'] },
  { op: builtin.cosineSimilarity, aliases: ['cosine_similarity', 'CosineSimilarity'] },
  { op: builtin.topKCategoricalAccuracy(), aliases: ['top_k_categorical_accuracy', 'TopKCategoricalAccuracy'] },
  { op: builtin.sparseTopKCategoricalAccuracy(), aliases: ['sparse_top_k_categorical_accuracy', 'SparseTopKCategoricalAccuracy'] },
  { op: builtin.precision, aliases: ['Precision'] },
  { op: builtin.recall, aliases: ['Recall'] },
  { op: builtin.r2Score, aliases: ['r2_score', 'R2Score'] },
  { op: builtin.hinge, aliases: ['Hinge'] },
  { op: builtin.squaredHinge, aliases: ['squared_hinge', 'SquaredHinge'] },
  { op: builtin.categoricalHinge, aliases: ['categorical_hinge', 'CategoricalHinge'] },
  { op: builtin.logcosh, aliases: ['logCosh', 'log_cosh', 'log_cosh_error', 'LogCoshError'] },
  { op: builtin.poisson, aliases: ['Poisson'] },
  { op: builtin.kullbackLeiblerDivergence, aliases: ['kullback_leibler_divergence', 'kl_divergence', 'kld', 'KLD', 'KLDivergence'] },
];

const BY_NAME: ReadonlyMap<string, MetricOp> = new Map(METRICS.flatMap(({ op, aliases }) => [op.name, ...aliases].map((n) => [n, op] as const)));

/** TF.js's names whose crossentropy follows the loss and the output (TF.js's compile rule). */
const CROSSENTROPY_NAMES: readonly string[] = ['crossentropy', 'ce'];

/** What a loss-dependent name ('crossentropy', 'ce') resolves against: the loss's canonical name and the output's per-sample shape. */
export interface MetricContext {
  loss: string;
  outputShape: Shape;
}

/** The canonical metric names, in the order errors list them. */
export function metricNames(): string[] {
  return [...METRICS.map(({ op }) => op.name), ...CROSSENTROPY_NAMES];
}

/** Whether `name` is a metric this module resolves (the accuracy family is not: the losses count it). */
export function isMetricName(name: unknown): boolean {
  return typeof name === 'string' && (BY_NAME.has(name) || CROSSENTROPY_NAMES.includes(name));
}

/**
 * The metric `name` (as given to compile()) stands for. 'crossentropy' and 'ce' need `context`:
 * as TF.js's compile, binary crossentropy for a last axis of 1 or a binaryCrossentropy loss,
 * sparse for a sparseCategoricalCrossentropy loss, else categorical.
 */
export function resolveMetric(name: unknown, context?: MetricContext): MetricOp {
  if (typeof name === 'string' && CROSSENTROPY_NAMES.includes(name)) {
    if (!context) throw new Error(`metric '${name}' is the crossentropy that matches the loss, so it needs the loss and output shape to resolve`);
    const shape = context.outputShape;
    if (shape[shape.length - 1] === 1 || context.loss === 'binaryCrossentropy') return builtin.binaryCrossentropy;
    if (context.loss === 'sparseCategoricalCrossentropy') return builtin.sparseCategoricalCrossentropy;
    return builtin.categoricalCrossentropy;
  }
  const op = typeof name === 'string' ? BY_NAME.get(name) : undefined;
  if (op) return op;
  if (isAccuracyName(name)) {
    throw new Error(`metric '${String(name)}' is an accuracy, which the loss counts (resolveAccuracyRequest in src/ops/losses), not a metric op`);
  }
  throw new Error(`unknown metric '${String(name)}'; known: ${metricNames().join(', ')} (and the accuracies: accuracy, binaryAccuracy, categoricalAccuracy, sparseCategoricalAccuracy)`);
}

function isAccuracyName(name: unknown): boolean {
  if (typeof name !== 'string') return false;
  try {
    return resolveAccuracyRequest(name) !== null;
  } catch {
    return false;
  }
}
