import { describe, expect, it } from 'vitest';
import { softmaxBackward, softmaxCrossentropy, softmaxForward } from '../shaders/softmax.ts';
import { lossDispatches, lossLabelKind, METRICS_BYTES, readMetrics, resolveLoss, resolveMetrics, type LossName } from '../src/losses.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { Random } from '../src/layers/initializers.ts';
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

function firstArgmax(a: ArrayLike<number>, base: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[base + j]! > a[base + best]!) best = j;
  return best;
}

/** General crossentropy −Σ t·log softmax(x) per row; gradient of the batch mean (p·Σt − t)/B. */
function crossentropyRef(x: ArrayLike<number>, t: ArrayLike<number>, batch: number, classes: number) {
  let lossSum = 0;
  let correct = 0;
  const grad = new Float64Array(batch * classes);
  for (let r = 0; r < batch; r++) {
    const base = r * classes;
    let m = -Infinity;
    for (let j = 0; j < classes; j++) m = Math.max(m, x[base + j]!);
    let s = 0;
    for (let j = 0; j < classes; j++) s += Math.exp(x[base + j]! - m);
    const lse = m + Math.log(s);
    let tSum = 0;
    for (let j = 0; j < classes; j++) {
      tSum += t[base + j]!;
      lossSum += t[base + j]! * (lse - x[base + j]!);
    }
    for (let j = 0; j < classes; j++) grad[base + j] = (Math.exp(x[base + j]! - lse) * tSum - t[base + j]!) / batch;
    if (firstArgmax(x, base, classes) === firstArgmax(t, base, classes)) correct++;
  }
  return { lossSum, correct, grad };
}

function oneHot(labels: Uint32Array, classes: number): Float32Array {
  const t = new Float32Array(labels.length * classes);
  labels.forEach((l, r) => (t[r * classes + l] = 1));
  return t;
}

function randomLabels(batch: number, classes: number, seed: number): Uint32Array {
  const r = new Random(seed);
  return Uint32Array.from({ length: batch }, () => Math.floor(r.next() * classes));
}

function relError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

// ---- GPU runners -------------------------------------------------------------------------

function zeroMetrics(e: Engine) {
  return uploadView(e, new Uint32Array(METRICS_BYTES / 4));
}

async function runLoss(e: Engine, loss: LossName, logits: Float32Array, labels: Float32Array | Uint32Array, batch: number, classes: number) {
  const dlogits = nanBuffer(e, batch * classes);
  const metrics = zeroMetrics(e);
  e.run(lossDispatches(e, { batch, classes, loss, withGradient: true }, { logits: uploadView(e, logits), labels: uploadView(e, labels), dlogits, metrics }));
  const bytes = await e.read(metrics, METRICS_BYTES);
  return { ...readMetrics(bytes), raw: new Uint32Array(bytes), grad: await readF32(e, dlogits, batch * classes) };
}

describe('crossentropy of a partial batch', () => {
  for (const loss of ['sparseCategoricalCrossentropy', 'categoricalCrossentropy'] as const) {
    it(`${loss}: only StepInfo.rows rows count, the mean is over them, the others get a zero gradient`, async () => {
      const e = engine();
      const [batch, rows, classes] = [6, 4, 5];
      const logits = randomArray(batch * classes, 31, 3);
      const labels = randomLabels(batch, classes, 32);
      const step = e.uniform(STEP_INFO_BYTES, 'step-info');
      e.write(step, stepInfoData(0, 0, 0, rows));
      const dlogits = nanBuffer(e, batch * classes);
      const metrics = zeroMetrics(e);
      const labelData = loss === 'categoricalCrossentropy' ? oneHot(labels, classes) : labels;
      const stepInfo = { buffer: step, offset: 0, size: STEP_INFO_BYTES };
      e.run(lossDispatches(e, { batch, classes, loss, withGradient: true }, { logits: uploadView(e, logits), labels: uploadView(e, labelData), dlogits, metrics, stepInfo }));
      const got = readMetrics(await e.read(metrics, METRICS_BYTES));
      const grad = await readF32(e, dlogits, batch * classes);
      const ref = crossentropyRef(logits.subarray(0, rows * classes), oneHot(labels.subarray(0, rows), classes), rows, classes);
      expect(got.count).toBe(rows);
      expect(got.correct).toBe(ref.correct);
      expect(relError(got.lossSum, ref.lossSum)).toBeLessThanOrEqual(1e-6);
      expect(relL2(grad.subarray(0, rows * classes), ref.grad)).toBeLessThanOrEqual(1e-6);
      expect(Array.from(grad.subarray(rows * classes))).toEqual(new Array((batch - rows) * classes).fill(0));
    });
  }
});

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

