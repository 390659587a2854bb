/**
 * Keras masks (issue #18): Embedding's maskZero and the Masking layer make a mask, the layers that
 * support masking hand it on, recurrent layers carry their state over the masked steps, and the
 * loss leaves them out. The masked recurrent kernels and the masked loss kernels against float64
 * references (test/reference/masking.ts) on NaN-filled outputs and scratch, and by central finite
 * differences; the mask kernels; twins trained beside TF.js 4.22 (cpu backend); model.json both
 * ways; errors; and no change to unmasked models (the same WGSL, byte for byte, and dispatches).
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layerClass, layers, model, optimizers, sequential, tensor, type Layer, type LayersModel } from '../src/index.ts';
import { Masking } from '../src/layers/masking.ts';
import { recurrentBackward, recurrentForward, recurrentGeometry, recurrentKernelGradTable, type RecurrentGeometry, type RecurrentOptions } from '../src/ops/recurrent.ts';
import { choose } from '../src/ops/variants.ts';
import { maskingBackward, maskingForward, maskingGeometry, maskingMaskForward, nonzeroIdsMask } from '../src/ops/masking.ts';
import { resolveLoss } from '../src/ops/losses/index.ts';
import { METRICS_BYTES, readMetrics } from '../src/ops/losses/metrics.ts';
import { recurrentSeed } from '../shaders/recurrent.ts';
import { cellForward, gruCandidate, gruGates } from '../shaders/recurrent-cells.ts';
import { gruResetGrad, recurrentKernelGrad, stepGrad } from '../shaders/recurrent-grad.ts';
import { elementwiseLoss, rowLoss } from '../shaders/losses.ts';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { dot, finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { modelJsonBothWays } from './artifacts.ts';
import { randomWeights, dropoutMaskRef, type MasksRef, type RecurrentWeightsRef } from './reference/recurrent.ts';
import { maskedMean, maskedRecurrentBackwardRef, maskedRecurrentRef, maskingRef } from './reference/masking.ts';

const engine = useEngine();
const record = measuredErrors('MASKING_ERRORS', ['forward', 'backward', 'finite differences', 'loss', 'updates', 'predictions']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const B = 3;
const T = 6;
const IN = 4;

/**
 * A [B, T] mask with padding at the end (row 0), at the start (row 1), and both plus a gap (row 2):
 * every row keeps some steps and masks others, the first and last steps included.
 */
const STEP_MASK = Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0]);

// ---- the masked recurrent kernels ----------------------------------------------------------------

interface KernelCase {
  name: string;
  options: Omit<RecurrentOptions, 'batch' | 'inputShape' | 'masked'>;
}

/** The first three share their geometry (and pipelines) with the twins below. */
const cases: KernelCase[] = [
  { name: 'SimpleRNN tanh, last state, 6 units', options: { cell: 'simpleRNN', units: 6, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true } },
  { name: 'LSTM tanh/hardSigmoid, last state, 5 units', options: { cell: 'lstm', units: 5, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true } },
  { name: 'GRU reset before (TF.js), sequences, 6 units', options: { cell: 'gru', units: 6, activation: 'tanh', recurrentActivation: 'hardSigmoid', bias: true, returnSequences: true } },
  { name: 'LSTM tanh/sigmoid, sequences, backwards, 8 units (vec4), recurrent dropout', options: { cell: 'lstm', units: 8, activation: 'tanh', recurrentActivation: 'sigmoid', bias: true, returnSequences: true, goBackwards: true, recurrentDropout: 0.3, seed: 5 } },
  { name: 'GRU reset after (Keras), sequences, backwards, 7 units, no bias', options: { cell: 'gru', units: 7, activation: 'elu', recurrentActivation: 'sigmoid', bias: false, resetAfter: true, returnSequences: true, goBackwards: true } },
];

