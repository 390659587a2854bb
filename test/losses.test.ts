/**
 * The loss ops (src/ops/losses) and their kernels (shaders/losses.ts): every loss, fused and
 * unfused where it fuses an activation, against a float64 reference of TF.js's formula (value,
 * analytic gradient, central finite differences) and against TF.js itself (cpu backend: the
 * value and the autodiff gradient of the same batch-mean loss). Outputs are [5, 7] (a last axis
 * that is not a multiple of 4) and [4, 3, 5] with 3 real rows (rank 3, partial batch: the padding
 * rows hold NaN outputs and, for sparse labels, out-of-range classes, which must not leak in).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { elementwiseLoss, EPSILON, rowLoss } from '../shaders/losses.ts';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { accuracyKind, lossNames, resolveAccuracyRequest, resolveLoss } from '../src/ops/losses/index.ts';
import type { AccuracyKind, LossOp } from '../src/ops/losses/loss.ts';
import { METRICS_BYTES, readMetrics } from '../src/ops/losses/metrics.ts';
import type { BufferView, Engine } from '../src/runtime/engine.ts';
import { finiteDifferences, nanBuffer, pick, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { accuracyRef, bits, classes, LOSS_CASES, oneHot, REFERENCES, uniform } from './reference/losses.ts';

const engine = useEngine();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function relError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

// ---- TF.js twins ---------------------------------------------------------------------------

type TfLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** The function TF.js layers trains with for `name` (model.compile resolves it). */
function tfjsLossFunction(name: string): TfLoss {
  if (name === 'huber') return (t, y) => tf.losses.huberLoss(t, y, undefined, 1, tf.Reduction.NONE).mean(-1);
  const input = tf.input({ shape: [1] });
  const m = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 1 }).apply(input) as tf.SymbolicTensor });
  m.compile({ optimizer: 'sgd', loss: name });
  const fn = (m as unknown as { lossFunctions: TfLoss[] }).lossFunctions[0]!;
  m.dispose();
  return fn;
}

/** TF.js's batch-mean loss and its gradient w.r.t. the (pre-activation, when fused) output. */
function tfjsTwin(name: string, fused: 'softmax' | 'sigmoid' | undefined, y: Float32Array, t: Float32Array | Uint32Array, shape: number[], sparse: boolean) {
  const fn = tfjsLossFunction(name);
  return tf.tidy(() => {
    const yTensor = tf.tensor(y, shape);
    const tTensor = sparse ? tf.tensor(Float32Array.from(t), shape.slice(0, -1)) : tf.tensor(t, shape);
    const f = (x: tf.Tensor) => tf.mean(fn(tTensor, fused === 'softmax' ? tf.softmax(x) : fused === 'sigmoid' ? tf.sigmoid(x) : x));
    const value = f(yTensor).dataSync()[0]!;
    const grad = tf.grad(f)(yTensor).dataSync() as Float32Array;
    return { value, grad: Float32Array.from(grad) };
  });
}

// ---- GPU runner ----------------------------------------------------------------------------

interface RunOptions {
  batch: number;
  shape: number[];
  rows: number;
  fused: boolean;
  accuracy: AccuracyKind | null;
  gradient?: boolean;
  metrics?: BufferView;
}

async function runLoss(e: Engine, op: LossOp, y: Float32Array, t: Float32Array | Uint32Array, o: RunOptions) {
  const n = y.length;
  const grad = o.gradient === false ? null : nanBuffer(e, n);
  const metrics = o.metrics ?? uploadView(e, new Uint32Array(METRICS_BYTES / 4));
  const step = e.uniform(STEP_INFO_BYTES, 'step-info');
  e.write(step, stepInfoData(0, 0, 0, o.rows));
  const views = { output: uploadView(e, y), labels: uploadView(e, t), grad, metrics, stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES } };
  e.run(op.dispatches(e, { batch: o.batch, outputShape: o.shape }, views, { fused: o.fused, accuracy: o.accuracy }));
  const bytes = await e.read(metrics, METRICS_BYTES);
  return { ...readMetrics(bytes), raw: new Uint32Array(bytes), grad: grad ? await readF32(e, grad, n) : null };
}

