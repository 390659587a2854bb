/**
 * The recurrent layers (SimpleRNN, LSTM, GRU): the op's forward and backward kernels against the
 * float64 reference (test/reference/recurrent.ts; its gradients by reverse accumulation) on
 * NaN-filled outputs and scratch, and by central finite differences of the reference; dropout
 * masks; dispatches per step; twins trained beside TF.js 4.22 (cpu backend); model.json both ways
 * and a Keras GRU with reset_after; config errors.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layerClass, layers, loadModel, optimizers, sequential, tensor, type Layer, type LayersModel, type Tensor } from '../src/index.ts';
import { GRU, LSTM, SimpleRNN } from '../src/layers/recurrent.ts';
import { recurrentBackward, recurrentForward, recurrentGeometry, recurrentKernelGradTable, type RecurrentGeometry, type RecurrentOptions } from '../src/ops/recurrent.ts';
import { choose } from '../src/ops/variants.ts';
import { recurrentSeed } from '../shaders/recurrent.ts';
import { stepInfoData } from '../shaders/kernel.ts';
import { dot, finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { captureOurs, modelJsonBothWays } from './artifacts.ts';
import { randomWeights, dropoutMaskRef, recurrentBackwardRef, recurrentForwardRef, type MasksRef, type RecurrentWeightsRef } from './reference/recurrent.ts';

const engine = useEngine();
const record = measuredErrors('RECURRENT_ERRORS', ['forward', 'backward', 'finite differences', 'updates', 'predictions']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const B = 3;
const T = 5;
const IN = 4;

interface OpRun {
  y: Float32Array;
  dx: Float32Array;
  dKernel: Float32Array;
  dRecurrentKernel: Float32Array;
  dBias?: Float32Array;
  dispatches: { forward: number; backward: number };
}

/** Builds the op's forward and backward on NaN-filled outputs and scratch, runs them once, reads everything back. */
async function runOp(g: RecurrentGeometry, data: { x: Float32Array; w: RecurrentWeightsRef; dy: Float32Array }, step: number, fitSeed: number): Promise<OpRun> {
  const e = engine();
  const info = e.uniform(16, 'step info');
  e.write(info, stepInfoData(0, step, fitSeed, g.batch));
  const stepInfo = { buffer: info, offset: 0, size: 16 };
  const memory = { scratch: (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4)), saved: new Map() };
  const cols = g.gates * g.units;
  const yLength = g.batch * (g.returnSequences ? g.time : 1) * g.units;
  const biasLength = g.bias ? (g.resetAfter ? 2 : 1) * cols : 0;
  const views = {
    x: uploadView(e, data.x),
    kernel: uploadView(e, Float32Array.from(data.w.kernel)),
    recurrentKernel: uploadView(e, Float32Array.from(data.w.recurrentKernel)),
    bias: g.bias ? uploadView(e, Float32Array.from(data.w.bias!)) : undefined,
    y: nanBuffer(e, yLength),
    stepInfo,
  };
  const grads = { dy: uploadView(e, data.dy), dx: nanBuffer(e, data.x.length), dKernel: nanBuffer(e, g.inputs * cols), dRecurrentKernel: nanBuffer(e, g.units * cols), dBias: g.bias ? nanBuffer(e, biasLength) : undefined };
  const forward = recurrentForward(e, g, views, memory);
  const backward = recurrentBackward(e, g, { ...views, ...grads }, memory);
  e.run([...forward, ...backward]);
  const out: OpRun = {
    y: await readF32(e, views.y, yLength),
    dx: await readF32(e, grads.dx, data.x.length),
    dKernel: await readF32(e, grads.dKernel, g.inputs * cols),
    dRecurrentKernel: await readF32(e, grads.dRecurrentKernel, g.units * cols),
    dispatches: { forward: forward.length, backward: backward.length },
  };
  if (grads.dBias) out.dBias = await readF32(e, grads.dBias, biasLength);
  info.destroy();
  return out;
}

interface KernelCase {
  name: string;
  options: Omit<RecurrentOptions, 'batch' | 'inputShape'>;
}

