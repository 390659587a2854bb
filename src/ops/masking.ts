/**
 * Keras masks (kernels: shaders/masking.ts): the mask an embedding with maskZero makes of its ids,
 * and the Masking layer (Keras's masking.py: a position whose values all equal maskValue is
 * padding; the layer zeroes it and its mask marks it), with their geometry and dispatches. A mask is
 * f32 [batch, ...positions], 1 kept and 0 masked; the plan hands it to the layers that read it
 * (ForwardContext.mask) and to the loss.
 */
import { maskingApply, maskingMask, nonzeroMask, type MaskingGeometry } from '../../shaders/masking.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { formatShape, sizeOf, type Shape } from '../runtime/tensor.ts';

export type { MaskingGeometry };

/** The mask of `count` ids: 1 where the id is not 0 (Keras's Embedding with mask_zero). */
export function nonzeroIdsMask(engine: Engine, count: number, views: { ids: View; mask: View }): Dispatch {
  checkSize(views.ids, count, 'nonzero ids mask: ids');
  checkSize(views.mask, count, 'nonzero ids mask: mask');
  return engine.kernel(nonzeroMask(count), [views.ids, views.mask]);
}

/** The geometry of masking `[batch, ...shape]` (rank ≥ 1 without the batch: rows of its last axis); throws naming `who`. */
export function maskingGeometry(batch: number, shape: Shape, maskValue: number, who = 'masking'): MaskingGeometry {
  if (shape.length < 1 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who} expects inputs of rank ≥ 2 (rank ≥ 1 without the batch) with positive sizes, got ${formatShape(shape)}`);
  }
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  if (typeof maskValue !== 'number' || !Number.isFinite(maskValue)) throw new Error(`${who}: maskValue must be a finite number, got ${String(maskValue)}`);
  const width = shape[shape.length - 1]!;
  return { rows: (batch * sizeOf(shape)) / width, width, maskValue };
}

/** The Masking layer's mask: one value per row, 1 when some value of the row differs from maskValue. */
export function maskingMaskForward(engine: Engine, g: MaskingGeometry, views: { x: View; mask: View }): Dispatch {
  checkSize(views.x, g.rows * g.width, 'masking mask: x');
  checkSize(views.mask, g.rows, 'masking mask: mask');
  return engine.kernel(maskingMask(g), [views.x, views.mask]);
}

/** The Masking layer's output: x with its padded rows zeroed. */
export function maskingForward(engine: Engine, g: MaskingGeometry, views: { x: View; y: View }): Dispatch {
  for (const name of ['x', 'y'] as const) checkSize(views[name], g.rows * g.width, `masking forward: ${name}`);
  return engine.kernel(maskingApply(g, 'forward'), [views.x, views.y]);
}

/** The Masking layer's input gradient: dy with the padded rows of x zeroed. */
export function maskingBackward(engine: Engine, g: MaskingGeometry, views: { x: View; dy: View; dx: View }): Dispatch {
  for (const name of ['x', 'dy', 'dx'] as const) checkSize(views[name], g.rows * g.width, `masking backward: ${name}`);
  return engine.kernel(maskingApply(g, 'backward'), [views.x, views.dy, views.dx]);
}

function checkSize(view: View, floats: number, what: string): void {
  if (view.size < floats * 4) throw new Error(`${what}: a view of ${view.size / 4} floats cannot hold ${floats}`);
}