// ---- the losses ----------------------------------------------------------------------------

const GEOMETRIES = [
  { title: '[5, 7]', batch: 5, shape: [7], rows: 5 },
  { title: '[4, 3, 5] with 3 real rows', batch: 4, shape: [3, 5], rows: 3 },
];

describe('every loss against float64 TF.js formulas, finite differences and TF.js', () => {
  for (const variant of LOSS_CASES) {
    for (const geometry of GEOMETRIES) {
      const op = resolveLoss(variant.loss);
      const title = `${variant.loss}${op.fuses ? (variant.fused ? ` (fused ${op.fuses})` : ' (on probabilities)') : ''} ${geometry.title}`;
      it(title, async () => {
        const e = engine();
        const { batch, shape, rows } = geometry;
        const width = shape[shape.length - 1]!;
        const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const sample = positions * width;
        const sparse = op.labels === 'sparse';
        const seed = variant.loss.length * 101 + width * 7 + (variant.fused ? 1 : 0);
        const { y: yReal, t: tReal } = variant.data(rows * positions, width, seed);
        // The padding rows: NaN outputs and (sparse) labels past the last class must not leak in.
        const y = new Float32Array(batch * sample).fill(NaN);
        y.set(yReal);
        const t = sparse ? new Uint32Array(batch * positions).fill(999) : new Float32Array(batch * sample).fill(NaN);
        t.set(tReal);
        const accuracy = op.accuracy(shape);
        op.checkOutput(shape, 'test');
        const got = await runLoss(e, op, y, t, { batch, shape, rows, fused: variant.fused, accuracy });

        const ref = REFERENCES[variant.loss + (variant.fused ? '/fused' : '')]!(toF64(yReal), tReal, rows * positions, width);
        const count = rows * positions;
        const refLoss = ref.sum / count;
        const refGrad = ref.grad.map((g) => g / count);
        const loss = got.lossSum / got.count;
        const realGrad = got.grad!.subarray(0, rows * sample);
        const lossErr = relError(loss, refLoss);
        const gradErr = relL2(realGrad, refGrad);
        const idx = sampleIndices(rows * sample, 24, seed);
        const fd = finiteDifferences((x) => REFERENCES[variant.loss + (variant.fused ? '/fused' : '')]!(x, tReal, count, width).sum / count, toF64(yReal), idx);
        const fdErr = relL2(pick(realGrad, idx), fd);
        const twin = tfjsTwin(variant.loss, variant.fused ? op.fuses : undefined, yReal, tReal, [rows, ...shape], sparse);
        const tfjsErr = relError(loss, twin.value);
        const tfjsGradErr = relL2(realGrad, twin.grad);
        console.log(
          `${title}: loss ${lossErr.toExponential(1)}, gradient ${gradErr.toExponential(1)}, vs FD ${fdErr.toExponential(1)}, vs TF.js loss ${tfjsErr.toExponential(1)} gradient ${tfjsGradErr.toExponential(1)}`,
        );
        expect(got.count).toBe(count);
        expect(lossErr).toBeLessThanOrEqual(1e-5);
        expect(gradErr).toBeLessThanOrEqual(1e-5);
        expect(fdErr).toBeLessThanOrEqual(1e-4);
        expect(tfjsErr).toBeLessThanOrEqual(1e-5);
        expect(tfjsGradErr).toBeLessThanOrEqual(1e-4);
        expect(Array.from(got.grad!.subarray(rows * sample))).toEqual(new Array((batch - rows) * sample).fill(0));

        const activation = variant.fused ? op.fuses! : 'none';
        const acc = accuracyRef(accuracy, yReal, tReal, count, width, activation);
        expect({ correct: got.correct, accuracyCount: got.accuracyCount }).toEqual(acc);

        // Evaluation (no gradient, no accuracy) adds the same loss.
        const evaluation = await runLoss(e, op, y, t, { batch, shape, rows, fused: variant.fused, accuracy: null, gradient: false });
        expect(relError(evaluation.lossSum, got.lossSum)).toBeLessThanOrEqual(1e-6);
        expect(evaluation.count).toBe(count);
        expect([evaluation.correct, evaluation.accuracyCount]).toEqual([0, 0]);
      });
    }
  }
});