const cases: KernelCase[] = [
  { name: 'SimpleRNN tanh, last state', options: { cell: 'simpleRNN', units: 6, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true } },
  {
    name: 'SimpleRNN relu, sequences, backwards, no bias, 8 units (vec4), dropout and recurrent dropout',
    options: { cell: 'simpleRNN', units: 8, activation: 'relu', recurrentActivation: 'hardSigmoid', bias: false, returnSequences: true, goBackwards: true, dropout: 0.3, recurrentDropout: 0.4, seed: 77 },
  },
  { name: 'LSTM tanh/hardSigmoid (TF.js defaults), last state', options: { cell: 'lstm', units: 6, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true } },
  { name: 'LSTM tanh/sigmoid, last state, backwards, 8 units (vec4)', options: { cell: 'lstm', units: 8, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, goBackwards: true } },
  {
    name: 'LSTM softsign/sigmoid, 5 units, no bias, dropout and recurrent dropout',
    options: { cell: 'lstm', units: 5, activation: 'softsign', recurrentActivation: 'sigmoid', bias: false, returnSequences: true, dropout: 0.25, recurrentDropout: 0.35, seed: 81 },
  },
  { name: 'GRU reset before (TF.js), tanh/hardSigmoid, sequences, backwards', options: { cell: 'gru', units: 6, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true, returnSequences: true, goBackwards: true } },
  {
    name: 'GRU reset before, last state, 8 units (vec4), dropout and recurrent dropout',
    options: { cell: 'gru', units: 8, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, dropout: 0.2, recurrentDropout: 0.3, seed: 79 },
  },
  { name: 'GRU reset after (Keras), tanh/sigmoid, last state', options: { cell: 'gru', units: 6, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, resetAfter: true } },
  { name: 'GRU reset after, elu, sequences, backwards, 8 units (vec4)', options: { cell: 'gru', units: 8, activation: 'elu', recurrentActivation: 'sigmoid', bias: true, resetAfter: true, returnSequences: true, goBackwards: true } },
  {
    name: 'GRU reset after, 7 units, no bias, dropout and recurrent dropout',
    options: { cell: 'gru', units: 7, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: false, resetAfter: true, returnSequences: true, dropout: 0.3, recurrentDropout: 0.3, seed: 80 },
  },
];

describe('recurrent kernels against float64 and finite differences', () => {
  for (const [n, c] of cases.entries()) {
    it(c.name, async () => {
      const g = recurrentGeometry({ ...c.options, batch: B, inputShape: [T, IN] });
      const x = randomArray(B * T * IN, 100 + n);
      const w = randomWeights(g, 200 + 3 * n);
      const dy = randomArray(B * (g.returnSequences ? T : 1) * g.units, 300 + n);
      const step = 5 + n;
      const fitSeed = 1234;
      const input = g.dropout > 0 ? dropoutMaskRef(g.seed, fitSeed, step, g.dropout, B * IN) : undefined;
      const recurrent = g.recurrentDropout > 0 ? dropoutMaskRef(recurrentSeed(g.seed), fitSeed, step, g.recurrentDropout, B * g.units) : undefined;
      // The masks drop some elements and scale the others.
      for (const mask of [input, recurrent]) if (mask) expect(mask.some((m) => m === 0) && mask.some((m) => m > 1)).toBe(true);
      const masks: MasksRef = { input, recurrent };
      const got = await runOp(g, { x, w, dy }, step, fitSeed);
      const y = recurrentForwardRef(g, x, w, masks);
      expect(record(c.name, 'forward', relL2(got.y, y))).toBeLessThanOrEqual(1e-6);
      const ref = recurrentBackwardRef(g, x, w, dy, masks);
      const backward = Math.max(relL2(got.dx, ref.dx), relL2(got.dKernel, ref.dKernel), relL2(got.dRecurrentKernel, ref.dRecurrentKernel), ref.dBias ? relL2(got.dBias!, ref.dBias) : 0);
      expect(record(c.name, 'backward', backward), `dx ${relL2(got.dx, ref.dx)} dW ${relL2(got.dKernel, ref.dKernel)} dU ${relL2(got.dRecurrentKernel, ref.dRecurrentKernel)} db ${ref.dBias ? relL2(got.dBias!, ref.dBias) : '-'}`).toBeLessThanOrEqual(1e-5);
      // Finite differences of the float64 forward: a sample of each gradient.
      const loss = (xx: Float64Array, ww: RecurrentWeightsRef) => dot(recurrentForwardRef(g, xx, ww, masks), dy);
      const checks: [string, ArrayLike<number>, Float64Array][] = [];
      const xi = sampleIndices(x.length, 12, n);
      checks.push(['dx', pick(got.dx, xi), finiteDifferences((xx) => loss(xx, w), toF64(x), xi)]);
      const ui = sampleIndices(w.recurrentKernel.length, 12, n + 1);
      checks.push(['dU', pick(got.dRecurrentKernel, ui), finiteDifferences((uu) => loss(toF64(x), { ...w, recurrentKernel: uu }), toF64(w.recurrentKernel), ui)]);
      const ki = sampleIndices(w.kernel.length, 8, n + 2);
      checks.push(['dW', pick(got.dKernel, ki), finiteDifferences((kk) => loss(toF64(x), { ...w, kernel: kk }), toF64(w.kernel), ki)]);
      if (w.bias) checks.push(['db', got.dBias!, finiteDifferences((bb) => loss(toF64(x), { ...w, bias: bb }), toF64(w.bias))]);
      for (const [what, actual, expected] of checks) expect(record(c.name, 'finite differences', relL2(actual, expected)), what).toBeLessThanOrEqual(1e-4);
      const perStep = g.cell === 'gru' && !g.resetAfter ? 2 : 1;
      expect(got.dispatches.forward).toBe(2 + (g.dropout > 0 ? 1 : 0) + perStep * T);
      // dU: the direct kernel, or operands + one product (+ a GRU's recurrent bias copy; GRU reset before: two products + assembly).
      const kernelGrad = choose(recurrentKernelGradTable, g, engine()).name === 'direct' ? 1 : g.cell === 'gru' ? (g.resetAfter ? 2 + (g.bias ? 1 : 0) : 4) : 2;
      expect(got.dispatches.backward).toBe(perStep * T + 2 + kernelGrad + (g.dropout > 0 ? 1 : 0));
    });
  }
});

