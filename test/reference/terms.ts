/**
 * A float64 reference for any linear op written as its multiply-add terms (a convolution in any
 * layout, transposed or not): `terms(visit)` calls visit(xi, yi, wi) once per term
 * y[yi] += x[xi] · w[wi]; the output channel is yi mod `filters`. Bias and a fused ReLU optional.
 */
export type Terms = (visit: (xi: number, yi: number, wi: number) => void) => void;

export function termsForward(terms: Terms, outSize: number, filters: number, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, relu: boolean): { pre: Float64Array; y: Float64Array } {
  const pre = new Float64Array(outSize);
  if (b) for (let i = 0; i < pre.length; i++) pre[i] = b[i % filters]!;
  terms((xi, yi, wi) => (pre[yi]! += x[xi]! * w[wi]!));
  return { pre, y: relu ? pre.map((v) => Math.max(v, 0)) : pre };
}

/** dx, dW and db of termsForward from dy (masked by the ReLU where `relu`). */
export function termsBackward(terms: Terms, filters: number, x: ArrayLike<number>, w: ArrayLike<number>, pre: ArrayLike<number>, dy: ArrayLike<number>, relu: boolean): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const d = Float64Array.from(dy, (v, i) => (relu && !(pre[i]! > 0) ? 0 : v));
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(filters);
  for (let i = 0; i < d.length; i++) db[i % filters]! += d[i]!;
  terms((xi, yi, wi) => {
    dx[xi]! += d[yi]! * w[wi]!;
    dw[wi]! += d[yi]! * x[xi]!;
  });
  return { dx, dw, db };
}
