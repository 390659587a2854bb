/**
 * Saving and loading in the TensorFlow.js layers format: our own round trip (file://, http), models
 * TensorFlow.js itself saves loading here with the same predictions and ours loading into TF.js,
 * checkpoints that resume training bit-exactly, and fuzzed model files that must always fail with
 * an Error that says what and where.
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbacks, input, layerClassNames, layers, loadModel, model, ModelFormatError, optimizers, sequential, tensor, type LayersModel, type ModelArtifacts, type Tensor } from '../src/index.ts';
import { modelJSON } from '../src/io/artifacts.ts';
import { Random } from '../src/layers/initializers.ts';
import { randomArray, relL2, useEngine } from './helpers.ts';
import { captureOurs } from './artifacts.ts';

const engine = useEngine();
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'webgpu-train-io-'));
  await tf.setBackend('cpu');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const N = 6;
const images = (seed: number, n = N) => tensor(randomArray(n * 64, seed), [n, 8, 8, 1]);

function cnnLayers() {
  return [
    layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1] }),
    layers.maxPooling2d({ poolSize: 2 }),
    layers.flatten(),
    layers.dense({ units: 3, activation: 'softmax' }),
  ];
}

function tfCnn(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1] }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return m;
}

/** TF.js initializes biases to zero; random ones make the comparison see them. */
function randomizeTf(m: tf.LayersModel, seed: number): void {
  m.setWeights(m.getWeights().map((w, i) => tf.tensor(randomArray(w.size, seed + i, 0.5), w.shape)));
}