// ---- beyond the grid ---------------------------------------------------------------------------

/** A loss over [batch, ...shape] with every row real, its metrics and gradient against the float64 reference. */
async function checkAgainstReference(e: Engine, loss: string, fused: boolean, y: Float32Array, t: Float32Array | Uint32Array, batch: number, shape: number[]) {
  const op = resolveLoss(loss);
  const width = shape[shape.length - 1]!;
  const positions = batch * shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const got = await runLoss(e, op, y, t, { batch, shape, rows: batch, fused, accuracy: op.accuracy(shape) });
  const ref = REFERENCES[loss + (fused ? '/fused' : '')]!(toF64(y), t, positions, width);
  return { got, lossErr: relError(got.lossSum, ref.sum), gradErr: relL2(got.grad!, ref.grad.map((g) => g / positions)), ref };
}

describe('bigger batches', () => {
  // 300 rows: invocations loop over several rows; 200 × 100 elements: the 256-wide workgroup.
  for (const [loss, fused, batch, width] of [
    ['sparseCategoricalCrossentropy', true, 300, 10],
    ['categoricalCrossentropy', false, 300, 3],
    ['meanSquaredError', false, 200, 100],
    ['binaryCrossentropy', true, 200, 100],
  ] as const) {
    it(`${loss}${fused ? ' (fused)' : ''} on [${batch}, ${width}]`, async () => {
      const e = engine();
      const variant = LOSS_CASES.find((v) => v.loss === loss && v.fused === fused)!;
      const { y, t } = variant.data(batch, width, batch + width);
      const { got, lossErr, gradErr } = await checkAgainstReference(e, loss, fused, y, t, batch, [width]);
      console.log(`${loss} [${batch}, ${width}]: loss ${lossErr.toExponential(1)}, gradient ${gradErr.toExponential(1)}`);
      expect(got.count).toBe(batch);
      expect(lossErr).toBeLessThanOrEqual(1e-5);
      expect(gradErr).toBeLessThanOrEqual(1e-5);
    });
  }
});

describe('fused crossentropies', () => {
  it('sparse and one-hot labels give the same bits', async () => {
    const e = engine();
    const [batch, width] = [64, 10];
    const y = uniform(batch * width, 5, -3, 3);
    const labels = classes(batch, width, 6);
    const o = { batch, shape: [width], rows: batch, fused: true };
    const sparse = await runLoss(e, resolveLoss('sparseCategoricalCrossentropy'), y, labels, { ...o, accuracy: 'sparse' });
    const dense = await runLoss(e, resolveLoss('categoricalCrossentropy'), y, oneHot(labels, width), { ...o, accuracy: 'categorical' });
    expect([...dense.raw]).toEqual([...sparse.raw]);
    expect([...dense.grad!]).toEqual([...sparse.grad!]);
  });

  it('soft labels that do not sum to 1', async () => {
    const e = engine();
    const [batch, width] = [37, 10];
    const y = uniform(batch * width, 91, -3, 3);
    const t = uniform(batch * width, 92, 0, 1); // rows sum to ~5
    const { got, lossErr, gradErr, ref } = await checkAgainstReference(e, 'categoricalCrossentropy', true, y, t, batch, [width]);
    const idx = sampleIndices(batch * width, 20, 93);
    const fd = finiteDifferences((x) => REFERENCES['categoricalCrossentropy/fused']!(x, t, batch, width).sum / batch, toF64(y), idx);
    expect(lossErr).toBeLessThanOrEqual(1e-5);
    expect(gradErr).toBeLessThanOrEqual(1e-5);
    expect(relL2(pick(got.grad!, idx), fd)).toBeLessThanOrEqual(1e-4);
    expect(ref.sum).toBeGreaterThan(0);
  });

  it('stay finite and accurate for logits of ±1e4', async () => {
    const e = engine();
    const [batch, width] = [64, 10];
    const y = uniform(batch * width, 17, -1e4, 1e4);
    const labels = classes(batch, width, 18);
    for (const [loss, t] of [
      ['sparseCategoricalCrossentropy', labels],
      ['categoricalCrossentropy', oneHot(labels, width)],
      ['binaryCrossentropy', bits(batch * width, 19)],
    ] as const) {
      const { got, lossErr, gradErr } = await checkAgainstReference(e, loss, true, y, t, batch, [width]);
      expect(Number.isFinite(got.lossSum)).toBe(true);
      expect(got.grad!.every(Number.isFinite)).toBe(true);
      expect(lossErr).toBeLessThanOrEqual(1e-5);
      expect(gradErr).toBeLessThanOrEqual(1e-5);
    }
  });

  it('a sparse label outside [0, classes) makes the loss NaN, fused or not', async () => {
    const e = engine();
    const [batch, width] = [4, 10];
    const labels = new Uint32Array([1, 2, 10, 3]);
    for (const fused of [true, false]) {
      const y = fused ? uniform(batch * width, 8, -1, 1) : uniform(batch * width, 8, 0.05, 1);
      const got = await runLoss(e, resolveLoss('sparseCategoricalCrossentropy'), y, labels, { batch, shape: [width], rows: batch, fused, accuracy: 'sparse' });
      expect(got.lossSum).toBeNaN();
      expect(got.count).toBe(batch);
    }
  });
});

