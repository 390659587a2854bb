/**
 * TimeDistributed (src/layers/wrappers.ts): the wrapped layer run over batch·T samples on the same
 * buffers, checked at the layer level against float64 references on NaN-filled outputs and by
 * central finite differences (dense, conv2d, dropout's mask); shapes, configs and errors; twins
 * trained beside TF.js 4.22 (cpu backend); model.json both ways.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layerClass, layers, model, optimizers, sequential, tensor, type Layer, type LayersModel, type SymbolicTensor } from '../src/index.ts';
import { TimeDistributed } from '../src/layers/wrappers.ts';
import type { ForwardContext, Shape } from '../src/layers/layer.ts';
import { conv2dGeometry } from '../src/ops/conv2d.ts';
import { denseGeometry } from '../src/ops/dense.ts';
import { stepInfoData } from '../shaders/kernel.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './reference/conv2d.ts';
import { denseBackwardRef, denseForwardRef } from './reference/dense.ts';
import { dot, finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { modelJsonBothWays } from './artifacts.ts';

const engine = useEngine();
/** A second engine that lists the kernels it compiles: the pooled forward shows in their keys. */
const compiled = new Set<string>();
const listingEngine = useEngine({ dumpShaders: (key: string) => void compiled.add(key) });
const record = measuredErrors('WRAPPER_ERRORS', ['forward', 'backward', 'finite differences', 'predictions', 'updates', 'ours → TF.js', 'TF.js → ours']);
const testName = () => expect.getState().currentTestName!;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

// ---- the layer on the GPU, its contexts built by hand ----------------------------------------------

interface LayerRun {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array[];
}

/** Runs `layer`'s forward and backward once on NaN-filled outputs (no plan: the contexts a plan would build). */
async function runLayer(layer: Layer, inputShape: Shape, batch: number, x: Float32Array, weights: Float32Array[], dy: Float32Array, training = true, step = 1): Promise<LayerRun> {
  const e = engine();
  const outputShape = layer.computeOutputShape([inputShape]);
  const specs = layer.weightSpecs([inputShape]);
  const nIn = batch * size(inputShape);
  const nOut = batch * size(outputShape);
  const stepInfo = e.uniform(16, 'step info');
  e.write(stepInfo, stepInfoData(0, step, 77, batch));
  const ctx: ForwardContext = {
    engine: e,
    batch,
    inputs: [uploadView(e, x)],
    inputShapes: [inputShape],
    output: nanBuffer(e, nOut),
    outputShape,
    weights: weights.map((w) => uploadView(e, w)),
    training,
    stepInfo: { buffer: stepInfo, offset: 0, size: 16 },
    scratch: (bytes, label) => ({ buffer: e.buffer(Math.max(4, bytes), label), offset: 0, size: Math.max(4, bytes) }),
    saved: new Map(),
  };
  const dx = nanBuffer(e, nIn);
  const dw = specs.map((s) => nanBuffer(e, size(s.shape)));
  e.run([...layer.forward(ctx), ...layer.backward({ ...ctx, outputGrad: uploadView(e, dy), inputGrads: [dx], weightGrads: dw })]);
  return { y: await readF32(e, ctx.output, nOut), dx: await readF32(e, dx, nIn), dw: await Promise.all(dw.map((v, i) => readF32(e, v, size(specs[i]!.shape)))) };
}

