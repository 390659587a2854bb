/**
 * Trainable and non-trainable weights: frozen layers (`trainable: false`) and state weights
 * (a WeightSpec with `trainable: false`) stay beside the parameters, are listed after the trainable
 * ones as TF.js lists them, count as "Non-trainable params", and are never touched by the optimizer.
 * Twin: the same MLP with a frozen first layer trained a few SGD steps in TF.js (cpu backend).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Layer, layers, loadModel, optimizers, sequential, tensor, type NamedWeight, type Shape } from '../src/index.ts';
import type { Dispatch } from '../src/runtime/engine.ts';
import { denseBackward, denseForward, denseGeometry } from '../src/ops/dense.ts';
import type { BackwardContext, ForwardContext, WeightSpec } from '../src/layers/layer.ts';
import { randomArray, relL2, useEngine } from './helpers.ts';

const engine = useEngine();

const N = 24;
const x = randomArray(N * 4, 11);
const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % 3);

function mlp(frozenFirst: boolean) {
  const m = sequential([layers.dense({ units: 5, activation: 'relu', inputShape: [4], trainable: !frozenFirst }), layers.dense({ units: 3, activation: 'softmax' })]);
  m.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
  return m;
}

function byName(list: readonly NamedWeight[]): Map<string, Float32Array> {
  return new Map(list.map((w) => [w.name, w.values]));
}

/** A dense layer whose bias is state: the optimizer must leave it alone, whatever its gradient. */
class DenseFixedBias extends Layer {
  static override readonly className = 'DenseFixedBias';
  constructor(readonly units: number) {
    super({}, 'dense_fixed_bias');
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    return [this.units];
  }
  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    return [
      { name: 'kernel', shape: [inputShapes[0]![0]!, this.units], initializer: 'glorotUniform' },
      { name: 'bias', shape: [this.units], initializer: { kind: 'constant', value: 0.25 }, trainable: false },
    ];
  }
  forward(ctx: ForwardContext): Dispatch[] {
    const g = denseGeometry(ctx.batch, ctx.inputShapes[0]!, this.units);
    return denseForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1]!, y: ctx.output });
  }
  backward(ctx: BackwardContext): Dispatch[] {
    const g = denseGeometry(ctx.batch, ctx.inputShapes[0]!, this.units);
    return denseBackward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, dy: ctx.outputGrad, dx: ctx.inputGrads[0] ?? null, dw: ctx.weightGrads[0]!, db: ctx.weightGrads[1]! });
  }
}