describe('accuracy', () => {
  it("follows Keras's rule", () => {
    expect(resolveLoss('sparseCategoricalCrossentropy').accuracy([10])).toBe('sparse');
    expect(resolveLoss('categoricalCrossentropy').accuracy([10])).toBe('categorical');
    expect(resolveLoss('binaryCrossentropy').accuracy([10])).toBe('binary');
    expect(resolveLoss('binaryCrossentropy').accuracy([1])).toBe('binary');
    expect(resolveLoss('mse').accuracy([1])).toBe('binary');
    expect(resolveLoss('mse').accuracy([4, 1])).toBe('binary');
    expect(resolveLoss('mse').accuracy([3])).toBe('categorical');
    expect(resolveLoss('cosineProximity').accuracy([2, 3])).toBe('categorical');
  });

  it('counts as TF.js metrics do: binary per element, categorical and sparse by the first maximum', async () => {
    const e = engine();
    const [batch, width] = [12, 4];
    // Ties in outputs and labels: the first maximum wins on both sides.
    const y = uniform(batch * width, 40, 0, 1).map((v) => Math.round(v * 4) / 4);
    const labels = classes(batch, width, 41);
    const t = oneHot(labels, width);
    t[2 * width + 3] = 1; // a tied label row
    const o = { batch, shape: [width], rows: batch, fused: false };
    const sparse = await runLoss(e, resolveLoss('sparseCategoricalCrossentropy'), y.map((v) => v + 0.05), labels, { ...o, accuracy: 'sparse' });
    const categorical = await runLoss(e, resolveLoss('mse'), y, t, { ...o, accuracy: 'categorical' });
    const binary = await runLoss(e, resolveLoss('mse'), y, t, { ...o, accuracy: 'binary' });
    const tfAccuracy = (m: tf.Tensor) => tf.mean(m).dataSync()[0]!;
    const [yT, tT] = [tf.tensor2d(y, [batch, width]), tf.tensor2d(t, [batch, width])];
    expect(sparse.correct / sparse.accuracyCount).toBeCloseTo(tfAccuracy(tf.metrics.sparseCategoricalAccuracy(tf.tensor1d(Float32Array.from(labels)), yT.add(0.05))), 6);
    expect(categorical.correct / categorical.accuracyCount).toBeCloseTo(tfAccuracy(tf.metrics.categoricalAccuracy(tT, yT)), 6);
    expect(binary.correct / binary.accuracyCount).toBeCloseTo(tfAccuracy(tf.metrics.binaryAccuracy(tT, yT)), 6);
    expect([sparse.accuracyCount, categorical.accuracyCount, binary.accuracyCount]).toEqual([batch, batch, batch * width]);
    expect({ correct: categorical.correct, accuracyCount: categorical.accuracyCount }).toEqual(accuracyRef('categorical', y, t, batch, width, 'none'));
    expect({ correct: binary.correct, accuracyCount: binary.accuracyCount }).toEqual(accuracyRef('binary', y, t, batch, width, 'none'));
  });

  it('binary accuracy of a one-wide regression output, and of fused softmax probabilities', async () => {
    const e = engine();
    const batch = 9;
    const y1 = uniform(batch, 50, 0, 1);
    const t1 = bits(batch, 51);
    const mse = await runLoss(e, resolveLoss('mse'), y1, t1, { batch, shape: [1], rows: batch, fused: false, accuracy: 'binary' });
    expect({ correct: mse.correct, accuracyCount: mse.accuracyCount }).toEqual(accuracyRef('binary', y1, t1, batch, 1, 'none'));
    const width = 3;
    const z = uniform(batch * width, 52, -3, 3);
    const t = oneHot(classes(batch, width, 53), width);
    const op = resolveLoss('categoricalCrossentropy');
    const kind = accuracyKind(op, [width], resolveAccuracyRequest('binaryAccuracy'));
    const ce = await runLoss(e, op, z, t, { batch, shape: [width], rows: batch, fused: true, accuracy: kind });
    expect({ correct: ce.correct, accuracyCount: ce.accuracyCount }).toEqual(accuracyRef('binary', z, t, batch, width, 'softmax'));
  });
});

