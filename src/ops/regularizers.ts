/**
 * The regularization stages of a training step, as dispatches the plan builds once:
 *
 *  - a weight's penalty (WeightSpec.regularizer): its gradient added into the weight's gradient
 *    after the backward, before the optimizer, and its value into the step's partials;
 *  - an activity penalty (Layer.activityRegularizer): over the layer's output, its gradient added
 *    into the output's gradient before the layer's backward reads it;
 *  - the step's penalties into the loss accumulator of one output (the logged loss is the data
 *    loss plus the penalties, per batch, as Keras and TF.js report it in fit);
 *  - a weight's constraint (WeightSpec.constraint), projected after the optimizer's step.
 *
 * The kernels are in shaders/regularizers.ts and shaders/constraints.ts.
 */
import { nonNegKernel, normConstraintKernel } from '../../shaders/constraints.ts';
import { penaltyGroups, penaltyIntoLossKernel, penaltyKernel } from '../../shaders/regularizers.ts';
import { constraintAxes, type Constraint } from '../layers/constraints.ts';
import type { Regularizer } from '../layers/regularizers.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { formatShape, sizeOf, type Shape } from '../runtime/tensor.ts';

export { penaltyGroups };

/** Where a penalty writes its partial sums: the step's partials buffer and its first slot. */
export interface PenaltySlot {
  partials: View;
  base: number;
}

/**
 * The penalty of a weight of n values: its gradient added into `grad` (null for a frozen weight,
 * whose penalty still counts in the loss) and its value into penaltyGroups(n) partials from `base`.
 */
export function weightPenalty(engine: Engine, regularizer: Regularizer, n: number, views: { value: View; grad: View | null }, slot: PenaltySlot): Dispatch {
  checkViews(n, [views.value, views.grad], 'weight penalty');
  const source = penaltyKernel({ n, l1: regularizer.l1, l2: regularizer.l2, withGradient: views.grad !== null, base: slot.base });
  return engine.kernel(source, [views.value, ...(views.grad ? [views.grad] : []), slot.partials]);
}

/**
 * An activity penalty over a layer's output [batch, ...sampleShape]: the batch's real rows
 * (StepInfo.rows) count, their penalty divided by their number (Keras 2); its gradient goes into
 * `grad` (the output's gradient; null when nothing upstream trains).
 */
export function activityPenalty(
  engine: Engine,
  regularizer: Regularizer,
  g: { batch: number; sampleShape: Shape },
  views: { output: View; grad: View | null; stepInfo: View },
  slot: PenaltySlot,
): Dispatch {
  const sample = sizeOf(g.sampleShape);
  const n = g.batch * sample;
  checkViews(n, [views.output, views.grad], `activity penalty (batch ${g.batch}, samples ${formatShape(g.sampleShape)})`);
  const source = penaltyKernel({ n, l1: regularizer.l1, l2: regularizer.l2, withGradient: views.grad !== null, base: slot.base, activity: { sample } });
  return engine.kernel(source, [views.output, ...(views.grad ? [views.grad] : []), slot.partials, views.stepInfo]);
}

/**
 * Adds the step's penalties (`count` partials) into a loss accumulator whose loss counts
 * `positions` per real row, scaled by `scale` (1 / the output's loss weight, so that the logged
 * weighted total moves by the penalties themselves).
 */
export function penaltyIntoLoss(engine: Engine, count: number, positions: number, scale: number, views: { partials: View; metrics: View; stepInfo: View }): Dispatch {
  if (views.partials.size < count * 4) throw new Error(`penalty into loss: the partials view holds ${views.partials.size / 4} floats, needs ${count}`);
  return engine.kernel(penaltyIntoLossKernel(count, positions, scale), [views.partials, views.metrics, views.stepInfo]);
}

/** The projection of a weight of `shape` by its constraint, in place; `who` names the layer and weight in errors. */
export function constraintProjection(engine: Engine, constraint: Constraint, shape: Shape, weight: View, who: string): Dispatch {
  checkViews(sizeOf(shape), [weight], who);
  if (constraint.kind === 'nonNeg') return engine.kernel(nonNegKernel(sizeOf(shape)), [weight]);
  const axes = constraintAxes(constraint, shape.length, who);
  return engine.kernel(normConstraintKernel(shape, axes, constraint), [weight]);
}

function checkViews(n: number, views: readonly (View | null)[], who: string): void {
  for (const v of views) {
    if (v && v.size < n * 4) throw new Error(`${who}: a view of ${v.size / 4} floats cannot hold ${n} values`);
  }
}