describe('TimeDistributed on the GPU: the wrapped layer over batch·T samples', () => {
  it('dense (relu) over [T, F]: forward and backward match float64 and finite differences', async () => {
    const [batch, steps, features, units] = [3, 5, 7, 6];
    const layer = layers.timeDistributed({ layer: layers.dense({ units, activation: 'relu' }) });
    const x = randomArray(batch * steps * features, 1);
    const w = randomArray(features * units, 2);
    const b = randomArray(units, 3, 0.3);
    const dy = randomArray(batch * steps * units, 4);
    const got = await runLayer(layer, [steps, features], batch, x, [w, b], dy);
    const g = denseGeometry(batch * steps, [features], units, { relu: true, bias: true }, 'reference');
    const y = denseForwardRef(x, w, b, g);
    const ref = denseBackwardRef(x, w, y, dy, g);
    expect(record(testName(), 'forward', relL2(got.y, y))).toBeLessThanOrEqual(1e-6);
    expect(record(testName(), 'backward', Math.max(relL2(got.dx, ref.dx), relL2(got.dw[0]!, ref.dw), relL2(got.dw[1]!, ref.db)))).toBeLessThanOrEqual(1e-6);
    // The scalar Σ y·dy: its gradient w.r.t. x and W is what the backward computes.
    const loss = (xx: Float64Array, ww: Float64Array) => dot(denseForwardRef(xx, ww, b, g), dy);
    const xi = sampleIndices(x.length, 30, 5);
    const fdx = finiteDifferences((xx) => loss(xx, toF64(w)), toF64(x), xi);
    const fdw = finiteDifferences((ww) => loss(toF64(x), ww), toF64(w));
    expect(record(testName(), 'finite differences', Math.max(relL2(pick(got.dx, xi), fdx), relL2(got.dw[0]!, fdw)))).toBeLessThanOrEqual(1e-4);
  });

  it("conv2d ('same', stride 1×2) over [T, H, W, C]: forward and backward match float64 and finite differences", async () => {
    const [batch, steps, h, wd, c, filters] = [2, 3, 5, 7, 3, 5];
    const layer = layers.timeDistributed({ layer: layers.conv2d({ filters, kernelSize: 3, strides: [1, 2], padding: 'same' }) });
    const inputShape = [steps, h, wd, c];
    const out = layer.computeOutputShape([inputShape]);
    expect(out).toEqual([steps, 5, 4, filters]);
    const x = randomArray(batch * size(inputShape), 11);
    const w = randomArray(9 * c * filters, 12, 0.5);
    const b = randomArray(filters, 13, 0.3);
    const dy = randomArray(batch * size(out), 14);
    const got = await runLayer(layer, inputShape, batch, x, [w, b], dy);
    const g = conv2dGeometry({ batch: batch * steps, inputShape: [h, wd, c], filters, kernelSize: [3, 3], strides: [1, 2], padding: 'same', useBias: true }, 'reference');
    const { y } = conv2dForwardRef(g, x, w, b);
    const ref = conv2dBackwardRef(g, x, w, y, dy);
    expect(record(testName(), 'forward', relL2(got.y, y))).toBeLessThanOrEqual(1e-5);
    expect(record(testName(), 'backward', Math.max(relL2(got.dx, ref.dx), relL2(got.dw[0]!, ref.dw), relL2(got.dw[1]!, ref.db)))).toBeLessThanOrEqual(1e-5);
    const loss = (xx: Float64Array, ww: Float64Array) => dot(conv2dForwardRef(g, xx, ww, b).y, dy);
    const xi = sampleIndices(x.length, 30, 15);
    const wi = sampleIndices(w.length, 30, 16);
    const fdx = finiteDifferences((xx) => loss(xx, toF64(w)), toF64(x), xi);
    const fdw = finiteDifferences((ww) => loss(toF64(x), ww), toF64(w), wi);
    expect(record(testName(), 'finite differences', Math.max(relL2(pick(got.dx, xi), fdx), relL2(pick(got.dw[0]!, wi), fdw)))).toBeLessThanOrEqual(1e-4);
  });

  it('dropout keeps working: one mask per element of every step, the same in the backward; inference passes the input through', async () => {
    const [batch, steps, features, rate] = [4, 6, 9, 0.4];
    const layer = layers.timeDistributed({ layer: layers.dropout({ rate, seed: 5 }) });
    const x = randomArray(batch * steps * features, 21);
    const dy = randomArray(x.length, 22);
    const first = await runLayer(layer, [steps, features], batch, x, [], dy, true, 1);
    const kept = first.y.map((v) => (v === 0 ? 0 : 1));
    const dropped = 1 - kept.reduce((a, b) => a + b, 0) / kept.length;
    expect(dropped).toBeGreaterThan(0.25);
    expect(dropped).toBeLessThan(0.55);
    const scale = 1 / (1 - rate);
    expect(relL2(first.y, Float64Array.from(x, (v, i) => v * kept[i]! * scale))).toBeLessThanOrEqual(1e-6);
    expect(relL2(first.dx, Float64Array.from(dy, (v, i) => v * kept[i]! * scale))).toBeLessThanOrEqual(1e-6);
    // The mask depends on the step, not on which timestep a sample is: the next step draws another.
    const next = await runLayer(layer, [steps, features], batch, x, [], dy, true, 2);
    expect(Array.from(next.y, (v) => (v === 0 ? 0 : 1))).not.toEqual(Array.from(kept));
    expect(layer.aliasesInput(false)).toBe(true);
    expect(layer.aliasesInput(true)).toBe(false);
  });
});

