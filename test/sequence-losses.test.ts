/**
 * Sequence losses and metrics: crossentropy and accuracy over [batch, T, classes] outputs, with a
 * class index per step ([batch, T] or [batch, T, 1] sparse labels) or a one-hot row per step
 * ([batch, T, classes]), averaged over the batch and the steps as Keras and TF.js do. The loss
 * kernels over positions against float64 and finite differences (sample weights and padding rows
 * included); fit, evaluate and fitDataset against TF.js 4.22 (cpu backend); label errors.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { layers, optimizers, sequential, tensor, type LayersModel } from '../src/index.ts';
import { resolveLoss } from '../src/ops/losses/index.ts';
import { METRICS_BYTES, readMetrics } from '../src/ops/losses/metrics.ts';
import type { AccuracyKind } from '../src/ops/losses/loss.ts';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('SEQUENCE_ERRORS', ['loss', 'gradient', 'finite differences', 'updates', 'predictions', 'logged loss', 'logged accuracy']);
const testName = () => expect.getState().currentTestName!;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---- the loss kernels over positions ------------------------------------------------------------

const [B, T, C] = [5, 4, 6];

/** Per position: −log softmax(z)[label] (fused: z are logits), or −log clip(p)[label] on probabilities (TF.js's, ε = 1e-7). */
function positionLoss(y: ArrayLike<number>, p: number, label: number, fused: boolean): number {
  const z = Array.from({ length: C }, (_, c) => y[p * C + c]!);
  if (!fused) return -Math.log(Math.min(Math.max(z[label]! / z.reduce((a, b) => a + b, 0), 1e-7), 1 - 1e-7));
  const m = Math.max(...z);
  return Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) + m - z[label]!;
}

/** Keras's weighted mean: Σ over real rows and steps of weight × loss, over rows × T. */
function meanLoss(y: ArrayLike<number>, labels: ArrayLike<number>, rows: number, weights: ArrayLike<number> | undefined, fused: boolean): number {
  let sum = 0;
  for (let p = 0; p < rows * T; p++) sum += (weights ? weights[Math.floor(p / T)]! : 1) * positionLoss(y, p, labels[p]!, fused);
  return sum / (rows * T);
}

const argmax = (y: ArrayLike<number>, p: number) => {
  let best = 0;
  for (let c = 1; c < C; c++) if (y[p * C + c]! > y[p * C + best]!) best = c;
  return best;
};

async function runLoss(name: string, fused: boolean, accuracy: AccuracyKind, y: Float32Array, labels: Uint32Array | Float32Array, rows: number, weights?: Float32Array) {
  const e = engine();
  const grad = nanBuffer(e, y.length);
  const metrics = uploadView(e, new Uint32Array(METRICS_BYTES / 4));
  const step = e.uniform(STEP_INFO_BYTES, 'step-info');
  e.write(step, stepInfoData(0, 0, 0, rows));
  const views = { output: uploadView(e, y), labels: uploadView(e, labels), grad, metrics, stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES }, ...(weights ? { sampleWeights: uploadView(e, weights) } : {}) };
  e.run(resolveLoss(name).dispatches(e, { batch: B, outputShape: [T, C] }, views, { fused, accuracy }));
  return { metrics: readMetrics(await e.read(metrics, METRICS_BYTES)), grad: await readF32(e, grad, y.length) };
}

