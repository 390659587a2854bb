/**
 * fitDataset and evaluateDataset: batches streamed from a dataset (MNIST read from its IDX files in
 * chunks, generators, arrays, functions, TF.js's tf.data) train exactly as fit does on the same
 * arrays in the same order; batches of any size; a bad batch mid-epoch is an Error naming it and
 * leaves the weights as the batches before it left them; a twin with TF.js's own fitDataset.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { mnistBatches } from '../src/data/idx-stream.ts';
import { loadMnist } from '../src/data/mnist.ts';
import { layers, optimizers, sequential, tensor, type LayersModel, type NamedWeight } from '../src/index.ts';
import { measuredErrors, randomArray, relL2, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('TWIN_ERRORS', ['updates', 'loss']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const N = 300;
const BATCH = 32;

function mnistMlp(): LayersModel {
  const m = sequential({
    layers: [layers.flatten({ inputShape: [28, 28, 1] }), layers.dense({ units: 16, activation: 'relu' }), layers.dropout({ rate: 0.25, seed: 7 }), layers.dense({ units: 10, activation: 'softmax' })],
  });
  m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
  return m;
}

describe('fitDataset streaming MNIST from its IDX files', () => {
  it('gives bit-identical weights and logs to fit on the same arrays (shuffle: false, same seed)', async () => {
    const { train } = await loadMnist();
    const images = tensor(train.images.values.slice(0, N * 784), [N, 28, 28, 1]);
    const labels = tensor(train.labels.values.slice(0, N), [N]);
    const onArrays = mnistMlp();
    const streamed = mnistMlp();
    streamed.setWeights(await onArrays.getWeights());
    const chunks: number[] = [];
    const source = mnistBatches({ batchSize: BATCH, limit: N });
    const counted = async function* () {
      for await (const batch of source()) {
        chunks.push(batch.xs.shape[0]!);
        yield batch;
      }
    };
    const fitHistory = await onArrays.fit(images, labels, { epochs: 2, batchSize: BATCH, shuffle: false, verbose: 0 });
    const streamHistory = await streamed.fitDataset(counted, { epochs: 2, verbose: 0 });
    // 9 full batches and a partial one of 12, per epoch, read anew each epoch.
    expect(chunks).toEqual([...Array(9).fill(32), 12, ...Array(9).fill(32), 12]);
    const want = await onArrays.getWeights();
    const got = await streamed.getWeights();
    got.forEach((w, i) => expect(w.values, w.name).toEqual(want[i]!.values));
    expect(streamHistory.history).toEqual(fitHistory.history);
    expect(relL2(got[0]!.values, (await mnistMlp().getWeights())[0]!.values)).toBeGreaterThan(1e-3);
  });

  it('validates on a dataset and on [x, y] as evaluate() does; evaluateDataset agrees with evaluate', async () => {
    const { test } = await loadMnist();
    const n = 100;
    const x = tensor(test.images.values.slice(0, n * 784), [n, 28, 28, 1]);
    const y = tensor(test.labels.values.slice(0, n), [n]);
    const m = mnistMlp();
    const history = await m.fitDataset(mnistBatches({ batchSize: 50, limit: 100 }), {
      epochs: 1,
      verbose: 0,
      validationData: mnistBatches({ split: 'test', batchSize: 24, limit: n }),
    });
    const evaluated = await m.evaluate(x, y, { batchSize: 24 });
    expect(history.val_loss[0]).toBeCloseTo(evaluated.loss, 6);
    expect(history.val_accuracy[0]).toBe(evaluated.accuracy);
    const onArrays = await m.fitDataset(mnistBatches({ batchSize: 50, limit: 100 }), { epochs: 1, verbose: 0, validationData: [x, y], validationBatchSize: 24 });
    const after = await m.evaluate(x, y, { batchSize: 24 });
    expect(onArrays.val_loss[0]).toBeCloseTo(after.loss, 6);
    const streamedEval = await m.evaluateDataset(mnistBatches({ split: 'test', batchSize: 17, limit: n }));
    expect(streamedEval.loss).toBeCloseTo(after.loss, 6);
    expect(streamedEval.accuracy).toBe(after.accuracy);
    // The first 2 batches of 17 only.
    const two = await m.evaluateDataset(mnistBatches({ split: 'test', batchSize: 17, limit: n }), { batches: 2 });
    const firstTwo = await m.evaluate(tensor(x.values.slice(0, 34 * 784), [34, 28, 28, 1]), tensor(y.values.slice(0, 34), [34]));
    expect(two.loss).toBeCloseTo(firstTwo.loss, 6);
  });
});

// ---- a small regression model for the rest ----------------------------------------------

const F = 5;
const xAll = randomArray(40 * F, 3);
const yAll = randomArray(40 * 2, 4);

function regression(): LayersModel {
  const m = sequential({ layers: [layers.dense({ units: 6, activation: 'tanh', inputShape: [F] }), layers.dense({ units: 2 })] });
  m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError', engine: engine() });
  return m;
}

/** Batches of the given sizes over xAll / yAll, in order, as plain `{ values, shape }` objects. */
function batches(sizes: number[], start = 0): { xs: { values: Float32Array; shape: number[] }; ys: { values: Float32Array; shape: number[] } }[] {
  let at = start;
  return sizes.map((k) => {
    const b = { xs: { values: xAll.slice(at * F, (at + k) * F), shape: [k, F] }, ys: { values: yAll.slice(at * 2, (at + k) * 2), shape: [k, 2] } };
    at += k;
    return b;
  });
}

