/**
 * The MNIST model catalog (src/models/): each model builds with a stable summary and parameter
 * count, is seeded, and trains a couple of steps on real MNIST images without NaN; and transfer
 * learning: a model saved, loaded, frozen and cut at its features trains only its new head.
 */
import { describe, expect, it } from 'vitest';
import { featureLayer, input, layers, loadMnist, loadModel, MNIST_MODEL_NAMES, MNIST_MODELS, mnistCnn, mnistModel, mnistModelInfo, model, tensor, TRANSFER_HEAD, transferModel, type LayersModel, type ModelArtifacts, type NamedWeight } from '../src/index.ts';
import { useEngine } from './helpers.ts';

const engine = useEngine();

const N = 16;
const BATCH = 8;

async function images(n: number) {
  const mnist = await loadMnist();
  return { x: tensor(mnist.train.images.values.slice(0, n * 784), [n, 28, 28, 1]), y: tensor(mnist.train.labels.values.slice(0, n), [n]) };
}

const allFinite = (weights: readonly NamedWeight[]) => weights.every((w) => w.values.every(Number.isFinite));

/** Each model's parameters (all, trainable) and the layer whose output are its features. */
const EXPECTED: Record<string, { total: number; trainable: number; features: string }> = {
  cnn: { total: 104_202, trainable: 104_202, features: 'flatten' },
  residual: { total: 112_682, trainable: 112_106, features: 'features' },
  mobilenet: { total: 38_346, trainable: 36_874, features: 'features' },
  mlp: { total: 109_386, trainable: 109_386, features: 'dropout2' },
};

