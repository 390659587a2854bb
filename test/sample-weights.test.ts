/**
 * classWeight and sampleWeight: the weighted loss kernels (each row's loss and gradient times its
 * weight, still divided by the real rows) against float64 references and finite differences, with
 * weights of 1 giving the unweighted kernel's bits; fit with classWeight against TF.js's fit
 * (sparse, one-hot and binary labels, per output by name); sampleWeight against TF.js's weighted
 * loss (mean(loss · weight), what its fit computes for class weights); fitDataset's classWeight
 * against fit's; and the argument errors.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { resolveLoss } from '../src/ops/losses/index.ts';
import { METRICS_BYTES, readMetrics } from '../src/ops/losses/metrics.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { input, layers, model, optimizers, sequential, tensor, type LayersModel, type NamedWeight } from '../src/index.ts';
import { finiteDifferences, measuredErrors, nanBuffer, randomArray, readF32, relL2, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('TWIN_ERRORS', ['reference', 'finiteDiff', 'updates', 'loss']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---- the weighted loss kernels --------------------------------------------------------------

interface KernelCase {
  loss: string;
  fused: boolean;
  batch: number;
  shape: number[];
  rows: number;
  /** Per real row: its loss summed over positions, as a float64 function of that row's outputs. */
  rowLoss(y: Float64Array, t: ArrayLike<number>, row: number): number;
  labels(seed: number): Float32Array | Uint32Array;
}

const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

const KERNEL_CASES: KernelCase[] = [
  {
    loss: 'meanSquaredError',
    fused: false,
    batch: 4,
    shape: [3, 5],
    rows: 3,
    labels: (s) => randomArray(4 * 15, s),
    rowLoss: (y, t, r) => {
      let sum = 0;
      for (let i = r * 15; i < (r + 1) * 15; i++) sum += (y[i]! - t[i]!) ** 2 / 5;
      return sum;
    },
  },
  {
    loss: 'sparseCategoricalCrossentropy',
    fused: true,
    batch: 5,
    shape: [7],
    rows: 4,
    labels: (s) => Uint32Array.from(randomArray(5, s), (v) => Math.floor((v + 1) * 3.5) % 7),
    rowLoss: (y, t, r) => {
      const z = Array.from(y.subarray(r * 7, r * 7 + 7));
      const m = Math.max(...z);
      return Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) + m - z[t[r]!]!;
    },
  },
  {
    loss: 'binaryCrossentropy',
    fused: true,
    batch: 6,
    shape: [2],
    rows: 6,
    labels: (s) => Float32Array.from(randomArray(12, s), (v) => (v > 0 ? 1 : 0)),
    rowLoss: (y, t, r) => (softplus(y[2 * r]!) - y[2 * r]! * t[2 * r]! + softplus(y[2 * r + 1]!) - y[2 * r + 1]! * t[2 * r + 1]!) / 2,
  },
];

async function runWeighted(e: Engine, c: KernelCase, y: Float32Array, t: Float32Array | Uint32Array, weights: Float32Array | undefined) {
  const grad = nanBuffer(e, y.length);
  const metrics = uploadView(e, new Uint32Array(METRICS_BYTES / 4));
  const step = e.uniform(STEP_INFO_BYTES, 'step-info');
  e.write(step, stepInfoData(0, 0, 0, c.rows));
  const views = { output: uploadView(e, y), labels: uploadView(e, t), grad, metrics, stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES }, ...(weights ? { sampleWeights: uploadView(e, weights) } : {}) };
  e.run(resolveLoss(c.loss).dispatches(e, { batch: c.batch, outputShape: c.shape }, views, { fused: c.fused, accuracy: null }));
  const m = readMetrics(await e.read(metrics, METRICS_BYTES));
  return { loss: m.lossSum / m.count, lossSum: m.lossSum, grad: await readF32(e, grad, y.length) };
}

