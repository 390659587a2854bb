/**
 * Losses and metrics the model can compile with. Both supported losses are softmax-crossentropy
 * fused with the model's final softmax (see shaders/softmax.ts); they differ in the label format.
 * Loss and accuracy accumulate on the GPU in a 4-word buffer that is read once per epoch or log.
 */
import { softmaxCrossentropy, type LabelKind } from '../shaders/softmax.ts';
import type { BufferView, Dispatch, Engine } from './runtime/engine.ts';

export type LossName = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy';
export type MetricName = 'accuracy';

/** Bytes of the metrics accumulator: loss sum f32, correct u32, count u32, Kahan term f32. */
export const METRICS_BYTES = 16;

/** TF.js camelCase names and Keras snake_case aliases. */
const LOSS_ALIASES: Record<string, LossName> = {
  sparseCategoricalCrossentropy: 'sparseCategoricalCrossentropy',
  sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  categoricalCrossentropy: 'categoricalCrossentropy',
  categorical_crossentropy: 'categoricalCrossentropy',
};

/** Accuracy under every name Keras and TF.js accept for it with these losses. */
const METRIC_ALIASES = ['accuracy', 'acc', 'sparse_categorical_accuracy', 'categorical_accuracy', 'sparseCategoricalAccuracy', 'categoricalAccuracy'];

export function resolveLoss(name: unknown): LossName {
  const resolved = typeof name === 'string' && Object.hasOwn(LOSS_ALIASES, name) ? LOSS_ALIASES[name] : undefined;
  if (!resolved) throw new Error(`unknown loss '${String(name)}'; known: ${Object.keys(LOSS_ALIASES).join(', ')}`);
  return resolved;
}

export function lossLabelKind(name: LossName): LabelKind {
  return resolveLoss(name) === 'sparseCategoricalCrossentropy' ? 'sparse' : 'onehot';
}

/** `metrics` as given to compile(): undefined, a name, or a list of names. */
export function resolveMetrics(metrics: unknown): ['accuracy'] | [] {
  if (metrics === undefined || metrics === null) return [];
  const list: unknown[] = Array.isArray(metrics) ? metrics : [metrics];
  for (const m of list) {
    if (typeof m !== 'string' || !METRIC_ALIASES.includes(m)) {
      throw new Error(`unknown metric '${String(m)}'; known: ${METRIC_ALIASES.join(', ')}`);
    }
  }
  return list.length > 0 ? ['accuracy'] : [];
}

export interface LossShape {
  batch: number;
  classes: number;
  loss: LossName;
  /** False for evaluation: only the metrics are accumulated. */
  withGradient: boolean;
}

export interface LossBuffers {
  /** f32 [batch, classes], pre-softmax. */
  logits: BufferView;
  /** sparse: u32 [batch]; one-hot: f32 [batch, classes]. */
  labels: BufferView;
  /** f32 [batch, classes], overwritten with d(mean loss)/dlogits; null without gradient. */
  dlogits: BufferView | null;
  /** The METRICS_BYTES accumulator, added to. */
  metrics: BufferView;
  /** The StepInfo uniform, when the batch may be partial (its `rows` real rows; see softmaxCrossentropy). */
  stepInfo?: BufferView;
}

export function lossDispatches(engine: Engine, shape: LossShape, buffers: LossBuffers): Dispatch[] {
  const kind = lossLabelKind(shape.loss);
  const source = softmaxCrossentropy(shape.batch, shape.classes, kind, shape.withGradient, buffers.stepInfo !== undefined);
  const step = buffers.stepInfo ? [buffers.stepInfo] : [];
  if (shape.withGradient) {
    if (!buffers.dlogits) throw new Error('lossDispatches: withGradient needs a dlogits buffer');
    return [engine.kernel(source, [buffers.logits, buffers.labels, buffers.dlogits, buffers.metrics, ...step])];
  }
  return [engine.kernel(source, [buffers.logits, buffers.labels, buffers.metrics, ...step])];
}

/** Decodes the accumulator; the loss sum includes the Kahan correction (word0 − word3). */
export function readMetrics(bytes: ArrayBuffer): { lossSum: number; correct: number; count: number } {
  if (bytes.byteLength < METRICS_BYTES) throw new Error(`readMetrics: need ${METRICS_BYTES} bytes, got ${bytes.byteLength}`);
  const f = new Float32Array(bytes, 0, 4);
  const u = new Uint32Array(bytes, 0, 4);
  return { lossSum: f[0]! - f[3]!, correct: u[1]!, count: u[2]! };
}
