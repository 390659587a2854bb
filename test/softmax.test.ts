/**
 * Softmax forward and backward (a softmax that is not fused into the loss). The loss kernels,
 * the fused softmax-crossentropy among them, are tested in test/losses.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { softmaxBackward, softmaxForward } from '../shaders/softmax.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();

// ---- float64 references ----------------------------------------------------------------

function softmaxRef(x: ArrayLike<number>, rows: number, classes: number): Float64Array {
  const y = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < classes; j++) m = Math.max(m, x[r * classes + j]!);
    let s = 0;
    for (let j = 0; j < classes; j++) s += Math.exp(x[r * classes + j]! - m);
    for (let j = 0; j < classes; j++) y[r * classes + j] = Math.exp(x[r * classes + j]! - m) / s;
  }
  return y;
}

function softmaxBackwardRef(y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, classes: number): Float64Array {
  const dx = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < classes; j++) s += dy[r * classes + j]! * y[r * classes + j]!;
    for (let j = 0; j < classes; j++) dx[r * classes + j] = y[r * classes + j]! * (dy[r * classes + j]! - s);
  }
  return dx;
}

// ---- softmax -----------------------------------------------------------------------------

describe('softmax forward/backward', () => {
  for (const [rows, classes] of [[1, 10], [7, 3], [65, 10], [300, 3], [5, 257]] as const) {
    it(`${rows} × ${classes}`, async () => {
      const e = engine();
      const n = rows * classes;
      const x = randomArray(n, 11 + n, 5);
      const dy = randomArray(n, 12 + n);
      const y = nanBuffer(e, n);
      const dx = nanBuffer(e, n);
      e.run([e.kernel(softmaxForward(rows, classes), [uploadView(e, x), y]), e.kernel(softmaxBackward(rows, classes), [y, uploadView(e, dy), dx])]);
      const yGpu = await readF32(e, y, n);
      const dxGpu = await readF32(e, dx, n);
      const yRef = softmaxRef(x, rows, classes);
      const forwardErr = relL2(yGpu, yRef);
      const backwardErr = relL2(dxGpu, softmaxBackwardRef(yRef, dy, rows, classes));
      const idx = sampleIndices(n, 20, 3);
      const fd = finiteDifferences((xx) => dot(softmaxRef(xx, rows, classes), dy), toF64(x), idx);
      const fdErr = relL2(pick(dxGpu, idx), fd);
      console.log(`softmax ${rows}x${classes}: forward ${forwardErr.toExponential(2)}, backward ${backwardErr.toExponential(2)}, vs FD ${fdErr.toExponential(2)}`);
      expect(forwardErr).toBeLessThanOrEqual(1e-5);
      expect(backwardErr).toBeLessThanOrEqual(1e-4);
      expect(fdErr).toBeLessThanOrEqual(1e-4);
    });
  }

  it('stays finite for logits of ±1e4', async () => {
    const e = engine();
    const [rows, classes] = [9, 10];
    const x = randomArray(rows * classes, 5, 1e4);
    const y = nanBuffer(e, rows * classes);
    e.run([e.kernel(softmaxForward(rows, classes), [uploadView(e, x), y])]);
    const yGpu = await readF32(e, y, rows * classes);
    expect(yGpu.every(Number.isFinite)).toBe(true);
    expect(relL2(yGpu, softmaxRef(x, rows, classes))).toBeLessThanOrEqual(1e-5);
  });
});