// ---- layers: twins with TF.js, model.json, errors ---------------------------------------------------

/** Samples of the twins: 3 steps of the kernel tests' batch B (their pipelines serve both). */
const N = 3 * B;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

type Factories = Record<string, (config: Record<string, unknown>) => unknown>;
/** A sequential model from TF.js-style layer configs, with our factories or TF.js's. */
function build(lib: 'ours' | 'tf', specs: [string, Record<string, unknown>][]): LayersModel | tf.Sequential {
  const L = (lib === 'ours' ? layers : tf.layers) as unknown as Factories;
  const list = specs.map(([factory, config]) => L[factory]!({ ...config }));
  return lib === 'ours' ? sequential(list as Layer[]) : tf.sequential({ layers: list as tf.layers.Layer[] });
}

interface TwinCase {
  name: string;
  specs: [string, Record<string, unknown>][];
  inputShape: number[];
  /** Integer ids below this (an embedding's input) instead of random values. */
  ids?: number;
  classes: number;
  optimizer: 'sgd' | 'adam';
}

const twins: TwinCase[] = [
  {
    name: 'simpleRNN → dense, sgd',
    specs: [['simpleRNN', { units: 6, inputShape: [T, IN], name: 'rnn' }], ['dense', { units: 3, activation: 'softmax', name: 'head' }]],
    inputShape: [T, IN],
    classes: 3,
    optimizer: 'sgd',
  },
  {
    name: 'lstm (TF.js defaults) → dense, adam',
    specs: [['lstm', { units: 6, inputShape: [T, IN], name: 'lstm' }], ['dense', { units: 3, activation: 'softmax', name: 'head' }]],
    inputShape: [T, IN],
    classes: 3,
    optimizer: 'adam',
  },
  {
    name: 'gru (reset before, backwards, sequences) → flatten → dense, sgd',
    specs: [
      ['gru', { units: 6, inputShape: [T, IN], goBackwards: true, returnSequences: true, name: 'gru' }],
      ['flatten', { name: 'flat' }],
      ['dense', { units: 2, activation: 'softmax', name: 'head' }],
    ],
    inputShape: [T, IN],
    classes: 2,
    optimizer: 'sgd',
  },
  {
    name: 'text classifier: embedding → lstm → dense, adam',
    specs: [
      ['embedding', { inputDim: 11, outputDim: IN, inputLength: T, name: 'emb' }],
      ['lstm', { units: 8, recurrentActivation: 'sigmoid', goBackwards: true, name: 'lstm' }],
      ['dense', { units: 3, activation: 'softmax', name: 'head' }],
    ],
    inputShape: [T],
    ids: 11,
    classes: 3,
    optimizer: 'adam',
  },
];