function copyInto(theirs: tf.LayersModel, weights: NamedWeight[]): void {
  theirs.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
}

function tfRegression(): tf.Sequential {
  const t = tf.sequential({ layers: [tf.layers.dense({ units: 6, activation: 'tanh', inputShape: [F] }), tf.layers.dense({ units: 2 })] });
  t.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  return t;
}

function compareUpdates(name: string, start: NamedWeight[], got: NamedWeight[], want: Float32Array[]): void {
  got.forEach((w, i) => {
    const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
    const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
    expect(record(name, 'updates', relL2(delta, wantDelta)), w.name).toBeLessThanOrEqual(1e-3);
  });
}

describe('fitDataset: batches of any size, any dataset form', () => {
  it('variable-size batches (a larger one after smaller ones gets its own plan) train as TF.js trainOnBatch does on each', async () => {
    const sizes = [8, 5, 8, 3, 13, 2];
    const ours = regression();
    const theirs = tfRegression();
    const start = await ours.getWeights();
    copyInto(theirs, start);
    const history = await ours.fitDataset(batches(sizes), { epochs: 1, verbose: 0 });
    const losses: number[] = [];
    for (const b of batches(sizes)) losses.push((await theirs.trainOnBatch(tf.tensor(b.xs.values, b.xs.shape), tf.tensor(b.ys.values, b.ys.shape))) as number);
    compareUpdates(expect.getState().currentTestName!, start, await ours.getWeights(), theirs.getWeights().map((t) => t.dataSync() as Float32Array));
    // The epoch's loss is the mean over its samples of the loss before each step.
    const want = losses.reduce((s, l, i) => s + l * sizes[i]!, 0) / sizes.reduce((a, b) => a + b, 0);
    expect(record(expect.getState().currentTestName!, 'loss', Math.abs(history.loss[0]! - want) / want)).toBeLessThanOrEqual(1e-5);
  });

  it('twin of TF.js fitDataset over a tf.data dataset (TF.js tensors), batchesPerEpoch running the iterator across epochs', async () => {
    const ds = tf.data.zip({ xs: tf.data.array(Array.from({ length: 40 }, (_, i) => Array.from(xAll.slice(i * F, (i + 1) * F)))), ys: tf.data.array(Array.from({ length: 40 }, (_, i) => Array.from(yAll.slice(i * 2, i * 2 + 2)))) }).batch(6);
    const ours = regression();
    const theirs = tfRegression();
    const start = await ours.getWeights();
    copyInto(theirs, start);
    const args = { epochs: 3, batchesPerEpoch: 2 };
    const theirHistory = await theirs.fitDataset(ds as unknown as tf.data.Dataset<{ xs: tf.Tensor; ys: tf.Tensor }>, { ...args, verbose: 0 });
    const ourHistory = await ours.fitDataset(ds, { ...args, verbose: 0 });
    compareUpdates(expect.getState().currentTestName!, start, await ours.getWeights(), theirs.getWeights().map((t) => t.dataSync() as Float32Array));
    (theirHistory.history.loss as number[]).forEach((l, e) => expect(record(expect.getState().currentTestName!, 'loss', Math.abs(ourHistory.loss[e]! - l) / l)).toBeLessThanOrEqual(1e-5));
  });

  it('a dataset that runs out before batchesPerEpoch × epochs: a warning, and training stops after the batches it had', async () => {
    const start = await regression().getWeights();
    const m = regression();
    m.setWeights(start);
    const reference = regression();
    reference.setWeights(start);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const history = await m.fitDataset(batches([6, 6, 6, 6]), { epochs: 3, batchesPerEpoch: 3, verbose: 0 });
      expect(history.epoch).toEqual([0, 1]);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/batchesPerEpoch is 3, but the dataset ran out after 1 batches of epoch 2/);
    } finally {
      warn.mockRestore();
    }
    await reference.fitDataset(batches([6, 6, 6, 6]), { epochs: 1, verbose: 0 });
    const want = await reference.getWeights();
    (await m.getWeights()).forEach((w, i) => expect(w.values).toEqual(want[i]!.values));
  });

  it('takes arrays, sync and async generators, functions and iterator() objects; an exhausted iterator is an Error', async () => {
    const sizes = [10, 10, 10, 10];
    const trained = async (source: unknown, epochs = 2) => {
      const m = regression();
      m.setWeights(start);
      await m.fitDataset(source as never, { epochs, verbose: 0 });
      return (await m.getWeights())[0]!.values;
    };
    const start = await regression().getWeights();
    const reference = await trained(batches(sizes));
    expect(await trained(function* () {
      yield* batches(sizes);
    })).toEqual(reference);
    expect(await trained(async function* () {
      yield* batches(sizes);
    })).toEqual(reference);
    expect(await trained({ iterator: async () => batches(sizes)[Symbol.iterator]() })).toEqual(reference);
    const once = (function* () {
      yield* batches(sizes);
    })();
    await expect(trained(once)).rejects.toThrow(/epoch 2, batch 0: the dataset gave no batches/);
  });
});