// ---- shapes, configs, errors ------------------------------------------------------------------------

describe('TimeDistributed: shapes, weights, configs and errors', () => {
  it('infers the output shapes TF.js infers, and takes the wrapped layer\'s weights for one step', () => {
    const cases: [() => Layer, () => tf.layers.Layer, number[]][] = [
      [() => layers.dense({ units: 4 }), () => tf.layers.dense({ units: 4 }), [5, 3]],
      [() => layers.dense({ units: 2 }), () => tf.layers.dense({ units: 2 }), [5, 3, 6]],
      [() => layers.conv2d({ filters: 3, kernelSize: 2 }), () => tf.layers.conv2d({ filters: 3, kernelSize: 2 }), [4, 6, 5, 2]],
      [() => layers.maxPooling2d({ poolSize: 2 }), () => tf.layers.maxPooling2d({ poolSize: 2 }), [4, 6, 5, 2]],
      [() => layers.flatten(), () => tf.layers.flatten(), [3, 4, 5]],
    ];
    for (const [ours, theirs, shape] of cases) {
      const td = layers.timeDistributed({ layer: ours() });
      const tfTd = tf.layers.timeDistributed({ layer: theirs() });
      expect(td.computeOutputShape([shape]), `${td.layer.className} on ${JSON.stringify(shape)}`).toEqual((tfTd.computeOutputShape([null, ...shape]) as number[]).slice(1));
    }
    const td = layers.timeDistributed({ layer: layers.conv2d({ filters: 3, kernelSize: 2 }) });
    expect(td.weightSpecs([[4, 6, 5, 2]]).map((s) => [s.name, s.shape])).toEqual([
      ['kernel', [2, 2, 2, 3]],
      ['bias', [3]],
    ]);
    expect(td.className).toBe('TimeDistributed');
    expect(layerClass('TimeDistributed')).toBe(TimeDistributed);
  });

  it('reports the wrapped layer\'s activation and fusion capabilities to the plan', () => {
    const dense = layers.timeDistributed({ layer: layers.dense({ units: 3, activation: 'softmax' }) });
    expect([dense.activation, dense.fusedActivations]).toEqual(['softmax', ['linear', 'relu']]);
    const pool = layers.timeDistributed({ layer: layers.maxPooling2d({ poolSize: 2 }) });
    expect(pool.masksReluInputGrad).toBe(true);
    expect(pool.poolsInProducer([3, 6, 6, 4], true)).toBe(true);
    expect(pool.poolsInProducer([6, 6, 4], true)).toBe(false);
    expect(layers.timeDistributed({ layer: layers.activation({ activation: 'relu' }) }).onlyActivation).toBe('relu');
  });

  it('freezes with its wrapped layer, as TF.js\'s wrappers do', () => {
    const inner = layers.dense({ units: 2 });
    const td = layers.timeDistributed({ layer: inner, trainable: false });
    expect([td.trainable, inner.trainable]).toEqual([false, false]);
    td.trainable = true;
    expect(inner.trainable).toBe(true);
    inner.trainable = false;
    expect(td.trainable).toBe(false);
    expect(td.getConfig()).toMatchObject({ trainable: false, layer: { class_name: 'Dense', config: { trainable: false } } });
  });

  it('rejects configs and inputs that cannot work, naming the layer, the field, what it expects and what came', () => {
    expect(() => layers.timeDistributed(undefined as never)).toThrow(/TimeDistributed: expected a config object like \{ layer: layers.dense/);
    expect(() => layers.timeDistributed({ name: 'td' } as never)).toThrow(/layer td \(TimeDistributed\): layer is required/);
    expect(() => layers.timeDistributed({ name: 'td', layer: { units: 3 } as never })).toThrow(/layer td \(TimeDistributed\): layer must be a Layer of this library, got \{"units":3\}/);
    expect(() => layers.timeDistributed({ name: 'td', layer: tf.layers.dense({ units: 3 }) as never })).toThrow(/layer must be a Layer of this library.*a TF.js layer/);
    const td = layers.timeDistributed({ name: 'td', layer: layers.dense({ units: 3 }) });
    expect(() => td.computeOutputShape([[4]])).toThrow(/layer td \(TimeDistributed\) expects inputs of shape \[steps, \.\.\.the wrapped layer's input\] \(rank ≥ 3 with the batch\), got \[4\]/);
    expect(() => td.computeOutputShape([[4, 3], [4, 3]])).toThrow(/takes 1 input/);
    const conv = layers.timeDistributed({ name: 'tdc', layer: layers.conv2d({ filters: 2, kernelSize: 3, name: 'c' }) });
    expect(() => conv.computeOutputShape([[4, 5, 2]])).toThrow(/layer tdc \(TimeDistributed\) over \[4, ?5, ?2\]:.*c/);
    expect(() => layers.timeDistributed({ layer: layers.dense({ units: 2 }) }).apply(input({ shape: [6] }))).toThrow(/TimeDistributed\) expects inputs of shape \[steps/);
    const inner = layers.dense({ units: 2, name: 'shared' });
    layers.timeDistributed({ name: 'first', layer: inner });
    expect(() => layers.timeDistributed({ name: 'second', layer: inner })).toThrow(/layer second \(TimeDistributed\): layer shared is wrapped by first already/);
    const applied = layers.dense({ units: 2, name: 'applied' });
    applied.apply(input({ shape: [3] }));
    expect(() => layers.timeDistributed({ name: 'late', layer: applied })).toThrow(/layer late \(TimeDistributed\): layer applied is applied in a graph already/);
    const later = layers.dense({ units: 2, name: 'later' });
    const wrapper = layers.timeDistributed({ name: 'w', layer: later });
    later.apply(input({ shape: [3] }));
    expect(() => wrapper.apply(input({ shape: [4, 3] }))).toThrow(/layer w \(TimeDistributed\): its wrapped layer later was applied in a graph itself/);
    // Input checks go to the wrapped layer, step by step: sample 1, step 0 is its sample 2.
    const ids = layers.timeDistributed({ name: 'tde', layer: layers.embedding({ inputDim: 5, outputDim: 2, name: 'emb' }) });
    expect(() => ids.checkInputData(Float32Array.of(0, 1, 2, 3, 4, 5, 0, 0), [2, 2], 0)).toThrow(/layer tde \(TimeDistributed\), whose sample s step t is the wrapped layer's sample s·2 \+ t: layer emb \(Embedding\): input 2 holds id 5 at position 1/);
    expect(() => layers.timeDistributed({ name: 'reg', layer: layers.dense({ units: 2, activityRegularizer: 'l2' }) })).toThrow(/layer reg \(TimeDistributed\): the wrapped layer .* has an activityRegularizer, which TimeDistributed does not support/);
  });

  it('reads Keras configs from model.json, refusing what it cannot build', () => {
    const td = TimeDistributed.fromConfig({ name: 'td', trainable: true, dtype: 'float32', layer: { class_name: 'Dense', config: { name: 'd', units: 4, activation: 'tanh', trainable: true } } });
    expect([td.name, td.layer.className, td.layer.name, td.activation]).toEqual(['td', 'Dense', 'd', 'tanh']);
    const keras3 = TimeDistributed.fromConfig({ name: 't3', layer: { module: 'keras.layers', class_name: 'Dense', config: { name: 'd3', units: 2 }, registered_name: null, build_config: { input_shape: [null, 5] } } });
    expect(keras3.layer.name).toBe('d3');
    expect(TimeDistributed.fromConfig({ name: 'frozen', trainable: false, layer: { class_name: 'Dense', config: { name: 'f', units: 2 } } }).layer.trainable).toBe(false);
    expect(() => TimeDistributed.fromConfig({ name: 'td' })).toThrow(/TimeDistributed: config has no 'layer'/);
    expect(() => TimeDistributed.fromConfig({ name: 'td', layer: { class_name: 'NoSuchLayer', config: {} } })).toThrow(/TimeDistributed: layer: unknown layer class "NoSuchLayer"; known: .*Dense/);
    expect(() => TimeDistributed.fromConfig({ name: 'td', layer: 'Dense' })).toThrow(/TimeDistributed: layer must be \{class_name, config\}, got "Dense"/);
    expect(() => TimeDistributed.fromConfig({ name: 'td', layer: { class_name: 'Dense', config: { units: 0 } } })).toThrow(/TimeDistributed: layer: Dense .*units must be a positive integer, got 0/);
    expect(() => TimeDistributed.fromConfig({ name: 'td', layer: { class_name: 'Dense', config: { units: 2 }, extra: 1 } })).toThrow(/TimeDistributed: layer: unknown key 'extra'/);
    expect(() => TimeDistributed.fromConfig({ name: 'td', merge_mode: 'concat', layer: { class_name: 'Dense', config: { units: 2 } } })).toThrow(/TimeDistributed: unknown config key 'merge_mode'/);
  });
});

// ---- twins with TF.js ---------------------------------------------------------------------------

const N = 12;

/**
 * Our initial weights copied into TF.js, 3 SGD steps on both (12 samples, batches of 4): updates and
 * predictions compared. The labels are one-hot [N, classes], or [N, steps, classes] for an output per step.
 */
async function trainBoth(ours: LayersModel, theirs: tf.LayersModel, inputShape: number[], classes: number, seed: number, on = engine(), steps?: number): Promise<void> {
  const x = randomArray(N * size(inputShape), seed);
  const rows = N * (steps ?? 1);
  const labelShape = steps === undefined ? [N, classes] : [N, steps, classes];
  const y = new Float32Array(rows * classes);
  for (let i = 0; i < rows; i++) y[i * classes + ((i * 5) % classes)] = 1;
  ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.3 }), loss: 'categoricalCrossentropy', engine: on });
  theirs.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy' });
  const start = await ours.getWeights();
  theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
  const args = { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 as const };
  await theirs.fit(tf.tensor(x, [N, ...inputShape]), tf.tensor(y, labelShape), args);
  await ours.fit(tensor(x, [N, ...inputShape]), tensor(y, labelShape), args);
  const want = theirs.getWeights().map((t) => t.dataSync());
  for (const [i, w] of (await ours.getWeights()).entries()) {
    const before = start[i]!.values;
    const delta = w.values.map((v, k) => v - before[k]!);
    const wantDelta = want[i]!.map((v, k) => v - before[k]!);
    expect(record(testName(), 'updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  }
  const probe = randomArray(N * size(inputShape), seed + 1);
  const got = (await ours.predict(tensor(probe, [N, ...inputShape]))).dataSync();
  expect(record(testName(), 'predictions', relL2(got, (theirs.predict(tf.tensor(probe, [N, ...inputShape])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
}

describe('twins with TF.js (cpu backend)', () => {
  it('timeDistributed(dense tanh) → timeDistributed(dense relu) → flatten → dense softmax', async () => {
    const inputShape = [5, 4];
    const ours = sequential([
      layers.timeDistributed({ layer: layers.dense({ units: 6, activation: 'tanh' }), inputShape }),
      layers.timeDistributed({ layer: layers.dense({ units: 3, activation: 'relu' }) }),
      layers.flatten(),
      layers.dense({ units: 3, activation: 'softmax' }),
    ]);
    const theirs = tf.sequential({
      layers: [
        tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 6, activation: 'tanh' }), inputShape }),
        tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 3, activation: 'relu' }) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    await trainBoth(ours, theirs, inputShape, 3, 30);
  });

  it('timeDistributed(dense tanh) → timeDistributed(dense softmax) as the output, one-hot labels per step (the softmax folds into the loss)', async () => {
    const inputShape = [5, 4];
    const ours = sequential([layers.timeDistributed({ layer: layers.dense({ units: 6, activation: 'tanh' }), inputShape }), layers.timeDistributed({ layer: layers.dense({ units: 3, activation: 'softmax' }) })]);
    const theirs = tf.sequential({ layers: [tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 6, activation: 'tanh' }), inputShape }), tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 3, activation: 'softmax' }) })] });
    await trainBoth(ours, theirs, inputShape, 3, 35, listingEngine(), 5);
    expect([...compiled].some((key) => key.startsWith('loss:softmaxCrossentropy:4x5x3:'))).toBe(true);
  });

  it('timeDistributed(conv2d relu) → timeDistributed(maxPooling2d) (pooled in the producer) → flatten → dense softmax, on [T, H, W, C]', async () => {
    const inputShape = [3, 7, 6, 2];
    const ours = sequential([
      layers.timeDistributed({ layer: layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }), inputShape }),
      layers.timeDistributed({ layer: layers.maxPooling2d({ poolSize: 2 }) }),
      layers.flatten(),
      layers.dense({ units: 3, activation: 'softmax' }),
    ]);
    const theirs = tf.sequential({
      layers: [
        tf.layers.timeDistributed({ layer: tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }), inputShape }),
        tf.layers.timeDistributed({ layer: tf.layers.maxPooling2d({ poolSize: 2 }) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    await trainBoth(ours, theirs, inputShape, 3, 40, listingEngine());
    // The convolution pooled its output itself and kept the first-max positions for the pool's backward.
    expect([...compiled].some((key) => key.includes(':pool2:argmax'))).toBe(true);
  });

  it('timeDistributed(conv2d) → timeDistributed(dropout) → timeDistributed(flatten) → timeDistributed(dense): dropout trains, predict is TF.js\'s', async () => {
    const inputShape = [2, 5, 5, 1];
    const ours = sequential([
      layers.timeDistributed({ layer: layers.conv2d({ filters: 2, kernelSize: 2 }), inputShape }),
      layers.timeDistributed({ layer: layers.dropout({ rate: 0.3 }) }),
      layers.timeDistributed({ layer: layers.flatten() }),
      layers.timeDistributed({ layer: layers.dense({ units: 2 }) }),
    ]);
    const theirs = tf.sequential({
      layers: [
        tf.layers.timeDistributed({ layer: tf.layers.conv2d({ filters: 2, kernelSize: 2 }), inputShape }),
        tf.layers.timeDistributed({ layer: tf.layers.dropout({ rate: 0.3 }) }),
        tf.layers.timeDistributed({ layer: tf.layers.flatten() }),
        tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 2 }) }),
      ],
    });
    ours.compile({ optimizer: 'sgd', loss: 'meanSquaredError', engine: engine() });
    const x = randomArray(N * size(inputShape), 50);
    const history = await ours.fit(tensor(x, [N, ...inputShape]), tensor(randomArray(N * 4, 51), [N, 2, 2]), { epochs: 2, batchSize: 4, verbose: 0 });
    expect(history.loss.every(Number.isFinite)).toBe(true);
    theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
    const got = (await ours.predict(tensor(x, [N, ...inputShape]))).dataSync();
    expect(record(testName(), 'predictions', relL2(got, (theirs.predict(tf.tensor(x, [N, ...inputShape])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-5);
  });
});

