/**
 * The one LossOp implementation every built-in loss is an instance of: a name, a label layout, an
 * optional fused activation, Keras's accuracy rule and the loss kernel (shaders/losses.ts) to run.
 */
import type { KernelSpec, LossKernelGeometry, LossKernelOptions } from '../../../shaders/losses.ts';
import type { Dispatch, Engine } from '../../runtime/engine.ts';
import { formatShape, type Shape } from '../../runtime/tensor.ts';
import type { AccuracyKind, LabelLayout, LossGeometry, LossOp, LossViews } from './loss.ts';
import { lossDispatches } from './loss-variants.ts';

export interface KernelLossSpec {
  name: string;
  labels: LabelLayout;
  fuses?: 'softmax' | 'sigmoid';
  /** The accuracy a metric meaning 'accuracy' counts; absent: Keras's default rule (kerasAccuracy). */
  accuracy?: AccuracyKind;
  /** The least size of the last axis the loss makes sense for (2 for the crossentropies over classes). */
  minWidth?: number;
  /** Appended to the error of a last axis below minWidth. */
  widthHint?: string;
  /** What the loss's kernels for this geometry are generated from; `fused`: the output is the pre-activation of `fuses`. */
  kernel(fused: boolean, g: LossKernelGeometry, options: LossKernelOptions): KernelSpec;
}

/** Keras's accuracy for losses that do not name one: binary for a last axis of 1, else categorical. */
export function kerasAccuracy(outputShape: Shape): AccuracyKind {
  return outputShape[outputShape.length - 1] === 1 ? 'binary' : 'categorical';
}

/** [batch, ...outputShape] as the kernels see it: rows of `positions` per-position losses over `width`. */
export function lossKernelGeometry(g: LossGeometry): LossKernelGeometry {
  const shape = g.outputShape;
  return { batch: g.batch, positions: shape.slice(0, -1).reduce((a, b) => a * b, 1), width: shape[shape.length - 1]! };
}

/** The mask's values per sample, when the loss has one (it must cover leading axes of the output's positions); throws naming `who`. */
function checkMask(g: LossGeometry, views: LossViews, who: string): number | undefined {
  if ((g.maskShape === undefined) !== (views.mask === undefined)) throw new Error(`${who}: a mask needs both its view and its shape (geometry.maskShape)`);
  if (g.maskShape === undefined) return undefined;
  const positions = g.outputShape.slice(0, -1);
  if (g.maskShape.length > positions.length || g.maskShape.some((d, i) => d !== positions[i])) {
    throw new Error(`${who}: a mask of shape ${formatShape(g.maskShape)} does not cover the leading axes of the output's positions ${formatShape(positions)} (output ${formatShape(g.outputShape)})`);
  }
  return g.maskShape.reduce((a, b) => a * b, 1);
}

export class KernelLoss implements LossOp {
  readonly name: string;
  readonly labels: LabelLayout;
  readonly fuses?: 'softmax' | 'sigmoid';

  constructor(private readonly spec: KernelLossSpec) {
    this.name = spec.name;
    this.labels = spec.labels;
    if (spec.fuses) this.fuses = spec.fuses;
  }

  accuracy(outputShape: Shape): AccuracyKind {
    return this.spec.accuracy ?? kerasAccuracy(outputShape);
  }

  checkOutput(outputShape: Shape, who: string): void {
    if (!Array.isArray(outputShape) || outputShape.length < 1 || !outputShape.every((d) => Number.isInteger(d) && d > 0)) {
      const shown = Array.isArray(outputShape) ? formatShape(outputShape) : String(outputShape);
      throw new Error(`${who}: loss ${this.name} needs an output of rank ≥ 1 (without the batch) with positive sizes, got ${shown}`);
    }
    const width = outputShape[outputShape.length - 1]!;
    const min = this.spec.minWidth ?? 1;
    if (width < min) {
      throw new Error(`${who}: loss ${this.name} needs at least ${min} classes on the output's last axis, got output shape ${formatShape(outputShape)}${this.spec.widthHint ?? ''}`);
    }
  }

  dispatches(engine: Engine, g: LossGeometry, views: LossViews, options: { fused: boolean; accuracy: AccuracyKind | null; variant?: string }): Dispatch[] {
    const who = `loss ${this.name}`;
    if (!Number.isInteger(g.batch) || g.batch < 1) throw new Error(`${who}: batch must be a positive integer, got ${g.batch}`);
    this.checkOutput(g.outputShape, who);
    if (options.fused && !this.fuses) throw new Error(`${who} fuses no activation, so it cannot be fused`);
    const accuracy = options.accuracy ?? null;
    if (accuracy === 'sparse' && this.labels !== 'sparse') throw new Error(`${who}: sparse accuracy needs class-index labels; this loss has dense labels (use categorical accuracy)`);
    if (accuracy !== null && accuracy !== 'sparse' && this.labels === 'sparse') throw new Error(`${who}: ${accuracy} accuracy needs dense labels; this loss has class indices (use sparse accuracy)`);
    const withGradient = views.grad !== null;
    const weights = views.sampleWeights ? [views.sampleWeights] : [];
    const maskPositions = checkMask(g, views, who);
    const mask = maskPositions === undefined ? {} : { maskPositions };
    const spec = this.spec.kernel(options.fused, lossKernelGeometry(g), { withGradient, accuracy, sampleWeights: weights.length > 0, ...mask });
    return lossDispatches(engine, spec, views, options.variant);
  }
}
