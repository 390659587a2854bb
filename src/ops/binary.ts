/**
 * Broadcast elementwise ops: add, subtract, multiply, divide, maximum and minimum of tensors whose
 * shapes broadcast as in NumPy and TF.js (right-aligned; a size of 1, or a missing leading axis,
 * stretches to the other's), their n-ary left folds (what the merge layers compute: Add, Multiply,
 * Average, Maximum, Minimum over any number of inputs) and the gradient of every operand.
 *
 * Gradients follow tfjs-core's: d(a/b)/db = −dy·a/b²; maximum's gradient goes to `a` where a >= b
 * and to `b` where a < b (minimum: a <= b, a > b), so in a chain the first operand holding the
 * extreme takes it. Where an operand was broadcast its gradient is summed over the broadcast axes
 * (ops/reduce.ts sumToShape), the local gradient computed inside the reduction's reads rather than
 * stored first; an operand of the output's shape gets it written directly.
 */
import * as kernels from '../../shaders/binary.ts';
import type { BroadcastGeometry, ElementwiseOp } from '../../shaders/binary.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import { formatShape, sizeOf, type Shape } from '../runtime/tensor.ts';
import { sumToShape, type Scratch } from './reduce.ts';

export type { BroadcastGeometry, ElementwiseOp };
export type BinaryOp = ElementwiseOp;

export const ELEMENTWISE_OPS: readonly ElementwiseOp[] = ['add', 'subtract', 'multiply', 'divide', 'maximum', 'minimum'];

/** The broadcast of shapes (NumPy's rule); throws naming the shapes that do not broadcast. */
export function broadcastShapes(...shapes: readonly Shape[]): Shape {
  if (shapes.length === 0) throw new Error('broadcastShapes: no shapes');
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    if (!s.every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`broadcastShapes: sizes must be positive integers, got ${formatShape(s)}`);
    s.forEach((d, i) => {
      const o = rank - s.length + i;
      if (d === 1) return;
      if (out[o] !== 1 && out[o] !== d) {
        throw new Error(`Operands could not be broadcast together with shapes ${shapes.map((x) => formatShape(x)).join(' and ')}`);
      }
      out[o] = d;
    });
  }
  return out;
}

/**
 * The kernels' view of operands of `shapes` broadcast to their common shape: the output's axes
 * with size-1 ones dropped and neighbours merged where every operand is broadcast along both or
 * along neither, and each operand's stride per merged axis (0 where broadcast).
 */
export function broadcastGeometry(shapes: readonly Shape[]): BroadcastGeometry {
  const out = broadcastShapes(...shapes);
  const padded = shapes.map((s) => [...Array<number>(out.length - s.length).fill(1), ...s]);
  const runs: { size: number; broadcast: boolean[] }[] = [];
  out.forEach((size, d) => {
    if (size === 1) return;
    const broadcast = padded.map((s) => s[d] === 1);
    const last = runs[runs.length - 1];
    if (last && last.broadcast.every((b, j) => b === broadcast[j])) last.size *= size;
    else runs.push({ size, broadcast });
  });
  if (runs.length === 0) runs.push({ size: 1, broadcast: shapes.map(() => false) });
  const strides = shapes.map((_, j) => {
    const s = new Array<number>(runs.length);
    let stride = 1;
    for (let d = runs.length - 1; d >= 0; d--) {
      const run = runs[d]!;
      s[d] = run.broadcast[j] ? 0 : stride;
      if (!run.broadcast[j]) stride *= run.size;
    }
    return s;
  });
  return { dims: runs.map((r) => r.size), strides };
}

function checkOp(who: string, op: ElementwiseOp, n: number): void {
  if (!ELEMENTWISE_OPS.includes(op)) throw new Error(`${who}: unknown op ${JSON.stringify(op)}; known: ${ELEMENTWISE_OPS.join(', ')}`);
  if (n < 1) throw new Error(`${who}: needs at least one operand`);
  if ((op === 'subtract' || op === 'divide') && n !== 2) throw new Error(`${who}: ${op} takes exactly 2 operands, got ${n}`);
}

export interface ElementwiseOptions {
  /** Multiplies the result of an add (Average: 1/n); other ops take none. */
  scale?: number;
}

