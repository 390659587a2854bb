/**
 * Recurrent layers' states (Keras's return_state and initial_state): the op's kernels with an
 * initial state and final-state outputs against the float64 reference (gradients of the initial
 * states too, and by central finite differences), over masks and recurrent dropout; an
 * encoder–decoder trained beside TF.js 4.22 from the same weights; a model whose outputs are the
 * states; model.json both ways; errors.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { adapterKey, createEngine, input, layers, loadModel, model, optimizers, sequential, tensor, type Engine, type LayersModel, type SymbolicTensor, type Tensor } from '../src/index.ts';
import { recurrentBackward, recurrentForward, recurrentGeometry, recurrentKernelGradTable, type RecurrentGeometry, type RecurrentOptions } from '../src/ops/recurrent.ts';
import { choose } from '../src/ops/variants.ts';
import { recurrentSeed } from '../shaders/recurrent.ts';
import { stepInfoData } from '../shaders/kernel.ts';
import type { ModelArtifacts } from '../src/io/artifacts.ts';
import { finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { captureOurs, captureTf } from './artifacts.ts';
import { randomWeights, dropoutMaskRef, NUMBERS, recurrentRun, recurrentRunBackwardRef, type RecurrentWeightsRef, type RunOptions } from './reference/recurrent.ts';

const engine = useEngine();
const record = measuredErrors('RECURRENT_STATE_ERRORS', ['forward', 'backward', 'finite differences', 'updates', 'predictions']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const B = 3;
const T = 5;
const IN = 4;

interface StateCase {
  name: string;
  options: Omit<RecurrentOptions, 'batch' | 'inputShape'>;
  /** A Keras mask over the steps (input order), per batch row. */
  mask?: number[];
}

// Row 0 masks its first step, row 1 its last, row 2 nothing: an initial state a masked first step
// keeps, and a final state from before a masked last step.
const MASK = [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1];

const cases: StateCase[] = [
  { name: 'SimpleRNN: initial state and final state', options: { cell: 'simpleRNN', units: 6, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true, initialState: true, returnState: true } },
  { name: 'SimpleRNN: initial state only, sequences', options: { cell: 'simpleRNN', units: 5, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true, returnSequences: true, initialState: true } },
  {
    name: 'LSTM: initial [h, c] and final states, sequences, backwards',
    options: { cell: 'lstm', units: 6, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true, returnSequences: true, goBackwards: true, initialState: true, returnState: true },
  },
  {
    name: 'LSTM: 8 units (vec4), recurrent dropout, initial and final states',
    options: { cell: 'lstm', units: 8, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, recurrentDropout: 0.3, seed: 91, initialState: true, returnState: true },
  },
  { name: 'LSTM: final states only', options: { cell: 'lstm', units: 5, activation: 'tanh', recurrentActivation: 'sigmoid', bias: false, returnState: true } },
  {
    name: 'LSTM: masked steps, initial and final states, sequences',
    options: { cell: 'lstm', units: 6, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, returnSequences: true, initialState: true, returnState: true, masked: true },
    mask: MASK,
  },
  {
    name: 'GRU reset before: 7 units, recurrent dropout, initial and final states',
    options: { cell: 'gru', units: 7, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true, recurrentDropout: 0.25, seed: 92, initialState: true, returnState: true },
  },
  {
    name: 'GRU reset after: sequences, masked, initial and final states',
    options: { cell: 'gru', units: 6, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, resetAfter: true, returnSequences: true, initialState: true, returnState: true, masked: true },
    mask: MASK,
  },
  { name: 'GRU reset after: 8 units (vec4), initial state only', options: { cell: 'gru', units: 8, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, resetAfter: true, initialState: true } },
];

interface StateData {
  x: Float32Array;
  w: RecurrentWeightsRef;
  h0?: Float32Array;
  c0?: Float32Array;
  dy: Float32Array;
  dhn?: Float32Array;
  dcn?: Float32Array;
  mask?: Float32Array;
}

