/**
 * Twin tests: the same model built with TF.js 4.22 (cpu backend) and with ours, from the same
 * weights, trained a few steps on the same data with the same optimizer: predictions, weight
 * updates and reported losses agree. These cover what part 1 of the layers work opened up: losses
 * other than softmax-crossentropy, activations the plan runs as ops, and activations folded into
 * the loss (sigmoid into binary crossentropy, an Activation layer's softmax into crossentropy).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layers, model, optimizers, sequential, tensor, type LayersModel } from '../src/index.ts';
import { measuredErrors, randomArray, relL2, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('TWIN_ERRORS', ['updates', 'state', 'predictions']);
const checkedEngine = useEngine({ robustBufferAccess: true });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const N = 20;
const FEATURES = 6;
const x = randomArray(N * FEATURES, 5, 1.5);

interface Twin {
  ours: LayersModel;
  theirs: tf.Sequential;
  y: Float32Array | Int32Array;
  yShape: number[];
}

/** Copies our initial weights into TF.js, trains both, and compares what a user would see. */
async function trainBoth({ ours, theirs, y, yShape }: Twin, steps: { epochs: number; batchSize: number }): Promise<void> {
  const start = await ours.getWeights();
  theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
  const xs = tf.tensor2d(x, [N, FEATURES]);
  const ys = tf.tensor(y instanceof Int32Array ? Float32Array.from(y) : y, yShape);
  const theirHistory = await theirs.fit(xs, ys, { ...steps, shuffle: false, verbose: 0 });
  const ourHistory = await ours.fit(tensor(x, [N, FEATURES]), tensor(y, yShape), { ...steps, shuffle: false, verbose: 0 });
  const got = await ours.getWeights();
  const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
  got.forEach((w, i) => {
    const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
    const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
    expect(record(expect.getState().currentTestName!, 'updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  });
  const probs = await ours.predict(tensor(x, [N, FEATURES]));
  expect(record(expect.getState().currentTestName!, 'predictions', relL2(probs.values, (theirs.predict(xs) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
  const theirLoss = theirHistory.history.loss as number[];
  ourHistory.loss.forEach((l, e) => expect(Math.abs(l - theirLoss[e]!) / Math.abs(theirLoss[e]!)).toBeLessThanOrEqual(1e-4));
  for (const key of Object.keys(ourHistory.history).filter((k) => k !== 'loss')) {
    // TF.js 4.22 names accuracy 'acc' in its History.
    const theirs = (theirHistory.history[key] ?? theirHistory.history.acc) as number[];
    expect(ourHistory.history[key]).toEqual(theirs.map((v) => expect.closeTo(v, 6)));
  }
}

describe('twins with TF.js (cpu backend)', () => {
  for (const checked of [false, true]) {
    it(`MLP regression: tanh and elu hidden layers (activation ops), mean squared error${checked ? ', bounds-checked kernels' : ''}`, async () => {
      const ours = sequential([layers.dense({ units: 7, activation: 'tanh', inputShape: [FEATURES] }), layers.dense({ units: 5, activation: 'elu' }), layers.dense({ units: 2 })]);
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.05 }), loss: 'meanSquaredError', engine: checked ? checkedEngine() : engine() });
      const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 7, activation: 'tanh', inputShape: [FEATURES] }), tf.layers.dense({ units: 5, activation: 'elu' }), tf.layers.dense({ units: 2 })] });
      theirs.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
      const y = randomArray(N * 2, 9);
      await trainBoth({ ours, theirs, y, yShape: [N, 2] }, { epochs: 2, batchSize: 8 });
    });
  }

  it('binary classifier: sigmoid output folded into binary crossentropy, binary accuracy', async () => {
    const ours = sequential([layers.dense({ units: 8, activation: 'relu', inputShape: [FEATURES] }), layers.dense({ units: 1, activation: 'sigmoid' })]);
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.2 }), loss: 'binaryCrossentropy', metrics: ['accuracy'], engine: engine() });
    const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 8, activation: 'relu', inputShape: [FEATURES] }), tf.layers.dense({ units: 1, activation: 'sigmoid' })] });
    theirs.compile({ optimizer: tf.train.sgd(0.2), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    const y = Float32Array.from({ length: N }, (_, i) => (x[i * FEATURES]! + x[i * FEATURES + 1]! > 0 ? 1 : 0));
    await trainBoth({ ours, theirs, y, yShape: [N, 1] }, { epochs: 3, batchSize: 8 });
  });

  it('metrics beside the loss: mse, mae, crossentropy on a softmax folded into the loss, as TF.js logs them', async () => {
    const ours = sequential([layers.dense({ units: 6, activation: 'tanh', inputShape: [FEATURES] }), layers.dense({ units: 3, activation: 'softmax' })]);
    const metrics = ['accuracy', 'mse', 'mae', 'categoricalCrossentropy', 'cosine'];
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.3 }), loss: 'categoricalCrossentropy', metrics, engine: engine() });
    const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 6, activation: 'tanh', inputShape: [FEATURES] }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    theirs.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy', metrics });
    const y = new Float32Array(N * 3);
    for (let i = 0; i < N; i++) y[i * 3 + (i % 3)] = 1;
    await trainBoth({ ours, theirs, y, yShape: [N, 3] }, { epochs: 2, batchSize: 8 });
    const logs = await ours.evaluate(tensor(x, [N, FEATURES]), tensor(y, [N, 3]));
    expect(Object.keys(logs).sort()).toEqual(['accuracy', 'categoricalCrossentropy', 'cosine', 'loss', 'mae', 'mse']);
    expect(logs.categoricalCrossentropy).toBeCloseTo(logs.loss, 6);
  });

  it("an Activation layer's softmax folds into categorical crossentropy; softsign and selu hidden layers", async () => {
    const ours = sequential([
      layers.dense({ units: 9, activation: 'softsign', inputShape: [FEATURES] }),
      layers.dense({ units: 6, activation: 'selu' }),
      layers.dense({ units: 4 }),
      layers.activation({ activation: 'softmax' }),
    ]);
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.3 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    const theirs = tf.sequential({
      layers: [
        tf.layers.dense({ units: 9, activation: 'softsign', inputShape: [FEATURES] }),
        tf.layers.dense({ units: 6, activation: 'selu' }),
        tf.layers.dense({ units: 4 }),
        tf.layers.activation({ activation: 'softmax' }),
      ],
    });
    theirs.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const y = new Float32Array(N * 4);
    for (let i = 0; i < N; i++) y[i * 4 + (i % 4)] = 1;
    await trainBoth({ ours, theirs, y, yShape: [N, 4] }, { epochs: 2, batchSize: 8 });
  });

  it('mean absolute error on a sigmoid output (not folded: the plan runs the sigmoid as an op)', async () => {
    const ours = sequential([layers.dense({ units: 5, activation: 'swish', inputShape: [FEATURES] }), layers.dense({ units: 3, activation: 'sigmoid' })]);
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'mae', engine: engine() });
    const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 5, activation: 'swish', inputShape: [FEATURES] }), tf.layers.dense({ units: 3, activation: 'sigmoid' })] });
    theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanAbsoluteError' });
    const y = Float32Array.from(randomArray(N * 3, 3), (v) => (v + 1) / 2);
    await trainBoth({ ours, theirs, y, yShape: [N, 3] }, { epochs: 2, batchSize: 8 });
  });
});

