/**
 * The losses and the accuracy metric compile() accepts, by TF.js's names and the Keras names and
 * short aliases either accepts ('mse', 'binary_crossentropy', 'kld', ...).
 */
import { binaryCrossentropy, categoricalCrossentropy, sparseCategoricalCrossentropy } from './crossentropy.ts';
import type { AccuracyKind, LossOp } from './loss.ts';
import * as regression from './regression.ts';


/** Every loss under its canonical (TF.js) name, with the other names it answers to. */
const LOSSES: ReadonlyArray<{ op: LossOp; aliases: readonly string[] }> = [
  { op: sparseCategoricalCrossentropy, aliases: ['sparse_categorical_crossentropy'] },
  { op: categoricalCrossentropy, aliases: ['categorical_crossentropy'] },
  { op: binaryCrossentropy, aliases: ['binary_crossentropy', 'bce', 'BCE'] },
  { op: regression.meanSquaredError, aliases: ['mean_squared_error', 'mse', 'MSE'] },
  { op: regression.meanAbsoluteError, aliases: ['mean_absolute_error', 'mae', 'MAE'] },
  { op: regression.meanAbsolutePercentageError, aliases: ['mean_absolute_percentage_error', 'mape', 'MAPE'] },
  { op: regression.meanSquaredLogarithmicError, aliases: ['mean_squared_logarithmic_error', 'msle', 'MSLE'] },
  { op: regression.huber, aliases: ['huber_loss', 'huberLoss'] },
  { op: regression.logcosh, aliases: ['logCosh', 'log_cosh'] },
  { op: regression.poisson, aliases: [] },
  { op: regression.hinge, aliases: [] },
  { op: regression.squaredHinge, aliases: ['squared_hinge'] },
  { op: regression.categoricalHinge, aliases: ['categorical_hinge'] },
  { op: regression.kullbackLeiblerDivergence, aliases: ['kullback_leibler_divergence', 'kl_divergence', 'kld', 'KLD'] },
  { op: regression.cosineProximity, aliases: ['cosine_proximity', 'cosine', 'cosine_similarity'] },
];

const BY_NAME: ReadonlyMap<string, LossOp> = new Map(LOSSES.flatMap(({ op, aliases }) => [op.name, ...aliases].map((n) => [n, op] as const)));

/** The canonical (TF.js) loss names, in the order errors list them. */
export function lossNames(): string[] {
  return LOSSES.map(({ op }) => op.name);
}

/** The loss `name` (as given to compile()) stands for. */
export function resolveLoss(name: unknown): LossOp {
  const op = typeof name === 'string' ? BY_NAME.get(name) : undefined;
  if (op) return op;
  const hint =
    typeof name === 'string' && name.toLowerCase().includes('softmaxcrossentropy')
      ? "; tf.losses.softmaxCrossEntropy is 'categoricalCrossentropy' (with a softmax output)"
      : '';
  throw new Error(`unknown loss '${String(name)}'; known: ${lossNames().join(', ')}${hint}`);
}

/** Accuracy metric names: the generic ones (whose kind follows the loss) and the specific ones. */
const ACCURACY_METRICS: Readonly<Record<string, AccuracyKind | 'auto'>> = {
  accuracy: 'auto',
  acc: 'auto',
  binaryAccuracy: 'binary',
  binary_accuracy: 'binary',
  categoricalAccuracy: 'categorical',
  categorical_accuracy: 'categorical',
  sparseCategoricalAccuracy: 'sparse',
  sparse_categorical_accuracy: 'sparse',
};

/**
 * What compile()'s `metrics` ask of accuracy: null for none, 'auto' for 'accuracy'/'acc' (the
 * loss decides the kind: LossOp.accuracy), or the kind a specific name asks for. Anything that is
 * not an accuracy metric is an error; so are two different specific kinds.
 */
export function resolveAccuracyRequest(metrics: unknown): AccuracyKind | 'auto' | null {
  if (metrics === undefined || metrics === null) return null;
  const list: unknown[] = Array.isArray(metrics) ? metrics : [metrics];
  let request: AccuracyKind | 'auto' | null = null;
  for (const m of list) {
    const kind = typeof m === 'string' && Object.hasOwn(ACCURACY_METRICS, m) ? ACCURACY_METRICS[m] : undefined;
    if (!kind) throw new Error(`unknown metric '${String(m)}'; known: ${Object.keys(ACCURACY_METRICS).join(', ')}`);
    if (request === null || request === 'auto') request = kind;
    else if (kind !== 'auto' && kind !== request) throw new Error(`metrics ask for both ${request} and ${kind} accuracy; only one accuracy is counted`);
  }
  return request;
}

/**
 * The accuracy kind to count for `loss` on outputs of `outputShape` given the request: 'auto'
 * follows the loss (Keras's rule); a specific kind must suit the loss's labels (sparse accuracy
 * needs class indices, the others dense labels).
 */
export function accuracyKind(loss: LossOp, outputShape: readonly number[], request: AccuracyKind | 'auto' | null): AccuracyKind | null {
  if (request === null) return null;
  if (request === 'auto') return loss.accuracy(outputShape);
  const sparse = loss.labels === 'sparse';
  if ((request === 'sparse') !== sparse) {
    throw new Error(`${request} accuracy needs ${request === 'sparse' ? 'class-index' : 'dense'} labels, but loss ${loss.name} takes ${sparse ? 'class indices' : 'dense labels'}`);
  }
  return request;
}
