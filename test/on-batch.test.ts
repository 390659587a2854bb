/**
 * trainOnBatch, testOnBatch and predictOnBatch for custom loops: twins with TF.js's trainOnBatch
 * (returned losses and metrics, weight updates), a GAN-style loop alternating two models that
 * share layers (each step trains only what it should; twin of the same loop in TF.js), and
 * freezing a layer mid-training, which keeps the optimizer's state of the others (Adam, twin).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layers, model, optimizers, sequential, tensor, type Layer, type NamedWeight } from '../src/index.ts';
import { measuredErrors, randomArray, relL2, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('TWIN_ERRORS', ['updates', 'loss', 'predictions']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const F = 6;
const N = 12;
const x = randomArray(N * F, 11);
const labels = Int32Array.from({ length: N }, (_, i) => (x[i * F]! > 0 ? (x[i * F + 1]! > 0 ? 2 : 1) : 0));

function deltas(start: NamedWeight[], now: ArrayLike<number>[]): Float32Array[] {
  return now.map((w, i) => Float32Array.from(w as ArrayLike<number>, (v, k) => v - start[i]!.values[k]!));
}

function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe('trainOnBatch / testOnBatch / predictOnBatch', () => {
  it("trainOnBatch: TF.js's return values ([loss, accuracy, mse]) and updates, over steps of different sizes", async () => {
    const ours = sequential({ layers: [layers.dense({ units: 7, activation: 'relu', inputShape: [F] }), layers.dense({ units: 3, activation: 'softmax' })] });
    ours.compile({ optimizer: optimizers.adam({ learningRate: 0.05 }), loss: 'categoricalCrossentropy', metrics: ['accuracy', 'mse'], engine: engine() });
    const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 7, activation: 'relu', inputShape: [F] }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    theirs.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy', metrics: ['accuracy', 'mse'] });
    const oneHot = Float32Array.from({ length: N * 3 }, (_, k) => (labels[Math.floor(k / 3)] === k % 3 ? 1 : 0));
    const start = await ours.getWeights();
    theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
    const name = expect.getState().currentTestName!;
    for (const [a, b] of [[0, 5], [5, 12], [0, 12], [3, 7]] as const) {
      const xb = x.slice(a * F, b * F);
      const yb = oneHot.slice(a * 3, b * 3);
      const got = (await ours.trainOnBatch(tensor(xb, [b - a, F]), tensor(yb, [b - a, 3]))) as number[];
      const want = (await theirs.trainOnBatch(tf.tensor(xb, [b - a, F]), tf.tensor(yb, [b - a, 3]))) as number[];
      expect(got).toHaveLength(3);
      expect(record(name, 'loss', relative(got[0]!, want[0]!))).toBeLessThanOrEqual(1e-5);
      expect(got[1]).toBeCloseTo(want[1]!, 6);
      expect(record(name, 'loss', relative(got[2]!, want[2]!))).toBeLessThanOrEqual(1e-5);
    }
    const wantDeltas = deltas(start, theirs.getWeights().map((t) => t.dataSync()));
    deltas(start, (await ours.getWeights()).map((w) => w.values)).forEach((d, i) => expect(record(name, 'updates', relL2(d, wantDeltas[i]!))).toBeLessThanOrEqual(1e-3));
    // Without metrics: one number.
    const plain = sequential({ layers: [layers.dense({ units: 2, inputShape: [F] })] });
    plain.compile({ optimizer: 'sgd', loss: 'mse', engine: engine() });
    expect(typeof (await plain.trainOnBatch(tensor(x.slice(0, 4 * F), [4, F]), tensor(new Float32Array(8), [4, 2])))).toBe('number');
  });

  it('testOnBatch agrees with evaluate and trains nothing; predictOnBatch agrees with predict; TF.js tensors work as ours', async () => {
    const m = sequential({ layers: [layers.dense({ units: 5, activation: 'tanh', inputShape: [F] }), layers.dense({ units: 3, activation: 'softmax' })] });
    m.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    const before = await m.getWeights();
    const [loss, accuracy] = (await m.testOnBatch(tensor(x, [N, F]), tensor(labels, [N]))) as number[];
    const evaluated = await m.evaluate(tensor(x, [N, F]), tensor(labels, [N]));
    expect(loss).toBeCloseTo(evaluated.loss, 6);
    expect(accuracy).toBe(evaluated.accuracy);
    (await m.getWeights()).forEach((w, i) => expect(w.values).toEqual(before[i]!.values));
    const predicted = await m.predict(tensor(x, [N, F]));
    const onBatch = await m.predictOnBatch(tensor(x, [N, F]));
    expect(onBatch.shape).toEqual([N, 3]);
    expect(relL2(onBatch.values, predicted.values)).toBeLessThanOrEqual(1e-6);
    const part = await m.predictOnBatch(tensor(x.slice(0, 5 * F), [5, F]));
    expect(relL2(part.values, predicted.values.slice(0, 15))).toBeLessThanOrEqual(1e-6);
    // TF.js tensors (int32 labels, as tf.tensor1d(labels, 'int32') makes them) feed the same.
    const viaTfjs = (await m.testOnBatch(tf.tensor(x, [N, F]) as never, tf.tensor1d(labels, 'int32') as never)) as number[];
    expect(viaTfjs).toEqual([loss, accuracy]);
    expect((await m.predictOnBatch(tf.tensor(x, [N, F]) as never)).values).toEqual(onBatch.values);
    await expect(m.trainOnBatch(tensor(x, [N, F]), tensor(labels.map((l) => l + 3), [N]))).rejects.toThrow(/label 0 is \d+, which is outside \[0, 3\)/);
    await expect(m.predictOnBatch(tensor(x.slice(0, 8), [2, 4]))).rejects.toThrow(/expected shape \[null, 6\]/);
  });
});

describe('a GAN-style loop: two models sharing layers, alternating trainOnBatch', () => {
  it('each step trains only its own side, and the loop matches the same loop in TF.js (Adam)', async () => {
    const Z = 4;
    const B = 8;
    const gLayers: Layer[] = [layers.dense({ units: 8, activation: 'relu', inputShape: [Z] }), layers.dense({ units: F })];
    const dLayers: Layer[] = [layers.dense({ units: 8, activation: 'relu', inputShape: [F] }), layers.dense({ units: 1, activation: 'sigmoid' })];
    const generator = sequential({ layers: gLayers });
    const discriminator = sequential({ layers: dLayers });
    discriminator.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'binaryCrossentropy', metrics: ['accuracy'], engine: engine() });
    const z = input({ shape: [Z] });
    const combined = model({ inputs: z, outputs: dLayers[1]!.apply(dLayers[0]!.apply(gLayers[1]!.apply(gLayers[0]!.apply(z)))) });
    combined.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'binaryCrossentropy', engine: engine() });
    generator.useEngine(engine());

    const tg = tf.sequential({ layers: [tf.layers.dense({ units: 8, activation: 'relu', inputShape: [Z] }), tf.layers.dense({ units: F })] });
    const td = tf.sequential({ layers: [tf.layers.dense({ units: 8, activation: 'relu', inputShape: [F] }), tf.layers.dense({ units: 1, activation: 'sigmoid' })] });
    td.compile({ optimizer: tf.train.adam(0.02), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    const tz = tf.input({ shape: [Z] });
    const tCombined = tf.model({ inputs: tz, outputs: td.apply(tg.apply(tz)) as tf.SymbolicTensor });
    td.trainable = false;
    tCombined.compile({ optimizer: tf.train.adam(0.02), loss: 'binaryCrossentropy' });
    const gStart = await generator.getWeights();
    const dStart = await discriminator.getWeights();
    tg.setWeights(gStart.map((w) => tf.tensor(w.values, w.shape)));
    td.setWeights(dStart.map((w) => tf.tensor(w.values, w.shape)));

    const setTrainable = (flag: boolean) => {
      for (const l of dLayers) l.trainable = flag;
      td.trainable = flag;
    };
    const same = (a: NamedWeight[], b: NamedWeight[]) => a.forEach((w, i) => expect(w.values).toEqual(b[i]!.values));
    const changed = (a: NamedWeight[], b: NamedWeight[]) => a.forEach((w, i) => expect(relL2(w.values, b[i]!.values)).toBeGreaterThan(1e-5));
    const name = expect.getState().currentTestName!;
    const ones = new Float32Array(B).fill(1);
    for (let step = 0; step < 3; step++) {
      const noise = randomArray(B * Z, 100 + step, 2);
      const real = randomArray(B * F, 200 + step, 0.5).map((v) => v + 1);
      const fake = await generator.predictOnBatch(tensor(noise, [B, Z]));
      const theirFake = tg.predictOnBatch(tf.tensor(noise, [B, Z])) as tf.Tensor;
      expect(record(name, 'predictions', relL2(fake.values, theirFake.dataSync()))).toBeLessThanOrEqual(1e-4);
      const xD = new Float32Array([...real, ...fake.values]);
      const yD = new Float32Array([...ones, ...new Float32Array(B)]);

      setTrainable(true);
      const gBefore = await generator.getWeights();
      const dBefore = await discriminator.getWeights();
      const dLoss = (await discriminator.trainOnBatch(tensor(xD, [2 * B, F]), tensor(yD, [2 * B, 1]))) as number[];
      const theirD = (await td.trainOnBatch(tf.tensor(new Float32Array([...real, ...theirFake.dataSync()]), [2 * B, F]), tf.tensor(yD, [2 * B, 1]))) as number[];
      expect(record(name, 'loss', relative(dLoss[0]!, theirD[0]!))).toBeLessThanOrEqual(1e-4);
      same(await generator.getWeights(), gBefore);
      changed(await discriminator.getWeights(), dBefore);

      setTrainable(false);
      const noise2 = randomArray(B * Z, 300 + step, 2);
      const dMid = await discriminator.getWeights();
      const gMid = await generator.getWeights();
      const gLoss = (await combined.trainOnBatch(tensor(noise2, [B, Z]), tensor(ones, [B, 1]))) as number;
      const theirG = (await tCombined.trainOnBatch(tf.tensor(noise2, [B, Z]), tf.tensor(ones, [B, 1]))) as number;
      expect(record(name, 'loss', relative(gLoss, theirG))).toBeLessThanOrEqual(1e-4);
      same(await discriminator.getWeights(), dMid);
      changed(await generator.getWeights(), gMid);
      // The generator's step made the discriminator call its fakes more real.
      const after = (await combined.testOnBatch(tensor(noise2, [B, Z]), tensor(ones, [B, 1]))) as number;
      expect(after).toBeLessThan(gLoss);
    }
    const check = (start: NamedWeight[], ours: NamedWeight[], theirs: tf.Tensor[]) => {
      const want = deltas(start, theirs.map((t) => t.dataSync()));
      deltas(start, ours.map((w) => w.values)).forEach((d, i) => expect(record(name, 'updates', relL2(d, want[i]!)), ours[i]!.name).toBeLessThanOrEqual(1e-3));
    };
    check(gStart, await generator.getWeights(), tg.getWeights());
    setTrainable(true);
    check(dStart, await discriminator.getWeights(), td.getWeights());
  });

  it("freezing the last layer mid-training keeps Adam's moments and step count for the rest (twin)", async () => {
    const ours = sequential({ layers: [layers.dense({ units: 5, activation: 'tanh', inputShape: [F] }), layers.dense({ units: 3, activation: 'softmax' })] });
    ours.compile({ optimizer: optimizers.adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 5, activation: 'tanh', inputShape: [F] }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    // TF.js's Adam keeps its moments by position in the list of trainable variables, so only
    // freezing the last layer keeps them paired with their variables there.
    const theirOpt = tf.train.adam(0.05);
    theirs.compile({ optimizer: theirOpt, loss: 'sparseCategoricalCrossentropy' });
    const start = await ours.getWeights();
    theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
    const args = { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 as const };
    await ours.fit(tensor(x, [N, F]), tensor(labels, [N]), args);
    await theirs.fit(tf.tensor(x, [N, F]), tf.tensor(Float32Array.from(labels), [N]), args);
    ours.layers[1]!.trainable = false;
    theirs.layers[1]!.trainable = false;
    theirs.compile({ optimizer: theirOpt, loss: 'sparseCategoricalCrossentropy' });
    await ours.fit(tensor(x, [N, F]), tensor(labels, [N]), args);
    await theirs.fit(tf.tensor(x, [N, F]), tf.tensor(Float32Array.from(labels), [N]), args);
    const got = await ours.getWeights();
    const want = deltas(start, theirs.getWeights().map((t) => t.dataSync()));
    deltas(start, got.map((w) => w.values)).forEach((d, i) => expect(record(expect.getState().currentTestName!, 'updates', relL2(d, want[i]!)), got[i]!.name).toBeLessThanOrEqual(1e-3));
  });

  it('freezing the first layer lays the buffers out anew: the others keep their slot values and the step count', async () => {
    const m = sequential({ layers: [layers.dense({ units: 5, activation: 'tanh', inputShape: [F] }), layers.dense({ units: 3, activation: 'softmax' })] });
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    await m.fit(tensor(x, [N, F]), tensor(labels, [N]), { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 });
    const before = await m.getOptimizerState();
    m.layers[0]!.trainable = false;
    await m.evaluate(tensor(x, [N, F]), tensor(labels, [N])); // the new layout
    const after = await m.getOptimizerState();
    expect(after.iterations).toBe(before.iterations);
    const second = m.layers[1]!.name;
    const kept = before.slots.filter((s) => s.name.startsWith(`${second}/`));
    expect(kept.length).toBe(4);
    expect(after.slots.map((s) => s.name)).toEqual(kept.map((s) => s.name));
    after.slots.forEach((s, i) => expect(s.values).toEqual(kept[i]!.values));
    expect(kept.some((s) => s.values.some((v) => v !== 0))).toBe(true);
  });
});