describe('the MNIST model catalog', () => {
  it('lists the four models once each, in the CLI and demo order', () => {
    expect(MNIST_MODELS.map((m) => m.name)).toEqual(['cnn', 'residual', 'mobilenet', 'mlp']);
    expect([...MNIST_MODEL_NAMES]).toEqual(MNIST_MODELS.map((m) => m.name));
    for (const m of MNIST_MODELS) expect(m.description.length).toBeGreaterThan(20);
    expect(() => mnistModelInfo('resnet50')).toThrow(/unknown MNIST model "resnet50"; the models: cnn, residual, mobilenet, mlp/);
  });

  it('the tutorial CNN is mnistCnn, either API', async () => {
    for (const api of ['sequential', 'functional'] as const) {
      const a = mnistModel('cnn', { api, seed: 5 });
      const b = mnistCnn({ api, seed: 5 });
      expect(a.className).toBe(api === 'sequential' ? 'Sequential' : 'Model');
      expect((await a.getWeights()).map((w) => w.values)).toEqual((await b.getWeights()).map((w) => w.values));
    }
  });

  it('summaries are stable: the new models name their layers as Keras applications do', () => {
    const residual = mnistModel('residual').summary().split('\n');
    const block = (b: number) => [`block${b}_1_conv (Conv2D)`, `block${b}_1_bn (BatchNormalization)`, `block${b}_1_relu (ReLU)`, `block${b}_2_conv (Conv2D)`, `block${b}_2_bn (BatchNormalization)`, `block${b}_add (Add)`, `block${b}_out (ReLU)`];
    const stem = (s: number) => [`stem${s}_conv (Conv2D)`, `stem${s}_bn (BatchNormalization)`, `stem${s}_relu (ReLU)`, `pool${s} (MaxPooling2D)`];
    expect(residual.filter((l) => l.startsWith('│')).map((l) => l.split('│')[1]!.trim())).toEqual(['image (InputLayer)', ...stem(1), ...block(1), ...stem(2), ...block(2), 'features (GlobalAveragePooling2D)', 'classifier (Dense)']);
    expect(residual).toContain('│ block1_add (Add)                  │ (None, 14, 14, 32) │       0 │ block1_2_bn[0][0], pool1[0][0] │');
    expect(residual).toContain('│ block2_add (Add)                  │ (None, 7, 7, 64)   │       0 │ block2_2_bn[0][0], pool2[0][0] │');
    expect(mnistModel('mobilenet').summary()).toMatchInlineSnapshot(`
      "Model: "mnist_mobilenet"
      ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
      ┃ Layer (type)                      ┃ Output Shape       ┃ Param # ┃
      ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
      │ image (InputLayer)                │ (None, 28, 28, 1)  │       0 │
      │ conv1 (Conv2D)                    │ (None, 14, 14, 16) │     144 │
      │ conv1_bn (BatchNormalization)     │ (None, 14, 14, 16) │      64 │
      │ conv1_relu (ReLU)                 │ (None, 14, 14, 16) │       0 │
      │ conv_dw_1 (DepthwiseConv2D)       │ (None, 14, 14, 16) │     144 │
      │ conv_dw_1_bn (BatchNormalization) │ (None, 14, 14, 16) │      64 │
      │ conv_dw_1_relu (ReLU)             │ (None, 14, 14, 16) │       0 │
      │ conv_pw_1 (Conv2D)                │ (None, 14, 14, 32) │     512 │
      │ conv_pw_1_bn (BatchNormalization) │ (None, 14, 14, 32) │     128 │
      │ conv_pw_1_relu (ReLU)             │ (None, 14, 14, 32) │       0 │
      │ conv_dw_2 (DepthwiseConv2D)       │ (None, 7, 7, 32)   │     288 │
      │ conv_dw_2_bn (BatchNormalization) │ (None, 7, 7, 32)   │     128 │
      │ conv_dw_2_relu (ReLU)             │ (None, 7, 7, 32)   │       0 │
      │ conv_pw_2 (Conv2D)                │ (None, 7, 7, 64)   │   2,048 │
      │ conv_pw_2_bn (BatchNormalization) │ (None, 7, 7, 64)   │     256 │
      │ conv_pw_2_relu (ReLU)             │ (None, 7, 7, 64)   │       0 │
      │ conv_dw_3 (DepthwiseConv2D)       │ (None, 7, 7, 64)   │     576 │
      │ conv_dw_3_bn (BatchNormalization) │ (None, 7, 7, 64)   │     256 │
      │ conv_dw_3_relu (ReLU)             │ (None, 7, 7, 64)   │       0 │
      │ conv_pw_3 (Conv2D)                │ (None, 7, 7, 64)   │   4,096 │
      │ conv_pw_3_bn (BatchNormalization) │ (None, 7, 7, 64)   │     256 │
      │ conv_pw_3_relu (ReLU)             │ (None, 7, 7, 64)   │       0 │
      │ conv_dw_4 (DepthwiseConv2D)       │ (None, 4, 4, 64)   │     576 │
      │ conv_dw_4_bn (BatchNormalization) │ (None, 4, 4, 64)   │     256 │
      │ conv_dw_4_relu (ReLU)             │ (None, 4, 4, 64)   │       0 │
      │ conv_pw_4 (Conv2D)                │ (None, 4, 4, 128)  │   8,192 │
      │ conv_pw_4_bn (BatchNormalization) │ (None, 4, 4, 128)  │     512 │
      │ conv_pw_4_relu (ReLU)             │ (None, 4, 4, 128)  │       0 │
      │ conv_dw_5 (DepthwiseConv2D)       │ (None, 4, 4, 128)  │   1,152 │
      │ conv_dw_5_bn (BatchNormalization) │ (None, 4, 4, 128)  │     512 │
      │ conv_dw_5_relu (ReLU)             │ (None, 4, 4, 128)  │       0 │
      │ conv_pw_5 (Conv2D)                │ (None, 4, 4, 128)  │  16,384 │
      │ conv_pw_5_bn (BatchNormalization) │ (None, 4, 4, 128)  │     512 │
      │ conv_pw_5_relu (ReLU)             │ (None, 4, 4, 128)  │       0 │
      │ features (GlobalAveragePooling2D) │ (None, 128)        │       0 │
      │ classifier (Dense)                │ (None, 10)         │   1,290 │
      └───────────────────────────────────┴────────────────────┴─────────┘
       Total params: 38,346 (149.79 KB)
       Trainable params: 36,874 (144.04 KB)
       Non-trainable params: 1,472 (5.75 KB)"
    `);
    expect(mnistModel('mlp').summary()).toMatchInlineSnapshot(`
      "Model: "mnist_mlp"
      ┏━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━┓
      ┃ Layer (type)       ┃ Output Shape ┃ Param # ┃
      ┡━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━┩
      │ flatten (Flatten)  │ (None, 784)  │       0 │
      │ hidden1 (Dense)    │ (None, 128)  │ 100,480 │
      │ dropout1 (Dropout) │ (None, 128)  │       0 │
      │ hidden2 (Dense)    │ (None, 64)   │   8,256 │
      │ dropout2 (Dropout) │ (None, 64)   │       0 │
      │ classifier (Dense) │ (None, 10)   │     650 │
      └────────────────────┴──────────────┴─────────┘
       Total params: 109,386 (427.29 KB)
       Trainable params: 109,386 (427.29 KB)
       Non-trainable params: 0 (0.00 B)"
    `);
    // The same text every time it is built: nothing depends on what was built before.
    for (const name of ['residual', 'mobilenet', 'mlp'] as const) expect(mnistModel(name).summary()).toBe(mnistModel(name).summary());
  });

  it.each(MNIST_MODEL_NAMES.map((n) => [n]))('%s: parameter counts and its feature layer', (name) => {
    const m = mnistModel(name);
    expect(m.countParams()).toBe(EXPECTED[name]!.total);
    expect(m.countTrainableParams()).toBe(EXPECTED[name]!.trainable);
    expect(m.inputs[0]!.shape).toEqual([28, 28, 1]);
    expect(m.outputs[0]!.shape).toEqual([10]);
    expect(featureLayer(m).name.replace(/_\d+$/, '')).toBe(EXPECTED[name]!.features);
  });

  it.each(MNIST_MODEL_NAMES.map((n) => [n]))('%s: seeded (same seed, same weights; another seed, others)', async (name) => {
    const [a, b, c] = await Promise.all([mnistModel(name, { seed: 7 }), mnistModel(name, { seed: 7 }), mnistModel(name, { seed: 8 })].map((m) => m.getWeights()));
    expect(a!.map((w) => w.values)).toEqual(b!.map((w) => w.values));
    const kernels = (list: NamedWeight[]) => list.filter((w) => w.name.endsWith('/kernel'));
    expect(kernels(a!).every((w, i) => w.values.some((v, k) => v !== kernels(c!)[i]!.values[k]))).toBe(true);
  });

  it.each(MNIST_MODEL_NAMES.map((n) => [n]))('%s: trains two steps on MNIST images without NaN', async (name) => {
    const { x, y } = await images(N);
    const m = mnistModel(name, { seed: 3 });
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    const before = await m.getWeights();
    const history = await m.fit(x, y, { epochs: 1, batchSize: BATCH, verbose: 0 });
    const after = await m.getWeights();
    expect(Number.isFinite(history.history.loss![0])).toBe(true);
    expect(allFinite(after)).toBe(true);
    // Every trainable weight moved; the moving statistics (BatchNormalization) too.
    after.forEach((w, i) => expect(w.values.some((v, k) => v !== before[i]!.values[k]), w.name).toBe(true));
    const p = await m.predict(x, { batchSize: BATCH });
    expect(p.shape).toEqual([N, 10]);
    for (let i = 0; i < N; i++) expect(p.values.subarray(i * 10, i * 10 + 10).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 4);
    m.dispose();
  });
});

