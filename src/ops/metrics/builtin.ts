/**
 * The built-in metrics (beside the accuracy family, which the loss kernels count): TF.js 4.22's
 * tf.metrics that are not accuracies, the losses as metrics, and Keras's top-k accuracies,
 * root mean squared error and cosine similarity. Each is a KernelMetric over a metric kernel
 * (shaders/metric-formulas.ts).
 */
import { KernelMetric } from './kernel-metric.ts';
import type { MetricOp } from './metric.ts';

/** Keras's default k of its top-k accuracies (TF.js 4.22 declares them but throws NotImplementedError). */
export const TOP_K_DEFAULT = 5;

const CATEGORICAL_HINT = '; with class-index labels use sparseCategoricalCrossentropy';
const SPARSE_HINT = '; with one-hot labels use categoricalCrossentropy';

export const meanSquaredError: MetricOp = new KernelMetric({ name: 'meanSquaredError', kernel: 'meanSquaredError' });
export const meanAbsoluteError: MetricOp = new KernelMetric({ name: 'meanAbsoluteError', kernel: 'meanAbsoluteError' });
export const meanAbsolutePercentageError: MetricOp = new KernelMetric({ name: 'meanAbsolutePercentageError', kernel: 'meanAbsolutePercentageError' });
export const meanSquaredLogarithmicError: MetricOp = new KernelMetric({ name: 'meanSquaredLogarithmicError', kernel: 'meanSquaredLogarithmicError' });
/** Keras's RootMeanSquaredError: the square root of the mean squared error over everything seen. */
export const rootMeanSquaredError: MetricOp = new KernelMetric({ name: 'rootMeanSquaredError', kernel: 'meanSquaredError', root: true });

/** On probabilities with TF.js's clips, or on the logits when the loss fused a sigmoid (as the fused loss). */
export const binaryCrossentropy: MetricOp = new KernelMetric({
  name: 'binaryCrossentropy',
  kernel: 'binaryCrossentropy',
  labelsHint: '; with class-index labels use sparseCategoricalCrossentropy',
});
/** On probabilities with TF.js's normalization and clips, or on the logits when the loss fused a softmax. */
export const categoricalCrossentropy: MetricOp = new KernelMetric({ name: 'categoricalCrossentropy', kernel: 'categoricalCrossentropy', minWidth: 2, labelsHint: CATEGORICAL_HINT });
export const sparseCategoricalCrossentropy: MetricOp = new KernelMetric({
  name: 'sparseCategoricalCrossentropy',
  kernel: 'sparseCategoricalCrossentropy',
  minWidth: 2,
  labelsHint: SPARSE_HINT,
});

/** TF.js's cosineProximity (tf.metrics.cosineProximity, the loss): −cos, −1 when aligned. */
export const cosineProximity: MetricOp = new KernelMetric({ name: 'cosineProximity', kernel: 'cosineProximity' });
/** Keras's CosineSimilarity metric: +cos, 1 when aligned (its loss of that name is −cos). */
export const cosineSimilarity: MetricOp = new KernelMetric({ name: 'cosineSimilarity', kernel: 'cosineSimilarity' });

/** TF.js's hinge (labels −1/1 as given; Keras's hinge metric maps 0/1 labels to −1/1 first). */
export const hinge: MetricOp = new KernelMetric({ name: 'hinge', kernel: 'hinge' });
export const squaredHinge: MetricOp = new KernelMetric({ name: 'squaredHinge', kernel: 'squaredHinge' });
export const categoricalHinge: MetricOp = new KernelMetric({ name: 'categoricalHinge', kernel: 'categoricalHinge' });
export const logcosh: MetricOp = new KernelMetric({ name: 'logcosh', kernel: 'logcosh' });
export const poisson: MetricOp = new KernelMetric({ name: 'poisson', kernel: 'poisson' });
export const kullbackLeiblerDivergence: MetricOp = new KernelMetric({ name: 'kullbackLeiblerDivergence', kernel: 'kullbackLeiblerDivergence' });

/**
 * Keras's stateful Precision and Recall (threshold 0.5 on the output probability, every element,
 * a label counts as positive when it is not 0): true positives over predicted (actual) positives
 * counted over everything since the accumulator was zeroed, 0 when there are none.
 */
export const precision: MetricOp = new KernelMetric({ name: 'precision', kernel: 'precision', labelsHint: '; precision counts 0/1 labels per element' });
export const recall: MetricOp = new KernelMetric({ name: 'recall', kernel: 'recall', labelsHint: '; recall counts 0/1 labels per element' });

/** TF.js's r2Score over every element, as Keras's R2Score (one output column) over everything seen. */
export const r2Score: MetricOp = new KernelMetric({ name: 'r2Score', kernel: 'r2Score' });

const topKCache = new Map<string, MetricOp>();

/** Keras's TopKCategoricalAccuracy with this k: the first maximum of the one-hot label row is among the k highest outputs. */
export function topKCategoricalAccuracy(k = TOP_K_DEFAULT): MetricOp {
  return topK('topKCategoricalAccuracy', k, '; with class-index labels use sparseTopKCategoricalAccuracy');
}

/** Keras's SparseTopKCategoricalAccuracy with this k: the label's class is among the k highest outputs. */
export function sparseTopKCategoricalAccuracy(k = TOP_K_DEFAULT): MetricOp {
  return topK('sparseTopKCategoricalAccuracy', k, '; with one-hot labels use topKCategoricalAccuracy');
}

function topK(name: 'topKCategoricalAccuracy' | 'sparseTopKCategoricalAccuracy', k: number, labelsHint: string): MetricOp {
  if (!Number.isInteger(k) || k < 1) throw new Error(`${name}: k must be a positive integer, got ${String(k)}`);
  const key = `${name}:${k}`;
  let op = topKCache.get(key);
  if (!op) topKCache.set(key, (op = new KernelMetric({ name, kernel: name, k, labelsHint })));
  return op;
}