describe('a residual CNN with batch normalization, twin of TF.js', () => {
  /** conv-BN-relu stem, a residual block (conv-BN-relu, conv-BN, add, relu), global average pooling, softmax; no conv bias before a BN (its gradient is zero: Adam would turn rounding noise into steps). */
  function build(L: typeof layers | typeof tf.layers, inputOf: (shape: number[]) => unknown) {
    const f = L as unknown as Record<string, (c: object) => { apply(t: unknown): unknown }>;
    const x = inputOf([6, 6, 2]);
    let h = f.conv2d!({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'stem' }).apply(x);
    h = f.reLU!({ name: 'stem_relu' }).apply(f.batchNormalization!({ name: 'stem_bn' }).apply(h));
    let r = f.conv2d!({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'block_a' }).apply(h);
    r = f.activation!({ activation: 'relu', name: 'block_a_relu' }).apply(f.batchNormalization!({ name: 'block_a_bn' }).apply(r));
    r = f.batchNormalization!({ name: 'block_b_bn', momentum: 0.9 }).apply(f.conv2d!({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'block_b' }).apply(r));
    h = f.reLU!({ name: 'block_relu' }).apply(f.add!({ name: 'block_add' }).apply([h, r]));
    const out = f.dense!({ units: 3, activation: 'softmax', name: 'head' }).apply(f.globalAveragePooling2d!({ name: 'pool' }).apply(h));
    return { inputs: x, outputs: out };
  }

  it('predictions, updates and moving statistics agree after training; inference folds BN into the convolutions', async () => {
    const n = 12;
    const ours = model(build(layers, (shape) => input({ shape, name: 'x' })) as never) as LayersModel;
    const theirs = tf.model(build(tf.layers, (shape) => tf.input({ shape, name: 'x' })) as never);
    ours.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    theirs.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const start = await ours.getWeights();
    expect(start.map((w) => w.name)).toEqual(theirs.weights.map((w) => w.originalName));
    theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
    const x = randomArray(n * 6 * 6 * 2, 61, 2);
    const y = Float32Array.from({ length: n }, (_, i) => (i * 5) % 3);
    const theirHistory = await theirs.fit(tf.tensor(x, [n, 6, 6, 2]), tf.tensor(y, [n]), { epochs: 2, batchSize: 5, shuffle: false, verbose: 0 });
    const ourHistory = await ours.fit(tensor(x, [n, 6, 6, 2]), tensor(y, [n]), { epochs: 2, batchSize: 5, shuffle: false, verbose: 0 });
    const got = await ours.getWeights();
    const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
    got.forEach((w, i) => {
      if (w.trainable) {
        const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
        expect(record('residual CNN with BN', 'updates', relL2(delta, want[i]!.map((v, k) => v - start[i]!.values[k]!))), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
      } else {
        expect(record('residual CNN with BN', 'state', relL2(w.values, want[i]!)), `moving statistic ${w.name}`).toBeLessThanOrEqual(1e-5);
      }
    });
    ourHistory.loss.forEach((l, e) => expect(Math.abs(l - (theirHistory.history.loss as number[])[e]!) / l).toBeLessThanOrEqual(1e-4));
    // Prediction uses the moving statistics, folded into the convolutions before them.
    const p = (await ours.predict(tensor(x, [n, 6, 6, 2]))).values;
    expect(record('residual CNN with BN', 'predictions', relL2(p, (theirs.predict(tf.tensor(x, [n, 6, 6, 2])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
  });
});