export interface ElementwiseForwardViews {
  /** One per shape, row-major. */
  inputs: readonly BufferView[];
  /** broadcastShapes(...shapes), overwritten. */
  y: BufferView;
}

/** y = in0 ∘ in1 ∘ ... (left to right), broadcast. */
export function elementwiseForward(engine: Engine, op: ElementwiseOp, shapes: readonly Shape[], views: ElementwiseForwardViews, options: ElementwiseOptions = {}): Dispatch[] {
  checkOp('elementwiseForward', op, shapes.length);
  if (views.inputs.length !== shapes.length) throw new Error(`elementwiseForward: ${shapes.length} shapes but ${views.inputs.length} input views`);
  const g = broadcastGeometry(shapes);
  return [engine.kernel(kernels.elementwiseForward(op, g, options.scale ?? 1), [...views.inputs, views.y])];
}

export interface ElementwiseBackwardViews {
  /** The forward's operands (read by multiply, divide, maximum and minimum). */
  inputs: readonly BufferView[];
  /** dL/dy, of the broadcast shape. */
  dy: BufferView;
  /** dL/d(operand k), of operand k's shape (overwritten); null: not needed, nothing runs for it. */
  grads: readonly (BufferView | null)[];
}

/**
 * The gradient of each operand (where views.grads asks for it): the local gradient, summed over
 * the axes the operand was broadcast along. Broadcast operands need scratch for partial sums.
 */
export function elementwiseBackward(
  engine: Engine,
  op: ElementwiseOp,
  shapes: readonly Shape[],
  views: ElementwiseBackwardViews,
  scratch: Scratch,
  options: ElementwiseOptions = {},
): Dispatch[] {
  const n = shapes.length;
  checkOp('elementwiseBackward', op, n);
  if (views.inputs.length !== n || views.grads.length !== n) throw new Error(`elementwiseBackward: ${n} shapes need ${n} inputs and ${n} grads`);
  const scale = options.scale ?? 1;
  const g = broadcastGeometry(shapes);
  const outShape = broadcastShapes(...shapes);
  const out: Dispatch[] = [];
  shapes.forEach((shape, k) => {
    const dx = views.grads[k];
    if (!dx) return;
    const reads = kernels.gradientReads(op, n, k).map((j) => views.inputs[j]!);
    if (sizeOf(shape) === sizeOf(outShape)) {
      out.push(engine.kernel(kernels.elementwiseGradient(op, g, k, scale), [views.dy, ...reads, dx]));
    } else if (op === 'add' || op === 'subtract') {
      // The local gradient is dy times a constant: reduce dy itself.
      const factor = op === 'add' ? scale : k === 0 ? 1 : -1;
      out.push(...sumToShape(engine, outShape, shape, { x: views.dy, y: dx }, scratch, { scale: factor }));
    } else {
      const source = { kernel: kernels.gradientSource(op, g, k, scale), views: [views.dy, ...reads] };
      out.push(...sumToShape(engine, outShape, shape, { y: dx }, scratch, { source }));
    }
  });
  return out;
}

// ---- two operands -----------------------------------------------------------------------------

export interface BinaryShapes {
  a: Shape;
  b: Shape;
}

/** y = a ∘ b, broadcast. */
export function binaryForward(engine: Engine, op: BinaryOp, shapes: BinaryShapes, views: { a: BufferView; b: BufferView; y: BufferView }): Dispatch[] {
  return elementwiseForward(engine, op, [shapes.a, shapes.b], { inputs: [views.a, views.b], y: views.y });
}

export interface BinaryBackwardViews {
  a: BufferView;
  b: BufferView;
  dy: BufferView;
  /** dL/da (a's shape) and dL/db (b's shape), overwritten; null: not needed. */
  da: BufferView | null;
  db: BufferView | null;
}

/** da and db of y = a ∘ b, each summed over the axes its operand was broadcast along. */
export function binaryBackward(engine: Engine, op: BinaryOp, shapes: BinaryShapes, views: BinaryBackwardViews, scratch: Scratch): Dispatch[] {
  return elementwiseBackward(engine, op, [shapes.a, shapes.b], { inputs: [views.a, views.b], dy: views.dy, grads: [views.da, views.db] }, scratch);
}