describe('transfer learning', () => {
  /** Saves to memory and loads back, as the demo's worker does. */
  async function roundTrip(m: LayersModel): Promise<LayersModel> {
    let artifacts: ModelArtifacts | undefined;
    await m.save({ save: async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
    return loadModel({ load: async () => artifacts! }, { engine: engine() });
  }

  it.each([['cnn'], ['mobilenet']] as const)('%s: loaded, frozen and cut at its features, only the new head trains', async (name) => {
    const { x, y } = await images(N);
    const base = mnistModel(name, { seed: 11 });
    const loaded = await roundTrip(base);
    const cut = featureLayer(loaded);
    expect(cut.name).toBe(featureLayer(base).name);
    const t = transferModel(loaded, { classes: 3, seed: 2 });
    const headParams = cut.output.shape[0]! * 3 + 3;
    expect(t.countTrainableParams()).toBe(headParams);
    expect(t.countParams()).toBe(base.countParams() - (cut.output.shape[0]! * 10 + 10) + headParams);
    expect(t.layers.at(-1)!.name).toBe(TRANSFER_HEAD);
    expect(t.outputs[0]!.shape).toEqual([3]);
    expect(loaded.layers.every((l) => !l.trainable)).toBe(true);

    const labels = tensor(Int32Array.from(y.values, (d) => d % 3), [N]);
    t.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    const frozen = await loaded.getWeights();
    const headBefore = (await t.getWeights()).filter((w) => w.name.startsWith(`${TRANSFER_HEAD}/`));
    await t.fit(x, labels, { epochs: 2, batchSize: BATCH, verbose: 0 });
    // The base's weights (its BatchNormalization statistics included) stay; the head's move.
    expect((await loaded.getWeights()).map((w) => w.values)).toEqual(frozen.map((w) => w.values));
    const headAfter = (await t.getWeights()).filter((w) => w.name.startsWith(`${TRANSFER_HEAD}/`));
    expect(headAfter).toHaveLength(2);
    headAfter.forEach((w, i) => expect(w.values.some((v, k) => v !== headBefore[i]!.values[k])).toBe(true));
    const p = await t.predict(x, { batchSize: BATCH });
    expect(p.shape).toEqual([N, 3]);
    expect(p.values.every(Number.isFinite)).toBe(true);
  });

  it('cuts where asked, and refuses what cannot work', () => {
    const base = mnistModel('mlp');
    expect(featureLayer(base, 'hidden1').name).toBe('hidden1');
    expect(() => featureLayer(base, 'nope')).toThrow(/no layer named 'nope'/);
    expect(() => transferModel(base, { classes: 1 })).toThrow(/classes must be an integer ≥ 2, got 1/);
    expect(transferModel(mnistModel('mlp'), { classes: 2, featureLayer: 'hidden1' }).countTrainableParams()).toBe(128 * 2 + 2);
    const x = input({ shape: [4] });
    const lone = model({ inputs: x, outputs: layers.dense({ units: 2, activation: 'softmax' }).apply(x) });
    expect(() => featureLayer(lone)).toThrow(/reads the model's input; there are no inner features to cut at/);
  });
});