/** The op's forward and backward with the mask on NaN-filled outputs and scratch, run once. */
async function runMaskedOp(g: RecurrentGeometry, data: { x: Float32Array; w: RecurrentWeightsRef; dy: Float32Array; mask: Float32Array }, step: number, fitSeed: number) {
  const e = engine();
  const info = e.uniform(STEP_INFO_BYTES, 'step info');
  e.write(info, stepInfoData(0, step, fitSeed, g.batch));
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
    stepInfo: { buffer: info, offset: 0, size: STEP_INFO_BYTES },
    mask: uploadView(e, data.mask),
  };
  const grads = { dy: uploadView(e, data.dy), dx: nanBuffer(e, data.x.length), dKernel: nanBuffer(e, g.inputs * cols), dRecurrentKernel: nanBuffer(e, g.units * cols), dBias: g.bias ? nanBuffer(e, biasLength) : undefined };
  const forward = recurrentForward(e, g, views, memory);
  const backward = recurrentBackward(e, g, { ...views, ...grads }, memory);
  e.run([...forward, ...backward]);
  const out = {
    y: await readF32(e, views.y, yLength),
    dx: await readF32(e, grads.dx, data.x.length),
    dKernel: await readF32(e, grads.dKernel, g.inputs * cols),
    dRecurrentKernel: await readF32(e, grads.dRecurrentKernel, g.units * cols),
    dBias: grads.dBias ? await readF32(e, grads.dBias, biasLength) : undefined,
    dispatches: { forward: forward.length, backward: backward.length },
  };
  info.destroy();
  return out;
}

describe('masked recurrent kernels against float64 and finite differences', () => {
  for (const [n, c] of cases.entries()) {
    it(c.name, async () => {
      const g = recurrentGeometry({ ...c.options, batch: B, inputShape: [T, IN], masked: true });
      const x = randomArray(B * T * IN, 100 + n);
      const w = randomWeights(g, 200 + 3 * n);
      // dy at the masked steps too: their output is the previous one, so it flows back to it.
      const dy = randomArray(B * (g.returnSequences ? T : 1) * g.units, 300 + n);
      const step = 5 + n;
      const fitSeed = 4321;
      const masks: MasksRef = {
        input: g.dropout > 0 ? dropoutMaskRef(g.seed, fitSeed, step, g.dropout, B * IN) : undefined,
        recurrent: g.recurrentDropout > 0 ? dropoutMaskRef(recurrentSeed(g.seed), fitSeed, step, g.recurrentDropout, B * g.units) : undefined,
      };
      const got = await runMaskedOp(g, { x, w, dy, mask: STEP_MASK }, step, fitSeed);
      const y = maskedRecurrentRef(g, x, w, STEP_MASK, masks);
      expect(record(c.name, 'forward', relL2(got.y, y))).toBeLessThanOrEqual(1e-6);
      const ref = maskedRecurrentBackwardRef(g, x, w, STEP_MASK, dy, masks);
      const errors = { dx: relL2(got.dx, ref.dx), dW: relL2(got.dKernel, ref.dKernel), dU: relL2(got.dRecurrentKernel, ref.dRecurrentKernel), db: ref.dBias ? relL2(got.dBias!, ref.dBias) : 0 };
      expect(record(c.name, 'backward', Math.max(...Object.values(errors))), JSON.stringify(errors)).toBeLessThanOrEqual(1e-5);
      // The masked steps' inputs get no gradient.
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) if (STEP_MASK[b * T + t] === 0) expect(got.dx.slice((b * T + t) * IN, (b * T + t + 1) * IN).every((v) => v === 0)).toBe(true);
      const loss = (xx: Float64Array, ww: RecurrentWeightsRef) => dot(maskedRecurrentRef(g, xx, ww, STEP_MASK, masks), dy);
      const xi = sampleIndices(x.length, 12, n);
      const ui = sampleIndices(w.recurrentKernel.length, 10, n + 1);
      const ki = sampleIndices(w.kernel.length, 8, n + 2);
      const checks: [string, ArrayLike<number>, Float64Array][] = [
        ['dx', pick(got.dx, xi), finiteDifferences((xx) => loss(xx, w), toF64(x), xi)],
        ['dU', pick(got.dRecurrentKernel, ui), finiteDifferences((uu) => loss(toF64(x), { ...w, recurrentKernel: uu }), toF64(w.recurrentKernel), ui)],
        ['dW', pick(got.dKernel, ki), finiteDifferences((kk) => loss(toF64(x), { ...w, kernel: kk }), toF64(w.kernel), ki)],
      ];
      if (w.bias) checks.push(['db', got.dBias!, finiteDifferences((bb) => loss(toF64(x), { ...w, bias: bb }), toF64(w.bias))]);
      for (const [what, actual, expected] of checks) expect(record(c.name, 'finite differences', relL2(actual, expected)), what).toBeLessThanOrEqual(1e-4);
      // The mask adds no dispatch.
      const perStep = g.cell === 'gru' && !g.resetAfter ? 2 : 1;
      // dU: the direct kernel, or operands + one product (+ a GRU's recurrent bias copy; GRU reset before: two products + assembly).
      const kernelGrad = choose(recurrentKernelGradTable, g, engine()).name === 'direct' ? 1 : g.cell === 'gru' ? (g.resetAfter ? 2 + (g.bias ? 1 : 0) : 4) : 2;
      expect(got.dispatches).toEqual({ forward: 2 + (g.dropout > 0 ? 1 : 0) + perStep * T, backward: perStep * T + 2 + kernelGrad + (g.dropout > 0 ? 1 : 0) });
    });
  }
});