describe('inference fusions through the wrapper', () => {
  it("timeDistributed(dense) → timeDistributed(batchNormalization) → timeDistributed(activation relu): folded into the dense's weights, TF.js's predictions", async () => {
    const inputShape = [4, 5];
    const ours = sequential([
      layers.timeDistributed({ layer: layers.dense({ units: 6 }), inputShape }),
      layers.timeDistributed({ layer: layers.batchNormalization() }),
      layers.timeDistributed({ layer: layers.activation({ activation: 'relu' }) }),
    ]);
    const theirs = tf.sequential({
      layers: [
        tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 6 }), inputShape }),
        tf.layers.timeDistributed({ layer: tf.layers.batchNormalization() }),
        tf.layers.timeDistributed({ layer: tf.layers.activation({ activation: 'relu' }) }),
      ],
    });
    ours.useEngine(listingEngine());
    // Moving statistics away from 0 and 1, so that the fold has something to fold.
    const weights = (await ours.getWeights()).map((w, i) => ({ ...w, values: i < 2 ? w.values : randomArray(w.values.length, 70 + i, 0.8).map((v) => (i === 5 ? 1 + Math.abs(v) : v)) }));
    ours.setWeights(weights);
    theirs.setWeights(weights.map((w) => tf.tensor(w.values, w.shape)));
    const before = compiled.size;
    const x = randomArray(7 * size(inputShape), 71);
    const got = (await ours.predict(tensor(x, [7, ...inputShape]))).dataSync();
    expect([...compiled].slice(before).some((key) => key.startsWith('foldAffine:'))).toBe(true);
    expect(record(testName(), 'predictions', relL2(got, (theirs.predict(tf.tensor(x, [7, ...inputShape])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-5);
    ours.dispose();
  });
});

