/**
 * Float64 reference of 2-D convolution (NHWC, HWIO, strides, dilation, resolved padding), written for clarity:
 * every kernel in shaders/conv2d.ts is checked against it.
 */
import type { Conv2DGeometry } from '../../shaders/conv2d.ts';

/**
 * Visits every (output pixel, tap, input channel) with the flat indices of y[n,oy,ox,0], x[n,iy,ix,ci]
 * and w[ky,kx,ci,0]; skips taps in the padding. Callers loop over the output channels.
 */
function forEachTerm(g: Conv2DGeometry, visit: (yRow: number, xi: number, wRow: number) => void): void {
  for (let n = 0; n < g.batch; n++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        const yRow = ((n * g.outH + oy) * g.outW + ox) * g.outC;
        for (let ky = 0; ky < g.kH; ky++) {
          const iy = oy * g.strideH + ky * g.dilationH - g.padTop;
          if (iy < 0 || iy >= g.inH) continue;
          for (let kx = 0; kx < g.kW; kx++) {
            const ix = ox * g.strideW + kx * g.dilationW - g.padLeft;
            if (ix < 0 || ix >= g.inW) continue;
            const xRow = ((n * g.inH + iy) * g.inW + ix) * g.inC;
            for (let ci = 0; ci < g.inC; ci++) visit(yRow, xRow + ci, ((ky * g.kW + kx) * g.inC + ci) * g.outC);
          }
        }
      }
    }
  }
}

export interface Conv2DRefOutput {
  /** Before the activation. */
  pre: Float64Array;
  y: Float64Array;
}

export function conv2dForwardRef(g: Conv2DGeometry, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null): Conv2DRefOutput {
  const pre = new Float64Array(g.batch * g.outH * g.outW * g.outC);
  if (b) for (let i = 0; i < pre.length; i++) pre[i] = b[i % g.outC]!;
  forEachTerm(g, (yRow, xi, wRow) => {
    const xv = x[xi]!;
    for (let co = 0; co < g.outC; co++) pre[yRow + co]! += xv * w[wRow + co]!;
  });
  return { pre, y: g.relu ? pre.map((v) => Math.max(v, 0)) : pre };
}

export interface Conv2DRefGrads {
  dx: Float64Array;
  dw: Float64Array;
  db: Float64Array;
}

/** Gradients of L given dL/dy; `pre` is the forward's pre-activation (for the ReLU mask). */
export function conv2dBackwardRef(g: Conv2DGeometry, x: ArrayLike<number>, w: ArrayLike<number>, pre: ArrayLike<number>, dy: ArrayLike<number>): Conv2DRefGrads {
  const d = Float64Array.from(dy, (v, i) => (g.relu && !(pre[i]! > 0) ? 0 : v));
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.inC);
  const dw = new Float64Array(g.kH * g.kW * g.inC * g.outC);
  const db = new Float64Array(g.outC);
  for (let i = 0; i < d.length; i++) db[i % g.outC]! += d[i]!;
  forEachTerm(g, (yRow, xi, wRow) => {
    const xv = x[xi]!;
    let sum = 0;
    for (let co = 0; co < g.outC; co++) {
      sum += d[yRow + co]! * w[wRow + co]!;
      dw[wRow + co]! += d[yRow + co]! * xv;
    }
    dx[xi]! += sum;
  });
  return { dx, dw, db };
}