// ---- the mask kernels -----------------------------------------------------------------------------

describe('mask kernels', () => {
  it("Embedding's ids ≠ 0 and the Masking layer's mask, output and input gradient, on NaN-filled outputs", async () => {
    const e = engine();
    const ids = Float32Array.from({ length: 2 * 9 }, (_, i) => (i % 4 === 0 || i > 15 ? 0 : (i * 5) % 7));
    const idMask = nanBuffer(e, ids.length);
    e.run([nonzeroIdsMask(e, ids.length, { ids: uploadView(e, ids), mask: idMask })]);
    expect(Array.from(await readF32(e, idMask, ids.length))).toEqual(Array.from(ids, (v) => (v !== 0 ? 1 : 0)));
    // 2 × 5 rows of 3: rows all equal to 0.25 are padding; one value off keeps a row.
    const value = 0.25;
    const x = randomArray(2 * 5 * 3, 7);
    for (const row of [0, 3, 4, 9]) x.fill(value, row * 3, row * 3 + 3);
    x[4 * 3 + 1] = value + 1e-3;
    const g = maskingGeometry(2, [5, 3], value);
    const views = { x: uploadView(e, x), mask: nanBuffer(e, 10), y: nanBuffer(e, x.length), dy: uploadView(e, randomArray(x.length, 8)), dx: nanBuffer(e, x.length) };
    e.run([maskingMaskForward(e, g, views), maskingForward(e, g, views), maskingBackward(e, g, views)]);
    const ref = maskingRef(x, 3, value);
    expect(Array.from(ref.mask)).toEqual([0, 1, 1, 0, 1, 1, 1, 1, 1, 0]);
    expect(Array.from(await readF32(e, views.mask, 10))).toEqual(Array.from(ref.mask));
    expect(relL2(await readF32(e, views.y, x.length), ref.y)).toBe(0);
    const dy = randomArray(x.length, 8);
    expect(relL2(await readF32(e, views.dx, x.length), Float64Array.from(dy, (v, i) => v * ref.mask[Math.floor(i / 3)]!))).toBe(0);
  });
});

// ---- the masked loss ------------------------------------------------------------------------------

/** Runs a loss op once with a mask on NaN-filled gradients; returns its metrics and gradient. */
async function runMaskedLoss(name: string, y: Float32Array, labels: Float32Array | Uint32Array, o: { batch: number; shape: number[]; maskShape: number[]; mask: Float32Array; rows: number; weights?: Float32Array; fused: boolean; accuracy: 'sparse' | 'binary' | null }) {
  const e = engine();
  const op = resolveLoss(name);
  const grad = nanBuffer(e, y.length);
  const metrics = uploadView(e, new Uint32Array(METRICS_BYTES / 4));
  const step = e.uniform(STEP_INFO_BYTES, 'step-info');
  e.write(step, stepInfoData(0, 0, 0, o.rows));
  const views = { output: uploadView(e, y), labels: uploadView(e, labels), grad, metrics, stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES }, mask: uploadView(e, o.mask), ...(o.weights ? { sampleWeights: uploadView(e, o.weights) } : {}) };
  e.run(op.dispatches(e, { batch: o.batch, outputShape: o.shape, maskShape: o.maskShape }, views, { fused: o.fused, accuracy: o.accuracy }));
  const m = readMetrics(await e.read(metrics, METRICS_BYTES));
  step.destroy();
  return { ...m, loss: m.lossSum / m.count, grad: await readF32(e, grad, y.length) };
}

