/**
 * Graphs beyond a chain: a layer applied at several nodes (shared weights, gradients summed), models
 * of several inputs and outputs (a loss per output, lossWeights), and a model built on another's
 * inner outputs sharing its layers (frozen or not). Each is a twin of the same graph built with
 * TF.js 4.22 (cpu backend) from the same weights and trained the same steps; then model.json both
 * ways with TF.js, and the errors a user meets.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layers, loadModel, model, optimizers, tensor, type LayersModel, type ModelArtifacts, type Tensor } from '../src/index.ts';
import { measuredErrors, randomArray, relL2, useEngine } from './helpers.ts';
import { captureOurs, captureTf } from './artifacts.ts';

const engine = useEngine();
const record = measuredErrors('TWIN_ERRORS', ['updates', 'predictions']);
const testName = () => expect.getState().currentTestName!;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const N = 12;

/** Our weights into TF.js's model (same order: both list them as TF.js does). */
async function copyWeights(ours: LayersModel<unknown>, theirs: tf.LayersModel): Promise<void> {
  const weights = await ours.getWeights();
  expect(weights.map((w) => w.name)).toEqual(theirs.weights.map((w) => w.originalName));
  theirs.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
}

/** Weight updates of ours and TF.js's after training, relative to the starting weights. */
async function expectSameUpdates(ours: LayersModel<unknown>, theirs: tf.LayersModel, start: Float32Array[], tolerance = 1e-3): Promise<void> {
  const got = await ours.getWeights();
  const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
  got.forEach((w, i) => {
    const delta = w.values.map((v, k) => v - start[i]![k]!);
    const wantDelta = want[i]!.map((v, k) => v - start[i]![k]!);
    expect(record(testName(), 'updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(tolerance);
  });
}

function asList<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

describe('a layer applied at several nodes', () => {
  /** x → shared → a; a → shared → b; add(a, b) → softmax head: the shared dense layer's gradient sums both nodes. */
  function build(L: typeof layers | typeof tf.layers, inputOf: (shape: number[]) => unknown) {
    const x = inputOf([6]) as Parameters<typeof layers.dense>[0] & never;
    const shared = (L.dense as (c: object) => { apply(t: unknown): unknown })({ units: 6, activation: 'tanh', name: 'shared' });
    const a = shared.apply(x);
    const b = shared.apply(a);
    const sum = (L.add as (c: object) => { apply(t: unknown): unknown })({ name: 'sum' }).apply([a, b]);
    const out = (L.dense as (c: object) => { apply(t: unknown): unknown })({ units: 3, activation: 'softmax', name: 'head' }).apply(sum);
    return { inputs: x, outputs: out };
  }

  it('trains as TF.js does: predictions, updates, losses; summary lists the layer once with both nodes', async () => {
    const ours = model(build(layers, (shape) => input({ shape, name: 'x' })) as never) as LayersModel;
    const theirs = tf.model(build(tf.layers, (shape) => tf.input({ shape, name: 'x' })) as never);
    expect(ours.layers.map((l) => l.name)).toEqual(theirs.layers.map((l) => l.name));
    ours.compile({ optimizer: optimizers.adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    theirs.compile({ optimizer: tf.train.adam(0.05), loss: 'sparseCategoricalCrossentropy' });
    await copyWeights(ours, theirs);
    const start = (await ours.getWeights()).map((w) => w.values);
    const x = randomArray(N * 6, 11, 1.5);
    const y = Float32Array.from({ length: N }, (_, i) => (i * 7) % 3);
    const theirHistory = await theirs.fit(tf.tensor(x, [N, 6]), tf.tensor(y, [N]), { epochs: 3, batchSize: 5, shuffle: false, verbose: 0 });
    const ourHistory = await ours.fit(tensor(x, [N, 6]), tensor(y, [N]), { epochs: 3, batchSize: 5, shuffle: false, verbose: 0 });
    await expectSameUpdates(ours, theirs, start);
    const p = (await ours.predict(tensor(x, [N, 6]))).values;
    expect(record(testName(), 'predictions', relL2(p, (theirs.predict(tf.tensor(x, [N, 6])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
    ourHistory.loss.forEach((l, e) => expect(l).toBeCloseTo((theirHistory.history.loss as number[])[e]!, 5));
    const summary = ours.summary();
    expect(summary.match(/shared \(Dense\)/g)).toHaveLength(1);
    expect(summary).toContain('x[0][0], shared[0][0]');
  });

  it('rejects a second node whose inputs need other weights, naming both shapes', () => {
    const shared = layers.dense({ units: 4, name: 'twice' });
    shared.apply(input({ shape: [3] }));
    expect(() => shared.apply(input({ shape: [5] }))).toThrow(/layer twice is applied again to inputs \[5\].*\[3, 4\]/);
    expect(() => shared.output).not.toThrow();
    const again = layers.dense({ units: 2, name: 'again' });
    const t = input({ shape: [2] });
    again.apply(again.apply(t));
    expect(() => again.output).toThrow(/multiple inbound nodes/);
    expect(again.getOutputAt(1).shape).toEqual([2]);
  });
});

describe('several inputs and outputs', () => {
  /** Two inputs; a classifier head and a regression head with their own losses, weighted. */
  function build(L: typeof layers | typeof tf.layers, inputOf: (shape: number[], name: string) => unknown) {
    const dense = L.dense as (c: object) => { apply(t: unknown): unknown };
    const xa = inputOf([5], 'xa');
    const xb = inputOf([3], 'xb');
    const h = (L.concatenate as (c: object) => { apply(t: unknown): unknown })({ name: 'joined' }).apply([dense({ units: 4, activation: 'relu', name: 'fa' }).apply(xa), xb]);
    const cls = dense({ units: 3, activation: 'softmax', name: 'cls' }).apply(h);
    const reg = dense({ units: 2, name: 'reg' }).apply(dense({ units: 4, activation: 'tanh', name: 'rh' }).apply(h));
    return { inputs: [xa, xb], outputs: [cls, reg] };
  }
  const xa = randomArray(N * 5, 21);
  const xb = randomArray(N * 3, 22);
  const labels = Float32Array.from({ length: N }, (_, i) => (i * 5) % 3);
  const targets = randomArray(N * 2, 23);

  it('losses per output with lossWeights train as TF.js does; logs name each output; predict gives a list', async () => {
    const ours = model(build(layers, (shape, name) => input({ shape, name })) as never) as unknown as LayersModel<Tensor<Float32Array>[]>;
    const theirs = tf.model(build(tf.layers, (shape, name) => tf.input({ shape, name })) as never);
    expect(ours.outputNames).toEqual(['cls', 'reg']);
    ours.compile({ loss: ['sparseCategoricalCrossentropy', 'meanSquaredError'], lossWeights: [1, 0.5], optimizer: optimizers.sgd({ learningRate: 0.2 }), metrics: { cls: 'accuracy' }, engine: engine() });
    // TF.js 4.22 has no lossWeights: the same objective is its MSE scaled by 0.5 (which it then logs as reg_loss).
    const halfMse = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.meanSquaredError(yTrue, yPred).mul(0.5);
    theirs.compile({ loss: ['sparseCategoricalCrossentropy', halfMse as never], optimizer: tf.train.sgd(0.2), metrics: { cls: 'accuracy' } });
    await copyWeights(ours, theirs);
    const start = (await ours.getWeights()).map((w) => w.values);
    const theirHistory = await theirs.fit([tf.tensor(xa, [N, 5]), tf.tensor(xb, [N, 3])], [tf.tensor(labels, [N]), tf.tensor(targets, [N, 2])], { epochs: 2, batchSize: 5, shuffle: false, verbose: 0 });
    // By name, as Keras takes them.
    const ourHistory = await ours.fit({ xa: tensor(xa, [N, 5]), xb: tensor(xb, [N, 3]) }, { reg: tensor(targets, [N, 2]), cls: tensor(labels, [N]) }, { epochs: 2, batchSize: 5, shuffle: false, verbose: 0 });
    await expectSameUpdates(ours, theirs, start);
    expect(Object.keys(ourHistory.history).sort()).toEqual(['cls_accuracy', 'cls_loss', 'loss', 'reg_loss']);
    // Keras logs each output's own loss, unweighted, and their weighted sum as `loss`.
    for (const [key, theirKey, factor] of [['loss', 'loss', 1], ['cls_loss', 'cls_loss', 1], ['reg_loss', 'reg_loss', 2], ['cls_accuracy', 'cls_acc', 1]] as const) {
      const want = (theirHistory.history[theirKey] as number[]).map((v) => v * factor);
      ourHistory.history[key]!.forEach((v, e) => expect(Math.abs(v - want[e]!) / Math.max(Math.abs(want[e]!), 1e-6), `${key} epoch ${e}`).toBeLessThanOrEqual(1e-4));
    }
    const predictions = await ours.predict([tensor(xa, [N, 5]), tensor(xb, [N, 3])]);
    const theirPredictions = theirs.predict([tf.tensor(xa, [N, 5]), tf.tensor(xb, [N, 3])]) as tf.Tensor[];
    expect(predictions.map((p) => p.shape)).toEqual([[N, 3], [N, 2]]);
    predictions.forEach((p, i) => expect(record(testName(), 'predictions', relL2(p.values, theirPredictions[i]!.dataSync()))).toBeLessThanOrEqual(1e-4));
    const evaluated = await ours.evaluate([tensor(xa, [N, 5]), tensor(xb, [N, 3])], [tensor(labels, [N]), tensor(targets, [N, 2])]);
    const theirEval = (theirs.evaluate([tf.tensor(xa, [N, 5]), tf.tensor(xb, [N, 3])], [tf.tensor(labels, [N]), tf.tensor(targets, [N, 2])]) as tf.Scalar[]).map((s) => s.dataSync()[0]!);
    // TF.js 4.22 returns [cls_loss, loss, cls_loss, reg_loss, cls_acc] here (the first one extra).
    expect(evaluated.loss).toBeCloseTo(theirEval[1]!, 5);
    expect(evaluated.cls_loss).toBeCloseTo(theirEval[2]!, 5);
    expect(evaluated.reg_loss).toBeCloseTo(2 * theirEval[3]!, 5);
    expect(evaluated.cls_accuracy).toBeCloseTo(theirEval[4]!, 6);
  });

  it('model.json both ways with TF.js, training config included', async () => {
    const ours = model(build(layers, (shape, name) => input({ shape, name })) as never) as unknown as LayersModel<Tensor<Float32Array>[]>;
    ours.compile({ optimizer: 'sgd', loss: ['sparseCategoricalCrossentropy', 'meanSquaredError'], lossWeights: [1, 0.5], engine: engine() });
    const x = [tensor(xa, [N, 5]), tensor(xb, [N, 3])];
    const expected = await ours.predict(x);
    const artifacts = await captureOurs(ours);
    // TF.js 4.22 cannot load loss_weights (it throws), so they are not saved.
    expect(artifacts.trainingConfig).toMatchObject({ loss: ['sparse_categorical_crossentropy', 'mean_squared_error'] });
    expect(artifacts.trainingConfig).not.toHaveProperty('loss_weights');
    const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts as unknown as tf.io.ModelArtifacts));
    const tfOut = tfLoaded.predict([tf.tensor(xa, [N, 5]), tf.tensor(xb, [N, 3])]) as tf.Tensor[];
    expected.forEach((p, i) => expect(relL2(tfOut[i]!.dataSync(), p.values)).toBeLessThanOrEqual(1e-6));
    const tfArtifacts = await captureTf(tfLoaded);
    const back = await loadModel<Tensor<Float32Array>[]>({ load: async () => tfArtifacts as unknown as ModelArtifacts }, { engine: engine() });
    expect(back.inputNames).toEqual(['xa', 'xb']);
    (await back.predict(x)).forEach((p, i) => expect(relL2(p.values, expected[i]!.values)).toBeLessThanOrEqual(1e-6));
  });

  it('errors name the inputs and outputs', async () => {
    const ours = model(build(layers, (shape, name) => input({ shape, name })) as never) as unknown as LayersModel<Tensor<Float32Array>[]>;
    expect(() => ours.compile({ optimizer: 'sgd', loss: ['mse'] })).toThrow(/one entry per output \(cls, reg\)/);
    expect(() => ours.compile({ optimizer: 'sgd', loss: { cls: 'mse', other: 'mse' } })).toThrow(/'other', not an output of the model; its outputs: cls, reg/);
    ours.compile({ optimizer: 'sgd', loss: { cls: 'sparseCategoricalCrossentropy', reg: 'mse' }, engine: engine() });
    await expect(ours.predict(tensor(xa, [N, 5]))).rejects.toThrow(/the model has 2 inputs \(xa, xb\)/);
    await expect(ours.predict({ xa: tensor(xa, [N, 5]) })).rejects.toThrow(/no tensor for input 'xb'/);
    await expect(ours.fit([tensor(xa, [N, 5]), tensor(xb, [N, 3])], [tensor(labels, [N])])).rejects.toThrow(/expected 2 tensors, one per output \(cls, reg\)/);
    await expect(ours.predict([tensor(xa, [N, 5]), tensor(xb.subarray(0, 9), [3, 3])])).rejects.toThrow(/has 3 samples but x\[0\] \('xa'\) has 12/);
  });
});

describe('a model on another model\'s inner outputs', () => {
  function base(L: typeof layers | typeof tf.layers, inputOf: (shape: number[]) => unknown) {
    const dense = L.dense as (c: object) => { apply(t: unknown): unknown };
    const x = inputOf([6]);
    const features = dense({ units: 5, activation: 'relu', name: 'features' }).apply(x);
    const out = dense({ units: 3, activation: 'softmax', name: 'old_head' }).apply(dense({ units: 4, activation: 'tanh', name: 'inner' }).apply(features));
    return { inputs: x, outputs: out };
  }
  const x = randomArray(N * 6, 31, 1.5);
  const y = Float32Array.from({ length: N }, (_, i) => i % 2);

  for (const frozen of [true, false]) {
    it(`a new head on a ${frozen ? 'frozen' : 'trainable'} base layer trains as TF.js does; the base model sees the shared weights`, async () => {
      const ours = model(base(layers, (shape) => input({ shape, name: 'x' })) as never) as LayersModel;
      const theirs = tf.model(base(tf.layers, (shape) => tf.input({ shape, name: 'x' })) as never);
      await copyWeights(ours, theirs);
      const basePrediction = (await ours.predict(tensor(x, [N, 6]), { batchSize: 4 })).values;
      const head = model({ inputs: ours.inputs, outputs: layers.dense({ units: 2, activation: 'softmax', name: 'new_head' }).apply(ours.getLayer('features').output) }) as LayersModel;
      const theirHead = tf.model({ inputs: theirs.inputs, outputs: tf.layers.dense({ units: 2, activation: 'softmax', name: 'new_head' }).apply(theirs.getLayer('features').output) as tf.SymbolicTensor });
      expect(head.layers.map((l) => l.name)).toEqual(theirHead.layers.map((l) => l.name));
      head.getLayer('features').trainable = !frozen;
      theirHead.getLayer('features').trainable = !frozen;
      head.compile({ optimizer: optimizers.sgd({ learningRate: 0.3 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      theirHead.compile({ optimizer: tf.train.sgd(0.3), loss: 'sparseCategoricalCrossentropy' });
      await copyWeights(head, theirHead);
      const start = (await head.getWeights()).map((w) => w.values);
      await theirHead.fit(tf.tensor(x, [N, 6]), tf.tensor(y, [N]), { epochs: 3, batchSize: 5, shuffle: false, verbose: 0 });
      await head.fit(tensor(x, [N, 6]), tensor(y, [N]), { epochs: 3, batchSize: 5, shuffle: false, verbose: 0 });
      await expectSameUpdates(head, theirHead, start);
      // The base model runs with what its shared layer holds now, as TF.js's does.
      const after = (await ours.predict(tensor(x, [N, 6]), { batchSize: 4 })).values;
      expect(record(testName(), 'predictions', relL2(after, (theirs.predict(tf.tensor(x, [N, 6])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
      if (frozen) expect(after).toEqual(basePrediction);
      else expect(relL2(after, basePrediction)).toBeGreaterThan(1e-4);
      const baseFeatures = (await ours.getWeights()).find((w) => w.name === 'features/kernel')!.values;
      const headFeatures = (await head.getWeights()).find((w) => w.name === 'features/kernel')!.values;
      expect(baseFeatures).toEqual(headFeatures);
      // And back: training the base moves the head's copy too.
      ours.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', engine: engine() });
      ours.getLayer('features').trainable = true;
      await ours.fit(tensor(x, [N, 6]), tensor(y, [N]), { epochs: 1, batchSize: 6, verbose: 0 });
      const moved = (await ours.getWeights()).find((w) => w.name === 'features/kernel')!.values;
      expect((await head.getWeights()).find((w) => w.name === 'features/kernel')!.values).toEqual(moved);
      expect(relL2(moved, headFeatures)).toBeGreaterThan(0);
      const headNow = (await head.predict(tensor(x, [N, 6]))).values;
      theirs.getLayer('features').setWeights([tf.tensor(moved, [6, 5]), tf.tensor((await ours.getWeights()).find((w) => w.name === 'features/bias')!.values, [5])]);
      const newHead = new Map((await head.getWeights()).map((w) => [w.name, w]));
      theirHead.setWeights(theirHead.weights.map((v) => tf.tensor(newHead.get(v.originalName)!.values, v.shape as number[])));
      expect(relL2(headNow, (theirHead.predict(tf.tensor(x, [N, 6])) as tf.Tensor).dataSync())).toBeLessThanOrEqual(1e-5);
      expect(asList(head.outputs)).toHaveLength(1);
    });
  }
});