describe('weighted loss kernels', () => {
  for (const c of KERNEL_CASES) {
    it(`${c.loss}${c.fused ? ' (fused)' : ''} on [${c.batch}, ${c.shape.join(', ')}] with ${c.rows} real rows: loss and gradient against float64 and finite differences`, async () => {
      const e = engine();
      const size = c.batch * c.shape.reduce((a, b) => a * b, 1);
      const y = randomArray(size, 31, 2);
      // Padding rows hold NaN: nothing of theirs may leak into the loss or the gradient.
      for (let i = (size / c.batch) * c.rows; i < size; i++) y[i] = NaN;
      const t = c.labels(32);
      const w = Float32Array.from(randomArray(c.batch, 33), (v) => 1.5 + v);
      w[1] = 0;
      const positions = c.shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const objective = (yy: Float64Array) => {
        let sum = 0;
        for (let r = 0; r < c.rows; r++) sum += w[r]! * c.rowLoss(yy, t, r);
        return sum / (c.rows * positions);
      };
      const got = await runWeighted(e, c, y, t, w);
      const y64 = Float64Array.from(y);
      const name = expect.getState().currentTestName!;
      expect(record(name, 'reference', Math.abs(got.loss - objective(y64)) / objective(y64))).toBeLessThanOrEqual(1e-5);
      const real = (size / c.batch) * c.rows;
      const fd = finiteDifferences(objective, y64, Array.from({ length: real }, (_, i) => i));
      expect(record(name, 'finiteDiff', relL2(got.grad.subarray(0, real), fd))).toBeLessThanOrEqual(1e-4);
      expect(Array.from(got.grad.subarray(real))).toEqual(new Array(size - real).fill(0));
      // Weights of 1: the same bits as the unweighted kernel.
      const ones = await runWeighted(e, c, y, t, new Float32Array(c.batch).fill(1));
      const plain = await runWeighted(e, c, y, t, undefined);
      expect(ones.lossSum).toBe(plain.lossSum);
      expect(ones.grad).toEqual(plain.grad);
    });
  }
});

// ---- fit with classWeight and sampleWeight ----------------------------------------------

const N = 20;
const F = 5;
const x = randomArray(N * F, 41, 1.5);
const sparse = Int32Array.from({ length: N }, (_, i) => (x[i * F]! > 0.3 ? 2 : x[i * F + 1]! > 0 ? 1 : 0));

function delta(start: NamedWeight[], now: ArrayLike<number>[]): Float32Array[] {
  return now.map((w, i) => Float32Array.from(w as ArrayLike<number>, (v, k) => v - start[i]!.values[k]!));
}

async function compareWithTfjs(ours: LayersModel<unknown>, theirs: tf.LayersModel, run: () => Promise<{ ours: number[]; theirs: number[] }>): Promise<void> {
  const start = await ours.getWeights();
  theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
  const losses = await run();
  const name = expect.getState().currentTestName!;
  losses.theirs.forEach((l, e) => expect(record(name, 'loss', Math.abs(losses.ours[e]! - l) / Math.abs(l))).toBeLessThanOrEqual(1e-5));
  const want = delta(start, theirs.getWeights().map((t) => t.dataSync()));
  delta(start, (await ours.getWeights()).map((w) => w.values)).forEach((d, i) => expect(record(name, 'updates', relL2(d, want[i]!))).toBeLessThanOrEqual(1e-3));
}

function classifier(units: number, activation: 'softmax' | 'sigmoid', loss: string): [LayersModel, tf.Sequential] {
  const ours = sequential({ layers: [layers.dense({ units: 6, activation: 'tanh', inputShape: [F] }), layers.dense({ units, activation })] });
  ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.3 }), loss, engine: engine() });
  const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 6, activation: 'tanh', inputShape: [F] }), tf.layers.dense({ units, activation })] });
  theirs.compile({ optimizer: tf.train.sgd(0.3), loss });
  return [ours, theirs];
}

const fitArgs = { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 as const };

