/** Float64 reference of the dense op: y = act(x·W + b) over the last axis, and its gradients. */
import type { DenseGeometry } from '../../shaders/dense.ts';

export function denseForwardRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, g: DenseGeometry): Float64Array {
  const { rows, inputs: K, units: N } = g;
  const y = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < N; o++) {
      let s = b ? b[o]! : 0;
      for (let k = 0; k < K; k++) s += x[r * K + k]! * w[k * N + o]!;
      y[r * N + o] = g.relu ? Math.max(s, 0) : s;
    }
  }
  return y;
}

/** Gradients given dy and the forward output y (whose sign is relu's mask). */
export function denseBackwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  y: ArrayLike<number>,
  dy: ArrayLike<number>,
  g: DenseGeometry,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const { rows, inputs: K, units: N } = g;
  const grad = Float64Array.from({ length: rows * N }, (_, i) => (g.relu && !(y[i]! > 0) ? 0 : dy[i]!));
  const dx = new Float64Array(rows * K);
  const dw = new Float64Array(K * N);
  const db = new Float64Array(N);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < N; o++) {
      const gv = grad[r * N + o]!;
      db[o] += gv;
      for (let k = 0; k < K; k++) {
        dx[r * K + k] += gv * w[k * N + o]!;
        dw[k * N + o] += x[r * K + k]! * gv;
      }
    }
  }
  return { dx, dw, db };
}

/** C = op(A)·op(B) for each of g.batch products in float64 (A stored [m, k] or [k, m] when transposeA; B [k, n] or [n, k]). */
export function batchedMatmulRef(a: ArrayLike<number>, b: ArrayLike<number>, g: { batch: number; m: number; n: number; k: number; transposeA: boolean; transposeB: boolean }): Float64Array {
  const c = new Float64Array(g.batch * g.m * g.n);
  for (let t = 0; t < g.batch; t++)
    for (let i = 0; i < g.m; i++)
      for (let j = 0; j < g.n; j++) {
        let s = 0;
        for (let l = 0; l < g.k; l++) s += a[t * g.m * g.k + (g.transposeA ? l * g.m + i : i * g.k + l)]! * b[t * g.k * g.n + (g.transposeB ? j * g.k + l : l * g.n + j)]!;
        c[(t * g.m + i) * g.n + j] = s;
      }
  return c;
}
