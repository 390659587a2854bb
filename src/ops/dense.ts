/**
 * The dense op: y = act(x·W + b) over the last axis of x (kernel [in, units]), its geometry and the
 * dispatches of its forward and backward. The Dense layer wraps it (src/layers/dense.ts).
 */
import * as kernels from '../../shaders/dense.ts';
import type { DenseGeometry } from '../../shaders/dense.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape } from '../runtime/tensor.ts';
import type { Shape } from '../runtime/tensor.ts';
import { always, choose, type VariantTable } from './variants.ts';

export type { DenseGeometry };

export interface DenseForwardViews {
  /** [rows, inputs] */
  x: BufferView;
  /** [inputs, units] */
  w: BufferView;
  /** [units]; required when geometry.bias. */
  b?: BufferView;
  /** [rows, units] */
  y: BufferView;
}

export interface DenseBackwardViews {
  x: BufferView;
  w: BufferView;
  /** The forward output; read only when relu was fused (its mask). */
  y?: BufferView;
  dy: BufferView;
  /** null when nobody needs the input gradient (the model's first layer): its kernel is skipped. */
  dx: BufferView | null;
  dw: BufferView;
  /** Required when geometry.bias. */
  db?: BufferView | null;
}

/** Geometry of a dense op on `[batch, ...inputShape]`: rows are every axis but the last. */
export function denseGeometry(batch: number, inputShape: Shape, units: number, options: { relu?: boolean; bias?: boolean } = {}, who = 'dense'): DenseGeometry {
  if (inputShape.length < 1 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${who} expects inputs of rank ≥ 1 (without the batch) with positive sizes, got ${formatShape(inputShape)}`);
  }
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`${who}: batch must be a positive integer, got ${batch}`);
  if (!Number.isInteger(units) || units <= 0) throw new Error(`${who}: units must be a positive integer, got ${units}`);
  const inputs = inputShape[inputShape.length - 1]!;
  const rows = batch * inputShape.slice(0, -1).reduce((a, b) => a * b, 1);
  return { rows, inputs, units, relu: options.relu ?? false, bias: options.bias ?? true };
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`dense: ${what} is required`);
  return value;
}

/** A short key of a dense op's geometry for the variant records. */
export function denseKey(g: DenseGeometry): string {
  return `${g.rows}x${g.inputs} -> ${g.units}${g.relu ? ' relu' : ''}`;
}

/** The dense op's variants: one for now (a tiled matrix product for GPUs is to be a row here). */
export const denseTable: VariantTable<DenseGeometry> = {
  op: 'dense',
  key: denseKey,
  rows: [
    {
      name: 'registers-blocks',
      applies: always,
      note: 'bench/NOTES.md item 58',
      why: 'Register blocks of 16 × 4 outputs per invocation, no workgroup memory: every profile runs them.',
    },
  ],
};

/** y = act(x·W + b); `variant` forces a row of denseTable. */
export function denseForward(engine: Engine, g: DenseGeometry, views: DenseForwardViews, variant?: string): Dispatch[] {
  choose(denseTable, g, engine, variant);
  const b = g.bias ? [required(views.b, 'b (the bias) with bias: true')] : [];
  return [engine.kernel(kernels.denseForward(g), [views.x, views.w, ...b, views.y])];
}

/** dx = g·Wᵀ (skipped when views.dx is null), dW = xᵀ·g, db = Σ_rows g; g = dy masked by [y > 0] under relu; `variant` forces a row of denseTable. */
export function denseBackward(engine: Engine, g: DenseGeometry, views: DenseBackwardViews, variant?: string): Dispatch[] {
  choose(denseTable, g, engine, variant);
  const grad = g.relu ? [views.dy, required(views.y, 'y (the forward output) with a fused relu')] : [views.dy];
  const dispatches: Dispatch[] = [];
  if (views.dx) dispatches.push(engine.kernel(kernels.denseBackwardInput(g), [...grad, views.w, views.dx]));
  const db = g.bias ? [required(views.db, 'db (the bias gradient) with bias: true')] : [];
  dispatches.push(engine.kernel(kernels.denseBackwardWeights(g), [views.x, ...grad, views.dw, ...db]));
  return dispatches;
}
