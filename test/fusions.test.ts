/**
 * The plan's cross-layer fusion for inference: a BatchNormalization (its moving statistics) after a
 * linear Dense or Conv2D folds into the producer's weights, and a ReLU after it into the producer's
 * kernel, so predict runs one pass where training runs three. Predictions match TF.js's (which runs
 * all three) on the same weights, and the dispatch count shows the passes are gone.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layers, model, optimizers, sequential, tensor, type Layer, type LayersModel } from '../src/index.ts';
import { randomArray, relL2, useEngine } from './helpers.ts';

const engine = useEngine();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Dispatches of one predict call of one batch. */
async function predictDispatches(m: LayersModel, x: Float32Array, shape: number[]): Promise<number> {
  await m.predict(tensor(x, shape), { batchSize: shape[0] });
  const before = engine().stats().dispatches;
  await m.predict(tensor(x, shape), { batchSize: shape[0] });
  return engine().stats().dispatches - before;
}

/** Trains a few steps so the moving statistics move off their initial values, then compares with TF.js. */
async function checkFold(make: (L: typeof layers | typeof tf.layers) => unknown[], plain: (L: typeof layers) => Layer[], inputShape: number[], passesSaved: number): Promise<void> {
  const n = 10;
  const ours = sequential(make(layers) as Layer[]);
  ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError', engine: engine() });
  const x = randomArray(n * inputShape.reduce((a, b) => a * b, 1), 41, 2);
  const outputs = ours.outputs[0]!.shape.reduce((a, b) => a * b, 1);
  await ours.fit(tensor(x, [n, ...inputShape]), tensor(randomArray(n * outputs, 42), [n, ...ours.outputs[0]!.shape]), { epochs: 2, batchSize: 4, verbose: 0 });
  const theirs = tf.sequential({ layers: make(tf.layers) as tf.layers.Layer[] });
  theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
  const got = (await ours.predict(tensor(x, [n, ...inputShape]), { batchSize: n })).values;
  const want = (theirs.predict(tf.tensor(x, [n, ...inputShape])) as tf.Tensor).dataSync();
  expect(relL2(got, want), 'predictions against TF.js').toBeLessThanOrEqual(1e-5);
  // The same model without the affine layer and with the ReLU inside the producer: the folded
  // model runs exactly its passes plus the two that fold the weights.
  const bare = sequential(plain(layers));
  bare.compile({ optimizer: 'sgd', loss: 'meanSquaredError', engine: engine() });
  const folded = await predictDispatches(ours, x, [n, ...inputShape]);
  const unfused = await predictDispatches(bare, x, [n, ...inputShape]);
  expect(folded - unfused).toBe(passesSaved);
}

