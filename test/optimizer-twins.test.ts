/**
 * Optimizers against TF.js 4.22 (cpu backend): the same small model (dense tanh → dense softmax)
 * trained a few steps from the same weights by tf.train.* and by ours; the names compile() takes
 * with TF.js's defaults; a learning rate changed between batches; training state carried across
 * frameworks through model.json with includeOptimizer, both ways; and our own save + load
 * resuming bit for bit for every optimizer, schedules and clipping included.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { layers, loadModel, optimizers, sequential, tensor, type LayersModel } from '../src/index.ts';
import { optimizerConfig, optimizerFromConfig, type Optimizer } from '../src/optimizers.ts';
import { captureOurs } from './artifacts.ts';
import { measuredErrors, randomArray, relL2, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('TWIN_ERRORS', ['updates', 'predictions']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const N = 20;
const FEATURES = 6;
const x = randomArray(N * FEATURES, 5, 1.5);
const y = new Float32Array(N * 3);
for (let i = 0; i < N; i++) y[i * 3 + ((i * 7) % 3)] = 1;

function ourModel(optimizer: Optimizer | string): LayersModel {
  const m = sequential([layers.dense({ units: 8, activation: 'tanh', inputShape: [FEATURES], name: 'hidden' }), layers.dense({ units: 3, activation: 'softmax', name: 'out' })]);
  m.compile({ optimizer, loss: 'categoricalCrossentropy', engine: engine() });
  // Random biases too, so that their updates are compared from a non-trivial start.
  m.setWeights([randomArray(48, 1, 0.6), randomArray(8, 2, 0.3), randomArray(24, 3, 0.6), randomArray(3, 4, 0.3)].map((w, i) => tensor(w, [[6, 8], [8], [8, 3], [3]][i]!)));
  return m;
}

/**
 * `prefix` names the layers: TF.js names a slot after its variable, which it numbers when a name
 * repeats in the process ('hidden/kernel_27/m'), and our loader matches slots by name.
 */
function theirModel(optimizer: tf.Optimizer | string, metrics?: string[], prefix = ''): tf.Sequential {
  const dense = (units: number, activation: 'tanh' | 'softmax', name: string, inputShape?: number[]) => tf.layers.dense({ units, activation, name: `${prefix}${name}`, ...(inputShape && { inputShape }) });
  const m = tf.sequential({ layers: [dense(8, 'tanh', 'hidden', [FEATURES]), dense(3, 'softmax', 'out')] });
  m.compile({ optimizer, loss: 'categoricalCrossentropy', metrics });
  return m;
}

const fitArgs = { batchSize: 5, shuffle: false, verbose: 0 } as const;