describe('crossentropy kernels over [batch, T, classes]', () => {
  const cases = [
    { name: 'sparseCategoricalCrossentropy', fused: true, weighted: false },
    { name: 'sparseCategoricalCrossentropy', fused: true, weighted: true },
    { name: 'sparseCategoricalCrossentropy', fused: false, weighted: true },
    { name: 'categoricalCrossentropy', fused: true, weighted: true },
  ];
  for (const { name, fused, weighted } of cases) {
    it(`${name}${fused ? ' (softmax fused)' : ' (on probabilities)'}${weighted ? ', sample weights' : ''}, 4 of 5 rows real: loss, gradient and accuracy against float64 and finite differences`, async () => {
      const rows = 4;
      const raw = randomArray(B * T * C, 1, 2);
      // On probabilities the output is a softmax of each step's row.
      const y = fused ? raw : Float32Array.from(raw, (_, i) => {
        const p = Math.floor(i / C);
        const row = Array.from({ length: C }, (_, c) => Math.exp(raw[p * C + c]!));
        return row[i % C]! / row.reduce((a, b) => a + b, 0);
      });
      for (let i = rows * T * C; i < y.length; i++) y[i] = NaN; // the padding row leaks nothing
      const ids = Uint32Array.from(randomArray(B * T, 2), (v) => Math.floor((v + 1) * 3) % C);
      const sparse = name === 'sparseCategoricalCrossentropy';
      const labels = sparse ? ids : Float32Array.from({ length: B * T * C }, (_, i) => (ids[Math.floor(i / C)] === i % C ? 1 : 0));
      const weights = weighted ? Float32Array.from(randomArray(B, 3), (v) => 1.2 + v) : undefined;
      const got = await runLoss(name, fused, sparse ? 'sparse' : 'categorical', y, labels, rows, weights);
      const objective = (yy: Float64Array) => meanLoss(yy, ids, rows, weights, fused);
      const y64 = toF64(y);
      const want = objective(y64);
      expect(got.metrics.count).toBe(rows * T);
      expect(record(testName(), 'loss', Math.abs(got.metrics.lossSum / got.metrics.count - want) / want)).toBeLessThanOrEqual(1e-5);
      // Accuracy: argmax per step, over every real step.
      let correct = 0;
      for (let p = 0; p < rows * T; p++) if (argmax(y, p) === ids[p]) correct++;
      expect([got.metrics.correct, got.metrics.accuracyCount]).toEqual([correct, rows * T]);
      // The gradient: analytic in float64 where fused, by finite differences everywhere.
      const real = rows * T * C;
      expect(Array.from(got.grad.subarray(real))).toEqual(new Array(y.length - real).fill(0));
      if (fused) {
        const analytic = Float64Array.from({ length: real }, (_, i) => {
          const p = Math.floor(i / C);
          const z = Array.from({ length: C }, (_, c) => y[p * C + c]!);
          const m = Math.max(...z);
          const s = z.reduce((a, v) => a + Math.exp(v - m), 0);
          const w = weights ? weights[Math.floor(p / T)]! : 1;
          return (w * (Math.exp(y[i]! - m) / s - (ids[p] === i % C ? 1 : 0))) / (rows * T);
        });
        expect(record(testName(), 'gradient', relL2(got.grad.subarray(0, real), analytic))).toBeLessThanOrEqual(1e-5);
      }
      const idx = sampleIndices(real, 40, 4);
      const fd = finiteDifferences(objective, y64, idx, fused ? 1e-5 : 1e-6);
      expect(record(testName(), 'finite differences', relL2(pick(got.grad, idx), fd))).toBeLessThanOrEqual(1e-3);
    });
  }
});

// ---- fit, evaluate, fitDataset against TF.js ------------------------------------------------------

const N = 12;
const STEPS = 5;
const FEATURES = 3;
const CLASSES = 4;
const x = randomArray(N * STEPS * FEATURES, 10, 1.5);
const ids = Int32Array.from(randomArray(N * STEPS, 11), (v) => Math.floor((v + 1) * 2) % CLASSES);
const oneHot = Float32Array.from({ length: N * STEPS * CLASSES }, (_, i) => (ids[Math.floor(i / CLASSES)] === i % CLASSES ? 1 : 0));

/** input [T, F] → dense(8, tanh) → dense(classes, softmax), both over the 3-D tensor, in each library. */
function twins(): { ours: LayersModel; theirs: tf.Sequential } {
  const ours = sequential([layers.dense({ units: 8, activation: 'tanh', inputShape: [STEPS, FEATURES] }), layers.dense({ units: CLASSES, activation: 'softmax' })]);
  const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [STEPS, FEATURES] }), tf.layers.dense({ units: CLASSES, activation: 'softmax' })] });
  return { ours, theirs };
}

