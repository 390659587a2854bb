/**
 * Float64 references of the reductions over the middle axis of [outer, axis, inner] (sum, mean,
 * max, min) and their backward (max and min route each line's gradient to its first extreme).
 * test/reduce.test.ts and test/property-families.test.ts check the reductions against them.
 */
import type { ReduceGeometry, ReduceOp } from '../../src/ops/reduce.ts';

/** The flat index of x[o, j, i] in [outer, axis, inner]. */
export const reduceIndex = (g: ReduceGeometry, o: number, j: number, i: number) => (o * g.axis + j) * g.inner + i;

/** y[o, i] = op over j of x[o, j, i]. */
export function reduceRef(x: ArrayLike<number>, g: ReduceGeometry, op: ReduceOp): Float64Array {
  const y = new Float64Array(g.outer * g.inner);
  for (let o = 0; o < g.outer; o++) {
    for (let i = 0; i < g.inner; i++) {
      let acc = op === 'max' ? -Infinity : op === 'min' ? Infinity : 0;
      for (let j = 0; j < g.axis; j++) {
        const v = x[reduceIndex(g, o, j, i)]!;
        acc = op === 'max' ? Math.max(acc, v) : op === 'min' ? Math.min(acc, v) : acc + v;
      }
      y[o * g.inner + i] = op === 'mean' ? acc / g.axis : acc;
    }
  }
  return y;
}

/** Each line's first extreme. */
export function argFirstRef(x: ArrayLike<number>, g: ReduceGeometry, op: 'max' | 'min'): Int32Array {
  const idx = new Int32Array(g.outer * g.inner);
  for (let o = 0; o < g.outer; o++) {
    for (let i = 0; i < g.inner; i++) {
      let best = x[reduceIndex(g, o, 0, i)]!;
      let where = 0;
      for (let j = 1; j < g.axis; j++) {
        const v = x[reduceIndex(g, o, j, i)]!;
        if (op === 'max' ? v > best : v < best) [best, where] = [v, j];
      }
      idx[o * g.inner + i] = where;
    }
  }
  return idx;
}

/** dx of reduceRef from dy: broadcast (divided by the axis for mean), or routed to the first extreme. */
export function reduceBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, g: ReduceGeometry, op: ReduceOp): Float64Array {
  const dx = new Float64Array(g.outer * g.axis * g.inner);
  const idx = op === 'max' || op === 'min' ? argFirstRef(x, g, op) : undefined;
  for (let o = 0; o < g.outer; o++) {
    for (let i = 0; i < g.inner; i++) {
      const r = o * g.inner + i;
      for (let j = 0; j < g.axis; j++) {
        dx[reduceIndex(g, o, j, i)] = idx ? (idx[r] === j ? dy[r]! : 0) : op === 'mean' ? dy[r]! / g.axis : dy[r]!;
      }
    }
  }
  return dx;
}
