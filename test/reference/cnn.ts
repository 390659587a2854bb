/**
 * Float64 reference of the tutorial CNN's training step, composed from the per-kernel references:
 * conv(relu) → pool → conv(relu) → pool → conv(relu) → flatten → dense → softmax-crossentropy,
 * then RMSprop with Keras semantics. The model tests compare whole training steps against it.
 */
import { conv2dGeometry } from '../../src/ops/conv2d.ts';
import { poolGeometry } from '../../src/ops/pool.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './conv2d.ts';
import { maxPoolBackwardRef, maxPoolForwardRef } from './pool.ts';

/** Weights in getWeights() order: [k1, b1, k2, b2, k3, b3, denseKernel, denseBias]. */
export type CnnWeights = Float64Array[];

export interface CnnShape {
  batch: number;
  size: number; // input height = width
  filters: [number, number, number];
  classes: number;
}

function geometries(s: CnnShape) {
  const c1 = conv2dGeometry({ batch: s.batch, inputShape: [s.size, s.size, 1], filters: s.filters[0], kernelSize: [3, 3], relu: true });
  const p1 = poolGeometry(s.batch, [c1.outH, c1.outW, c1.outC], [2, 2], [2, 2], 'valid');
  const c2 = conv2dGeometry({ batch: s.batch, inputShape: [p1.outHeight, p1.outWidth, c1.outC], filters: s.filters[1], kernelSize: [3, 3], relu: true });
  const p2 = poolGeometry(s.batch, [c2.outH, c2.outW, c2.outC], [2, 2], [2, 2], 'valid');
  const c3 = conv2dGeometry({ batch: s.batch, inputShape: [p2.outHeight, p2.outWidth, c2.outC], filters: s.filters[2], kernelSize: [3, 3], relu: true });
  const flat = c3.outH * c3.outW * c3.outC;
  return { c1, p1, c2, p2, c3, flat };
}

/** Mean sparse crossentropy, its gradient w.r.t. every weight, and the logits. */
export function cnnLossAndGradients(s: CnnShape, w: CnnWeights, x: ArrayLike<number>, labels: ArrayLike<number>): { loss: number; grads: Float64Array[]; probs: Float64Array } {
  const g = geometries(s);
  const [k1, b1, k2, b2, k3, b3, kd, bd] = w as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  const a1 = conv2dForwardRef(g.c1, x, k1, b1);
  const q1 = maxPoolForwardRef(a1.y, g.p1);
  const a2 = conv2dForwardRef(g.c2, q1, k2, b2);
  const q2 = maxPoolForwardRef(a2.y, g.p2);
  const a3 = conv2dForwardRef(g.c3, q2, k3, b3);
  const flat = a3.y;
  const B = s.batch;
  const C = s.classes;
  const probs = new Float64Array(B * C);
  const dlogits = new Float64Array(B * C);
  let loss = 0;
  for (let n = 0; n < B; n++) {
    const logits = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let v = bd[c]!;
      for (let i = 0; i < g.flat; i++) v += flat[n * g.flat + i]! * kd[i * C + c]!;
      logits[c] = v;
    }
    const max = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    loss += -(logits[labels[n]!]! - max - Math.log(total)) / B;
    for (let c = 0; c < C; c++) {
      probs[n * C + c] = exps[c]! / total;
      dlogits[n * C + c] = (probs[n * C + c]! - (c === labels[n] ? 1 : 0)) / B;
    }
  }
  const dkd = new Float64Array(g.flat * C);
  const dbd = new Float64Array(C);
  const dflat = new Float64Array(B * g.flat);
  for (let n = 0; n < B; n++) {
    for (let c = 0; c < C; c++) {
      const d = dlogits[n * C + c]!;
      dbd[c]! += d;
      for (let i = 0; i < g.flat; i++) {
        dkd[i * C + c]! += flat[n * g.flat + i]! * d;
        dflat[n * g.flat + i]! += kd[i * C + c]! * d;
      }
    }
  }
  const g3 = conv2dBackwardRef(g.c3, q2, k3, a3.pre, dflat);
  const dq2 = maxPoolBackwardRef(a2.y, g3.dx, g.p2);
  const g2 = conv2dBackwardRef(g.c2, q1, k2, a2.pre, dq2);
  const dq1 = maxPoolBackwardRef(a1.y, g2.dx, g.p1);
  const g1 = conv2dBackwardRef(g.c1, x, k1, a1.pre, dq1);
  return { loss, grads: [g1.dw, g1.db, g2.dw, g2.db, g3.dw, g3.db, dkd, dbd], probs };
}

/** Keras RMSprop: v ← ρv + (1−ρ)g²; w ← w − lr·g/√(v+ε). Updates `w` and `v` in place. */
export function rmspropStep(w: Float64Array[], v: Float64Array[], grads: Float64Array[], lr = 1e-3, rho = 0.9, eps = 1e-7): void {
  w.forEach((wi, k) => {
    const vi = v[k]!;
    const gi = grads[k]!;
    for (let i = 0; i < wi.length; i++) {
      vi[i] = rho * vi[i]! + (1 - rho) * gi[i]! ** 2;
      wi[i]! -= (lr * gi[i]!) / Math.sqrt(vi[i]! + eps);
    }
  });
}