/** A case's random data, seeded: the sequence, weights, output gradient, and the states the geometry has (initial ones, final ones' gradients). */
function stateData(g: RecurrentGeometry, c: StateCase, seed: number): StateData {
  const lstm = g.cell === 'lstm';
  const states = B * g.units;
  return {
    x: randomArray(B * T * IN, seed),
    w: randomWeights(g, seed + 1),
    dy: randomArray(B * (g.returnSequences ? T : 1) * g.units, seed + 4),
    ...(g.initialState ? { h0: randomArray(states, seed + 5, 0.8) } : {}),
    ...(g.initialState && lstm ? { c0: randomArray(states, seed + 6, 0.8) } : {}),
    ...(g.returnState ? { dhn: randomArray(states, seed + 7) } : {}),
    ...(g.returnState && lstm ? { dcn: randomArray(states, seed + 8) } : {}),
    ...(c.mask ? { mask: Float32Array.from(c.mask) } : {}),
  };
}

/** The op's forward and backward on NaN-filled outputs and scratch, run once; everything read back. */
async function runOp(g: RecurrentGeometry, d: StateData, step: number, fitSeed: number, e: Engine = engine()) {
  const info = e.uniform(16, 'step info');
  e.write(info, stepInfoData(0, step, fitSeed, g.batch));
  const memory = { scratch: (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4)), saved: new Map() };
  const cols = g.gates * g.units;
  const yLength = g.batch * (g.returnSequences ? g.time : 1) * g.units;
  const stateLength = g.batch * g.units;
  const lstm = g.cell === 'lstm';
  const maybe = (a: Float32Array | undefined) => (a ? uploadView(e, a) : undefined);
  const views = {
    x: uploadView(e, d.x),
    kernel: uploadView(e, Float32Array.from(d.w.kernel)),
    recurrentKernel: uploadView(e, Float32Array.from(d.w.recurrentKernel)),
    bias: g.bias ? uploadView(e, Float32Array.from(d.w.bias!)) : undefined,
    y: nanBuffer(e, yLength),
    stepInfo: { buffer: info, offset: 0, size: 16 },
    mask: maybe(d.mask),
    h0: maybe(d.h0),
    c0: maybe(d.c0),
    hn: g.returnState ? nanBuffer(e, stateLength) : undefined,
    cn: g.returnState && lstm ? nanBuffer(e, stateLength) : undefined,
  };
  const grads = {
    dy: uploadView(e, d.dy),
    dx: nanBuffer(e, d.x.length),
    dKernel: nanBuffer(e, g.inputs * cols),
    dRecurrentKernel: nanBuffer(e, g.units * cols),
    dBias: g.bias ? nanBuffer(e, (g.resetAfter ? 2 : 1) * cols) : undefined,
    dhn: maybe(d.dhn),
    dcn: maybe(d.dcn),
    dh0: g.initialState ? nanBuffer(e, stateLength) : null,
    dc0: g.initialState && lstm ? nanBuffer(e, stateLength) : null,
  };
  const forward = recurrentForward(e, g, views, memory);
  const backward = recurrentBackward(e, g, { ...views, ...grads }, memory);
  e.run([...forward, ...backward]);
  const read = async (view: { buffer: GPUBuffer; offset: number; size: number } | null | undefined, n: number) => (view ? await readF32(e, view, n) : undefined);
  const out = {
    y: (await read(views.y, yLength))!,
    hn: await read(views.hn, stateLength),
    cn: await read(views.cn, stateLength),
    dx: (await read(grads.dx, d.x.length))!,
    dKernel: (await read(grads.dKernel, g.inputs * cols))!,
    dRecurrentKernel: (await read(grads.dRecurrentKernel, g.units * cols))!,
    dBias: await read(grads.dBias, (g.resetAfter ? 2 : 1) * cols),
    dh0: await read(grads.dh0, stateLength),
    dc0: await read(grads.dc0, stateLength),
    dispatches: { forward: forward.length, backward: backward.length },
  };
  info.destroy();
  return out;
}