describe('classWeight in fit: twins with TF.js', () => {
  const classWeight = { 0: 0.5, 1: 3, 2: 1.25 };
  it('sparse labels', async () => {
    const [ours, theirs] = classifier(3, 'softmax', 'sparseCategoricalCrossentropy');
    await compareWithTfjs(ours, theirs, async () => ({
      ours: (await ours.fit(tensor(x, [N, F]), tensor(sparse, [N]), { ...fitArgs, classWeight })).loss,
      theirs: (await theirs.fit(tf.tensor(x, [N, F]), tf.tensor(Float32Array.from(sparse), [N]), { ...fitArgs, classWeight })).history.loss as number[],
    }));
  });

  it('one-hot labels (the class is the argmax)', async () => {
    const [ours, theirs] = classifier(3, 'softmax', 'categoricalCrossentropy');
    const oneHot = Float32Array.from({ length: N * 3 }, (_, k) => (sparse[Math.floor(k / 3)] === k % 3 ? 1 : 0));
    await compareWithTfjs(ours, theirs, async () => ({
      ours: (await ours.fit(tensor(x, [N, F]), tensor(oneHot, [N, 3]), { ...fitArgs, classWeight })).loss,
      theirs: (await theirs.fit(tf.tensor(x, [N, F]), tf.tensor(oneHot, [N, 3]), { ...fitArgs, classWeight })).history.loss as number[],
    }));
  });

  it('binary labels [N, 1] (the class is the label)', async () => {
    const [ours, theirs] = classifier(1, 'sigmoid', 'binaryCrossentropy');
    const y = Float32Array.from(sparse, (v) => (v === 2 ? 1 : 0));
    await compareWithTfjs(ours, theirs, async () => ({
      ours: (await ours.fit(tensor(x, [N, F]), tensor(y, [N, 1]), { ...fitArgs, classWeight: { 0: 1, 1: 4 } })).loss,
      theirs: (await theirs.fit(tf.tensor(x, [N, F]), tf.tensor(y, [N, 1]), { ...fitArgs, classWeight: { 0: 1, 1: 4 } })).history.loss as number[],
    }));
  });

  it('per output by name (two outputs, the other unweighted), as Keras', async () => {
    const a = input({ shape: [F] });
    const h = layers.dense({ units: 6, activation: 'tanh' }).apply(a);
    const ours = model({ inputs: a, outputs: [layers.dense({ units: 3, activation: 'softmax', name: 'kind' }).apply(h), layers.dense({ units: 1, name: 'size' }).apply(h)] });
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.2 }), loss: ['sparseCategoricalCrossentropy', 'meanSquaredError'], engine: engine() });
    const ta = tf.input({ shape: [F] });
    const th = tf.layers.dense({ units: 6, activation: 'tanh' }).apply(ta) as tf.SymbolicTensor;
    const theirs = tf.model({ inputs: ta, outputs: [tf.layers.dense({ units: 3, activation: 'softmax', name: 'kind' }).apply(th) as tf.SymbolicTensor, tf.layers.dense({ units: 1, name: 'size' }).apply(th) as tf.SymbolicTensor] });
    theirs.compile({ optimizer: tf.train.sgd(0.2), loss: ['sparseCategoricalCrossentropy', 'meanSquaredError'] });
    const sizes = randomArray(N, 43);
    await compareWithTfjs(ours, theirs, async () => ({
      ours: (await ours.fit(tensor(x, [N, F]), [tensor(sparse, [N]), tensor(sizes, [N, 1])], { ...fitArgs, classWeight: { kind: classWeight } })).loss,
      theirs: (await theirs.fit(tf.tensor(x, [N, F]), [tf.tensor(Float32Array.from(sparse), [N]), tf.tensor(sizes, [N, 1])], { ...fitArgs, classWeight: { kind: classWeight } })).history.loss as number[],
    }));
  });
});

