/**
 * Porting from TensorFlow.js: each program below is written as TF.js users write them (data made
 * with `tf.tensor*`, `tf.oneHot`, `tf.data`; the model with `sequential()` + `add()` or the
 * functional API; `train.*` optimizers; callbacks; fit, fitDataset, predict, getWeights, save and
 * loadLayersModel) and takes the library as its only parameter. It runs once with `@tensorflow/tfjs`
 * (cpu backend) and once with this engine in its place, and both runs agree: losses, predictions
 * and trained weights. The only edits a port needs are the ones the README lists: `await` on
 * predict() and getWeights(), which are asynchronous here.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ours from '../src/index.ts';
import { getDefaultEngine } from '../src/index.ts';
import { measuredErrors, randomArray, relL2 } from './helpers.ts';

const record = measuredErrors('TWIN_ERRORS', ['losses', 'predictions', 'weights']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(async () => (await getDefaultEngine()).dispose());

/** What the programs use of the library: the names a TF.js program imports from '@tensorflow/tfjs'. */
type Library = Pick<typeof tf, 'sequential' | 'model' | 'input' | 'layers' | 'train' | 'callbacks' | 'loadLayersModel' | 'initializers' | 'regularizers' | 'CustomCallback'>;
const LIBRARIES: [string, Library][] = [
  ['tfjs', tf],
  ['webgpu-train', ours as unknown as Library],
];

/** What a program reports: its loss curve, its predictions and its trained weights. */
interface Outcome {
  losses: number[];
  predictions: Float32Array;
  weights: Float32Array[];
  /** The first weight's starting values (training must have moved it). */
  start: Float32Array;
  /** Anything else a program checks, compared exactly. */
  extra?: unknown;
}

const N = 48;
const F = 5;
const CLASSES = 3;
const features = randomArray(N * F, 11);
const labels = Int32Array.from({ length: N }, (_, i) => (features[i * F]! + features[i * F + 1]! > 0 ? 1 : features[i * F + 2]! > 0.2 ? 2 : 0));

/** The same starting weights for both libraries, as a TF.js program would get from a checkpoint. */
function initial(shapes: number[][], seed: number): tf.Tensor[] {
  return shapes.map((shape, i) => tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), seed + i, 0.5), shape));
}

/** `await p.data()` and `p.arraySync()` as TF.js code reads a prediction; both must agree. */
async function read(p: unknown): Promise<{ values: Float32Array; nested: unknown }> {
  const t = (await p) as tf.Tensor;
  const values = (await t.data()) as Float32Array;
  const nested = t.arraySync();
  expect(t.shape).toEqual([N, CLASSES]);
  expect(Float32Array.from((nested as number[][]).flat())).toEqual(values);
  t.dispose();
  return { values, nested };
}

async function weightsOf(m: tf.LayersModel): Promise<Float32Array[]> {
  return (await m.getWeights()).map((w) => Float32Array.from(w.dataSync()));
}

/** History keys as Keras names them: TF.js 4.22 logs the metric 'accuracy' as 'acc' (a difference the README lists). */
function kerasKey(key: string): string {
  return key.replace(/(^|_)acc$/, '$1accuracy');
}