describe('masked losses: Σ mask·loss / Σ mask (Keras 2.13+ and 3), no gradient nor accuracy at masked positions', () => {
  it('sparse crossentropy fused with softmax over [T, classes], a partial batch, out-of-range labels at masked steps', async () => {
    const [batch, rows, width] = [4, 3, 5];
    const y = randomArray(batch * T * width, 31, 3);
    const mask = Float32Array.from({ length: batch * T }, (_, p) => (p < 3 * T ? STEP_MASK[p]! : 1));
    // Padding labels are out of range (a NaN loss if they counted).
    const labels = Uint32Array.from(mask, (m, p) => (m === 0 ? 9 : (p * 3) % width));
    const got = await runMaskedLoss('sparseCategoricalCrossentropy', y, labels, { batch, shape: [T, width], maskShape: [T], mask, rows, fused: true, accuracy: 'sparse' });
    const positions = rows * T;
    const logSoftmax = (p: number) => {
      const z = Array.from(y.subarray(p * width, (p + 1) * width));
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
      return z.map((v) => v - lse);
    };
    const lossOf = (yy: ArrayLike<number>, p: number) => {
      const z = Array.from({ length: width }, (_, j) => yy[p * width + j]!);
      const m = Math.max(...z);
      return Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) + m - z[labels[p]!]!;
    };
    const mean = (yy: ArrayLike<number>) => maskedMean(Array.from({ length: positions }, (_, p) => (mask[p] ? lossOf(yy, p) : 0)), mask.subarray(0, positions));
    const ref = mean(y);
    const grad = new Float64Array(y.length);
    for (let p = 0; p < positions; p++) logSoftmax(p).forEach((l, j) => (grad[p * width + j] = ref.factor[p]! * (Math.exp(l) - (j === labels[p] ? 1 : 0))));
    expect(record('sparse crossentropy (fused), masked', 'loss', Math.abs(got.loss - ref.loss) / ref.loss)).toBeLessThanOrEqual(1e-6);
    expect(record('sparse crossentropy (fused), masked', 'backward', relL2(got.grad, grad))).toBeLessThanOrEqual(1e-6);
    const fi = sampleIndices(positions * width, 12, 3);
    expect(record('sparse crossentropy (fused), masked', 'finite differences', relL2(pick(got.grad, fi), finiteDifferences((yy) => mean(yy).loss, toF64(y), fi)))).toBeLessThanOrEqual(1e-4);
    const kept = Array.from(mask.subarray(0, positions)).filter((m) => m !== 0).length;
    const correct = Array.from({ length: positions }, (_, p) => mask[p] !== 0 && logSoftmax(p).indexOf(Math.max(...logSoftmax(p))) === labels[p]).filter(Boolean).length;
    expect([got.count, got.accuracyCount, got.correct]).toEqual([positions, kept, correct]);
  });

  it('mean squared error with sample weights, a [T] mask over [T, 2, 3] outputs; a batch with nothing kept adds 0', async () => {
    const [batch, width] = [3, 3];
    const shape = [T, 2, width];
    const y = randomArray(batch * T * 2 * width, 41);
    const t = randomArray(y.length, 42);
    const weights = Float32Array.from([0.5, 2, 1.25]);
    const got = await runMaskedLoss('meanSquaredError', y, t, { batch, shape, maskShape: [T], mask: STEP_MASK, rows: batch, weights, fused: false, accuracy: null });
    // Each mask value covers the 2 positions of its step.
    const positionMask = Float32Array.from({ length: batch * T * 2 }, (_, p) => STEP_MASK[Math.floor(p / 2)]!);
    const mean = (yy: ArrayLike<number>) => {
      const losses = Array.from({ length: positionMask.length }, (_, p) => Array.from({ length: width }, (_, j) => (yy[p * width + j]! - t[p * width + j]!) ** 2).reduce((a, b) => a + b, 0) / width);
      return maskedMean(losses, positionMask, Float64Array.from(positionMask, (_, p) => weights[Math.floor(p / (T * 2))]!));
    };
    const ref = mean(y);
    const grad = Float64Array.from(y, (v, i) => (ref.factor[Math.floor(i / width)]! * 2 * (v - t[i]!)) / width);
    expect(record('mean squared error, weighted, masked', 'loss', Math.abs(got.loss - ref.loss) / ref.loss)).toBeLessThanOrEqual(1e-6);
    expect(record('mean squared error, weighted, masked', 'backward', relL2(got.grad, grad))).toBeLessThanOrEqual(1e-6);
    const fi = sampleIndices(y.length, 12, 4);
    expect(record('mean squared error, weighted, masked', 'finite differences', relL2(pick(got.grad, fi), finiteDifferences((yy) => mean(yy).loss, toF64(y), fi)))).toBeLessThanOrEqual(1e-4);
    const none = await runMaskedLoss('meanSquaredError', y, t, { batch, shape, maskShape: [T], mask: new Float32Array(batch * T), rows: batch, weights, fused: false, accuracy: null });
    expect([none.loss, none.grad.every((v) => v === 0)]).toEqual([0, true]);
  });
});

// ---- layers: twins with TF.js ---------------------------------------------------------------------