describe('sampleWeight in fit', () => {
  it("mean(loss · weight) per batch, as TF.js's weighted loss (its fit rejects sampleWeight): regression, partial last batch", async () => {
    const ours = sequential({ layers: [layers.dense({ units: 6, activation: 'tanh', inputShape: [F] }), layers.dense({ units: 2 })] });
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.2 }), loss: 'meanSquaredError', engine: engine() });
    const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 6, activation: 'tanh', inputShape: [F] }), tf.layers.dense({ units: 2 })] });
    const y = randomArray(N * 2, 44);
    const w = Float32Array.from(randomArray(N, 45), (v) => 1 + v);
    const optimizer = tf.train.sgd(0.2);
    await compareWithTfjs(ours, theirs, async () => {
      const history = await ours.fit(tensor(x, [N, F]), tensor(y, [N, 2]), { ...fitArgs, sampleWeight: tensor(w, [N]) });
      const theirLosses: number[] = [];
      for (let epoch = 0; epoch < fitArgs.epochs; epoch++) {
        let sum = 0;
        for (let a = 0; a < N; a += fitArgs.batchSize) {
          const b = Math.min(N, a + fitArgs.batchSize);
          const xb = tf.tensor(x.slice(a * F, b * F), [b - a, F]);
          const yb = tf.tensor(y.slice(a * 2, b * 2), [b - a, 2]);
          const wb = tf.tensor(w.slice(a, b), [b - a]);
          const loss = optimizer.minimize(() => tf.mean(tf.mul(tf.mean(tf.squaredDifference(theirs.apply(xb, { training: true }) as tf.Tensor, yb), -1), wb)) as tf.Scalar, true)!;
          sum += loss.dataSync()[0]! * (b - a);
        }
        theirLosses.push(sum / N);
      }
      return { ours: history.loss, theirs: theirLosses };
    });
  });

  it('classWeight and sampleWeight multiply: the same bits as the product given as sampleWeight', async () => {
    const make = () => {
      const m = sequential({ layers: [layers.dense({ units: 3, activation: 'softmax', inputShape: [F] })], seed: 5 });
      m.compile({ optimizer: optimizers.sgd({ learningRate: 0.3 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      return m;
    };
    const classWeight = { 0: 2, 1: 0.5, 2: 1 };
    const w = Float32Array.from(randomArray(N, 46), (v) => 1 + v);
    const both = make();
    await both.fit(tensor(x, [N, F]), tensor(sparse, [N]), { ...fitArgs, classWeight, sampleWeight: tensor(w, [N]) });
    const product = make();
    await product.fit(tensor(x, [N, F]), tensor(sparse, [N]), { ...fitArgs, sampleWeight: tensor(Float32Array.from(w, (v, i) => v * classWeight[sparse[i] as 0 | 1 | 2]), [N]) });
    const plain = make();
    await plain.fit(tensor(x, [N, F]), tensor(sparse, [N]), fitArgs);
    const [a, b, c] = [await both.getWeights(), await product.getWeights(), await plain.getWeights()];
    a.forEach((wt, i) => expect(wt.values).toEqual(b[i]!.values));
    expect(relL2(a[0]!.values, c[0]!.values)).toBeGreaterThan(1e-4);
  });

  it('fitDataset with classWeight: the same bits as fit with classWeight', async () => {
    const classWeight = { 0: 0.5, 1: 3, 2: 1.25 };
    const [viaFit] = classifier(3, 'softmax', 'sparseCategoricalCrossentropy');
    const [viaDataset] = classifier(3, 'softmax', 'sparseCategoricalCrossentropy');
    viaDataset.setWeights(await viaFit.getWeights());
    const fitHistory = await viaFit.fit(tensor(x, [N, F]), tensor(sparse, [N]), { ...fitArgs, classWeight });
    const batches = () => [0, 8, 16].map((a) => ({ xs: tensor(x.slice(a * F, Math.min(N, a + 8) * F), [Math.min(N, a + 8) - a, F]), ys: tensor(sparse.slice(a, a + 8), [Math.min(N, a + 8) - a]) }));
    const dsHistory = await viaDataset.fitDataset(batches, { epochs: 2, verbose: 0, classWeight });
    const want = await viaFit.getWeights();
    (await viaDataset.getWeights()).forEach((w, i) => expect(w.values).toEqual(want[i]!.values));
    expect(dsHistory.loss).toEqual(fitHistory.loss);
  });

  it('bad weights are Errors naming what is wrong', async () => {
    const [m] = classifier(3, 'softmax', 'sparseCategoricalCrossentropy');
    const xs = tensor(x, [N, F]);
    const ys = tensor(sparse, [N]);
    const firstOf2 = sparse.indexOf(2);
    await expect(m.fit(xs, ys, { ...fitArgs, classWeight: { 0: 1, 1: 2 } })).rejects.toThrow(new RegExp(`sample ${firstOf2} is of class 2, which classWeight does not list`));
    await expect(m.fit(xs, ys, { ...fitArgs, classWeight: { 0: 1, one: 2 } as never })).rejects.toThrow(/key 'one' is not a class index/);
    await expect(m.fit(xs, ys, { ...fitArgs, classWeight: { 0: NaN, 1: 1, 2: 1 } })).rejects.toThrow(/the weight of class 0 must be a finite number/);
    await expect(m.fit(xs, ys, { ...fitArgs, sampleWeight: tensor(new Float32Array(N - 1), [N - 1]) })).rejects.toThrow(/sampleWeight: expected one weight per sample, shape \[20\], got \[19\]/);
    await expect(m.fit(xs, ys, { ...fitArgs, sampleWeight: tensor(new Float32Array(N).fill(Infinity), [N]) })).rejects.toThrow(/the weight of sample 0 is Infinity/);
    await expect(m.fitDataset([{ xs, ys }], { verbose: 0, classWeight: { 0: 1 } })).rejects.toThrow(/epoch 1, batch 0: classWeight: sample \d+ is of class [12]/);
    // Targets per step ([N, T] class indices) would read as one-hot rows: refused, as Keras does.
    const perStep = sequential({ layers: [layers.dense({ units: 3, activation: 'softmax', inputShape: [4, F] })] });
    perStep.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const steps = tensor(Int32Array.from({ length: N * 4 }, (_, i) => i % 3), [N, 4]);
    const sequences = tensor(randomArray(N * 4 * F, 3), [N, 4, F]);
    const before = await perStep.getWeights();
    await expect(perStep.fit(sequences, steps, { ...fitArgs, classWeight: { 0: 1, 1: 2, 2: 1 } })).rejects.toThrow(/class weights need one class per sample, but the output \[null, 4, 3\] has a target per step/);
    await expect(perStep.fitDataset([{ xs: sequences, ys: steps }], { verbose: 0, classWeight: { 0: 1, 1: 2, 2: 1 } })).rejects.toThrow(/epoch 1, batch 0: classWeight: class weights need one class per sample/);
    (await perStep.getWeights()).forEach((w, i) => expect(w.values).toEqual(before[i]!.values));
  });
});