describe('the accumulator', () => {
  it('adds across calls', async () => {
    const e = engine();
    const [batch, width] = [20, 10];
    const op = resolveLoss('sparseCategoricalCrossentropy');
    const metrics = uploadView(e, new Uint32Array(METRICS_BYTES / 4));
    let expected = 0;
    let correct = 0;
    for (let call = 0; call < 3; call++) {
      const y = uniform(batch * width, 200 + call, -2, 2);
      const labels = classes(batch, width, 300 + call);
      expected += REFERENCES['sparseCategoricalCrossentropy/fused']!(toF64(y), labels, batch, width).sum;
      correct += accuracyRef('sparse', y, labels, batch, width, 'softmax').correct;
      await runLoss(e, op, y, labels, { batch, shape: [width], rows: batch, fused: true, accuracy: 'sparse', metrics });
    }
    const got = readMetrics(await e.read(metrics, METRICS_BYTES));
    expect(relError(got.lossSum, expected)).toBeLessThanOrEqual(1e-5);
    expect(got).toMatchObject({ count: 3 * batch, correct, accuracyCount: 3 * batch });
  });

  it('Kahan summation keeps 1000 additions of ~2.3 accurate', async () => {
    const e = engine();
    const width = 10;
    const y = uniform(width, 5, -0.1, 0.1); // near-uniform: loss ≈ log 10 ≈ 2.3
    const labels = new Uint32Array([3]);
    const perCall = REFERENCES['sparseCategoricalCrossentropy/fused']!(toF64(y), labels, 1, width).sum;
    const metrics = uploadView(e, new Uint32Array(METRICS_BYTES / 4));
    const step = e.uniform(STEP_INFO_BYTES, 'step-info');
    e.write(step, stepInfoData(0, 0, 0, 1));
    const views = { output: uploadView(e, y), labels: uploadView(e, labels), grad: null, metrics, stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES } };
    const [dispatch] = resolveLoss('sparseCategoricalCrossentropy').dispatches(e, { batch: 1, outputShape: [width] }, views, { fused: true, accuracy: null });
    e.run(Array.from({ length: 1000 }, () => dispatch!));
    const got = readMetrics(await e.read(metrics, METRICS_BYTES));
    // A plain f32 running sum drifts past the tolerance, so the test can tell Kahan is working.
    let naive = 0;
    for (let i = 0; i < 1000; i++) naive = Math.fround(naive + Math.fround(perCall));
    expect(relError(naive, 1000 * perCall)).toBeGreaterThan(1e-6);
    expect(relError(got.lossSum, 1000 * perCall)).toBeLessThanOrEqual(1e-6);
    expect(got.count).toBe(1000);
  });

  it('readMetrics decodes the 8 words with the Kahan term', () => {
    const bytes = new ArrayBuffer(METRICS_BYTES);
    new Float32Array(bytes).set([10.5, 0, 0, -0.25]);
    new Uint32Array(bytes).set([7, 64], 1);
    new Uint32Array(bytes).set([640], 4);
    expect(readMetrics(bytes)).toEqual({ lossSum: 10.75, correct: 7, count: 64, accuracyCount: 640 });
    expect(() => readMetrics(new ArrayBuffer(16))).toThrow(/need 32 bytes, got 16/);
  });
});