/** Samples of the twins: 3 steps of the kernel tests' batch B (their pipelines serve both). */
const N = 3 * B;
const VOCAB = 11;

/**
 * Ids [N, T] padded with 0 at the end, at the start, or both (a gap too), every sample keeping
 * some steps; `seed` varies the ids.
 */
function paddedIds(samples: number, seed: number): Float32Array {
  const ids = new Float32Array(samples * T);
  for (let n = 0; n < samples; n++) {
    for (let t = 0; t < T; t++) ids[n * T + t] = STEP_MASK[(n % B) * T + t]! ? 1 + ((n * 7 + t * 3 + seed) % (VOCAB - 1)) : 0;
  }
  return ids;
}

/** Float sequences [N, T, IN] whose padded steps (as paddedIds) are all zeros. */
function paddedSequences(samples: number, seed: number): Float32Array {
  const x = randomArray(samples * T * IN, seed);
  for (let p = 0; p < samples * T; p++) if (!STEP_MASK[(Math.floor(p / T) % B) * T + (p % T)]) x.fill(0, p * IN, (p + 1) * IN);
  return x;
}

type Factories = Record<string, (config: Record<string, unknown>) => unknown>;
/** A sequential model from TF.js-style layer configs, with our factories or TF.js's; `ours` adds fields to ours only. */
function build(lib: 'ours' | 'tf', specs: [string, Record<string, unknown>, Record<string, unknown>?][]): LayersModel | tf.Sequential {
  const L = (lib === 'ours' ? layers : tf.layers) as unknown as Factories;
  const list = specs.map(([factory, config, ours]) => L[factory]!({ ...config, ...(lib === 'ours' ? ours : {}) }));
  return lib === 'ours' ? sequential(list as Layer[]) : tf.sequential({ layers: list as tf.layers.Layer[] });
}

