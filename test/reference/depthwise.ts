/**
 * Float64 references of the depthwise conv2d (NHWC, kernel [kH, kW, inC, multiplier], output
 * channel c·multiplier + m, strides, dilation, padding, bias, fused ReLU) and its gradients.
 * test/depthwise-conv2d.test.ts (which also checks them by central finite differences) and
 * test/property-families.test.ts check the kernels against them.
 */
import type { DepthwiseConv2DGeometry } from '../../src/ops/depthwise-conv2d.ts';

/** Calls visit(outIndex, xIndex, wIndex) for every tap of every output that lands inside the input. */
function forEachTap(g: DepthwiseConv2DGeometry, visit: (out: number, xi: number, wi: number) => void): void {
  const M = g.multiplier;
  const outC = g.inC * M;
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outH; oh++) {
      for (let ow = 0; ow < g.outW; ow++) {
        for (let ky = 0; ky < g.kH; ky++) {
          const iy = oh * g.strideH + ky * g.dilationH - g.padTop;
          if (iy < 0 || iy >= g.inH) continue;
          for (let kx = 0; kx < g.kW; kx++) {
            const ix = ow * g.strideW + kx * g.dilationW - g.padLeft;
            if (ix < 0 || ix >= g.inW) continue;
            for (let c = 0; c < g.inC; c++) {
              for (let m = 0; m < M; m++) {
                visit(((n * g.outH + oh) * g.outW + ow) * outC + c * M + m, ((n * g.inH + iy) * g.inW + ix) * g.inC + c, ((ky * g.kW + kx) * g.inC + c) * M + m);
              }
            }
          }
        }
      }
    }
  }
}

/** y = act(depthwise(x, w) + b). */
export function depthwiseForwardRef(g: DepthwiseConv2DGeometry, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null): Float64Array {
  const outC = g.inC * g.multiplier;
  const y = new Float64Array(g.batch * g.outH * g.outW * outC);
  if (b) for (let i = 0; i < y.length; i++) y[i] = b[i % outC]!;
  forEachTap(g, (out, xi, wi) => (y[out] += x[xi]! * w[wi]!));
  if (g.relu) for (let i = 0; i < y.length; i++) y[i] = Math.max(0, y[i]!);
  return y;
}

/** dx, dW, db written as scatters from dy (masked by the fused ReLU's [y > 0]). */
export function depthwiseBackwardRef(g: DepthwiseConv2DGeometry, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, dyIn: ArrayLike<number>) {
  const y = depthwiseForwardRef(g, x, w, b);
  const dy = Float64Array.from(dyIn, (v, i) => (g.relu && y[i]! <= 0 ? 0 : v));
  const outC = g.inC * g.multiplier;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(outC);
  forEachTap(g, (out, xi, wi) => {
    dx[xi] += dy[out]! * w[wi]!;
    dw[wi] += dy[out]! * x[xi]!;
  });
  for (let i = 0; i < dy.length; i++) db[i % outC] += dy[i]!;
  return { dx, dw, db };
}
