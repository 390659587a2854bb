/**
 * The crossentropies. Each folds the model's final activation into itself when the model ends
 * with it (`fuses`): softmax into the categorical ones, sigmoid into the binary one; the kernel then
 * reads logits, which is exact and stable where TF.js's clipped probabilities are not. Without the
 * activation (the output is already probabilities, or another activation), the loss is TF.js's
 * formula on probabilities, clips and all, with its exact gradient.
 */
import { elementwiseLossSpec, rowLossSpec } from '../../../shaders/losses.ts';
import { KernelLoss } from './kernel-loss.ts';
import type { LossOp } from './loss.ts';

/** Labels are class indices (u32, one per position); a label ≥ classes makes the loss NaN. */
export const sparseCategoricalCrossentropy: LossOp = new KernelLoss({
  name: 'sparseCategoricalCrossentropy',
  labels: 'sparse',
  fuses: 'softmax',
  accuracy: 'sparse',
  minWidth: 2,
  widthHint: '; one probability per sample trains with binaryCrossentropy (and a sigmoid)',
  kernel: (fused, g, o) => rowLossSpec(fused ? 'sparseSoftmaxCrossentropy' : 'sparseCategoricalCrossentropy', g, o),
});

/** Labels are distributions over the last axis (one-hot rows, or soft labels). */
export const categoricalCrossentropy: LossOp = new KernelLoss({
  name: 'categoricalCrossentropy',
  labels: 'dense',
  fuses: 'softmax',
  accuracy: 'categorical',
  minWidth: 2,
  widthHint: '; one probability per sample trains with binaryCrossentropy (and a sigmoid)',
  kernel: (fused, g, o) => rowLossSpec(fused ? 'softmaxCrossentropy' : 'categoricalCrossentropy', g, o),
});

/** Labels are 0/1 (or soft) per element, the mean over the last axis is the per-position loss. */
export const binaryCrossentropy: LossOp = new KernelLoss({
  name: 'binaryCrossentropy',
  labels: 'dense',
  fuses: 'sigmoid',
  accuracy: 'binary',
  kernel: (fused, g, o) => elementwiseLossSpec(fused ? 'sigmoidBinaryCrossentropy' : 'binaryCrossentropy', g, o),
});