/** Our weights into TF.js, 3 SGD steps on both with `loss` and ['accuracy']: logged loss and accuracy, updates and predictions compared. */
async function trainBoth(loss: string, ourY: tf.Tensor | ReturnType<typeof tensor>, theirY: tf.Tensor): Promise<{ ours: LayersModel; theirs: tf.Sequential }> {
  const { ours, theirs } = twins();
  ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss, metrics: ['accuracy'], engine: engine() });
  theirs.compile({ optimizer: tf.train.sgd(0.5), loss, metrics: ['accuracy'] });
  const start = await ours.getWeights();
  theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
  const args = { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 as const };
  const theirHistory = await theirs.fit(tf.tensor(x, [N, STEPS, FEATURES]), theirY, args);
  const ourHistory = await ours.fit(tensor(x, [N, STEPS, FEATURES]), ourY as ReturnType<typeof tensor>, args);
  expect(record(testName(), 'logged loss', Math.abs(ourHistory.loss[0]! - (theirHistory.history.loss as number[])[0]!) / (theirHistory.history.loss as number[])[0]!)).toBeLessThanOrEqual(1e-4);
  expect(record(testName(), 'logged accuracy', Math.abs(ourHistory.accuracy[0]! - (theirHistory.history.acc as number[])[0]!))).toBeLessThanOrEqual(1e-6);
  const want = theirs.getWeights().map((t) => t.dataSync());
  for (const [i, w] of (await ours.getWeights()).entries()) {
    const before = start[i]!.values;
    const delta = w.values.map((v, k) => v - before[k]!);
    expect(record(testName(), 'updates', relL2(delta, want[i]!.map((v, k) => v - before[k]!))), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  }
  const got = (await ours.predict(tensor(x, [N, STEPS, FEATURES]))).dataSync();
  expect(record(testName(), 'predictions', relL2(got, (theirs.predict(tf.tensor(x, [N, STEPS, FEATURES])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
  return { ours, theirs };
}

/** Accuracy over every step of every sample, from predictions. */
function accuracyOf(probs: ArrayLike<number>): number {
  let correct = 0;
  for (let p = 0; p < N * STEPS; p++) {
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (probs[p * CLASSES + c]! > probs[p * CLASSES + best]!) best = c;
    if (best === ids[p]) correct++;
  }
  return correct / (N * STEPS);
}

describe('fit and evaluate over [batch, T, classes] outputs, twinned with TF.js', () => {
  it('sparseCategoricalCrossentropy with [N, T] class indices (TF.js takes [N, T, 1]), metrics accuracy; evaluate agrees too', async () => {
    const { ours, theirs } = await trainBoth('sparseCategoricalCrossentropy', tensor(ids, [N, STEPS]), tf.tensor(Float32Array.from(ids), [N, STEPS, 1]));
    const [tfLoss, tfAcc] = (theirs.evaluate(tf.tensor(x, [N, STEPS, FEATURES]), tf.tensor(Float32Array.from(ids), [N, STEPS, 1]), { batchSize: 5 }) as tf.Scalar[]).map((t) => t.dataSync()[0]!);
    const logs = await ours.evaluate(tensor(x, [N, STEPS, FEATURES]), tensor(ids, [N, STEPS]), { batchSize: 5 });
    expect(Math.abs(logs.loss - tfLoss) / tfLoss).toBeLessThanOrEqual(1e-4);
    expect(logs.accuracy).toBeCloseTo(tfAcc, 6);
    expect(logs.accuracy).toBeCloseTo(accuracyOf((await ours.predict(tensor(x, [N, STEPS, FEATURES]))).dataSync()), 6);
    // [N, T, 1] is the same labels.
    const again = await ours.evaluate(tensor(x, [N, STEPS, FEATURES]), tensor(ids, [N, STEPS, 1]), { batchSize: 5 });
    expect([again.loss, again.accuracy]).toEqual([logs.loss, logs.accuracy]);
    ours.dispose();
  });

  it('categoricalCrossentropy with [N, T, classes] one-hot labels, metrics accuracy', async () => {
    const { ours } = await trainBoth('categoricalCrossentropy', tensor(oneHot, [N, STEPS, CLASSES]), tf.tensor(oneHot, [N, STEPS, CLASSES]));
    ours.dispose();
  });

  it('fitDataset of [B, T] batches trains as fit on the same batches does', async () => {
    const build = async () => {
      const { ours } = twins();
      ours.compile({ optimizer: optimizers.adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
      return ours;
    };
    const viaFit = await build();
    const viaDataset = await build();
    viaDataset.setWeights(await viaFit.getWeights());
    const fitHistory = await viaFit.fit(tensor(x, [N, STEPS, FEATURES]), tensor(ids, [N, STEPS]), { epochs: 2, batchSize: 5, shuffle: false, verbose: 0 });
    async function* batches() {
      for (let a = 0; a < N; a += 5) {
        const b = Math.min(N, a + 5);
        yield { xs: tensor(x.slice(a * STEPS * FEATURES, b * STEPS * FEATURES), [b - a, STEPS, FEATURES]), ys: tensor(ids.slice(a * STEPS, b * STEPS), [b - a, STEPS]) };
      }
    }
    const datasetHistory = await viaDataset.fitDataset(batches, { epochs: 2, verbose: 0 });
    expect(datasetHistory.loss.map((l, e) => Math.abs(l - fitHistory.loss[e]!) / fitHistory.loss[e]!).every((d) => d <= 1e-5)).toBe(true);
    expect(datasetHistory.accuracy).toEqual(fitHistory.accuracy.map((a) => expect.closeTo(a, 6)));
    const a = await viaFit.getWeights();
    const b = await viaDataset.getWeights();
    a.forEach((w, i) => expect(relL2(b[i]!.values, w.values), w.name).toBeLessThanOrEqual(1e-5));
    viaFit.dispose();
    viaDataset.dispose();
  });

  it("sampleWeight weights each sample's every step: one SGD step against Keras's weighted mean in float64", async () => {
    const ours = sequential([layers.dense({ units: CLASSES, activation: 'softmax', inputShape: [STEPS, FEATURES] })]);
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 1 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const [w0, b0] = (await ours.getWeights()).map((w) => toF64(w.values));
    const weights = Float32Array.from(randomArray(N, 12), (v) => 1 + v);
    const history = await ours.fit(tensor(x, [N, STEPS, FEATURES]), tensor(ids, [N, STEPS]), { epochs: 1, batchSize: N, verbose: 0, sampleWeight: tensor(weights, [N]) });
    // Loss Σ_n w_n Σ_t CE(n, t) / (N·T) and its gradient, in float64.
    const dW = new Float64Array(FEATURES * CLASSES);
    const dB = new Float64Array(CLASSES);
    let loss = 0;
    for (let p = 0; p < N * STEPS; p++) {
      const w = weights[Math.floor(p / STEPS)]!;
      const z = Array.from({ length: CLASSES }, (_, c) => b0![c]! + Array.from({ length: FEATURES }, (_, f) => x[p * FEATURES + f]! * w0![f * CLASSES + c]!).reduce((a, v) => a + v, 0));
      const m = Math.max(...z);
      const s = z.reduce((a, v) => a + Math.exp(v - m), 0);
      loss += (w * (Math.log(s) + m - z[ids[p]!]!)) / (N * STEPS);
      for (let c = 0; c < CLASSES; c++) {
        const g = (w * (Math.exp(z[c]! - m) / s - (ids[p] === c ? 1 : 0))) / (N * STEPS);
        dB[c] += g;
        for (let f = 0; f < FEATURES; f++) dW[f * CLASSES + c] += x[p * FEATURES + f]! * g;
      }
    }
    expect(record(testName(), 'logged loss', Math.abs(history.loss[0]! - loss) / loss)).toBeLessThanOrEqual(1e-5);
    const [w1, b1] = (await ours.getWeights()).map((w) => w.values);
    expect(record(testName(), 'updates', relL2(Float64Array.from(w1!, (v, i) => w0![i]! - v), dW))).toBeLessThanOrEqual(1e-4);
    expect(record(testName(), 'updates', relL2(Float64Array.from(b1!, (v, i) => b0![i]! - v), dB))).toBeLessThanOrEqual(1e-4);
    ours.dispose();
  });

  it('rejects labels that do not fit, naming what was expected and which sample and step is bad', async () => {
    const { ours } = twins();
    ours.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const xs = tensor(x, [N, STEPS, FEATURES]);
    await expect(ours.fit(xs, tensor(new Int32Array(N), [N]))).rejects.toThrow(/loss 'sparseCategoricalCrossentropy' on an output of shape \[null, 5, 4\] takes integer class labels of shape \[N, 5\] \(a class index per position; \[N, 5, 1\] too\), got \[12\]/);
    await expect(ours.fit(xs, tensor(new Int32Array(N * 6), [N, 6]))).rejects.toThrow(/takes integer class labels of shape \[N, 5\].*got \[12, ?6\]/);
    await expect(ours.fit(xs, tensor(oneHot, [N, STEPS, CLASSES]))).rejects.toThrow(/got \[12, ?5, ?4\]; for one-hot labels compile with loss 'categoricalCrossentropy'/);
    const bad = Int32Array.from(ids);
    bad[2 * STEPS + 3] = CLASSES;
    await expect(ours.fit(xs, tensor(bad, [N, STEPS]))).rejects.toThrow(/label 13 \(sample 2, position \[3\]\) is 4, which is outside \[0, 4\)/);
    const categorical = twins().ours;
    categorical.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', engine: engine() });
    await expect(categorical.fit(xs, tensor(ids, [N, STEPS]))).rejects.toThrow(/loss 'categoricalCrossentropy' takes one-hot labels of the output's shape \[null, 5, 4\], got \[12, ?5\]/);
    const nan = Float32Array.from(oneHot);
    nan[(3 * STEPS + 1) * CLASSES + 2] = NaN;
    await expect(categorical.fit(xs, tensor(nan, [N, STEPS, CLASSES]))).rejects.toThrow(/the label of sample 3 at position \[1\] has NaN in column 2/);
    ours.dispose();
    categorical.dispose();
  });
});