describe('the op with initial and final states, against float64 and finite differences', () => {
  for (const [n, c] of cases.entries()) {
    it(c.name, async () => {
      const g = recurrentGeometry({ ...c.options, batch: B, inputShape: [T, IN] });
      const d = stateData(g, c, 400 + 10 * n);
      const step = 3 + n;
      const fitSeed = 4321;
      const recurrent = g.recurrentDropout > 0 ? dropoutMaskRef(recurrentSeed(g.seed), fitSeed, step, g.recurrentDropout, B * g.units) : undefined;
      const options: RunOptions<number> = { masks: { recurrent }, mask: c.mask, h0: d.h0, c0: d.c0 };
      const got = await runOp(g, d, step, fitSeed);
      const ref = recurrentRun(NUMBERS, g, d.x, d.w, options);
      const forward = Math.max(relL2(got.y, ref.y), got.hn ? relL2(got.hn, ref.h) : 0, got.cn ? relL2(got.cn, ref.c) : 0);
      expect(record(c.name, 'forward', forward), `y ${relL2(got.y, ref.y)} hn ${got.hn && relL2(got.hn, ref.h)} cn ${got.cn && relL2(got.cn, ref.c)}`).toBeLessThanOrEqual(1e-6);
      // The final state is the last step's (after the last kept step, with a mask).
      if (got.hn && !g.returnSequences) expect(Array.from(got.hn)).toEqual(Array.from(got.y));
      const want = recurrentRunBackwardRef(g, d.x, d.w, { dy: d.dy, dh: d.dhn, dc: d.dcn }, options);
      const pairs: [string, ArrayLike<number> | undefined, ArrayLike<number> | undefined][] = [
        ['dx', got.dx, want.dx],
        ['dW', got.dKernel, want.dKernel],
        ['dU', got.dRecurrentKernel, want.dRecurrentKernel],
        ['db', got.dBias, want.dBias],
        ['dh0', got.dh0, want.dh0],
        ['dc0', got.dc0, want.dc0],
      ];
      for (const [what, actual, expected] of pairs) {
        expect(!!actual, `${what} present`).toBe(!!expected);
        if (actual && expected) expect(record(c.name, 'backward', relL2(actual, expected)), what).toBeLessThanOrEqual(1e-5);
      }
      // Finite differences of the float64 forward, seeded as the backward: the initial states and U.
      const loss = (o: { h0?: Float64Array; c0?: Float64Array; u?: Float64Array }) => {
        const run = recurrentRun(NUMBERS, g, d.x, { ...d.w, recurrentKernel: o.u ?? d.w.recurrentKernel }, { ...options, h0: o.h0 ?? d.h0, c0: o.c0 ?? d.c0 });
        const dotWith = (a: number[], b?: ArrayLike<number>) => (b ? a.reduce((s, v, i) => s + v * b[i]!, 0) : 0);
        return dotWith(run.y, d.dy) + dotWith(run.h, d.dhn) + dotWith(run.c, d.dcn);
      };
      const checks: [string, ArrayLike<number>, Float64Array][] = [];
      if (got.dh0) checks.push(['dh0', got.dh0, finiteDifferences((h0) => loss({ h0 }), toF64(d.h0!))]);
      if (got.dc0) checks.push(['dc0', got.dc0, finiteDifferences((c0) => loss({ c0 }), toF64(d.c0!))]);
      const ui = sampleIndices(d.w.recurrentKernel.length, 10, n);
      checks.push(['dU', pick(got.dRecurrentKernel, ui), finiteDifferences((u) => loss({ u }), toF64(d.w.recurrentKernel), ui)]);
      for (const [what, actual, expected] of checks) expect(record(c.name, 'finite differences', relL2(actual, expected)), what).toBeLessThanOrEqual(1e-4);
      const perStep = g.cell === 'gru' && !g.resetAfter ? 2 : 1;
      const returned = g.returnState ? 1 : 0;
      expect(got.dispatches.forward).toBe(2 + perStep * T + returned);
      // dU: the direct kernel, or operands + one product (+ a GRU's recurrent bias copy; GRU reset before: two products + assembly).
      const kernelGrad = choose(recurrentKernelGradTable, g, engine()).name === 'direct' ? 1 : g.cell === 'gru' ? (g.resetAfter ? 2 + (g.bias ? 1 : 0) : 4) : 2;
      expect(got.dispatches.backward).toBe(perStep * T + 2 + kernelGrad + returned + (g.initialState ? 1 : 0));
    });
  }
});