// ---- fused softmax-crossentropy ----------------------------------------------------------

describe('softmax crossentropy', () => {
  for (const classes of [10, 3]) {
    for (const batch of [1, 7, 64, 300]) {
      it(`B=${batch}, C=${classes}: loss, accuracy and gradient, sparse ≡ one-hot`, async () => {
        const e = engine();
        const n = batch * classes;
        const logits = randomArray(n, batch * 31 + classes, 3);
        const labels = randomLabels(batch, classes, batch + classes);
        const ref = crossentropyRef(logits, oneHot(labels, classes), batch, classes);
        const sparse = await runLoss(e, 'sparseCategoricalCrossentropy', logits, labels, batch, classes);
        const onehot = await runLoss(e, 'categoricalCrossentropy', logits, oneHot(labels, classes), batch, classes);

        const lossErr = relError(sparse.lossSum, ref.lossSum);
        const gradErr = relL2(sparse.grad, ref.grad);
        // d(mean loss)/dlogits by finite differences of the float64 reference.
        const idx = sampleIndices(n, 20, batch);
        const fd = finiteDifferences((x) => crossentropyRef(x, oneHot(labels, classes), batch, classes).lossSum / batch, toF64(logits), idx);
        const fdErr = relL2(pick(sparse.grad, idx), fd);
        console.log(`crossentropy B=${batch} C=${classes}: loss ${lossErr.toExponential(2)}, gradient ${gradErr.toExponential(2)}, vs FD ${fdErr.toExponential(2)}`);
        expect(lossErr).toBeLessThanOrEqual(1e-5);
        expect(sparse.correct).toBe(ref.correct);
        expect(sparse.count).toBe(batch);
        expect(gradErr).toBeLessThanOrEqual(1e-4);
        expect(fdErr).toBeLessThanOrEqual(1e-4);
        // Equivalent labels give the same bits (TF.js's two paths agree exactly, too).
        expect([...onehot.raw]).toEqual([...sparse.raw]);
        expect([...onehot.grad]).toEqual([...sparse.grad]);
      });
    }
  }

  it('evaluation variant (no gradient) accumulates the same metrics', async () => {
    const e = engine();
    const [batch, classes] = [70, 10];
    const logits = randomArray(batch * classes, 77, 3);
    const labels = randomLabels(batch, classes, 78);
    const metrics = zeroMetrics(e);
    e.run(lossDispatches(e, { batch, classes, loss: 'sparseCategoricalCrossentropy', withGradient: false }, { logits: uploadView(e, logits), labels: uploadView(e, labels), dlogits: null, metrics }));
    const got = readMetrics(await e.read(metrics, METRICS_BYTES));
    const withGrad = await runLoss(e, 'sparseCategoricalCrossentropy', logits, labels, batch, classes);
    expect(got).toEqual({ lossSum: withGrad.lossSum, correct: withGrad.correct, count: withGrad.count });
  });

  it('general crossentropy for label rows not summing to 1', async () => {
    const e = engine();
    const [batch, classes] = [37, 10];
    const n = batch * classes;
    const logits = randomArray(n, 91, 3);
    const t = randomArray(n, 92).map(Math.abs); // rows sum to ~5, not 1
    const ref = crossentropyRef(logits, t, batch, classes);
    const got = await runLoss(e, 'categoricalCrossentropy', logits, t, batch, classes);
    const idx = sampleIndices(n, 20, 93);
    const fd = finiteDifferences((x) => crossentropyRef(x, t, batch, classes).lossSum / batch, toF64(logits), idx);
    const [lossErr, gradErr, fdErr] = [relError(got.lossSum, ref.lossSum), relL2(got.grad, ref.grad), relL2(pick(got.grad, idx), fd)];
    console.log(`crossentropy soft labels: loss ${lossErr.toExponential(2)}, gradient ${gradErr.toExponential(2)}, vs FD ${fdErr.toExponential(2)}`);
    expect(lossErr).toBeLessThanOrEqual(1e-5);
    expect(got.correct).toBe(ref.correct);
    expect(gradErr).toBeLessThanOrEqual(1e-4);
    expect(fdErr).toBeLessThanOrEqual(1e-4);
  });

  it('stays finite and accurate for logits of ±1e4', async () => {
    const e = engine();
    const [batch, classes] = [64, 10];
    const logits = randomArray(batch * classes, 17, 1e4);
    const labels = randomLabels(batch, classes, 18);
    const ref = crossentropyRef(logits, oneHot(labels, classes), batch, classes);
    for (const [loss, l] of [['sparseCategoricalCrossentropy', labels], ['categoricalCrossentropy', oneHot(labels, classes)]] as const) {
      const got = await runLoss(e, loss, logits, l, batch, classes);
      expect(Number.isFinite(got.lossSum)).toBe(true);
      expect(got.grad.every(Number.isFinite)).toBe(true);
      expect(relError(got.lossSum, ref.lossSum)).toBeLessThanOrEqual(1e-5);
      expect(got.correct).toBe(ref.correct);
      expect(relL2(got.grad, ref.grad)).toBeLessThanOrEqual(1e-4);
    }
  });

  it('adds into the accumulator across calls', async () => {
    const e = engine();
    const [batch, classes] = [20, 10];
    const metrics = zeroMetrics(e);
    const dlogits = nanBuffer(e, batch * classes);
    let expectedLoss = 0;
    let expectedCorrect = 0;
    for (let call = 0; call < 3; call++) {
      const logits = randomArray(batch * classes, 200 + call, 2);
      const labels = randomLabels(batch, classes, 300 + call);
      const ref = crossentropyRef(logits, oneHot(labels, classes), batch, classes);
      expectedLoss += ref.lossSum;
      expectedCorrect += ref.correct;
      e.run(lossDispatches(e, { batch, classes, loss: 'sparseCategoricalCrossentropy', withGradient: true }, { logits: uploadView(e, logits), labels: uploadView(e, labels), dlogits, metrics }));
    }
    const got = readMetrics(await e.read(metrics, METRICS_BYTES));
    expect(relError(got.lossSum, expectedLoss)).toBeLessThanOrEqual(1e-5);
    expect(got.correct).toBe(expectedCorrect);
    expect(got.count).toBe(3 * batch);
  });

  it('Kahan summation keeps 1000 additions of ~2.3 accurate', async () => {
    const e = engine();
    const classes = 10;
    const logits = randomArray(classes, 5, 0.1); // near-uniform: loss ≈ log 10 ≈ 2.3
    const labels = new Uint32Array([3]);
    const perCall = crossentropyRef(logits, oneHot(labels, classes), 1, classes).lossSum;
    const metrics = zeroMetrics(e);
    const dispatch = lossDispatches(e, { batch: 1, classes, loss: 'sparseCategoricalCrossentropy', withGradient: false }, { logits: uploadView(e, logits), labels: uploadView(e, labels), dlogits: null, metrics });
    e.run(Array.from({ length: 1000 }, () => dispatch[0]!));
    const got = readMetrics(await e.read(metrics, METRICS_BYTES));
    // A plain f32 running sum drifts past the tolerance, so the test can tell Kahan is working.
    let naive = 0;
    for (let i = 0; i < 1000; i++) naive = Math.fround(naive + Math.fround(perCall));
    console.log(`Kahan: relative error ${relError(got.lossSum, 1000 * perCall).toExponential(2)} (naive f32 sum ${relError(naive, 1000 * perCall).toExponential(2)})`);
    expect(relError(naive, 1000 * perCall)).toBeGreaterThan(1e-6);
    expect(relError(got.lossSum, 1000 * perCall)).toBeLessThanOrEqual(1e-6);
    expect(got.count).toBe(1000);
  });

  it('makes the loss NaN for a sparse label outside [0, classes)', async () => {
    const e = engine();
    const [batch, classes] = [4, 10];
    const got = await runLoss(e, 'sparseCategoricalCrossentropy', randomArray(batch * classes, 8), new Uint32Array([1, 2, 10, 3]), batch, classes);
    expect(got.lossSum).toBeNaN();
    expect(got.count).toBe(batch);
  });

  it('keys name every variant', () => {
    const keys = new Set(
      (['sparse', 'onehot'] as const).flatMap((l) => [true, false].map((g) => softmaxCrossentropy(64, 10, l, g).key)),
    );
    expect(keys.size).toBe(4);
    expect(softmaxCrossentropy(64, 10, 'sparse', true).key).not.toBe(softmaxCrossentropy(32, 10, 'sparse', true).key);
  });
});