/** Relative L2 of each weight's update against TF.js's (recorded under `name`). */
async function compareUpdates(name: string, ours: LayersModel, theirs: tf.LayersModel, start: { values: Float32Array }[]): Promise<void> {
  const want = theirs.getWeights().map((t) => t.dataSync());
  for (const [i, w] of (await ours.getWeights()).entries()) {
    const delta = w.values.map((v, j) => v - start[i]!.values[j]!);
    const wantDelta = want[i]!.map((v, j) => v - start[i]!.values[j]!);
    expect(record(name, 'updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  }
}

// Our recurrent layers take seed 0 (no dropout: it changes nothing but the pipelines' key, which the kernel tests' share).
const SEED = { seed: 0 };

describe('twins with TF.js (cpu backend): padded sequences, 3 steps, shuffle off', () => {
  it('embedding (maskZero) → lstm → dense, adam', async () => {
    const specs: [string, Record<string, unknown>, Record<string, unknown>?][] = [
      ['embedding', { inputDim: VOCAB, outputDim: IN, maskZero: true, inputLength: T, name: 'emb' }],
      ['lstm', { units: 5, name: 'lstm' }, SEED],
      ['dense', { units: 3, activation: 'softmax', name: 'head' }],
    ];
    const [ours, theirs] = [build('ours', specs) as LayersModel, build('tf', specs) as tf.Sequential];
    ours.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'categoricalCrossentropy', engine: engine() });
    theirs.compile({ optimizer: tf.train.adam(0.02), loss: 'categoricalCrossentropy' });
    const ids = paddedIds(N, 1);
    const y = Float32Array.from({ length: N * 3 }, (_, i) => (i % 3 === (Math.floor(i / 3) * 2) % 3 ? 1 : 0));
    const start = await ours.getWeights();
    theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
    const steps = { epochs: 1, batchSize: B, shuffle: false, verbose: 0 as const };
    await theirs.fit(tf.tensor(ids, [N, T]), tf.tensor(y, [N, 3]), steps);
    await ours.fit(tensor(Int32Array.from(ids), [N, T]), tensor(y, [N, 3]), steps);
    await compareUpdates('twin embedding → lstm', ours, theirs, start);
    const probe = paddedIds(B, 5);
    const got = (await ours.predict(tensor(probe, [B, T]))).dataSync();
    expect(record('twin embedding → lstm', 'predictions', relL2(got, (theirs.predict(tf.tensor(probe, [B, T])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
    ours.dispose();
  });

  it('embedding (maskZero) → gru (sequences) → dense over [T, 5], sparse labels per step: the loss and accuracy leave the padding out', async () => {
    const classes = 5;
    const specs: [string, Record<string, unknown>, Record<string, unknown>?][] = [
      ['embedding', { inputDim: VOCAB, outputDim: IN, maskZero: true, inputLength: T, name: 'emb' }],
      ['gru', { units: 6, returnSequences: true, name: 'gru' }, SEED],
      ['dense', { units: classes, activation: 'softmax', name: 'head' }],
    ];
    const [ours, theirs] = [build('ours', specs) as LayersModel, build('tf', specs) as tf.Sequential];
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], engine: engine() });
    const ids = paddedIds(N, 2);
    // Padded steps get label 0 (as a padded dataset has): they must not count.
    const labels = Float32Array.from(ids, (id, p) => (id === 0 ? 0 : (p * 2 + id) % classes));
    const start = await ours.getWeights();
    theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
    // TF.js's fit ignores output masks: its twin is Keras's masked mean, Σ mask·loss / Σ mask, by hand.
    const maskedLoss = (x: tf.Tensor, l: Float32Array) =>
      tf.tidy(() => {
        const probs = theirs.apply(x) as tf.Tensor;
        const mask = tf.notEqual(x, 0).cast('float32');
        const picked = tf.sum(tf.mul(probs, tf.oneHot(tf.tensor(l, x.shape, 'int32'), classes)), -1);
        const ce = tf.neg(tf.log(tf.clipByValue(picked, 1e-7, 1 - 1e-7)));
        return tf.div(tf.sum(tf.mul(ce, mask)), tf.sum(mask)) as tf.Scalar;
      });
    const optimizer = tf.train.sgd(0.5);
    const vars = theirs.trainableWeights.map((w) => w.read() as tf.Variable);
    for (let s = 0; s < 3; s++) optimizer.minimize(() => maskedLoss(tf.tensor(ids.subarray(s * B * T, (s + 1) * B * T), [B, T]), labels.subarray(s * B * T, (s + 1) * B * T)), false, vars);
    await ours.fit(tensor(Int32Array.from(ids), [N, T]), tensor(Int32Array.from(labels), [N, T]), { epochs: 1, batchSize: B, shuffle: false, verbose: 0 });
    await compareUpdates('twin embedding → gru sequences → dense', ours, theirs, start);
    const probe = paddedIds(B, 6);
    const probeLabels = Float32Array.from(probe, (id, p) => (id === 0 ? 0 : (p + id) % classes));
    const got = (await ours.predict(tensor(probe, [B, T]))).dataSync();
    const want = (theirs.predict(tf.tensor(probe, [B, T])) as tf.Tensor).dataSync();
    expect(record('twin embedding → gru sequences → dense', 'predictions', relL2(got, want))).toBeLessThanOrEqual(1e-4);
    // evaluate: the masked mean and the accuracy over the kept steps.
    const logs = await ours.evaluate(tensor(probe, [B, T]), tensor(Int32Array.from(probeLabels), [B, T]));
    const tfLoss = maskedLoss(tf.tensor(probe, [B, T]), probeLabels).dataSync()[0]!;
    expect(record('twin embedding → gru sequences → dense', 'loss', Math.abs(logs.loss - tfLoss) / tfLoss)).toBeLessThanOrEqual(1e-4);
    const kept = Array.from(probe.keys()).filter((p) => probe[p] !== 0);
    const argmax = (p: number) => Array.from(want.subarray(p * classes, (p + 1) * classes)).reduce((best, v, c, row) => (v > row[best]! ? c : best), 0);
    expect(logs.accuracy).toBeCloseTo(kept.filter((p) => argmax(p) === probeLabels[p]).length / kept.length, 6);
    ours.dispose();
  });

  it('masking → simpleRNN → dense, sgd', async () => {
    const specs: [string, Record<string, unknown>, Record<string, unknown>?][] = [
      ['masking', { maskValue: 0, inputShape: [T, IN], name: 'mask' }],
      ['simpleRNN', { units: 6, name: 'rnn' }, SEED],
      ['dense', { units: 3, activation: 'softmax', name: 'head' }],
    ];
    const [ours, theirs] = [build('ours', specs) as LayersModel, build('tf', specs) as tf.Sequential];
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'categoricalCrossentropy', engine: engine() });
    theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
    const x = paddedSequences(N, 3);
    const y = Float32Array.from({ length: N * 3 }, (_, i) => (i % 3 === Math.floor(i / 3) % 3 ? 1 : 0));
    const start = await ours.getWeights();
    theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
    const steps = { epochs: 1, batchSize: B, shuffle: false, verbose: 0 as const };
    await theirs.fit(tf.tensor(x, [N, T, IN]), tf.tensor(y, [N, 3]), steps);
    await ours.fit(tensor(x, [N, T, IN]), tensor(y, [N, 3]), steps);
    await compareUpdates('twin masking → simpleRNN', ours, theirs, start);
    const probe = paddedSequences(B, 4);
    const got = (await ours.predict(tensor(probe, [B, T, IN]))).dataSync();
    expect(record('twin masking → simpleRNN', 'predictions', relL2(got, (theirs.predict(tf.tensor(probe, [B, T, IN])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
    ours.dispose();
  });
});

// ---- model.json, errors, no change to unmasked models --------------------------------------------

describe('model.json with TF.js', () => {
  const cases: { className: string; specs: [string, Record<string, unknown>, Record<string, unknown>?][]; x: Float32Array; shape: number[] }[] = [
    {
      className: 'Embedding',
      specs: [
        ['embedding', { inputDim: VOCAB, outputDim: IN, maskZero: true, inputShape: [T], name: 'emb' }],
        ['lstm', { units: 5, name: 'lstm' }, SEED],
        ['dense', { units: 3, name: 'head' }],
      ],
      x: paddedIds(B, 8),
      shape: [B, T],
    },
    {
      className: 'Masking',
      specs: [
        ['masking', { maskValue: 0, inputShape: [T, IN], name: 'mask' }],
        ['simpleRNN', { units: 6, name: 'rnn' }, SEED],
        ['dense', { units: 3, name: 'head' }],
      ],
      x: paddedSequences(B, 9),
      shape: [B, T, IN],
    },
  ];
  for (const c of cases) {
    it(`${c.className}: TF.js loads ours, ours loads TF.js's, the same predictions of padded sequences; its config equals TF.js's`, async () => {
      const ours = build('ours', c.specs) as LayersModel;
      ours.useEngine(engine());
      const { oursToTf, tfToOurs } = await modelJsonBothWays(ours, build('tf', c.specs) as tf.Sequential, c.x, c.shape, c.className, { engine: engine() });
      expect(record(`model.json ${c.className}`, 'predictions', Math.max(oursToTf, tfToOurs))).toBeLessThanOrEqual(1e-5);
      ours.dispose();
    });
  }
});

describe('errors', () => {
  const ids = () => input({ shape: [T] });
  const embedded = () => layers.embedding({ inputDim: VOCAB, outputDim: IN, maskZero: true, name: 'emb' }).apply(ids());

  it('a layer that does not support masking, after a mask, names itself and the mask', () => {
    expect(() => layers.flatten({ name: 'flat' }).apply(embedded())).toThrow(/layer flat \(Flatten\) does not support masking, but its input carries the mask of layer emb \(Embedding\)/);
    expect(() => layers.globalAveragePooling1d({ name: 'pool' }).apply(layers.masking({ name: 'm' }).apply(input({ shape: [T, IN] })))).toThrow(/layer pool \(GlobalAveragePooling1D\) does not support masking, but its input carries the mask of layer m \(Masking\)/);
    // A recurrent layer without returnSequences ends the mask; with it, the mask goes on.
    const last = layers.lstm({ units: 3 }).apply(embedded());
    expect(last.mask).toBeNull();
    expect(layers.flatten().apply(last).shape).toEqual([3]);
    const sequence = layers.gru({ units: 3, returnSequences: true }).apply(embedded());
    expect(sequence.mask?.node.layer.name).toBe('emb');
    expect(layers.dense({ units: 2 }).apply(layers.dropout({ rate: 0.5 }).apply(sequence)).mask).toBe(sequence.mask);
  });

  it("metrics beside a masked output's loss, Keras 3's zero_output_for_mask with a mask, bad Masking configs", async () => {
    const seq = layers.embedding({ inputDim: VOCAB, outputDim: IN, maskZero: true, name: 'emb3' });
    const x = input({ shape: [T] });
    const out = layers.dense({ units: 2, name: 'out' }).apply(layers.simpleRNN({ units: 3, returnSequences: true }).apply(seq.apply(x)));
    const masked = model({ inputs: x, outputs: out });
    masked.compile({ optimizer: 'sgd', loss: 'meanSquaredError', metrics: ['meanAbsoluteError'], engine: engine() });
    await expect(masked.evaluate(tensor(Int32Array.from(paddedIds(B, 1)), [B, T]), tensor(new Float32Array(B * T * 2), [B, T, 2]))).rejects.toThrow(
      /output out carries the mask of layer emb3 \(Embedding\): its loss and accuracy leave the masked steps out, but metric meanAbsoluteError would count them/,
    );
    masked.dispose();
    expect(() => layers.gru({ units: 3, returnSequences: true, zeroOutputForMask: true, name: 'g' }).apply(embedded())).toThrow(/layer g \(GRU\): zeroOutputForMask true is not supported: its input carries the mask of layer emb \(Embedding\)/);
    expect(layers.gru({ units: 3, zeroOutputForMask: true }).apply(embedded()).mask).toBeNull();
    expect(() => layers.masking({ maskValue: 'x' as never, name: 'm' })).toThrow(/layer m \(Masking\): maskValue must be a finite number, got "x"/);
    expect(() => layers.masking({ maskValue: Number.NaN, name: 'm' })).toThrow(/layer m \(Masking\): maskValue must be a finite number/);
    expect(() => Masking.fromConfig({ name: 'm', mask_value: 0, mask: 1 })).toThrow(/Masking: unknown config key 'mask'/);
    expect(layers.masking()).toBeInstanceOf(Masking);
    expect(layerClass('Masking')).toBe(Masking);
  });
});

/** unmaskedKernelsDigest() of the sources before masks (git e09033c); a deliberate change to those kernels records its own. */
const UNMASKED_DIGEST = '67c5e5b5cca1d9d9f2cd4b146df35e592d0559da44c70df503fd09f4339152d5';

/** A digest of the unmasked kernels this change touches, for the kernel cases' geometries and a set of loss kernels. */
function unmaskedKernelsDigest(): string {
  const hash = createHash('sha256');
  for (const c of cases) {
    const g = recurrentGeometry({ ...c.options, batch: B, inputShape: [T, IN] });
    const kernels = g.cell === 'gru' && !g.resetAfter ? [gruGates(g), gruCandidate(g), gruResetGrad(g)] : [cellForward(g)];
    for (const k of [...kernels, stepGrad(g), recurrentKernelGrad(g)]) hash.update(`${k.key}\n${k.code}\n${JSON.stringify(k.bindings)}\n`);
  }
  const g = { batch: 3, positions: 6, width: 5 };
  for (const withGradient of [true, false]) {
    for (const sampleWeights of [false, true]) {
      const o = { withGradient, sampleWeights };
      for (const k of [rowLoss('sparseSoftmaxCrossentropy', g, { ...o, accuracy: 'sparse' }), rowLoss('categoricalCrossentropy', g, { ...o, accuracy: null }), elementwiseLoss('meanSquaredError', g, { ...o, accuracy: 'categorical' }), elementwiseLoss('sigmoidBinaryCrossentropy', g, { ...o, accuracy: 'binary' })]) {
        hash.update(`${k.key}\n${k.code}\n${JSON.stringify(k.bindings)}\n`);
      }
    }
  }
  return hash.digest('hex');
}

describe('unmasked models are unchanged', () => {
  it('the recurrent and loss kernels of unmasked geometries are those before masks, byte for byte', () => {
    expect(unmaskedKernelsDigest()).toBe(UNMASKED_DIGEST);
  });

  it('dispatches per training step: a mask adds one (the ids ≠ 0), to an otherwise identical step', async () => {
    const e = engine();
    const count = async (maskZero: boolean) => {
      const m = build('ours', [
        ['embedding', { inputDim: VOCAB, outputDim: IN, maskZero, inputLength: T, name: 'emb' }],
        ['lstm', { units: 5, name: 'lstm' }, SEED],
        ['dense', { units: 3, activation: 'softmax', name: 'head' }],
      ]) as LayersModel;
      m.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'categoricalCrossentropy', engine: e });
      const labels: string[] = [];
      e.onEncode = (dispatches) => labels.push(...dispatches.map((d) => d.label));
      try {
        await m.fit(tensor(Int32Array.from(paddedIds(B, 3)), [B, T]), tensor(Float32Array.from({ length: 3 * B }, (_, i) => (i % 4 === 0 ? 1 : 0)), [B, 3]), { epochs: 1, batchSize: B, verbose: 0 });
      } finally {
        e.onEncode = undefined;
      }
      m.dispose();
      return labels.map((l) => l.replace(/:masked$/, ''));
    };
    const [plain, masked] = [await count(false), await count(true)];
    console.log(`dispatches per training step, ids [${T}] → embedding → lstm(5) → dense(3): ${plain.length} unmasked, ${masked.length} with maskZero`);
    expect(masked.filter((l) => !l.startsWith('mask-nonzero-ids'))).toEqual(plain);
    expect(masked.length).toBe(plain.length + 1);
  });
});
