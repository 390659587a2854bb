/**
 * The contract of a loss op. A loss reads the model's output and the batch's labels, adds its
 * loss sum and metric counts to the metrics accumulator on the GPU, and (in training) writes the
 * gradient of the batch-mean loss w.r.t. the output. A loss may fold the model's final activation
 * into itself (`fuses`): the plan then hands it the pre-activation output, and its gradient is
 * w.r.t. that (softmax into crossentropy, sigmoid into binary crossentropy).
 */
import type { BufferView, Dispatch, Engine } from '../../runtime/engine.ts';
import type { Shape } from '../../runtime/tensor.ts';

/**
 * How a loss's labels are laid out on the GPU: `sparse` is one u32 class index per position (per
 * sample for [batch, classes] outputs; batch × the output's shape without its last axis in general);
 * `dense` is float32 of the output's per-sample shape (one-hot rows, regression targets, 0/1 labels).
 */
export type LabelLayout = 'sparse' | 'dense';

/**
 * The accuracy a loss computes when compiled with a metric meaning accuracy (Keras's rule):
 * `sparse` argmax(output) == label, `categorical` argmax(output) == argmax(label) (first maximum),
 * `binary` (output > 0.5) == (label > 0.5) per element (TF.js compares the label for equality with
 * the thresholded output: the same for 0/1 labels).
 */
export type AccuracyKind = 'sparse' | 'categorical' | 'binary';

export interface LossGeometry {
  /** Rows of the plan (real rows per step come from the StepInfo uniform). */
  batch: number;
  /** The model output's per-sample shape, e.g. [10]. */
  outputShape: Shape;
  /**
   * With a Keras mask on the output (LossViews.mask): its per-sample shape, the leading axes of
   * outputShape without its last ([time] for [time, classes]).
   */
  maskShape?: Shape;
}

export interface LossViews {
  /** f32 [batch, ...outputShape]: the output, or its pre-activation when the loss fuses the activation. */
  output: BufferView;
  /** The batch's labels in the loss's layout. */
  labels: BufferView;
  /** f32 like output, overwritten with d(mean loss)/d(output); null when evaluating. */
  grad: BufferView | null;
  /** The accumulator (METRICS_BYTES), added to. */
  metrics: BufferView;
  /** The StepInfo uniform: `rows` says how many rows are real; the others get a zero gradient and no metrics. */
  stepInfo: BufferView;
  /**
   * f32 [batch]: each row's weight (classWeight, sampleWeight), which scales its loss and gradient;
   * the loss stays the mean over the real positions (TF.js's mean(loss · weight)). Absent: unweighted.
   */
  sampleWeights?: BufferView;
  /**
   * f32 [batch, ...maskShape]: the output's Keras mask, 1 kept and 0 masked. The masked positions
   * add no loss, no accuracy and no gradient, and the batch's loss is the mean over the kept ones
   * (Keras 2.13+ and Keras 3; TF.js ignores output masks). Absent: every position counts.
   */
  mask?: BufferView;
  /**
   * Plan-lifetime memory (the plan's scratch allocator): the 'partials' variant sums the batch over
   * many workgroups through it (src/ops/losses/loss-variants.ts). Absent: the loss runs in one workgroup.
   */
  scratch?: (byteLength: number, label: string) => BufferView;
}

export interface LossOp {
  /** TF.js's camelCase name, e.g. 'meanSquaredError'. */
  readonly name: string;
  readonly labels: LabelLayout;
  /** The output activation this loss folds into itself when the model ends with it. */
  readonly fuses?: 'softmax' | 'sigmoid';
  /** What a metric meaning 'accuracy' resolves to with this loss, for an output of this shape (Keras's rule). */
  accuracy(outputShape: Shape): AccuracyKind;
  /** Throws an Error saying what is wrong when the model's output cannot feed this loss. */
  checkOutput(outputShape: Shape, who: string): void;
  /**
   * The dispatches of one batch. `fused`: the output view is the pre-activation of `fuses`.
   * `accuracy`: the kind to count into the accumulator, or null for none. `variant` forces a row of
   * lossTable (src/ops/losses/loss-variants.ts).
   */
  dispatches(engine: Engine, g: LossGeometry, views: LossViews, options: { fused: boolean; accuracy: AccuracyKind | null; variant?: string }): Dispatch[];
}