describe('inference folds an affine layer and an activation into the producer', () => {
  it('dense → batchNormalization → reLU → dense', async () => {
    await checkFold(
      (L) => [L.dense({ units: 6, inputShape: [5] }), L.batchNormalization({}), L.reLU({}), L.dense({ units: 3 })],
      (L) => [L.dense({ units: 6, activation: 'relu', inputShape: [5] }), L.dense({ units: 3 })],
      [5],
      2,
    );
  });

  it('dense → batchNormalization (no activation after it) → dense', async () => {
    await checkFold(
      (L) => [L.dense({ units: 7, useBias: false, inputShape: [4] }), L.batchNormalization({ center: false }), L.dense({ units: 2 })],
      (L) => [L.dense({ units: 7, inputShape: [4] }), L.dense({ units: 2 })],
      [4],
      2,
    );
  });

  it('conv2d → batchNormalization → activation(relu), twice, in a CNN', async () => {
    await checkFold(
      (L) => [
        L.conv2d({ filters: 5, kernelSize: 3, inputShape: [7, 6, 2] }),
        L.batchNormalization({}),
        L.activation({ activation: 'relu' }),
        L.conv2d({ filters: 4, kernelSize: 2, padding: 'same', useBias: false }),
        L.batchNormalization({ scale: false }),
        L.reLU({}),
        L.flatten({}),
        L.dense({ units: 3 }),
      ],
      (L) => [L.conv2d({ filters: 5, kernelSize: 3, activation: 'relu', inputShape: [7, 6, 2] }), L.conv2d({ filters: 4, kernelSize: 2, padding: 'same', activation: 'relu' }), L.flatten({}), L.dense({ units: 3 })],
      [7, 6, 2],
      4,
    );
  });

  it('depthwiseConv2d → batchNormalization → reLU', async () => {
    await checkFold(
      (L) => [L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', inputShape: [5, 5, 3] }), L.batchNormalization({}), L.reLU({}), L.flatten({}), L.dense({ units: 2 })],
      (L) => [L.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu', inputShape: [5, 5, 3] }), L.flatten({}), L.dense({ units: 2 })],
      [5, 5, 3],
      2,
    );
  });

  it('does not fold where it cannot: the producer\'s output read by another layer too, or a normalization over another axis', async () => {
    const n = 6;
    const x = randomArray(n * 4 * 3, 51);
    const y = randomArray(n * 2, 52);
    // dense's output feeds the normalization and the sum: it must be stored, so nothing folds.
    const build = (L: typeof layers | typeof tf.layers, inputOf: (shape: number[]) => unknown) => {
      const dense = L.dense as (c: object) => { apply(t: unknown): unknown };
      const xi = inputOf([4, 3]);
      const d = dense({ units: 5 }).apply(xi);
      const b = (L.batchNormalization as (c: object) => { apply(t: unknown): unknown })({}).apply(d);
      const sum = (L.add as (c: object) => { apply(t: unknown): unknown })({}).apply([b, d]);
      return { inputs: xi, outputs: dense({ units: 2 }).apply((L.flatten as (c: object) => { apply(t: unknown): unknown })({}).apply(sum)) };
    };
    const ours = model(build(layers, (shape) => input({ shape })) as never) as LayersModel;
    ours.compile({ optimizer: 'sgd', loss: 'meanSquaredError', engine: engine() });
    await ours.fit(tensor(x, [n, 4, 3]), tensor(y, [n, 2]), { epochs: 1, batchSize: 3, verbose: 0 });
    const theirs = tf.model(build(tf.layers, (shape) => tf.input({ shape })) as never);
    theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
    expect(relL2((await ours.predict(tensor(x, [n, 4, 3]))).values, (theirs.predict(tf.tensor(x, [n, 4, 3])) as tf.Tensor).dataSync())).toBeLessThanOrEqual(1e-5);

    // A normalization over axis 1 is no per-channel map of the producer's output channels.
    const axis1 = sequential([layers.dense({ units: 5, inputShape: [4, 3] }), layers.batchNormalization({ axis: 1 })]);
    axis1.compile({ optimizer: 'sgd', loss: 'meanSquaredError', engine: engine() });
    await axis1.fit(tensor(x, [n, 4, 3]), tensor(randomArray(n * 20, 53), [n, 4, 5]), { epochs: 1, batchSize: 3, verbose: 0 });
    const [kernel, bias, gamma, beta, mean, variance] = (await axis1.getWeights()).map((w) => w.values);
    const want = new Float64Array(n * 4 * 5);
    for (let s = 0; s < n; s++) {
      for (let r = 0; r < 4; r++) {
        for (let u = 0; u < 5; u++) {
          let v = bias![u]!;
          for (let k = 0; k < 3; k++) v += x[(s * 4 + r) * 3 + k]! * kernel![k * 5 + u]!;
          want[(s * 4 + r) * 5 + u] = ((v - mean![r]!) / Math.sqrt(variance![r]! + 1e-3)) * gamma![r]! + beta![r]!;
        }
      }
    }
    expect(relL2((await axis1.predict(tensor(x, [n, 4, 3]))).values, want)).toBeLessThanOrEqual(1e-5);
  });
});