describe('kernels', () => {
  it('keys name every variant', () => {
    const g = { batch: 64, positions: 1, width: 10 };
    const keys = new Set([
      ...[true, false].flatMap((withGradient) =>
        (['categorical', 'binary', null] as const).flatMap((accuracy) => [
          rowLoss('softmaxCrossentropy', g, { withGradient, accuracy }).key,
          rowLoss('categoricalCrossentropy', g, { withGradient, accuracy }).key,
          elementwiseLoss('meanSquaredError', g, { withGradient, accuracy }).key,
        ]),
      ),
      rowLoss('softmaxCrossentropy', { ...g, batch: 32 }, { withGradient: true, accuracy: null }).key,
      rowLoss('softmaxCrossentropy', { ...g, positions: 2, width: 5 }, { withGradient: true, accuracy: null }).key,
    ]);
    expect(keys.size).toBe(20);
  });

  it('bake TF.js epsilon and name their sizes', () => {
    const code = elementwiseLoss('meanSquaredLogarithmicError', { batch: 8, positions: 3, width: 5 }, { withGradient: true, accuracy: null }).code;
    expect(code).toContain('const BATCH = 8u;');
    expect(code).toContain('const WIDTH = 5u;');
    expect(code).toContain(`const EPSILON = ${Math.fround(EPSILON)};`);
    expect(code).toMatch(/fn log_1p\(x: f32\) -> f32/);
    expect(code).not.toMatch(/fn tanh_stable/);
  });

  it('reject bad geometry and accuracy for the labels', () => {
    expect(() => rowLoss('softmaxCrossentropy', { batch: 0, positions: 1, width: 3 }, { withGradient: true, accuracy: null })).toThrow(/batch must be a positive integer/);
    expect(() => rowLoss('sparseSoftmaxCrossentropy', { batch: 2, positions: 1, width: 3 }, { withGradient: true, accuracy: 'categorical' })).toThrow(/needs dense labels/);
    expect(() => elementwiseLoss('hinge', { batch: 2, positions: 1, width: 3 }, { withGradient: true, accuracy: 'sparse' })).toThrow(/needs sparse labels/);
  });
});

// ---- registry ------------------------------------------------------------------------------