// ---- model.json ---------------------------------------------------------------------------------------

/** The same functional model in both libraries, every name given (the nested configs name the inner layers). */
const saved: { inputShape: number[]; build: (lib: 'ours' | 'tf') => { inputs: unknown; outputs: unknown } }[] = [
  {
    inputShape: [4, 3],
    build: (lib) => {
      const L = (lib === 'ours' ? layers : tf.layers) as unknown as Record<string, (c: unknown) => { apply(x: unknown): unknown }>;
      const xi = lib === 'ours' ? input({ shape: [4, 3] }) : tf.input({ shape: [4, 3] });
      const h = L.timeDistributed!({ name: 'td_dense', layer: L.dense!({ units: 5, activation: 'tanh', name: 'inner_dense' }) }).apply(xi);
      return { inputs: xi, outputs: L.timeDistributed!({ name: 'td_head', layer: L.dense!({ units: 2, useBias: false, name: 'inner_head' }) }).apply(h) };
    },
  },
  {
    inputShape: [3, 6, 5, 2],
    build: (lib) => {
      const L = (lib === 'ours' ? layers : tf.layers) as unknown as Record<string, (c: unknown) => { apply(x: unknown): unknown }>;
      const xi = lib === 'ours' ? input({ shape: [3, 6, 5, 2] }) : tf.input({ shape: [3, 6, 5, 2] });
      const c = L.timeDistributed!({ name: 'td_conv', layer: L.conv2d!({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'inner_conv' }) }).apply(xi);
      const p = L.timeDistributed!({ name: 'td_pool', layer: L.averagePooling2d!({ poolSize: 2, name: 'inner_pool' }) }).apply(c);
      return { inputs: xi, outputs: L.timeDistributed!({ name: 'td_out', layer: L.dense!({ units: 2, name: 'inner_out' }) }).apply(p) };
    },
  },
];

describe('model.json with TF.js', () => {
  for (const [k, { inputShape, build }] of saved.entries()) {
    it(`ours loads in TF.js, TF.js's loads here, same predictions; configs and weight names equal TF.js's (model ${k + 1})`, async () => {
      const ours = model(build('ours') as { inputs: SymbolicTensor; outputs: SymbolicTensor });
      ours.useEngine(engine());
      const theirs = tf.model(build('tf') as Parameters<typeof tf.model>[0]);
      expect((await ours.getWeights()).map((w) => w.name)).toEqual(theirs.weights.map((w) => w.originalName));
      const x = randomArray(3 * size(inputShape), 60 + k);
      const { oursToTf, tfToOurs } = await modelJsonBothWays(ours, theirs, x, [3, ...inputShape], 'TimeDistributed', { engine: engine() });
      expect(record(testName(), 'ours → TF.js', oursToTf)).toBeLessThanOrEqual(1e-6);
      expect(record(testName(), 'TF.js → ours', tfToOurs)).toBeLessThanOrEqual(1e-6);
      ours.dispose();
    });
  }
});