describe("the kernel gradient's variants ('product', the default, and 'direct', a tuner candidate on CPU adapters)", () => {
  // Both chosen through the tuner's records (an imported choice), as a tuned engine would run them.
  const picks = [cases[2]!, cases[5]!, cases[6]!, cases[7]!];
  for (const [n, c] of picks.entries()) {
    it(`${c.name}: dU and db agree with float64 either way`, async () => {
      const g = recurrentGeometry({ ...c.options, batch: B, inputShape: [T, IN] });
      const d = stateData(g, c, 900 + 10 * n);
      const recurrent = g.recurrentDropout > 0 ? dropoutMaskRef(recurrentSeed(g.seed), 4321, 9, g.recurrentDropout, B * g.units) : undefined;
      const want = recurrentRunBackwardRef(g, d.x, d.w, { dy: d.dy, dh: d.dhn, dc: d.dcn }, { masks: { recurrent }, mask: c.mask, h0: d.h0, c0: d.c0 });
      for (const variant of ['product', 'direct']) {
        const e = await createEngine({ tune: 'first-use', tuningStore: false });
        try {
          const key = recurrentKernelGradTable.key(g);
          e.importTuning({ format: 'webgpu-train-tuning', version: 1, adapters: { [adapterKey(e.profile)]: { [`${recurrentKernelGradTable.op}|${key}`]: { op: recurrentKernelGradTable.op, key, variant, hand: 'product', ms: {} } } } });
          const { choices, result } = e.recordVariantChoices(() => runOp(g, d, 9, 4321, e));
          const got = await result;
          expect(choices.find((ch) => ch.op === recurrentKernelGradTable.op)?.variant).toBe(variant);
          expect(record(`${c.name} (dU by ${variant})`, 'backward', relL2(got.dRecurrentKernel, want.dRecurrentKernel)), `dU by ${variant}`).toBeLessThanOrEqual(1e-5);
          if (want.dBias) expect(relL2(got.dBias!, want.dBias), `db by ${variant}`).toBeLessThanOrEqual(1e-5);
        } finally {
          e.dispose();
        }
      }
    });
  }
});

// ---- layers: an encoder–decoder beside TF.js ----------------------------------------------------

const T2 = 4;
const IN2 = 3;
const CLASSES = 3;
const N = 2 * B;

type Lib = typeof layers | typeof tf.layers;
type Cell = 'lstm' | 'gru' | 'simpleRNN';

/**
 * Keras's seq2seq: the encoder's final states start the decoder, whose every step is classified;
 * `stateOutputs` makes the encoder's states outputs too (a predict-only model).
 */
function seq2seq<M>(lib: Lib, make: (args: { inputs: SymbolicTensor[]; outputs: SymbolicTensor | SymbolicTensor[] }) => M, cell: Cell, stateOutputs = false): M {
  const L = lib as unknown as Record<Cell | 'dense' | 'input', (c: Record<string, unknown>) => { apply: (x: unknown, kw?: unknown) => unknown }>;
  const makeInput = (lib === layers ? input : tf.input) as (c: { shape: number[]; name: string }) => SymbolicTensor;
  const encIn = makeInput({ shape: [T, IN], name: 'encoder_in' });
  const decIn = makeInput({ shape: [T2, IN2], name: 'decoder_in' });
  const extra = cell === 'lstm' ? { recurrentActivation: 'sigmoid' } : cell === 'gru' ? { recurrentActivation: 'sigmoid' } : {};
  const [, ...states] = L[cell]!({ units: 6, returnState: true, name: 'encoder', ...extra }).apply(encIn) as SymbolicTensor[];
  const seq = L[cell]!({ units: 6, returnSequences: true, name: 'decoder', ...extra }).apply(decIn, { initialState: states }) as SymbolicTensor;
  const out = L.dense!({ units: CLASSES, activation: 'softmax', name: 'head' }).apply(seq) as SymbolicTensor;
  return make({ inputs: [encIn, decIn], outputs: stateOutputs ? [out, ...states] : out });
}