async function tfPredict(m: tf.LayersModel, x: Tensor): Promise<Float32Array> {
  const out = m.predict(tf.tensor(x.values as Float32Array, [...x.shape])) as tf.Tensor;
  return (await out.data()) as Float32Array;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** What TF.js hands a save handler, captured. */
async function tfArtifacts(m: tf.LayersModel, includeOptimizer = false): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await m.save(
    tf.io.withSaveHandler(async (a) => {
      captured = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer },
  );
  return captured!;
}

/** Writes artifacts as tfjs-node's file:// handler does: model.json (its key order) and weights.bin. */
async function writeTfFiles(target: string, a: tf.io.ModelArtifacts): Promise<void> {
  await mkdir(target, { recursive: true });
  await writeFile(path.join(target, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
  const json = {
    modelTopology: a.modelTopology,
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
    ...(a.trainingConfig && { trainingConfig: a.trainingConfig }),
  };
  await writeFile(path.join(target, 'model.json'), JSON.stringify(json));
}

/** Our saved files, read back the way TF.js's own loaders do (getModelArtifactsForJSON). */
async function tfLoadFiles(target: string): Promise<tf.LayersModel> {
  const json = JSON.parse(await readFile(path.join(target, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const buffers = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(path.join(target, p))));
    const bytes = Buffer.concat(buffers);
    return [manifest.flatMap((g) => g.weights), bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)];
  });
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}


describe('our own round trip', () => {
  it('saves a CNN to file://, loads it from the folder, its model.json and over http, with the same predictions', async () => {
    const m = sequential(cnnLayers());
    m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    const x = images(1);
    const expected = await m.predict(x);
    const target = path.join(dir, 'cnn');
    const result = await m.save(`file://${target}`);
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(m.countParams() * 4);

    const json = JSON.parse(await readFile(path.join(target, 'model.json'), 'utf8'));
    expect(Object.keys(json)).toEqual(['modelTopology', 'format', 'generatedBy', 'convertedBy', 'weightsManifest', 'trainingConfig']);
    expect(json.format).toBe('layers-model');
    expect(json.convertedBy).toBeNull();
    expect(json.generatedBy).toMatch(/^webgpu-train v\d/);
    expect(json.modelTopology.class_name).toBe('Sequential');
    expect(json.modelTopology.config.layers.map((l: { class_name: string }) => l.class_name)).toEqual(['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense']);
    expect(json.modelTopology.config.layers[0].config.batch_input_shape).toEqual([null, 8, 8, 1]);
    expect(json.weightsManifest).toEqual([
      {
        paths: ['weights.bin'],
        weights: (await m.getWeights()).map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })),
      },
    ]);
    expect(json.trainingConfig).toEqual({
      loss: 'categorical_crossentropy',
      metrics: ['accuracy'],
      optimizer_config: { class_name: 'Adam', config: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } },
    });

    for (const source of [`file://${target}`, `file://${target}/model.json`]) {
      const loaded = await loadModel(source, { engine: engine() });
      expect(loaded.summary()).toBe(m.summary().replace(`Model: "${m.name}"`, `Model: "${loaded.name}"`));
      expect(loaded.compileConfig?.optimizer.className).toBe('Adam');
      expect(Array.from((await loaded.predict(x)).values)).toEqual(Array.from(expected.values));
      loaded.dispose();
    }

    // Over http: model.json's weight paths resolve relative to its URL.
    const server: Server = createServer(async (req, res) => {
      try {
        res.end(await readFile(path.join(dir, decodeURIComponent(req.url!.replace(/^\/models\//, '')))));
      } catch {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const loaded = await loadModel(`http://127.0.0.1:${port}/models/cnn/model.json`, { engine: engine() });
      expect(Array.from((await loaded.predict(x)).values)).toEqual(Array.from(expected.values));
      loaded.dispose();
      await expect(loadModel(`http://127.0.0.1:${port}/models/none/model.json`)).rejects.toThrow(/HTTP 404/);
    } finally {
      server.close();
    }
    m.dispose();
  });

  it('loads an uncompiled model onto the given engine, and every layer class round-trips', async () => {
    const x = input({ shape: [8, 8, 1] });
    const a = layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(x);
    const b = layers.activation({ activation: 'relu' }).apply(layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x));
    const sum = layers.add().apply([a, b]);
    const merged = layers.concatenate({ axis: -1 }).apply([sum, a]);
    const pooled = layers.maxPooling2d({ poolSize: 2, strides: 2 }).apply(merged);
    const reshaped = layers.reshape({ targetShape: [16, 6] }).apply(pooled);
    const flat = layers.dropout({ rate: 0.25 }).apply(layers.flatten().apply(reshaped));
    const m = model({ inputs: x, outputs: layers.dense({ units: 4, activation: 'softmax' }).apply(layers.dense({ units: 5, activation: 'relu' }).apply(flat)) });
    m.useEngine(engine());
    const artifacts = await captureOurs(m);
    expect(artifacts.trainingConfig).toBeUndefined();
    const loaded = await loadModel({ load: () => artifacts }, { engine: engine() });
    expect(loaded.layers.map((l) => `${l.className}:${l.name}`)).toEqual(m.layers.map((l) => `${l.className}:${l.name}`));
    expect((await captureOurs(loaded)).modelTopology).toEqual(artifacts.modelTopology);
    const xs = images(2);
    expect(Array.from((await loaded.predict(xs)).values)).toEqual(Array.from((await m.predict(xs)).values));
    m.dispose();
    loaded.dispose();
  });
});

describe('interchange with TensorFlow.js 4.22', () => {
  it('loads a CNN that TF.js saved (with its RMSProp state) and predicts as TF.js does', async () => {
    const tfm = tfCnn();
    randomizeTf(tfm, 10);
    tfm.compile({ optimizer: tf.train.rmsprop(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    await tfm.fit(tf.tensor(images(3, 4).values as Float32Array, [4, 8, 8, 1]), tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3), { epochs: 1, batchSize: 4, verbose: 0 });
    const target = path.join(dir, 'tf-cnn');
    const saved = await tfArtifacts(tfm, true);
    await writeTfFiles(target, saved);
    const loaded = await loadModel(`file://${target}`, { engine: engine() });
    const x = images(4);
    expect(maxAbsDiff((await loaded.predict(x)).values, await tfPredict(tfm, x))).toBeLessThanOrEqual(1e-5);

    // The optimizer: RMSProp's config and state, matched by name.
    const opt = loaded.optimizer as InstanceType<typeof import('../src/optimizers.ts').RMSprop>;
    expect([opt.className, opt.learningRate, opt.rho, opt.momentum, opt.centered]).toEqual(['RMSprop', 0.01, 0.9, 0, false]);
    const state = await loaded.getOptimizerState();
    const tfState = await tfm.optimizer.getWeights();
    expect(state.iterations).toBe((await tfState[0]!.tensor.data())[0]);
    expect(state.slots.map((s) => s.name)).toEqual(tfState.slice(1, 5).map((w) => w.name));
    for (const [i, slot] of state.slots.entries()) expect(Array.from(slot.values)).toEqual(Array.from(await tfState[i + 1]!.tensor.data()));
    loaded.dispose();
  });

  it("reads what TF.js writes for a model without metrics ({}) and its numbered slot names (by position, as TF.js does)", async () => {
    const tfm = tfCnn();
    randomizeTf(tfm, 12);
    tfm.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    await tfm.fit(tf.tensor(images(5, 4).values as Float32Array, [4, 8, 8, 1]), tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3), { epochs: 1, batchSize: 4, verbose: 0 });
    const saved = await tfArtifacts(tfm, true);
    saved.trainingConfig = { ...saved.trainingConfig!, metrics: {} as never };
    // A layer name repeated in the process: TF.js numbers the variables, and so the slots.
    saved.weightSpecs = saved.weightSpecs!.map((w) => (w.group === 'optimizer' && w.name !== 'iter' ? { ...w, name: w.name.replace('/kernel/', '/kernel_7/').replace('/bias/', '/bias_7/') } : w));
    const loaded = await loadModel({ load: async () => saved as unknown as ModelArtifacts }, { engine: engine() });
    const state = await loaded.getOptimizerState();
    const tfState = await tfm.optimizer.getWeights();
    expect(state.slots).toHaveLength(tfState.length - 1);
    for (const [i, slot] of state.slots.entries()) expect(Array.from(slot.values)).toEqual(Array.from(await tfState[i + 1]!.tensor.data()));
    loaded.dispose();
  });

  it('loads our CNN into TF.js with the same predictions, and TF.js reads our optimizer state', async () => {
    const m = sequential(cnnLayers());
    m.compile({ optimizer: optimizers.rmsprop({ learningRate: 0.01, momentum: 0.5 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    await m.fit(images(5, 4), tensor(new Int32Array([0, 1, 2, 1]), [4]), { epochs: 1, batchSize: 2, verbose: 0 });
    const target = path.join(dir, 'ours-for-tf');
    await m.save(`file://${target}`, { includeOptimizer: true });
    const tfm = await tfLoadFiles(target);
    const x = images(6);
    expect(maxAbsDiff(await tfPredict(tfm, x), (await m.predict(x)).values)).toBeLessThanOrEqual(1e-5);

    expect(tfm.optimizer.getClassName()).toBe('RMSProp');
    expect(tfm.optimizer.getConfig()).toMatchObject({ learningRate: 0.01, decay: 0.9, momentum: 0.5, centered: false });
    const tfState = await tfm.optimizer.getWeights();
    const ours = await m.getOptimizerState();
    expect(ours.iterations).toBe(2);
    expect(await tfState[0]!.tensor.data()).toEqual(new Int32Array([2]));
    expect(tfState.slice(1).map((w) => w.name)).toEqual(ours.slots.map((s) => s.name));
    for (const [i, slot] of ours.slots.entries()) expect(Array.from(await tfState[i + 1]!.tensor.data())).toEqual(Array.from(slot.values));
    // TF.js pairs slots with its variables by position: they must come in its trainable weights' order.
    expect(tfState.slice(1, 5).map((w) => w.name)).toEqual(tfm.trainableWeights.map((w) => `${w.originalName}/rms`));
    m.dispose();
  });

  it('a functional model with branches, Add and Concatenate goes both ways', async () => {
    // TF.js → ours.
    const tx = tf.input({ shape: [8, 8, 1] });
    const ta = tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }).apply(tx) as tf.SymbolicTensor;
    const tb = tf.layers.conv2d({ filters: 3, kernelSize: 3 }).apply(tx) as tf.SymbolicTensor;
    const tsum = tf.layers.add().apply([ta, tb]) as tf.SymbolicTensor;
    const tcat = tf.layers.concatenate().apply([tsum, tb]) as tf.SymbolicTensor;
    const tflat = tf.layers.flatten().apply(tf.layers.maxPooling2d({ poolSize: 2 }).apply(tcat)) as tf.SymbolicTensor;
    const tout = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(tf.layers.dropout({ rate: 0.5 }).apply(tflat)) as tf.SymbolicTensor;
    const tfm = tf.model({ inputs: tx, outputs: tout });
    randomizeTf(tfm, 20);
    const saved = await tfArtifacts(tfm);
    expect((saved.modelTopology as { class_name: string }).class_name).toBe('Model');
    const loaded = await loadModel({ load: async () => saved }, { engine: engine() });
    const x = images(7);
    expect(maxAbsDiff((await loaded.predict(x)).values, await tfPredict(tfm, x))).toBeLessThanOrEqual(1e-5);
    loaded.dispose();

    // Ours → TF.js, with Adam's state. The longer branch (a → p → c) makes our graph order (a, p, c,
    // b, dense) differ from TF.js's weight order (a, p, b, c, dense), in which its slots must come.
    const xi = input({ shape: [8, 8, 1] });
    const a = layers.conv2d({ filters: 2, kernelSize: 3, activation: 'relu' }).apply(xi);
    const c = layers.conv2d({ filters: 2, kernelSize: 1 }).apply(layers.conv2d({ filters: 1, kernelSize: 1 }).apply(a));
    const b = layers.conv2d({ filters: 2, kernelSize: 3 }).apply(xi);
    const cat = layers.concatenate().apply([c, layers.add().apply([a, b])]);
    const m = model({ inputs: xi, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.flatten().apply(cat)) });
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', engine: engine() });
    await m.fit(images(9, 2), tensor(new Int32Array([2, 0]), [2]), { epochs: 1, verbose: 0 });
    const ours = await captureOurs(m, true);
    const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory(ours as unknown as tf.io.ModelArtifacts));
    expect(maxAbsDiff(await tfPredict(tfLoaded, x), (await m.predict(x)).values)).toBeLessThanOrEqual(1e-5);
    const tfNames = tfLoaded.trainableWeights.map((w) => w.originalName);
    // Our layers (and so getWeights()) follow TF.js's Container order, branches included.
    expect(tfNames).toEqual((await m.getWeights()).map((w) => w.name));
    expect(tfLoaded.layers.map((l) => l.name)).toEqual(m.layers.map((l) => l.name));
    const tfState = await tfLoaded.optimizer.getWeights();
    expect(tfState.map((w) => w.name)).toEqual(['iter', ...tfNames.map((n) => `${n}/m`), ...tfNames.map((n) => `${n}/v`)]);
    const slots = new Map((await m.getOptimizerState()).slots.map((s) => [s.name, s.values]));
    for (const w of tfState.slice(1)) expect(Array.from(await w.tensor.data())).toEqual(Array.from(slots.get(w.name)!));
    m.dispose();
  });
});

describe('checkpoints', () => {
  /**
   * A small CNN with dropout, so the resumed run must also continue the dropout masks. Fixed names:
   * a dropout layer's default seed derives from its name.
   */
  function checkpointModel(optimizer: ReturnType<typeof optimizers.adam>): LayersModel {
    const m = sequential({
      layers: [
        layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1], name: 'conv' }),
        layers.maxPooling2d({ poolSize: 2, name: 'pool' }),
        layers.flatten({ name: 'flatten' }),
        layers.dropout({ rate: 0.3, name: 'dropout' }),
        layers.dense({ units: 3, activation: 'softmax', name: 'dense' }),
      ],
      seed: 42,
    });
    m.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    return m;
  }
  const xs = images(8, 20);
  const ys = tensor(Int32Array.from({ length: 20 }, (_, i) => (i * 7) % 3), [20]);
  const fitArgs = { batchSize: 8, shuffle: true, seed: 5, verbose: 0 } as const;

  it('a checkpoint written by callbacks.modelCheckpoint resumes bit for bit (the best epoch, with its optimizer state)', async () => {
    const straight = checkpointModel(optimizers.adam({ learningRate: 0.01 }));
    await straight.fit(xs, ys, { ...fitArgs, epochs: 3 });
    const expected = await straight.getWeights();

    const target = path.join(dir, 'callback-checkpoint');
    const first = checkpointModel(optimizers.adam({ learningRate: 0.01 }));
    // Saved after every epoch (monitor absent from the logs: no "best" filter), the last one kept.
    await first.fit(xs, ys, { ...fitArgs, epochs: 2, callbacks: [callbacks.modelCheckpoint(`file://${target}`)] });
    first.dispose();
    const resumed = await loadModel(`file://${target}`, { engine: engine() });
    expect((await resumed.getOptimizerState()).iterations).toBe(6);
    await resumed.fit(xs, ys, { ...fitArgs, epochs: 3, initialEpoch: 2 });
    const got = await resumed.getWeights();
    for (const [i, w] of got.entries()) expect(Array.from(w.values)).toEqual(Array.from(expected[i]!.values));
    resumed.dispose();
  });

  for (const [label, make] of [
    ['Adam', () => optimizers.adam({ learningRate: 0.01 })],
    ['RMSprop with momentum', () => optimizers.rmsprop({ learningRate: 0.01, momentum: 0.9 })],
  ] as const) {
    it(`${label}: 1 epoch + save(includeOptimizer) + loadModel + 1 epoch = 2 epochs, bit for bit`, async () => {
      const straight = checkpointModel(make());
      await straight.fit(xs, ys, { ...fitArgs, epochs: 2 });
      const expected = await straight.getWeights();

      const first = checkpointModel(make());
      await first.fit(xs, ys, { ...fitArgs, epochs: 1 });
      const target = path.join(dir, `checkpoint-${label.replace(/\W+/g, '-')}`);
      await first.save(`file://${target}`, { includeOptimizer: true });
      await first.save(`file://${target}-no-optimizer`);
      first.dispose();

      const resumed = await loadModel(`file://${target}`, { engine: engine() });
      expect((await resumed.getOptimizerState()).iterations).toBe(3);
      await resumed.fit(xs, ys, { ...fitArgs, epochs: 2, initialEpoch: 1 });
      const got = await resumed.getWeights();
      expect(got.map((w) => w.name)).toEqual(expected.map((w) => w.name));
      for (const [i, w] of got.entries()) {
        expect(relL2(w.values, expected[i]!.values)).toBeLessThanOrEqual(1e-6);
        expect(Array.from(w.values)).toEqual(Array.from(expected[i]!.values));
      }

      // Control: without the optimizer state the same resume drifts away.
      const fresh = await loadModel(`file://${target}-no-optimizer`, { engine: engine() });
      await fresh.fit(xs, ys, { ...fitArgs, epochs: 2, initialEpoch: 1 });
      expect(relL2((await fresh.getWeights())[0]!.values, expected[0]!.values)).toBeGreaterThan(1e-4);
      for (const m of [straight, resumed, fresh]) m.dispose();
    });
  }
});

describe('malformed files', () => {
  /** A base model: small, compiled, with optimizer state. */
  async function baseArtifacts(): Promise<ModelArtifacts> {
    const m = sequential([layers.dense({ units: 4, activation: 'relu', inputShape: [5] }), layers.dense({ units: 3, activation: 'softmax' })]);
    m.compile({ optimizer: optimizers.adam(), loss: 'categoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    const a = await captureOurs(m, true);
    m.dispose();
    return a;
  }

  const expectFailure = async (artifacts: unknown, pattern: RegExp) => {
    const error = await loadModel({ load: () => artifacts }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelFormatError);
    expect((error as Error).message).toMatch(pattern);
  };

  it('names what is wrong and where', async () => {
    const base = await baseArtifacts();
    const edit = (f: (a: ModelArtifacts & { modelTopology: { config: { layers: { class_name: string; config: Record<string, unknown> }[] } } }) => void) => {
      const copy = { ...structuredClone(base), weightData: base.weightData.slice(0) } as Parameters<typeof f>[0];
      f(copy);
      return copy;
    };
    await expectFailure(
      edit((a) => (a.modelTopology.config.layers[1]!.class_name = 'ConvLSTM2D')),
      new RegExp(`^loadModel\\(handler\\): modelTopology\\.config\\.layers\\[1\\] \\("ConvLSTM2D"\\): unknown layer class "ConvLSTM2D"; known: ${layerClassNames().join(', ')}$`),
    );
    await expectFailure(edit((a) => (a.modelTopology.config.layers[1]!.config.units = 7)), /the weights dense_\d+\/kernel|'dense(_\d+)?\/kernel' has shape \[4, 3\] in the manifest but the layer needs \[4, 7\]/);
    await expectFailure(edit((a) => (a.modelTopology.config.layers[1]!.config.units = -1)), /layers\[1\] \("Dense"\): Dense dense(_\d+)?: units must be a positive integer, got -1/);
    await expectFailure(edit((a) => (a.modelTopology.config.layers[0]!.config.kernel_regularizer = { class_name: 'OrthogonalRegularizer', config: {} })), /layers\[0\].*kernel_regularizer.*unknown regularizer class 'OrthogonalRegularizer'/);
    await expectFailure(edit((a) => (a.modelTopology.config.layers[0]!.config.batch_input_shape = [null])), /layers\[0\] \(the first layer\): batch_input_shape must be/);
    await expectFailure(edit((a) => (a.weightSpecs = a.weightSpecs.filter((w) => !w.name.endsWith('/bias') || w.group))), /the weight data has \d+ bytes but the manifest's \d+ weights take \d+/);
    await expectFailure(edit((a) => (a.weightData = a.weightData.slice(0, 90))), /weight 1 'dense(_\d+)?\/bias' \(float32 \[4\]\) needs bytes 80\.\.96 but the weight data has 90 bytes/);
    await expectFailure(edit((a) => (a.weightSpecs[0]!.name = 'other/kernel')), /the weights dense(_\d+)?\/kernel are missing from the manifest/);
    await expectFailure(edit((a) => (a.weightSpecs[0]!.dtype = 'float16' as 'float32')), /weight 0 'dense(_\d+)?\/kernel': dtype "float16" is not supported/);
    await expectFailure(edit((a) => (a.trainingConfig!.optimizer_config.class_name = 'Ftrl')), /trainingConfig\.optimizer_config: unknown optimizer 'Ftrl'; known: .*Adagrad.*Nadam/);
    await expectFailure(edit((a) => (a.trainingConfig!.optimizer_config = { class_name: 'SGD', config: { learningRate: 0.01 } })), /unexpected optimizer weight 'dense(_\d+)?\/kernel\/m' for SGD/);
    await expectFailure(edit((a) => delete a.trainingConfig), /optimizer weights but model.json has no trainingConfig/);
    await expectFailure(edit((a) => (a.modelTopology.class_name = 'Graph' as 'Model')), /modelTopology\.class_name: unknown model class "Graph"; known: Sequential, Model, Functional/);
    await expectFailure({ ...base, format: 'graph-model' }, /format "graph-model" is not supported/);
    await expect(loadModel({ load: () => Promise.reject('nope') })).rejects.toThrow(/^loadModel\(handler\): handler.load\(\) failed: nope$/);
    await expect(loadModel('ftp://x/model.json')).rejects.toThrow(/unknown source scheme 'ftp:\/\/'/);
    await expect(loadModel(`file://${path.join(dir, 'missing')}`)).rejects.toThrow(/cannot read .*missing/);
  });

  it('fuzzed model.json text, weight data and artifacts always fail with an Error, never hang', async () => {
    const base = await baseArtifacts();
    const baseText = JSON.stringify(modelJSON(base, ['weights.bin']));
    const baseBytes = new Uint8Array(base.weightData);
    const random = new Random(2024);
    const int = (n: number) => Math.floor(random.next() * n);
    const flipBits = (bytes: Uint8Array) => {
      const out = bytes.slice();
      for (let k = 1 + int(3); k > 0; k--) out[int(out.length)]! ^= 1 << int(8);
      return out;
    };
    const odd = () => [null, -1, 0, 1e9, 2.5, 'x', true, [], {}, [null, 1], { class_name: 'Dense' }, 1e300][int(12)];
    /** Replaces, or deletes, one value somewhere in a JSON tree. */
    const mutate = (value: unknown): unknown => {
      const tree = structuredClone(value) as Record<string, unknown>;
      let node: Record<string, unknown> = tree;
      for (let depth = 0; depth < 12; depth++) {
        const keys = Object.keys(node);
        if (keys.length === 0) break;
        const key = keys[int(keys.length)]!;
        const child = node[key];
        if (child && typeof child === 'object' && random.next() < 0.75) {
          node = child as Record<string, unknown>;
          continue;
        }
        if (random.next() < 0.2 && !Array.isArray(node)) delete node[key];
        else node[key] = odd();
        break;
      }
      return tree;
    };

    // Served over a stubbed fetch, so the text goes through the URL loader's parsing.
    let files: Record<string, Uint8Array> = {};
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: URL | string) => {
      const body = files[new URL(String(input)).pathname];
      return body ? new Response(body.slice().buffer as ArrayBuffer) : new Response(null, { status: 404, statusText: 'Not Found' });
    }) as typeof fetch;
    const encoder = new TextEncoder();
    const counts = { failed: 0, loaded: 0 };
    const started = performance.now();
    try {
      for (let i = 0; i < 300; i++) {
        const kind = i % 6;
        let text = baseText;
        let bytes = baseBytes;
        let source: string | { load(): unknown } = 'http://fuzz.test/m/model.json';
        if (kind === 0) text = Array.from({ length: int(200) }, () => String.fromCharCode(32 + int(95))).join('');
        else if (kind === 1) text = baseText.slice(0, int(baseText.length));
        else if (kind === 2) text = new TextDecoder().decode(flipBits(encoder.encode(baseText)));
        else if (kind === 3) bytes = random.next() < 0.5 ? baseBytes.slice(0, int(baseBytes.length)) : flipBits(baseBytes);
        else if (kind === 4) text = JSON.stringify(mutate(JSON.parse(baseText)));
        else {
          const artifacts = mutate({ ...base, weightData: null }) as Record<string, unknown>;
          if (random.next() < 0.7) artifacts.weightData = random.next() < 0.5 ? base.weightData.slice(0, int(base.weightData.byteLength)) : base.weightData;
          source = { load: () => artifacts };
        }
        files = { '/m/model.json': encoder.encode(text), '/m/weights.bin': bytes };
        const mustFail = kind <= 1 || (kind === 3 && bytes.length < baseBytes.length);
        try {
          const m = await loadModel(source, { engine: engine() });
          expect(mustFail, `case ${i} (kind ${kind}) loaded`).toBe(false);
          counts.loaded++;
          m.dispose();
        } catch (e) {
          expect(e, `case ${i} threw a non-Error`).toBeInstanceOf(Error);
          expect((e as Error).message).toMatch(/^loadModel\((handler|'http:\/\/fuzz\.test\/m\/model\.json')\): .{10,}/);
          counts.failed++;
        }
      }
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(counts.failed).toBeGreaterThan(200);
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});