/** Weight updates (relL2 of the displacements, worst weight) and predictions after training both from `start`. */
async function compareTrained(name: string, ours: LayersModel, theirs: tf.LayersModel, start: Float32Array[]): Promise<void> {
  const got = await ours.getWeights();
  const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
  let worst = 0;
  got.forEach((w, i) => {
    const err = relL2(
      w.values.map((v, k) => v - start[i]![k]!),
      want[i]!.map((v, k) => v - start[i]![k]!),
    );
    worst = Math.max(worst, err);
    expect(err, `${name}: update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  });
  record(name, 'updates', worst);
  const p = (await ours.predict(tensor(x, [N, FEATURES]))).values;
  expect(record(name, 'predictions', relL2(p, (theirs.predict(tf.tensor2d(x, [N, FEATURES])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
}

/** Trains both 4 steps (one epoch of 20 samples in batches of 5) from our initial weights. */
async function twin(name: string, ours: Optimizer | string, theirs: tf.Optimizer | string, callbacks?: { ours: (batch: number) => void; theirs: (batch: number) => void }): Promise<void> {
  const m = ourModel(ours);
  const start = (await m.getWeights()).map((w) => w.values);
  const t = theirModel(theirs);
  t.setWeights(start.map((w, i) => tf.tensor(w, t.getWeights()[i]!.shape)));
  await t.fit(tf.tensor2d(x, [N, FEATURES]), tf.tensor2d(y, [N, 3]), { ...fitArgs, epochs: 1, callbacks: callbacks && { onBatchEnd: async (b) => callbacks.theirs(b) } });
  await m.fit(tensor(x, [N, FEATURES]), tensor(y, [N, 3]), { ...fitArgs, epochs: 1, callbacks: callbacks && { onBatchEnd: (b) => callbacks.ours(b) } });
  await compareTrained(name, m, t, start);
  m.dispose();
}

describe('twins of tf.train.* (4 steps from the same weights)', () => {
  const cases: [string, () => Optimizer, () => tf.Optimizer][] = [
    ['sgd', () => optimizers.sgd({ learningRate: 0.2 }), () => tf.train.sgd(0.2)],
    ['sgd momentum (Keras form) vs tf.train.momentum', () => optimizers.sgd({ learningRate: 0.1, momentum: 0.9 }), () => tf.train.momentum(0.1, 0.9)],
    ['sgd nesterov vs tf.train.momentum(useNesterov)', () => optimizers.sgd({ learningRate: 0.1, momentum: 0.8, nesterov: true }), () => tf.train.momentum(0.1, 0.8, true)],
    ['momentum', () => optimizers.momentum({ learningRate: 0.1, momentum: 0.9 }), () => tf.train.momentum(0.1, 0.9)],
    ['momentum nesterov', () => optimizers.momentum({ learningRate: 0.1, momentum: 0.9, useNesterov: true }), () => tf.train.momentum(0.1, 0.9, true)],
    ['adagrad', () => optimizers.adagrad({ learningRate: 0.1 }), () => tf.train.adagrad(0.1)],
    ['adagrad initialAccumulatorValue 0.5', () => optimizers.adagrad({ learningRate: 0.1, initialAccumulatorValue: 0.5 }), () => tf.train.adagrad(0.1, 0.5)],
    ['adadelta', () => optimizers.adadelta({ learningRate: 1 }), () => tf.train.adadelta(1)],
    ['adadelta rho 0.8', () => optimizers.adadelta({ learningRate: 2, rho: 0.8, epsilon: 1e-5 }), () => tf.train.adadelta(2, 0.8, 1e-5)],
    ['adam', () => optimizers.adam({ learningRate: 0.02 }), () => tf.train.adam(0.02)],
    ['adam beta1 0.5, beta2 0.9', () => optimizers.adam({ learningRate: 0.02, beta1: 0.5, beta2: 0.9, epsilon: 1e-4 }), () => tf.train.adam(0.02, 0.5, 0.9, 1e-4)],
    ['adamax', () => optimizers.adamax({ learningRate: 0.02 }), () => tf.train.adamax(0.02, 0.9, 0.999)],
    ['adamax decay 0.2', () => optimizers.adamax({ learningRate: 0.02, decay: 0.2 }), () => tf.train.adamax(0.02, 0.9, 0.999, 1e-7, 0.2)],
    ['rmsprop', () => optimizers.rmsprop({ learningRate: 0.01 }), () => tf.train.rmsprop(0.01)],
    ['rmsprop momentum', () => optimizers.rmsprop({ learningRate: 0.01, momentum: 0.9 }), () => tf.train.rmsprop(0.01, 0.9, 0.9)],
    // TF.js subtracts ε under the root when centered (NaN where the variance is below ε): a small ε keeps it finite.
    ['rmsprop centered', () => optimizers.rmsprop({ learningRate: 0.01, centered: true, epsilon: 1e-12 }), () => tf.train.rmsprop(0.01, 0.9, 0, 1e-12, true)],
    ['rmsprop centered momentum', () => optimizers.rmsprop({ learningRate: 0.01, rho: 0.8, momentum: 0.5, centered: true, epsilon: 1e-12 }), () => tf.train.rmsprop(0.01, 0.8, 0.5, 1e-12, true)],
  ];
  for (const [name, ours, theirs] of cases) it(name, () => twin(name, ours(), theirs()));

  for (const name of ['sgd', 'adagrad', 'adadelta', 'adam', 'adamax', 'rmsprop']) {
    it(`compile({ optimizer: '${name}' }) gives TF.js's defaults`, () => twin(`'${name}'`, name, name));
  }

  it('a learning rate set between batches takes effect at the next step (SGD and Adam)', async () => {
    const rates = [0.3, 0.05, 0.5, 0.1];
    const sgd = optimizers.sgd({ learningRate: 0.2 });
    const tfSgd = tf.train.sgd(0.2);
    await twin('sgd, rate set after each batch', sgd, tfSgd, { ours: (b) => (sgd.learningRate = rates[b]!), theirs: (b) => tfSgd.setLearningRate(rates[b]!) });
    const adam = optimizers.adam({ learningRate: 0.01 });
    const tfAdam = tf.train.adam(0.01);
    const setTf = (lr: number) => ((tfAdam as unknown as { learningRate: number }).learningRate = lr);
    await twin('adam, rate set after each batch', adam, tfAdam, { ours: (b) => (adam.learningRate = rates[b]! / 10), theirs: (b) => setTf(rates[b]! / 10) });
  });
});

/** What TF.js saves, optimizer state included. */
async function tfArtifacts(m: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  const handler = tf.io.withSaveHandler(async (a) => ((captured = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' as const } }));
  await m.save(handler, { includeOptimizer: true });
  return captured!;
}

describe('training state across frameworks through model.json (includeOptimizer)', () => {
  const xs = () => tensor(x, [N, FEATURES]);
  const ys = () => tensor(y, [N, 3]);
  const cases: [string, () => Optimizer, () => tf.Optimizer, string][] = [
    ['sgd', () => optimizers.sgd({ learningRate: 0.2 }), () => tf.train.sgd(0.2), 'SGD'],
    ['momentum', () => optimizers.momentum({ learningRate: 0.1, momentum: 0.9, useNesterov: true }), () => tf.train.momentum(0.1, 0.9, true), 'Momentum'],
    ['adagrad', () => optimizers.adagrad({ learningRate: 0.1 }), () => tf.train.adagrad(0.1), 'Adagrad'],
    ['adadelta', () => optimizers.adadelta({ learningRate: 1 }), () => tf.train.adadelta(1), 'Adadelta'],
    ['adam', () => optimizers.adam({ learningRate: 0.02 }), () => tf.train.adam(0.02), 'Adam'],
    ['rmsprop momentum centered', () => optimizers.rmsprop({ learningRate: 0.01, momentum: 0.5, centered: true, epsilon: 1e-12 }), () => tf.train.rmsprop(0.01, 0.9, 0.5, 1e-12, true), 'RMSProp'],
  ];
  for (const [name, ours, theirs, className] of cases) {
    it(`${name}: TF.js trains, saves, we load and both train on; and the other way`, async () => {
      // TF.js → ours (TF.js writes `metrics: {}` when it has none, which our loader rejects: give it one).
      const t = theirModel(theirs(), ['accuracy'], `${className.toLowerCase()}_`);
      const start = (await ourModel(ours()).getWeights()).map((w) => w.values);
      t.setWeights(start.map((w, i) => tf.tensor(w, t.getWeights()[i]!.shape)));
      await t.fit(tf.tensor2d(x, [N, FEATURES]), tf.tensor2d(y, [N, 3]), { ...fitArgs, epochs: 1 });
      const saved = await tfArtifacts(t);
      const loaded = await loadModel({ load: () => saved }, { engine: engine() });
      expect(optimizerConfig(loaded.optimizer!).class_name).toBe(className);
      expect((await loaded.getOptimizerState()).iterations).toBe(4);
      const middle = (await loaded.getWeights()).map((w) => w.values);
      await t.fit(tf.tensor2d(x, [N, FEATURES]), tf.tensor2d(y, [N, 3]), { ...fitArgs, epochs: 1 });
      await loaded.fit(xs(), ys(), { ...fitArgs, epochs: 1 });
      await compareTrained(`${name}: TF.js state → ours`, loaded, t, middle);
      loaded.dispose();

      // Ours → TF.js.
      const m = ourModel(ours());
      await m.fit(xs(), ys(), { ...fitArgs, epochs: 1 });
      const ourSave = await captureOurs(m, true);
      const t2 = await tf.loadLayersModel(tf.io.fromMemory(ourSave as unknown as tf.io.ModelArtifacts));
      expect(t2.optimizer.getClassName()).toBe(className);
      const middle2 = (await m.getWeights()).map((w) => w.values);
      await m.fit(xs(), ys(), { ...fitArgs, epochs: 1 });
      await t2.fit(tf.tensor2d(x, [N, FEATURES]), tf.tensor2d(y, [N, 3]), { ...fitArgs, epochs: 1 });
      await compareTrained(`${name}: our state → TF.js`, m, t2, middle2);
      m.dispose();
    });
  }
});

describe('our save + load with includeOptimizer resumes bit for bit', () => {
  const schedule = () => optimizers.schedules.exponentialDecay({ initialLearningRate: 0.05, decaySteps: 3, decayRate: 0.7 });
  const cases: [string, () => Optimizer][] = [
    ['sgd nesterov, clipnorm', () => optimizers.sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true, clipnorm: 0.5 })],
    ['momentum', () => optimizers.momentum({ learningRate: 0.1, momentum: 0.9 })],
    ['adagrad, clipvalue', () => optimizers.adagrad({ learningRate: 0.1, clipvalue: 0.05 })],
    ['adadelta', () => optimizers.adadelta({ learningRate: 1 })],
    ['adam amsgrad, exponential decay', () => optimizers.adam({ learningRate: schedule(), amsgrad: true })],
    ['adamax, globalClipnorm', () => optimizers.adamax({ learningRate: 0.02, globalClipnorm: 0.3 })],
    ['rmsprop centered momentum', () => optimizers.rmsprop({ learningRate: 0.01, momentum: 0.5, centered: true })],
    ['adamw, cosine decay with warm-up', () => optimizers.adamw({ learningRate: optimizers.schedules.cosineDecay({ initialLearningRate: 0.001, decaySteps: 10, warmupTarget: 0.02, warmupSteps: 4 }), weightDecay: 0.1 })],
    ['nadam, piecewise constant', () => optimizers.nadam({ learningRate: optimizers.schedules.piecewiseConstantDecay({ boundaries: [5], values: [0.02, 0.005] }) })],
  ];
  for (const [name, make] of cases) {
    it(name, async () => {
      const args = { batchSize: 6, shuffle: true, seed: 5, verbose: 0 } as const;
      const straight = ourModel(make());
      await straight.fit(tensor(x, [N, FEATURES]), tensor(y, [N, 3]), { ...args, epochs: 2 });
      const expected = await straight.getWeights();

      const first = ourModel(make());
      await first.fit(tensor(x, [N, FEATURES]), tensor(y, [N, 3]), { ...args, epochs: 1 });
      const saved = await captureOurs(first, true);
      const withoutState = await captureOurs(first, false);
      const resumed = await loadModel({ load: () => saved }, { engine: engine() });
      expect(resumed.optimizer!.getConfig()).toEqual(first.optimizer!.getConfig());
      expect((await resumed.getOptimizerState()).iterations).toBe(4);
      await resumed.fit(tensor(x, [N, FEATURES]), tensor(y, [N, 3]), { ...args, epochs: 2, initialEpoch: 1 });
      const got = await resumed.getWeights();
      got.forEach((w, i) => expect(Array.from(w.values), w.name).toEqual(Array.from(expected[i]!.values)));
      // Control: the same resume without the optimizer's state lands elsewhere. Not for Adadelta:
      // TF.js's rule keeps its two accumulators equal, so its steps are lr·g whatever its state.
      const fresh = await loadModel({ load: () => withoutState }, { engine: engine() });
      await fresh.fit(tensor(x, [N, FEATURES]), tensor(y, [N, 3]), { ...args, epochs: 2, initialEpoch: 1 });
      if (!name.startsWith('adadelta')) expect(relL2((await fresh.getWeights())[0]!.values, expected[0]!.values)).toBeGreaterThan(1e-5);
      for (const m of [straight, first, resumed, fresh]) m.dispose();
    });
  }
});

describe('optimizer_config in model.json', () => {
  it('round-trips every optimizer and option, and reads what Keras (Python) writes', () => {
    const all: Optimizer[] = [
      optimizers.sgd(),
      optimizers.sgd({ momentum: 0.9, nesterov: true, clipnorm: 1 }),
      optimizers.momentum({ learningRate: 0.05, momentum: 0.8, useNesterov: true, weightDecay: 0.01 }),
      optimizers.adagrad({ initialAccumulatorValue: 0.2, epsilon: 1e-6 }),
      optimizers.adadelta({ rho: 0.9, globalClipnorm: 2 }),
      optimizers.adam({ amsgrad: true, clipvalue: 0.5 }),
      optimizers.adamax({ decay: 0.1 }),
      optimizers.rmsprop({ momentum: 0.5, centered: true }),
      optimizers.adamw({ weightDecay: 0.01, amsgrad: true }),
      optimizers.nadam({ beta1: 0.95, clipnorm: 3 }),
    ];
    for (const o of all) {
      const back = optimizerFromConfig(JSON.parse(JSON.stringify(optimizerConfig(o))));
      expect([back.className, back.getConfig()]).toEqual([o.className, o.getConfig()]);
    }
    expect(optimizerConfig(optimizers.rmsprop({ learningRate: 0.01 }))).toEqual({ class_name: 'RMSProp', config: { learningRate: 0.01, decay: 0.9, momentum: 0, epsilon: 1e-7, centered: false } });
    expect(optimizerConfig(optimizers.adamw())).toEqual({ class_name: 'AdamW', config: { learning_rate: 0.001, weight_decay: 0.004, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, amsgrad: false, clipnorm: null, global_clipnorm: null, clipvalue: null } });
    // Keras 3's get_config of Nadam and SGD.
    const base = { name: 'nadam', weight_decay: null, clipnorm: null, global_clipnorm: null, clipvalue: null, use_ema: false, ema_momentum: 0.99, ema_overwrite_frequency: null, loss_scale_factor: null, gradient_accumulation_steps: null };
    const nadam = optimizerFromConfig({ class_name: 'Nadam', config: { ...base, learning_rate: 0.002, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 } });
    expect([nadam.className, nadam.learningRate]).toEqual(['Nadam', 0.002]);
    const sgd = optimizerFromConfig({ class_name: 'SGD', config: { ...base, name: 'SGD', learning_rate: 0.01, momentum: 0.9, nesterov: false, clipnorm: 0 } });
    expect([sgd.className, (sgd as unknown as { momentum: number }).momentum, sgd.clipnorm]).toEqual(['SGD', 0.9, undefined]);
  });

  it('rejects what it cannot honour, naming the optimizer and the option', () => {
    expect(() => optimizerFromConfig({ class_name: 'Ftrl', config: {} })).toThrow("optimizer_config: unknown optimizer 'Ftrl'; known: SGD, Momentum, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam, RMSProp, RMSprop");
    expect(() => optimizerFromConfig({ class_name: 'Adagrad', config: { learningRate: 0.1, beta1: 0.9 } })).toThrow(/optimizer_config: unknown Adagrad option 'beta1'; known: /);
    expect(() => optimizerFromConfig({ class_name: 'Adam', config: { learning_rate: 0.1, use_ema: true } })).toThrow("optimizer_config: Adam option 'use_ema' = true is not supported");
    expect(() => optimizerFromConfig({ class_name: 'Adam', config: { learning_rate: -0.1 } })).toThrow(/optimizer_config \(Adam\): Adam: learningRate must be a finite number > 0/);
    expect(() => optimizerFromConfig({ class_name: 'SGD', config: { learning_rate: 0.1, clipnorm: 1, clipvalue: 1 } })).toThrow(/optimizer_config \(SGD\): SGD: only one of clipnorm, clipvalue and globalClipnorm/);
    expect(() => optimizerFromConfig({ class_name: 'Momentum', config: { learningRate: 0.1 } })).toThrow(/Momentum: momentum is required/);
    expect(() => optimizerFromConfig('adam')).toThrow(/optimizer_config must be \{class_name, config\}/);
  });
});