describe('fitDataset: a bad batch mid-epoch', () => {
  const good = batches([8, 8, 8]);
  const cases: [string, unknown, RegExp][] = [
    ['a wrong shape', { xs: { values: new Float32Array(8 * 4), shape: [8, 4] }, ys: good[0]!.ys }, /epoch 1, batch 3: xs: expected shape \[null, 5\].*got \[8, 4\]/],
    ['rows that disagree', { xs: good[0]!.xs, ys: { values: new Float32Array(6), shape: [3, 2] } }, /epoch 1, batch 3: ys: has 3 samples but x has 8/],
    ['a target that is not finite', { xs: good[0]!.xs, ys: { values: new Float32Array(16).fill(NaN), shape: [8, 2] } }, /epoch 1, batch 3: ys: target 0 is NaN/],
    ['a dtype change', { xs: { values: new Uint8Array(8 * F), shape: [8, F] }, ys: good[0]!.ys }, /epoch 1, batch 3: xs: input 0 is uint8 .* but the first batch's was float32/],
    ['not a batch', [1, 2], /epoch 1, batch 3: a dataset must yield objects \{ xs, ys \}/],
  ];
  for (const [what, bad, message] of cases) {
    it(`${what}: an Error naming it, and the weights of the 3 batches before`, async () => {
      const start = await regression().getWeights();
      const reference = regression();
      reference.setWeights(start);
      await reference.fitDataset(good, { epochs: 1, verbose: 0 });
      const m = regression();
      m.setWeights(start);
      await expect(m.fitDataset([...good, bad, ...good], { epochs: 1, verbose: 0 })).rejects.toThrow(message);
      const want = await reference.getWeights();
      (await m.getWeights()).forEach((w, i) => expect(w.values).toEqual(want[i]!.values));
      // The model trains on afterwards.
      await m.fitDataset(good, { epochs: 1, verbose: 0 });
    });
  }

  it('a dataset that throws: the Error names the batch and carries the cause; the generator is closed', async () => {
    let closed = false;
    const failing = function* () {
      try {
        yield* good;
        throw new Error('disk on fire');
      } finally {
        closed = true;
      }
    };
    const m = regression();
    const err = await m.fitDataset(failing, { epochs: 1, verbose: 0 }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/epoch 1, batch 3: the dataset failed: disk on fire/);
    expect(closed).toBe(true);
  });

  it('bad arguments are Errors naming them', async () => {
    const m = regression();
    await expect(m.fitDataset(good, { epochs: 0 })).rejects.toThrow(/epochs must be an integer ≥ 1/);
    await expect(m.fitDataset(good, { batchesPerEpoch: 1.5 })).rejects.toThrow(/batchesPerEpoch must be an integer ≥ 1/);
    await expect(m.fitDataset(good, { validationSplit: 0.2 } as never)).rejects.toThrow(/validationSplit is not supported/);
    await expect(m.fitDataset(42 as never, { verbose: 0 })).rejects.toThrow(/expected a dataset/);
    await expect(m.fitDataset(good, { verbose: 0, validationData: 3 as never })).rejects.toThrow(/validationData must be a dataset or \[x, y\]/);
  });
});