function twinData(c: TwinCase, seed: number, samples = N): { x: Float32Array; ours: Tensor; theirs: tf.Tensor } {
  const n = samples * size(c.inputShape);
  const x = c.ids ? Float32Array.from({ length: n }, (_, i) => (i * 7 + seed) % c.ids!) : randomArray(n, seed);
  const ours = c.ids ? tensor(Int32Array.from(x), [samples, ...c.inputShape]) : tensor(x, [samples, ...c.inputShape]);
  return { x, ours, theirs: tf.tensor(x, [samples, ...c.inputShape]) };
}

describe('twins with TF.js (cpu backend): 3 steps, shuffle off', () => {
  for (const [k, c] of twins.entries()) {
    it(c.name, async () => {
      const ours = build('ours', c.specs) as LayersModel;
      const theirs = build('tf', c.specs) as tf.Sequential;
      ours.compile({ optimizer: c.optimizer === 'sgd' ? optimizers.sgd({ learningRate: 0.5 }) : optimizers.adam({ learningRate: 0.02 }), loss: 'categoricalCrossentropy', engine: engine() });
      theirs.compile({ optimizer: c.optimizer === 'sgd' ? tf.train.sgd(0.5) : tf.train.adam(0.02), loss: 'categoricalCrossentropy' });
      const data = twinData(c, 40 + k);
      const y = new Float32Array(N * c.classes);
      for (let i = 0; i < N; i++) y[i * c.classes + ((i * 5) % c.classes)] = 1;
      const start = await ours.getWeights();
      theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
      const steps = { epochs: 1, batchSize: B, shuffle: false, verbose: 0 as const };
      await theirs.fit(data.theirs, tf.tensor(y, [N, c.classes]), steps);
      await ours.fit(data.ours, tensor(y, [N, c.classes]), steps);
      const want = theirs.getWeights().map((t) => t.dataSync());
      for (const [i, w] of (await ours.getWeights()).entries()) {
        const delta = w.values.map((v, j) => v - start[i]!.values[j]!);
        const wantDelta = want[i]!.map((v, j) => v - start[i]!.values[j]!);
        expect(record(`twin ${c.name}`, 'updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
      }
      const probe = twinData(c, 60 + k, B);
      const got = (await ours.predict(probe.ours)).dataSync();
      expect(record(`twin ${c.name}`, 'predictions', relL2(got, (theirs.predict(probe.theirs) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
      ours.dispose();
    });
  }
});

describe('model.json with TF.js', () => {
  const cases: { className: string; specs: [string, Record<string, unknown>][] }[] = [
    {
      className: 'SimpleRNN',
      specs: [
        ['simpleRNN', { units: 5, activation: 'relu', returnSequences: true, dropout: 0.2, recurrentDropout: 0.1, kernelRegularizer: 'l1l2', recurrentConstraint: 'maxNorm', inputShape: [T, IN], name: 'rnn' }],
        ['flatten', { name: 'flat' }],
        ['dense', { units: 2, name: 'head' }],
      ],
    },
    {
      className: 'LSTM',
      specs: [
        ['lstm', { units: 6, recurrentActivation: 'sigmoid', goBackwards: true, useBias: false, implementation: 2, unitForgetBias: false, inputShape: [T, IN], name: 'lstm' }],
        ['dense', { units: 2, name: 'head' }],
      ],
    },
    {
      className: 'GRU',
      specs: [
        ['gru', { units: 4, activation: 'softsign', returnSequences: true, recurrentInitializer: 'glorotUniform', biasInitializer: 'ones', inputShape: [T, IN], name: 'gru' }],
        ['gru', { units: 3, goBackwards: true, unroll: true, name: 'gru_2' }],
      ],
    },
  ];
  for (const [k, c] of cases.entries()) {
    it(`${c.className}: TF.js loads ours, ours loads TF.js's, the same predictions; its config equals TF.js's`, async () => {
      const ours = build('ours', c.specs) as LayersModel;
      ours.useEngine(engine());
      const theirs = build('tf', c.specs) as tf.Sequential;
      const x = randomArray(B * T * IN, 70 + k);
      const { oursToTf, tfToOurs } = await modelJsonBothWays(ours, theirs, x, [B, T, IN], c.className, { engine: engine() });
      expect(record(`model.json ${c.className}`, 'predictions', Math.max(oursToTf, tfToOurs))).toBeLessThanOrEqual(1e-5);
      ours.dispose();
    });
  }

  it("a Keras GRU (reset_after true, bias [2, 3·units]) loads and predicts Keras's formula", async () => {
    const units = 4;
    const ours = sequential([layers.gru({ units, resetAfter: true, recurrentActivation: 'sigmoid', inputShape: [T, IN], name: 'kgru' })]);
    ours.useEngine(engine());
    const g = recurrentGeometry({ cell: 'gru', batch: 2, inputShape: [T, IN], units, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, resetAfter: true });
    const w = randomWeights(g, 500);
    ours.setWeights([tensor(Float32Array.from(w.kernel), [IN, 3 * units]), tensor(Float32Array.from(w.recurrentKernel), [units, 3 * units]), tensor(Float32Array.from(w.bias!), [2, 3 * units])]);
    const artifacts = await captureOurs(ours);
    const topology = artifacts.modelTopology as unknown as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    const layer = topology.config.layers.find((l) => l.class_name === 'GRU')!;
    // What tf.keras 2 writes for keras.layers.GRU(4, input_shape=(5, 4)) (its defaults: reset_after, sigmoid).
    layer.config = {
      name: 'kgru',
      trainable: true,
      dtype: 'float32',
      batch_input_shape: [null, T, IN],
      return_sequences: false,
      return_state: false,
      go_backwards: false,
      stateful: false,
      unroll: false,
      time_major: false,
      units,
      activation: 'tanh',
      recurrent_activation: 'sigmoid',
      use_bias: true,
      kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
      recurrent_initializer: { class_name: 'Orthogonal', config: { gain: 1.0, seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null,
      recurrent_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      recurrent_constraint: null,
      bias_constraint: null,
      dropout: 0.0,
      recurrent_dropout: 0.0,
      implementation: 2,
      reset_after: true,
    };
    const loaded = await loadModel({ load: async () => artifacts }, { engine: engine() });
    const gru = loaded.layers.find((l) => l.name === 'kgru') as GRU;
    expect(gru.resetAfter).toBe(true);
    expect((await loaded.getWeights()).map((v) => v.shape)).toEqual([[IN, 3 * units], [units, 3 * units], [2, 3 * units]]);
    const x = randomArray(2 * T * IN, 501);
    const got = (await loaded.predict(tensor(x, [2, T, IN]))).dataSync();
    expect(record('Keras GRU reset_after', 'predictions', relL2(got, recurrentForwardRef(g, x, w)))).toBeLessThanOrEqual(1e-5);
    // Keras 3 writes seed and zero_output_for_mask, and no implementation.
    const keras3 = GRU.fromConfig({ ...layer.config, seed: 7, zero_output_for_mask: false, implementation: undefined, time_major: undefined });
    expect([keras3.resetAfter, keras3.seed, keras3.getConfig().reset_after]).toEqual([true, 7, true]);
    ours.dispose();
    loaded.dispose();
  });
});

describe('in a model', () => {
  /** The simpleRNN twin's model (the same pipelines), with extra fields on its recurrent layer. */
  const rnnModel = (extra: Record<string, unknown>) => {
    const m = build('ours', [['simpleRNN', { units: 6, inputShape: [T, IN], name: 'rnn', ...extra }], ['dense', { units: 3, activation: 'softmax', name: 'head' }]]) as LayersModel;
    m.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'categoricalCrossentropy', engine: engine() });
    return m;
  };
  const x = tensor(randomArray(N * T * IN, 81), [N, T, IN]);
  const y = tensor(Float32Array.from({ length: N * 3 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0)), [N, 3]);
  const steps = { epochs: 1, batchSize: B, shuffle: false, verbose: 0 as const };

  it('dropout and recurrent dropout act in training only, with masks that change the step', async () => {
    const plain = rnnModel({});
    const dropped = rnnModel({ dropout: 0.4, recurrentDropout: 0.4 });
    const start = await plain.getWeights();
    dropped.setWeights(start.map((w) => tensor(w.values, w.shape)));
    // Inference ignores the dropouts.
    expect(relL2((await dropped.predict(x)).dataSync(), (await plain.predict(x)).dataSync())).toBe(0);
    for (const m of [plain, dropped]) await m.fit(x, y, steps);
    const [a, b] = [await plain.getWeights(), await dropped.getWeights()];
    const update = (w: { values: Float32Array }[], i: number) => w[i]!.values.map((v, j) => v - start[i]!.values[j]!);
    for (const i of [0, 1]) expect(relL2(update(b, i), update(a, i)), a[i]!.name).toBeGreaterThan(0.05);
    expect(b.every((w) => w.values.every(Number.isFinite))).toBe(true);
    plain.dispose();
    dropped.dispose();
  });

  it('regularizers and constraints sit on their weights; a constraint holds after each step (TF.js 4.22 applies neither to its RNNs)', async () => {
    const lstm = layers.lstm({ units: 3, kernelRegularizer: 'l1', recurrentRegularizer: 'l2', biasConstraint: 'nonNeg', recurrentConstraint: 'maxNorm' });
    const specs = lstm.weightSpecs([[T, IN]]).map((w) => [w.name, w.regularizer?.getConfig() ?? null, w.constraint?.kind ?? null]);
    expect(specs).toEqual([
      ['kernel', { l1: 0.01, l2: 0 }, null],
      ['recurrent_kernel', { l1: 0, l2: 0.01 }, 'maxNorm'],
      ['bias', null, 'nonNeg'],
    ]);
    const m = rnnModel({ recurrentConstraint: 'unitNorm' });
    await m.fit(x, y, steps);
    const u = (await m.getWeights()).find((w) => w.name === 'rnn/recurrent_kernel')!;
    for (let j = 0; j < 6; j++) expect(Math.hypot(...Array.from({ length: 6 }, (_, k) => u.values[k * 6 + j]!))).toBeCloseTo(1, 5);
    m.dispose();
  });

  it('dispatches per training step: the sequence is unrolled in the plan, 1 per timestep each way', async () => {
    const m = build('ours', twins[1]!.specs) as LayersModel;
    const e = engine();
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'categoricalCrossentropy', engine: e });
    const fitOnce = () => m.fit(tensor(randomArray(B * T * IN, 85), [B, T, IN]), tensor(Float32Array.from({ length: 3 * B }, (_, i) => (i % 4 === 0 ? 1 : 0)), [B, 3]), { epochs: 1, batchSize: B, verbose: 0 });
    await fitOnce();
    const labels: string[] = [];
    e.onEncode = (dispatches) => labels.push(...dispatches.map((d) => d.label));
    try {
      await fitOnce();
    } finally {
      e.onEncode = undefined;
    }
    // The LSTM's own: its input projection and dW are dense kernels over B·T rows of x.
    const projection = `${B * T}x${IN}->${4 * 6}`;
    const count = (prefix: string) => labels.filter((l) => l.startsWith(prefix)).length;
    const forward = count('recurrent-timesteps') + count('recurrent-cell-forward') + labels.filter((l) => l.startsWith('dense-forward') && l.includes(projection)).length;
    const backward = count('recurrent-step-grad') + count('recurrent-kernel-grad') + labels.filter((l) => l.startsWith('dense-backward') && l.includes(projection)).length;
    console.log(`dispatches per training step, input [${T}, ${IN}] → lstm(6) → dense(3): ${labels.length} in all; the LSTM's forward ${forward}, backward ${backward} (T = ${T}; no dx: it reads the model input)`);
    expect([count('recurrent-cell-forward'), count('recurrent-step-grad'), count('recurrent-kernel-grad')]).toEqual([T, T, 1]);
    expect([forward, backward]).toEqual([T + 2, T + 2]);
    m.dispose();
  });

  it("unitForgetBias: the bias starts as TF.js's [biasInitializer, ones, biasInitializer × 2] over the gates i, f, c, o", async () => {
    for (const [ours, theirs] of [
      ['zeros', 'zeros'],
      [{ kind: 'constant', value: 0.3 }, tf.initializers.constant({ value: 0.3 })],
    ] as const) {
      const m = sequential([layers.lstm({ units: 5, unitForgetBias: true, biasInitializer: ours as never, inputShape: [T, IN] })]);
      m.compile({ optimizer: 'sgd', loss: 'mse', engine: engine() });
      const t = tf.sequential({ layers: [tf.layers.lstm({ units: 5, unitForgetBias: true, biasInitializer: theirs as never, inputShape: [T, IN] })] });
      const bias = (await m.getWeights()).find((w) => w.name.endsWith('/bias'))!;
      expect(Array.from(bias.values)).toEqual(Array.from(t.getWeights()[2]!.dataSync()));
      expect(bias.values.subarray(5, 10)).toEqual(new Float32Array(5).fill(1));
      expect(m.layers[0]!.getConfig().unit_forget_bias).toBe(true);
      m.dispose();
    }
  });

  it('registers the factories and Keras class names', () => {
    expect(layers.simpleRNN({ units: 2 })).toBeInstanceOf(SimpleRNN);
    expect(layers.lstm({ units: 2 })).toBeInstanceOf(LSTM);
    expect(layers.gru({ units: 2 })).toBeInstanceOf(GRU);
    expect(['SimpleRNN', 'LSTM', 'GRU'].map((n) => layerClass(n))).toEqual([SimpleRNN, LSTM, GRU]);
    expect(new LSTM({ units: 2 }).name).toMatch(/^lstm(_\d+)?$/);
    expect(new SimpleRNN({ units: 2 }).name).toMatch(/^simple_rnn(_\d+)?$/);
  });
});

describe('config errors name the layer and the field', () => {
  it('in TF.js configs', () => {
    expect(() => layers.simpleRNN({ units: 0, name: 'r' })).toThrow(/layer r \(SimpleRNN\): units must be a positive integer, got 0/);
    expect(() => layers.lstm({ units: 2.5, name: 'l' })).toThrow(/layer l \(LSTM\): units must be a positive integer, got 2.5/);
    expect(() => layers.gru({ name: 'g' } as never)).toThrow(/layer g \(GRU\): units must be a positive integer, got undefined/);
    expect(() => layers.gru({ units: 3, name: 'g', activation: 'nope' as never })).toThrow(/layer g \(GRU\): activation: unknown activation "nope"/);
    expect(() => layers.lstm({ units: 3, name: 'l', recurrentActivation: 'gelu' })).toThrow(/layer l \(LSTM\): recurrentActivation: 'gelu' is not supported inside a recurrent cell; supported: linear, relu/);
    expect(() => layers.lstm({ units: 3, name: 'l', stateful: true })).toThrow(/layer l \(LSTM\): stateful true is not supported yet/);
    expect(() => layers.simpleRNN({ units: 3, name: 'r', dropout: 1 })).toThrow(/layer r \(SimpleRNN\): dropout must be a number in \[0, 1\), got 1/);
    expect(() => layers.simpleRNN({ units: 3, name: 'r', recurrentDropout: -0.1 })).toThrow(/recurrentDropout must be a number in \[0, 1\), got -0.1/);
    expect(() => layers.gru({ units: 3, name: 'g', implementation: 5 })).toThrow(/layer g \(GRU\): implementation must be 1 or 2 \(or null\), got 5/);
    expect(() => layers.gru({ units: 3, name: 'g', goBackwards: 'yes' as never })).toThrow(/layer g \(GRU\): goBackwards must be true or false, got "yes"/);
    expect(() => layers.lstm({ units: 3, name: 'l', recurrentRegularizer: 'l3' as never })).toThrow(/layer l \(LSTM\): recurrentRegularizer: unknown regularizer 'l3'/);
    expect(() => layers.lstm({ units: 3, name: 'l' }).apply(input({ shape: [4] }))).toThrow(/layer l \(LSTM\) expects inputs of shape \[timesteps, features\] \(rank 3 with the batch\) with positive sizes, got \[4\]/);
  });

  it('in model.json configs', () => {
    expect(LSTM.fromConfig({ name: 'l', units: 3, unit_forget_bias: true }).unitForgetBias).toBe(true);
    expect(() => GRU.fromConfig({ name: 'g', units: 3, stateful: true })).toThrow(/layer g \(GRU\): stateful true is not supported yet/);
    expect(() => SimpleRNN.fromConfig({ name: 'r', units: 3, recurrent_activation: 'sigmoid' })).toThrow(/SimpleRNN: unknown config key 'recurrent_activation'/);
    expect(() => LSTM.fromConfig({ name: 'l', units: 3, time_major: true })).toThrow(/LSTM: time_major true is not supported, only false/);
    expect(() => GRU.fromConfig({ name: 'g', units: 3, seed: -1 })).toThrow(/layer g \(GRU\): seed must be null or an integer in \[0, 2\^32\), got -1/);
  });
});
