/**
 * The losses that fuse no activation: the elementwise family (a term per element, reduced over
 * the last axis; shaders/losses.ts ELEMENTWISE_LOSSES) and the row-wise categorical hinge and
 * cosine proximity. Labels are dense, shaped like the output; accuracy follows Keras's rule
 * (binary for a last axis of 1, else categorical).
 */
import { elementwiseLossSpec, rowLossSpec, type ElementwiseLossName, type RowLossName } from '../../../shaders/losses.ts';
import { KernelLoss } from './kernel-loss.ts';
import type { LossOp } from './loss.ts';

function elementwise(name: ElementwiseLossName): LossOp {
  return new KernelLoss({ name, labels: 'dense', kernel: (_fused, g, o) => elementwiseLossSpec(name, g, o) });
}

function rowwise(name: RowLossName): LossOp {
  return new KernelLoss({ name, labels: 'dense', kernel: (_fused, g, o) => rowLossSpec(name, g, o) });
}

export const meanSquaredError = elementwise('meanSquaredError');
export const meanAbsoluteError = elementwise('meanAbsoluteError');
export const meanAbsolutePercentageError = elementwise('meanAbsolutePercentageError');
export const meanSquaredLogarithmicError = elementwise('meanSquaredLogarithmicError');
/** Keras's Huber loss with delta 1 (TF.js layers has no Huber loss). */
export const huber = elementwise('huber');
/** TF.js's name is 'logcosh' (also accepted: logCosh, log_cosh). */
export const logcosh = elementwise('logcosh');
export const poisson = elementwise('poisson');
/** TF.js's hinge: labels are -1/1 as given (Keras would map 0/1 labels to -1/1 first). */
export const hinge = elementwise('hinge');
export const squaredHinge = elementwise('squaredHinge');
export const kullbackLeiblerDivergence = elementwise('kullbackLeiblerDivergence');
export const categoricalHinge = rowwise('categoricalHinge');
/** −cos(labels, output) per position, as TF.js's cosineProximity and Keras's cosine_similarity loss. */
export const cosineProximity = rowwise('cosineProximity');