const ours = (cell: Cell, stateOutputs = false) => seq2seq(layers, (a) => model(a), cell, stateOutputs) as LayersModel<Tensor[]>;
const theirs = (cell: Cell, stateOutputs = false) => seq2seq(tf.layers, (a) => tf.model(a as unknown as Parameters<typeof tf.model>[0]), cell, stateOutputs);

function seqData(seed: number, n = N) {
  const enc = randomArray(n * T * IN, seed);
  const dec = randomArray(n * T2 * IN2, seed + 1);
  return { enc, dec, ours: [tensor(enc, [n, T, IN]), tensor(dec, [n, T2, IN2])], theirs: [tf.tensor(enc, [n, T, IN]), tf.tensor(dec, [n, T2, IN2])] };
}

describe('an encoder–decoder (returnState → initialState) beside TF.js, 2 steps of adam', () => {
  for (const [k, cell] of (['lstm', 'gru', 'simpleRNN'] as const).entries()) {
    it(`${cell}: predictions and weight updates agree`, async () => {
      const a = ours(cell);
      const b = theirs(cell);
      a.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'categoricalCrossentropy', engine: engine() });
      b.compile({ optimizer: tf.train.adam(0.02), loss: 'categoricalCrossentropy' });
      const start = await a.getWeights();
      b.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
      const data = seqData(80 + k);
      const labels = new Float32Array(N * T2 * CLASSES);
      for (let i = 0; i < N * T2; i++) labels[i * CLASSES + ((i * 7) % CLASSES)] = 1;
      const steps = { epochs: 1, batchSize: B, shuffle: false, verbose: 0 as const };
      await b.fit(data.theirs, tf.tensor(labels, [N, T2, CLASSES]), steps);
      await a.fit(data.ours, tensor(labels, [N, T2, CLASSES]), steps);
      const want = b.getWeights().map((t) => t.dataSync());
      for (const [i, w] of (await a.getWeights()).entries()) {
        const delta = w.values.map((v, j) => v - start[i]!.values[j]!);
        const wantDelta = want[i]!.map((v, j) => v - start[i]!.values[j]!);
        expect(record(`seq2seq ${cell}`, 'updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
      }
      // The encoder trains only through its states: its update is no zero.
      expect(Math.max(...(await a.getWeights())[0]!.values.map((v, j) => Math.abs(v - start[0]!.values[j]!)))).toBeGreaterThan(1e-4);
      const probe = seqData(90 + k, B);
      const got = (await a.predict(probe.ours)) as unknown as Tensor;
      expect(record(`seq2seq ${cell}`, 'predictions', relL2(got.dataSync(), (b.predict(probe.theirs) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
      a.dispose();
    });
  }

  it('the states as model outputs: predict returns [output, h, c] as TF.js does', async () => {
    const a = ours('lstm', true);
    a.useEngine(engine());
    const b = theirs('lstm', true);
    b.setWeights((await a.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
    const probe = seqData(95, B);
    const got = await a.predict(probe.ours);
    const want = b.predict(probe.theirs) as tf.Tensor[];
    expect(got.map((t) => t.shape)).toEqual([[B, T2, CLASSES], [B, 6], [B, 6]]);
    for (const [i, t] of got.entries()) expect(record('states as outputs', 'predictions', relL2(t.dataSync(), want[i]!.dataSync())), `output ${i}`).toBeLessThanOrEqual(1e-5);
    a.dispose();
  });
});

describe('model.json with tensor indices', () => {
  it("TF.js loads ours and ours loads TF.js's (references like ['encoder', 0, 1]), with the same predictions", async () => {
    const a = ours('lstm', true);
    a.useEngine(engine());
    const b = theirs('lstm', true);
    b.setWeights((await a.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
    const probe = seqData(97, B);
    const expected = (await a.predict(probe.ours)).map((t) => t.dataSync());
    const saved = await captureOurs(a);
    const json = JSON.stringify(saved.modelTopology);
    expect(json).toContain('["encoder",0,1,{}]');
    expect(json).toContain('["encoder",0,2]');
    const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    const fromTf = tfLoaded.predict(probe.theirs) as tf.Tensor[];
    const fromTheirs = await loadModel({ load: async () => (await captureTf(b)) as unknown as ModelArtifacts }, { engine: engine() });
    const loaded = await fromTheirs.predict(probe.ours);
    const loadedList = Array.isArray(loaded) ? loaded : [loaded];
    for (let i = 0; i < 3; i++) {
      expect(record('model.json', 'predictions', relL2(fromTf[i]!.dataSync(), expected[i]!)), `TF.js loads ours, output ${i}`).toBeLessThanOrEqual(1e-5);
      expect(record('model.json', 'predictions', relL2(loadedList[i]!.dataSync(), expected[i]!)), `ours loads TF.js's, output ${i}`).toBeLessThanOrEqual(1e-5);
    }
    // Our config says what TF.js's says.
    const tfJson = (await captureTf(b)).modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    for (const name of ['encoder', 'decoder']) expect(a.getLayer(name).getConfig()).toEqual(tfJson.config.layers.find((l) => l.config.name === name)!.config);
    fromTheirs.dispose();
    a.dispose();
  });
});

describe('the API around several outputs', () => {
  it('apply() takes the initial state as inputs after the first or as initialState; summary lists the outputs', () => {
    const x = input({ shape: [T, IN] });
    const h = input({ shape: [6] });
    const c = input({ shape: [6] });
    const l1 = layers.lstm({ units: 6, returnState: true, name: 'l1' });
    const [y, hn, cn] = l1.apply(x, { initialState: [h, c] });
    expect([y!.shape, hn!.shape, cn!.shape]).toEqual([[6], [6], [6]]);
    expect([y!.index, hn!.index, cn!.index]).toEqual([0, 1, 2]);
    const y2 = layers.lstm({ units: 6, name: 'l2' }).apply([x, h, c]);
    expect(y2.shape).toEqual([6]);
    const m = model({ inputs: [x, h, c], outputs: [y!, hn!, cn!, y2] });
    const text = m.summary({ print: false });
    expect(text).toMatch(/l1 \(LSTM\)\s+│\s+\[\(None, 6\), \(None, 6\), \(None, 6\)\]/);
    expect(text).toMatch(/l2 \(LSTM\)[^\n]*input(_\d+)?\[0\]\[0\], input(_\d+)?\[0\]\[0\], input(_\d+)?\[0\]\[0\]/);
  });

  it('errors name the layer and what is wrong', () => {
    const x = input({ shape: [T, IN] });
    const h = input({ shape: [6] });
    expect(() => sequential([layers.lstm({ units: 6, returnState: true, inputShape: [T, IN], name: 'ls' })]).build()).toThrow(
      /Sequential: layer ls \(LSTM\) has 3 outputs; every layer of a Sequential model has one output/,
    );
    expect(() => layers.lstm({ units: 6, name: 'l' }).apply(x, { initialState: [h] })).toThrow(/layer l \(LSTM\) takes its input sequence, or the sequence and its initial states \[h, c\], got 2 inputs/);
    expect(() => layers.gru({ units: 5, name: 'g' }).apply(x, { initialState: h })).toThrow(/layer g \(GRU\): initial state 0 must have shape \[5\] \(units\), got \[6\]/);
    expect(() => layers.gru({ units: 6, name: 'g2' }).apply([x, h], { initialState: h })).toThrow(/layer g2 \(GRU\): the initial state is given twice/);
    expect(() => layers.gru({ units: 6, name: 'g3' }).apply(x, { initialState: 'h' as never })).toThrow(/layer g3 \(GRU\): initialState must be a symbolic tensor or an array of them, got "h"/);
    const maskedState = layers.masking({ name: 'mask' }).apply(input({ shape: [6] }));
    expect(() => layers.simpleRNN({ units: 6, name: 'r' }).apply(x, { initialState: maskedState })).toThrow(/layer r \(SimpleRNN\): an initial state carries a mask/);
  });
});
