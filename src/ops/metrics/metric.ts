/**
 * The contract of a metric op: beside the loss, a metric reads the model's output and the batch's
 * labels (in the loss's layout) and adds its totals into its own slice of a metrics accumulator on
 * the GPU; the host reads the slices back when it logs and turns each into a value. The accuracy
 * family is not here: the loss kernels count it (src/ops/losses/metrics.ts).
 */
import type { BufferView, Dispatch, Engine } from '../../runtime/engine.ts';
import type { Shape } from '../../runtime/tensor.ts';
import type { LabelLayout, LossGeometry } from '../losses/loss.ts';

export type { LabelLayout, LossGeometry };

export interface MetricViews {
  /** f32 [batch, ...outputShape]: the output, or its pre-activation when the loss fused its activation (options.fused). */
  output: BufferView;
  /** The batch's labels in the loss's layout (options.labels). */
  labels: BufferView;
  /**
   * This metric's slice of the accumulator: `words` 32-bit words, zeroed at each epoch / evaluate,
   * added to. Its offset need only be a multiple of 4 (the op binds from the aligned offset below it).
   */
  accumulator: BufferView;
  /** The StepInfo uniform (shaders/kernel.ts): only its `rows` rows are real. */
  stepInfo: BufferView;
}

export interface MetricOptions {
  /** The activation the loss folded into itself: the output view holds its input (softmax over the last axis, or sigmoid). */
  fused?: 'softmax' | 'sigmoid' | undefined;
  /** The layout of the labels the loss takes. */
  labels: LabelLayout;
}

export interface MetricOp {
  /** TF.js's camelCase canonical name (e.g. 'meanSquaredError'); the History key is the name the user gave. */
  readonly name: string;
  /** 32-bit words of this metric's slice of the accumulator buffer. */
  readonly words: number;
  /** The labels this metric reads: class indices (sparse) or values shaped like the output (dense). */
  readonly labels: LabelLayout;
  /** Throws an Error naming the metric when it cannot apply to this loss's label layout and this output shape. */
  check(outputShape: Shape, labels: LabelLayout, who: string): void;
  /** The dispatches of one batch, adding its totals into the accumulator slice (built once per plan). */
  dispatches(engine: Engine, g: LossGeometry, views: MetricViews, options: MetricOptions): Dispatch[];
  /** The metric's value from its slice as read back (NaN when nothing was counted). */
  value(words: ArrayBuffer | ArrayBufferView): number;
}