// ---- loss and metric registry ------------------------------------------------------------

describe('loss registry', () => {
  it('resolves TF.js and Keras names', () => {
    expect(resolveLoss('sparseCategoricalCrossentropy')).toBe('sparseCategoricalCrossentropy');
    expect(resolveLoss('sparse_categorical_crossentropy')).toBe('sparseCategoricalCrossentropy');
    expect(resolveLoss('categorical_crossentropy')).toBe('categoricalCrossentropy');
    expect(lossLabelKind('sparseCategoricalCrossentropy')).toBe('sparse');
    expect(lossLabelKind('categoricalCrossentropy')).toBe('onehot');
    expect(() => resolveLoss('mse')).toThrow(/unknown loss 'mse'; known: .*sparse_categorical_crossentropy/);
    expect(() => resolveLoss(undefined)).toThrow(/unknown loss 'undefined'/);
    expect(() => resolveLoss('toString')).toThrow(/unknown loss/);
  });

  it('resolves metrics', () => {
    expect(resolveMetrics(undefined)).toEqual([]);
    expect(resolveMetrics([])).toEqual([]);
    expect(resolveMetrics('acc')).toEqual(['accuracy']);
    expect(resolveMetrics(['accuracy', 'sparse_categorical_accuracy'])).toEqual(['accuracy']);
    expect(resolveMetrics(['categorical_accuracy'])).toEqual(['accuracy']);
    expect(() => resolveMetrics(['accuracy', 'mae'])).toThrow(/unknown metric 'mae'; known: accuracy, acc/);
  });

  it('readMetrics decodes the accumulator with the Kahan term', () => {
    const bytes = new ArrayBuffer(METRICS_BYTES);
    new Float32Array(bytes).set([10.5, 0, 0, -0.25]);
    new Uint32Array(bytes).set([7, 64], 1);
    expect(readMetrics(bytes)).toEqual({ lossSum: 10.75, correct: 7, count: 64 });
  });

  it('asks for dlogits when a gradient is wanted', () => {
    const e = engine();
    const v = uploadView(e, new Float32Array(16));
    expect(() => lossDispatches(e, { batch: 1, classes: 4, loss: 'categoricalCrossentropy', withGradient: true }, { logits: v, labels: v, dlogits: null, metrics: v })).toThrow(/dlogits/);
  });
});