describe('loss registry', () => {
  it('resolves TF.js names, Keras names and the short aliases', () => {
    const cases: Record<string, string> = {
      sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
      categorical_crossentropy: 'categoricalCrossentropy',
      binary_crossentropy: 'binaryCrossentropy',
      bce: 'binaryCrossentropy',
      mse: 'meanSquaredError',
      MSE: 'meanSquaredError',
      mean_squared_error: 'meanSquaredError',
      mae: 'meanAbsoluteError',
      MAPE: 'meanAbsolutePercentageError',
      msle: 'meanSquaredLogarithmicError',
      huber_loss: 'huber',
      log_cosh: 'logcosh',
      logCosh: 'logcosh',
      squared_hinge: 'squaredHinge',
      categorical_hinge: 'categoricalHinge',
      kld: 'kullbackLeiblerDivergence',
      kl_divergence: 'kullbackLeiblerDivergence',
      cosine: 'cosineProximity',
      cosine_similarity: 'cosineProximity',
    };
    for (const [alias, name] of Object.entries(cases)) expect(resolveLoss(alias).name).toBe(name);
    for (const name of lossNames()) expect(resolveLoss(name).name).toBe(name);
    expect(lossNames()).toHaveLength(15);
    expect(resolveLoss('categoricalCrossentropy').fuses).toBe('softmax');
    expect(resolveLoss('binaryCrossentropy').fuses).toBe('sigmoid');
    expect(resolveLoss('mse').fuses).toBeUndefined();
    expect(resolveLoss('sparseCategoricalCrossentropy').labels).toBe('sparse');
    expect(resolveLoss('categoricalCrossentropy').labels).toBe('dense');
  });

  it('names the known losses when it does not know one', () => {
    expect(() => resolveLoss('meanSquaredErr')).toThrow(/unknown loss 'meanSquaredErr'; known: sparseCategoricalCrossentropy, categoricalCrossentropy, .*meanSquaredError/);
    expect(() => resolveLoss(undefined)).toThrow(/unknown loss 'undefined'/);
    expect(() => resolveLoss('toString')).toThrow(/unknown loss/);
    expect(() => resolveLoss('softmaxCrossEntropy')).toThrow(/is 'categoricalCrossentropy'/);
  });

  it('resolves accuracy metrics', () => {
    expect(resolveAccuracyRequest(undefined)).toBe(null);
    expect(resolveAccuracyRequest([])).toBe(null);
    expect(resolveAccuracyRequest('acc')).toBe('auto');
    expect(resolveAccuracyRequest(['accuracy', 'sparse_categorical_accuracy'])).toBe('sparse');
    expect(resolveAccuracyRequest(['accuracy'])).toBe('auto');
    expect(resolveAccuracyRequest(['accuracy', 'binary_accuracy'])).toBe('binary');
    expect(resolveAccuracyRequest('categoricalAccuracy')).toBe('categorical');
    expect(() => resolveAccuracyRequest(['accuracy', 'mae'])).toThrow(/unknown metric 'mae'; known: accuracy, acc, binaryAccuracy/);
    expect(() => resolveAccuracyRequest(['binaryAccuracy', 'categoricalAccuracy'])).toThrow(/both binary and categorical/);
    const sparse = resolveLoss('sparseCategoricalCrossentropy');
    expect(accuracyKind(sparse, [10], 'auto')).toBe('sparse');
    expect(accuracyKind(resolveLoss('mse'), [10], null)).toBeNull();
    expect(() => accuracyKind(sparse, [10], 'categorical')).toThrow(/categorical accuracy needs dense labels/);
    expect(() => accuracyKind(resolveLoss('mse'), [10], 'sparse')).toThrow(/sparse accuracy needs class-index labels/);
  });

  it('says what the output must be', () => {
    expect(() => resolveLoss('sparseCategoricalCrossentropy').checkOutput([1], 'model.compile')).toThrow(
      /model.compile: loss sparseCategoricalCrossentropy needs at least 2 classes on the output's last axis, got output shape \[1\]; .*binaryCrossentropy/,
    );
    expect(() => resolveLoss('categoricalCrossentropy').checkOutput([4, 1], 'fit')).toThrow(/needs at least 2 classes/);
    expect(() => resolveLoss('mse').checkOutput([], 'fit')).toThrow(/fit: loss meanSquaredError needs an output of rank ≥ 1/);
    expect(() => resolveLoss('mse').checkOutput([3, 0], 'fit')).toThrow(/positive sizes, got \[3, 0\]/);
    expect(() => resolveLoss('mse').checkOutput([1], 'fit')).not.toThrow();
    expect(() => resolveLoss('sparseCategoricalCrossentropy').checkOutput([5, 2], 'fit')).not.toThrow();
  });

  it('refuses what a loss cannot run', () => {
    const e = engine();
    const v = uploadView(e, new Float32Array(16));
    const views = { output: v, labels: v, grad: v, metrics: v, stepInfo: v };
    expect(() => resolveLoss('mse').dispatches(e, { batch: 2, outputShape: [2] }, views, { fused: true, accuracy: null })).toThrow(/fuses no activation/);
    expect(() => resolveLoss('mse').dispatches(e, { batch: 2, outputShape: [2] }, views, { fused: false, accuracy: 'sparse' })).toThrow(/sparse accuracy needs class-index labels/);
    expect(() => resolveLoss('sparseCategoricalCrossentropy').dispatches(e, { batch: 2, outputShape: [1] }, views, { fused: true, accuracy: null })).toThrow(/at least 2 classes/);
    expect(() => resolveLoss('mse').dispatches(e, { batch: 1.5, outputShape: [2] }, views, { fused: false, accuracy: null })).toThrow(/batch must be a positive integer/);
  });
});
