/**
 * Float64 reference of max pooling (NHWC), written as a scatter (each window sends its gradient to
 * its first maximum) so that it shares no structure with the gather kernel it checks.
 */
import type { PoolGeometry } from '../../shaders/pool.ts';

/** Calls `visit(outIndex, inIndices)` for every window, inIndices in row-major scan order. */
export function forEachWindow(g: PoolGeometry, visit: (out: number, inputs: number[]) => void): void {
  for (let n = 0; n < g.batch; n++) {
    for (let oh = 0; oh < g.outHeight; oh++) {
      for (let ow = 0; ow < g.outWidth; ow++) {
        for (let c = 0; c < g.channels; c++) {
          const inputs: number[] = [];
          for (let dh = 0; dh < g.poolH; dh++) {
            for (let dw = 0; dw < g.poolW; dw++) {
              const h = oh * g.strideH - g.padTop + dh;
              const w = ow * g.strideW - g.padLeft + dw;
              if (h >= 0 && h < g.height && w >= 0 && w < g.width) inputs.push(((n * g.height + h) * g.width + w) * g.channels + c);
            }
          }
          visit(((n * g.outHeight + oh) * g.outWidth + ow) * g.channels + c, inputs);
        }
      }
    }
  }
}

function firstArgmax(x: ArrayLike<number>, inputs: number[]): number {
  let best = inputs[0]!;
  for (const i of inputs) if (x[i]! > x[best]!) best = i;
  return best;
}

export function maxPoolForwardRef(x: ArrayLike<number>, g: PoolGeometry): Float64Array {
  const y = new Float64Array(g.batch * g.outHeight * g.outWidth * g.channels);
  forEachWindow(g, (out, inputs) => {
    y[out] = x[firstArgmax(x, inputs)]!;
  });
  return y;
}

export function maxPoolBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, g: PoolGeometry): Float64Array {
  const dx = new Float64Array(g.batch * g.height * g.width * g.channels);
  forEachWindow(g, (out, inputs) => {
    dx[firstArgmax(x, inputs)] += dy[out]!;
  });
  return dx;
}

/** TensorFlow's average pool: each window's mean over its taps inside the image (forEachWindow skips padding). */
export function avgPoolForwardRef(x: ArrayLike<number>, g: PoolGeometry): Float64Array {
  const y = new Float64Array(g.batch * g.outHeight * g.outWidth * g.channels);
  forEachWindow(g, (out, inputs) => {
    y[out] = inputs.reduce((s, i) => s + x[i]!, 0) / inputs.length;
  });
  return y;
}

/** Its gradient, written as a scatter: each window shares its dy equally among its taps. */
export function avgPoolBackwardRef(dy: ArrayLike<number>, g: PoolGeometry): Float64Array {
  const dx = new Float64Array(g.batch * g.height * g.width * g.channels);
  forEachWindow(g, (out, inputs) => {
    for (const i of inputs) dx[i]! += dy[out]! / inputs.length;
  });
  return dx;
}