const PROGRAMS: Record<string, (lib: Library) => Promise<Outcome>> = {
  /** sequential() + add(), one-hot labels, validationSplit, earlyStopping and a custom callback. */
  async 'sequential + add, train.adam, validationSplit and callbacks'(lib) {
    const model = lib.sequential();
    model.add(lib.layers.dense({ units: 8, activation: 'relu', inputShape: [F], kernelRegularizer: lib.regularizers.l2({ l2: 0.01 }) }));
    model.add(lib.layers.dense({ units: CLASSES, activation: 'softmax' }));
    const init = initial([[F, 8], [8], [8, CLASSES], [CLASSES]], 1);
    model.setWeights(init);
    model.compile({ optimizer: lib.train.adam(0.02), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const xs = tf.tensor2d(features, [N, F]);
    const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES);
    const epochs: number[] = [];
    const history = await model.fit(xs, ys, {
      epochs: 6,
      batchSize: 8,
      shuffle: false,
      validationSplit: 0.25,
      verbose: 0,
      callbacks: [lib.callbacks.earlyStopping({ monitor: 'val_loss', patience: 10 }), new lib.CustomCallback({ onEpochEnd: async (epoch: number) => void epochs.push(epoch) })],
    });
    const { values } = await read(model.predict(xs));
    return { losses: [...(history.history.loss as number[]), ...(history.history.val_loss as number[])], predictions: values, weights: await weightsOf(model), start: init[0]!.dataSync() as Float32Array, extra: { epochs, keys: Object.keys(history.history).map(kerasKey).sort() } };
  },

  /** The functional API with class-index labels and train.sgd. */
  async 'functional, sparse labels, train.sgd'(lib) {
    const input = lib.input({ shape: [F] });
    const hidden = lib.layers.dense({ units: 6, activation: 'tanh' }).apply(input) as tf.SymbolicTensor;
    const output = lib.layers.dense({ units: CLASSES, activation: 'softmax' }).apply(hidden) as tf.SymbolicTensor;
    const model = lib.model({ inputs: input, outputs: output });
    const init = initial([[F, 6], [6], [6, CLASSES], [CLASSES]], 20);
    model.setWeights(init);
    // 'acc' keeps TF.js's log key on both sides ('accuracy' logs as TF.js's 'acc' but Keras's 'accuracy' here).
    model.compile({ optimizer: lib.train.sgd(0.3), loss: 'sparseCategoricalCrossentropy', metrics: ['acc'] });
    const xs = tf.tensor2d(features, [N, F]);
    const ys = tf.tensor1d(Array.from(labels));
    const history = await model.fit(xs, ys, { epochs: 4, batchSize: 16, shuffle: false, verbose: 0 });
    const { values } = await read(model.predict(xs));
    return { losses: history.history.loss as number[], predictions: values, weights: await weightsOf(model), start: init[0]!.dataSync() as Float32Array, extra: Object.keys(history.history).sort() };
  },

  /** fitDataset over a tf.data pipeline, train.rmsprop with momentum. */
  async 'fitDataset over tf.data, train.rmsprop'(lib) {
    const model = lib.sequential({ layers: [lib.layers.dense({ units: 7, activation: 'relu', inputShape: [F] }), lib.layers.dense({ units: CLASSES, activation: 'softmax' })] });
    const init = initial([[F, 7], [7], [7, CLASSES], [CLASSES]], 40);
    model.setWeights(init);
    model.compile({ optimizer: lib.train.rmsprop(0.01, 0.9, 0.5), loss: 'categoricalCrossentropy' });
    const rows = Array.from({ length: N }, (_, i) => ({ xs: Array.from(features.subarray(i * F, (i + 1) * F)), ys: Array.from({ length: CLASSES }, (_, c) => (labels[i] === c ? 1 : 0)) }));
    const dataset = tf.data.array(rows).map((r) => { const row = r as { xs: number[]; ys: number[] }; return { xs: tf.tensor1d(row.xs), ys: tf.tensor1d(row.ys) }; }).batch(12);
    const history = await model.fitDataset(dataset, { epochs: 3, verbose: 0 });
    const { values } = await read(model.predict(tf.tensor2d(features, [N, F])));
    return { losses: history.history.loss as number[], predictions: values, weights: await weightsOf(model), start: init[0]!.dataSync() as Float32Array };
  },

  /** Save through tf.io.withSaveHandler, load with loadLayersModel(tf.io.fromMemory(...)), train on. */
  async 'save, loadLayersModel, train on'(lib) {
    const model = lib.sequential();
    model.add(lib.layers.dense({ units: 4, activation: 'sigmoid', inputShape: [F] }));
    model.add(lib.layers.dense({ units: CLASSES, activation: 'softmax' }));
    const init = initial([[F, 4], [4], [4, CLASSES], [CLASSES]], 60);
    model.setWeights(init);
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await lib.loadLayersModel(tf.io.fromMemory(saved!));
    loaded.compile({ optimizer: lib.train.momentum(0.1, 0.9), loss: 'categoricalCrossentropy' });
    const xs = tf.tensor2d(features, [N, F]);
    const history = await loaded.fit(xs, tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES), { epochs: 3, batchSize: 12, shuffle: false, verbose: 0 });
    const { values } = await read(loaded.predict(xs));
    return { losses: history.history.loss as number[], predictions: values, weights: await weightsOf(loaded), start: init[0]!.dataSync() as Float32Array, extra: loaded.layers.map((l) => l.getClassName()) };
  },
};

describe('a TF.js program runs with only its imports swapped', () => {
  for (const [name, program] of Object.entries(PROGRAMS)) {
    it(name, async () => {
      const [theirs, mine] = await Promise.all(LIBRARIES.map(async ([, lib]) => program(lib)));
      expect(mine!.extra).toEqual(theirs!.extra);
      expect(mine!.losses.length).toBe(theirs!.losses.length);
      expect(record(name, 'losses', relL2(Float32Array.from(mine!.losses), Float32Array.from(theirs!.losses)))).toBeLessThanOrEqual(1e-4);
      expect(record(name, 'predictions', relL2(mine!.predictions, theirs!.predictions))).toBeLessThanOrEqual(1e-4);
      mine!.weights.forEach((w, i) => expect(record(name, 'weights', relL2(w, theirs!.weights[i]!)), `weight ${i}`).toBeLessThanOrEqual(1e-4));
      // Training moved the weights: the comparison is not between two untouched copies.
      expect(relL2(mine!.weights[0]!, mine!.start)).toBeGreaterThan(1e-3);
    });
  }
});