describe('trainable and non-trainable weights', () => {
  it('a frozen layer keeps its weights, is listed after the trainable ones and counts as non-trainable', async () => {
    const m = mlp(true);
    expect(m.countParams()).toBe(4 * 5 + 5 + 5 * 3 + 3);
    expect(m.countTrainableParams()).toBe(5 * 3 + 3);
    const text = m.summary();
    expect(text).toContain('Trainable params: 18 (72.00 B)');
    expect(text).toContain('Non-trainable params: 25 (100.00 B)');
    const before = await m.getWeights();
    // TF.js's order: model.trainableWeights, then model.nonTrainableWeights.
    expect(before.map((w) => [w.name.replace(/_\d+\//, '/'), w.trainable])).toEqual([
      ['dense/kernel', true],
      ['dense/bias', true],
      ['dense/kernel', false],
      ['dense/bias', false],
    ]);
    await m.fit(tensor(x, [N, 4]), tensor(labels, [N]), { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    const after = await m.getWeights();
    for (let i = 0; i < 4; i++) {
      if (before[i]!.trainable) expect(relL2(after[i]!.values, before[i]!.values)).toBeGreaterThan(1e-4);
      else expect(after[i]!.values).toEqual(before[i]!.values);
    }
  });

  it('freezing or unfreezing after training keeps every weight and changes what trains', async () => {
    const m = mlp(false);
    await m.fit(tensor(x, [N, 4]), tensor(labels, [N]), { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const trained = byName(await m.getWeights());
    m.layers[1]!.trainable = false;
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const relaid = await m.getWeights();
    expect(relaid.map((w) => w.trainable)).toEqual([true, true, false, false]);
    for (const w of relaid) expect(w.values).toEqual(trained.get(w.name));
    await m.fit(tensor(x, [N, 4]), tensor(labels, [N]), { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const frozenSecond = byName(await m.getWeights());
    const [first, second] = [m.layers[0]!.name, m.layers[1]!.name];
    expect(frozenSecond.get(`${second}/kernel`)).toEqual(trained.get(`${second}/kernel`));
    expect(relL2(frozenSecond.get(`${first}/kernel`)!, trained.get(`${first}/kernel`)!)).toBeGreaterThan(1e-4);
    m.layers[1]!.trainable = true;
    await m.fit(tensor(x, [N, 4]), tensor(labels, [N]), { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const unfrozen = byName(await m.getWeights());
    expect(relL2(unfrozen.get(`${second}/kernel`)!, frozenSecond.get(`${second}/kernel`)!)).toBeGreaterThan(1e-4);
  });

  it('a weight declared non-trainable is state: the optimizer never moves it', async () => {
    const m = sequential([layers.dense({ units: 6, activation: 'relu', inputShape: [4] }), new DenseFixedBias(5), layers.dense({ units: 3, activation: 'softmax' })]);
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    expect(m.countParams() - m.countTrainableParams()).toBe(5);
    const before = await m.getWeights();
    expect(before.map((w) => w.trainable)).toEqual([true, true, true, true, true, false]);
    await m.fit(tensor(x, [N, 4]), tensor(labels, [N]), { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    const after = await m.getWeights();
    expect(after[5]!.values).toEqual(new Float32Array(5).fill(0.25));
    expect(relL2(after[2]!.values, before[2]!.values)).toBeGreaterThan(1e-4);
  });

  it('every layer frozen: fit runs no optimizer and changes nothing', async () => {
    const m = mlp(true);
    m.layers[1]!.trainable = false;
    const before = await m.getWeights();
    await m.fit(tensor(x, [N, 4]), tensor(labels, [N]), { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    expect((await m.getWeights()).map((w) => w.values)).toEqual(before.map((w) => w.values));
  });

  it('twin: the frozen-first-layer MLP trains as in TF.js (cpu), weights and order', async () => {
    await tf.setBackend('cpu');
    const ours = mlp(true);
    const theirs = tf.sequential({ layers: [tf.layers.dense({ units: 5, activation: 'relu', inputShape: [4] }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    theirs.layers[0]!.trainable = false;
    theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'sparseCategoricalCrossentropy' });
    // TF.js's getWeights() order (trainable, then non-trainable) is ours: copy by position.
    const start = await ours.getWeights();
    theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
    expect(theirs.getWeights().map((t) => t.shape)).toEqual(start.map((w) => w.shape));
    const xs = tf.tensor2d(x, [N, 4]);
    const ys = tf.tensor1d(Float32Array.from(labels));
    await theirs.fit(xs, ys, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    await ours.fit(tensor(x, [N, 4]), tensor(labels, [N]), { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    const got = await ours.getWeights();
    const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
    got.forEach((w, i) => {
      const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
      const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
      if (w.trainable) expect(relL2(delta, wantDelta)).toBeLessThanOrEqual(1e-3);
      else expect(Array.from(want[i]!)).toEqual(Array.from(start[i]!.values));
    });
    const probs = await ours.predict(tensor(x, [N, 4]));
    expect(relL2(probs.values, (theirs.predict(xs) as tf.Tensor).dataSync())).toBeLessThanOrEqual(1e-4);
  });

  it('saves the frozen flag in the TF.js layers format, and TF.js and we load it back frozen', async () => {
    const m = mlp(true);
    let saved: Parameters<NonNullable<Parameters<typeof m.save>[0] & object>['save']>[0] | undefined;
    await m.save({ save: async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
    const layerConfigs = (saved!.modelTopology as unknown as { config: { layers: { config: { trainable: boolean } }[] } }).config.layers;
    expect(layerConfigs.map((l) => l.config.trainable)).toEqual([false, true]);
    const theirs = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    expect(theirs.layers.map((l) => l.trainable)).toEqual([false, true]);
    const again = await loadModel({ load: async () => saved! });
    expect(again.layers.map((l) => l.trainable)).toEqual([false, true]);
    expect(again.countTrainableParams()).toBe(18);
    const [a, b] = [await m.getWeights(), await again.getWeights()];
    expect(b.map((w) => w.values)).toEqual(a.map((w) => w.values));
  });
});
