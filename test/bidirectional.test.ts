/**
 * Bidirectional (src/layers/bidirectional.ts) and its sequence ops (src/ops/sequence.ts): the
 * reversal along time and the merge of two directions (concat, sum, ave, mul; with and without
 * sequences) against float64 references on NaN-filled outputs and by central finite differences;
 * the layer's forward and backward against a float64 bidirectional reference built on the
 * recurrent one (its gradients by reverse accumulation) and by finite differences; twins trained
 * beside TF.js 4.22 (cpu backend); model.json both ways; configs and their errors.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layerClass, layers, model, optimizers, sequential, tensor, type Layer, type LayersModel, type SymbolicTensor, type Tensor } from '../src/index.ts';
import { Bidirectional } from '../src/layers/bidirectional.ts';
import type { ForwardContext, Shape } from '../src/layers/layer.ts';
import { recurrentGeometry, type RecurrentGeometry } from '../src/ops/recurrent.ts';
import { directionsGeometry, mergeDirectionsBackward, mergeDirectionsForward, mergedShape, reverseStepsBackward, reverseStepsForward, stepsGeometry, type DirectionsGeometry, type MergeMode } from '../src/ops/sequence.ts';
import { stepInfoData } from '../shaders/kernel.ts';
import { dot, finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { modelJsonBothWays } from './artifacts.ts';
import { NUMBERS, recurrentForwardGeneric, Tape, type Arith, type RecurrentWeightsRef } from './reference/recurrent.ts';

const engine = useEngine();
const record = measuredErrors('BIDIRECTIONAL_ERRORS', ['forward', 'backward', 'finite differences', 'updates', 'predictions', 'ours → TF.js', 'TF.js → ours']);
const testName = () => expect.getState().currentTestName!;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const B = 3;
const T = 5;
const IN = 4;

// ---- float64 references ---------------------------------------------------------------------------

/** The two directions merged in the arithmetic A: `backward` in its processing order, reversed first when g.reversed. */
function mergeGeneric<N>(A: Arith<N>, g: DirectionsGeometry, forward: ArrayLike<N>, backward: ArrayLike<N>): N[] {
  const { batch, time, units } = g;
  const y: N[] = [];
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) {
      const f = (u: number) => forward[(b * time + t) * units + u]!;
      const r = (u: number) => backward[(b * time + (g.reversed ? time - 1 - t : t)) * units + u]!;
      const us = Array.from({ length: units }, (_, u) => u);
      if (g.mode === 'concat') y.push(...us.map(f), ...us.map(r));
      else if (g.mode === 'sum') y.push(...us.map((u) => A.add(f(u), r(u))));
      else if (g.mode === 'ave') y.push(...us.map((u) => A.mul(A.constant(0.5), A.add(f(u), r(u)))));
      else y.push(...us.map((u) => A.mul(f(u), r(u))));
    }
  }
  return y;
}

/** A bidirectional recurrent layer in the arithmetic A: g is the forward copy's geometry, the backward copy runs with goBackwards flipped. */
function bidirectionalGeneric<N>(A: Arith<N>, g: RecurrentGeometry, mode: MergeMode, x: ArrayLike<N>, wf: RecurrentWeightsRef<N>, wb: RecurrentWeightsRef<N>): N[] {
  const forward = recurrentForwardGeneric(A, g, x, wf);
  const backward = recurrentForwardGeneric(A, { ...g, goBackwards: !g.goBackwards }, x, wb);
  return mergeGeneric(A, directionsGeometry(g.batch, g.returnSequences ? [g.time, g.units] : [g.units], mode), forward, backward);
}

/** Leaves of a tape for each array, and the gradients of Σ y·dy with respect to them. */
function tapeGradients(arrays: readonly ArrayLike<number>[], f: (tape: Tape, leaves: number[][]) => number[], dy: ArrayLike<number>): Float64Array[] {
  const tape = new Tape();
  const leaves = arrays.map((a) => Array.from(a, (v) => tape.constant(v)));
  const grad = tape.gradient(f(tape, leaves), dy);
  return leaves.map((l) => Float64Array.from(l, (n) => grad[n]!));
}

// ---- the ops: reversal along time, merging two directions -------------------------------------------

describe('sequence ops on the GPU against float64 and finite differences', () => {
  for (const [batch, shape] of [
    [3, [5, 7]],
    [2, [4, 2, 6]],
    [1, [1, 3]],
  ] as [number, number[]][]) {
    it(`reverseSteps over [${batch}, ${shape.join(', ')}]: forward, backward (the same reversal)`, async () => {
      const e = engine();
      const g = stepsGeometry(batch, shape);
      const n = batch * size(shape);
      const x = randomArray(n, 1 + n);
      const dy = randomArray(n, 2 + n);
      const ref = (v: ArrayLike<number>) => Float64Array.from({ length: n }, (_, i) => {
        const w = g.width;
        const [b, t, k] = [Math.floor(i / (g.time * w)), Math.floor(i / w) % g.time, i % w];
        return v[(b * g.time + g.time - 1 - t) * w + k]!;
      });
      const y = nanBuffer(e, n);
      const dx = nanBuffer(e, n);
      e.run([...reverseStepsForward(e, g, { x: uploadView(e, x), y }), ...reverseStepsBackward(e, g, { dy: uploadView(e, dy), dx })]);
      expect(record(testName(), 'forward', relL2(await readF32(e, y, n), ref(x)))).toBe(0);
      const got = await readF32(e, dx, n);
      expect(record(testName(), 'backward', relL2(got, ref(dy)))).toBe(0);
      const fd = finiteDifferences((xx) => dot(ref(xx), dy), toF64(x));
      expect(record(testName(), 'finite differences', relL2(got, fd))).toBeLessThanOrEqual(1e-6);
    });
  }

  const merges: [MergeMode, Shape][] = [
    ['concat', [T, 6]],
    ['concat', [7]],
    ['sum', [T, 5]],
    ['ave', [T, 8]],
    ['ave', [6]],
    ['mul', [T, 7]],
    ['mul', [5]],
  ];
  for (const [mode, shape] of merges) {
    it(`merge ${mode} of directions [${B}, ${shape.join(', ')}]: forward and each direction's gradient`, async () => {
      const e = engine();
      const g = directionsGeometry(B, shape, mode);
      expect(mergedShape(g)).toEqual([...shape.slice(0, -1), (mode === 'concat' ? 2 : 1) * shape[shape.length - 1]!]);
      const n = B * size(shape);
      const nOut = B * size(mergedShape(g));
      const f = randomArray(n, 10 + n);
      const b = randomArray(n, 11 + n);
      const dy = randomArray(nOut, 12 + n);
      const memory = { scratch: (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4)), saved: new Map() };
      const views = { forward: uploadView(e, f), backward: uploadView(e, b), y: nanBuffer(e, nOut) };
      const grads = { dy: uploadView(e, dy), dForward: nanBuffer(e, n), dBackward: nanBuffer(e, n) };
      // The backward twice: with the forward's saved reversal and without it (mul reverses again).
      const again = { dForward: nanBuffer(e, n), dBackward: nanBuffer(e, n) };
      e.run([
        ...mergeDirectionsForward(e, g, views, memory),
        ...mergeDirectionsBackward(e, g, { ...views, ...grads }, memory),
        ...mergeDirectionsBackward(e, g, { ...views, ...grads, ...again }, { ...memory, saved: new Map() }),
      ]);
      const y = Float64Array.from(mergeGeneric(NUMBERS, g, f, b));
      expect(record(testName(), 'forward', relL2(await readF32(e, views.y, nOut), y))).toBeLessThanOrEqual(1e-7);
      const [df, db] = tapeGradients([f, b], (tape, [ff, bb]) => mergeGeneric(tape, g, ff!, bb!), dy);
      const got = [await readF32(e, grads.dForward, n), await readF32(e, grads.dBackward, n)];
      const gotAgain = [await readF32(e, again.dForward, n), await readF32(e, again.dBackward, n)];
      expect(record(testName(), 'backward', Math.max(relL2(got[0]!, df!), relL2(got[1]!, db!), relL2(gotAgain[0]!, df!), relL2(gotAgain[1]!, db!)))).toBeLessThanOrEqual(1e-7);
      const loss = (ff: Float64Array, bb: Float64Array) => dot(mergeGeneric(NUMBERS, g, ff, bb), dy);
      const fdf = finiteDifferences((ff) => loss(ff, toF64(b)), toF64(f));
      const fdb = finiteDifferences((bb) => loss(toF64(f), bb), toF64(b));
      expect(record(testName(), 'finite differences', Math.max(relL2(got[0]!, fdf), relL2(got[1]!, fdb)))).toBeLessThanOrEqual(1e-6);
    });
  }
});

// ---- the layer on the GPU, its contexts built by hand ----------------------------------------------

interface LayerRun {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array[];
  dispatches: { forward: string[]; backward: string[] };
}

/** Runs `layer`'s forward and backward once on NaN-filled outputs (no plan: the contexts a plan would build). */
async function runLayer(layer: Layer, inputShape: Shape, batch: number, x: Float32Array, weights: Float32Array[], dy: Float32Array): Promise<LayerRun> {
  const e = engine();
  const outputShape = layer.computeOutputShape([inputShape]);
  const specs = layer.weightSpecs([inputShape]);
  const nIn = batch * size(inputShape);
  const nOut = batch * size(outputShape);
  const stepInfo = e.uniform(16, 'step info');
  e.write(stepInfo, stepInfoData(0, 1, 77, batch));
  const ctx: ForwardContext = {
    engine: e,
    batch,
    inputs: [uploadView(e, x)],
    inputShapes: [inputShape],
    output: nanBuffer(e, nOut),
    outputShape,
    weights: weights.map((w) => uploadView(e, w)),
    training: true,
    stepInfo: { buffer: stepInfo, offset: 0, size: 16 },
    scratch: (bytes) => nanBuffer(e, Math.ceil(bytes / 4)),
    saved: new Map(),
  };
  const dx = nanBuffer(e, nIn);
  const dw = specs.map((s) => nanBuffer(e, size(s.shape)));
  const forward = layer.forward(ctx);
  const backward = layer.backward({ ...ctx, outputGrad: uploadView(e, dy), inputGrads: [dx], weightGrads: dw });
  e.run([...forward, ...backward]);
  return {
    y: await readF32(e, ctx.output, nOut),
    dx: await readF32(e, dx, nIn),
    dw: await Promise.all(dw.map((v, i) => readF32(e, v, size(specs[i]!.shape)))),
    dispatches: { forward: forward.map((d) => d.label), backward: backward.map((d) => d.label) },
  };
}

/** Random weights of a direction, seeded: kernel, recurrent kernel, bias. */
function randomWeights(g: RecurrentGeometry, seed: number): Float32Array[] {
  const cols = g.gates * g.units;
  return [randomArray(g.inputs * cols, seed, 0.6), randomArray(g.units * cols, seed + 1, 0.5), randomArray(cols, seed + 2, 0.3)];
}

const asRef = <N>(w: readonly ArrayLike<N>[]): RecurrentWeightsRef<N> => ({ kernel: w[0]!, recurrentKernel: w[1]!, bias: w[2] });

describe('Bidirectional on the GPU: both directions, merged, against float64 and finite differences', () => {
  const cases: { name: string; make: () => Layer; cell: 'simpleRNN' | 'lstm' | 'gru'; units: number; mode: MergeMode; sequences: boolean; goBackwards?: boolean; activation?: 'tanh' | 'relu' }[] = [
    { name: 'lstm(6, sequences) concat', make: () => layers.bidirectional({ layer: layers.lstm({ units: 6, returnSequences: true }) }), cell: 'lstm', units: 6, mode: 'concat', sequences: true },
    { name: 'gru(5) mul, wrapped layer goBackwards', make: () => layers.bidirectional({ layer: layers.gru({ units: 5, goBackwards: true }), mergeMode: 'mul' }), cell: 'gru', units: 5, mode: 'mul', sequences: false, goBackwards: true },
    { name: 'simpleRNN(4, relu, sequences) ave', make: () => layers.bidirectional({ layer: layers.simpleRNN({ units: 4, activation: 'relu', returnSequences: true }), mergeMode: 'ave' }), cell: 'simpleRNN', units: 4, mode: 'ave', sequences: true, activation: 'relu' },
  ];
  for (const [n, c] of cases.entries()) {
    it(c.name, async () => {
      const layer = c.make();
      const g = recurrentGeometry({ cell: c.cell, batch: B, inputShape: [T, IN], units: c.units, activation: c.activation ?? 'tanh', recurrentActivation: 'hardSigmoid', bias: true, returnSequences: c.sequences, goBackwards: c.goBackwards });
      const outputShape = layer.computeOutputShape([[T, IN]]);
      expect(outputShape).toEqual([...(c.sequences ? [T] : []), (c.mode === 'concat' ? 2 : 1) * c.units]);
      const x = randomArray(B * T * IN, 30 + n);
      const wf = randomWeights(g, 40 + 5 * n);
      const wb = randomWeights(g, 60 + 5 * n);
      const dy = randomArray(B * size(outputShape), 50 + n);
      const got = await runLayer(layer, [T, IN], B, x, [...wf, ...wb], dy);
      const y = Float64Array.from(bidirectionalGeneric(NUMBERS, g, c.mode, x, asRef(wf), asRef(wb)));
      expect(record(testName(), 'forward', relL2(got.y, y))).toBeLessThanOrEqual(1e-6);
      const [dx, ...dw] = tapeGradients([x, ...wf, ...wb], (tape, [xx, ...w]) => bidirectionalGeneric(tape, g, c.mode, xx!, asRef(w.slice(0, 3)), asRef(w.slice(3))), dy);
      const backward = Math.max(relL2(got.dx, dx!), ...dw.map((d, i) => relL2(got.dw[i]!, d)));
      expect(record(testName(), 'backward', backward), `dx ${relL2(got.dx, dx!)}; dW ${dw.map((d, i) => relL2(got.dw[i]!, d).toExponential(1)).join(' ')}`).toBeLessThanOrEqual(1e-5);
      // Finite differences of the float64 forward: a sample of dx and of each direction's recurrent kernel.
      const loss = (xx: ArrayLike<number>, w: ArrayLike<number>[]) => dot(bidirectionalGeneric(NUMBERS, g, c.mode, xx, asRef(w.slice(0, 3)), asRef(w.slice(3))), dy);
      const weights = [...wf, ...wb].map(toF64);
      const xi = sampleIndices(x.length, 12, n);
      const checks: [ArrayLike<number>, Float64Array][] = [[pick(got.dx, xi), finiteDifferences((xx) => loss(xx, weights), toF64(x), xi)]];
      for (const k of [1, 4, 5]) {
        const wi = sampleIndices(weights[k]!.length, 8, n + k);
        checks.push([pick(got.dw[k]!, wi), finiteDifferences((ww) => loss(x, weights.map((w, j) => (j === k ? ww : w))), weights[k]!, wi)]);
      }
      for (const [actual, expected] of checks) expect(record(testName(), 'finite differences', relL2(actual, expected))).toBeLessThanOrEqual(1e-4);
      // What the wrapper adds to the two layers' own dispatches.
      const own = (labels: string[]) => labels.filter((l) => /^(sequence-|concat-slice|elementwise-|accumulate)/.test(l)).map((l) => l.split(':')[0]);
      const merge = c.mode === 'concat' ? ['concat-slice', 'concat-slice'] : [c.mode === 'mul' ? 'elementwise-multiply' : 'elementwise-add'];
      const split = c.mode === 'concat' ? ['concat-slice', 'concat-slice'] : c.mode === 'mul' ? ['elementwise-multiply-gradient', 'elementwise-multiply-gradient'] : ['elementwise-add-gradient', 'elementwise-add-gradient'];
      const reverse = c.sequences ? ['sequence-reverse-steps'] : [];
      expect(own(got.dispatches.forward)).toEqual([...reverse, ...merge]);
      expect(own(got.dispatches.backward)).toEqual([...split, ...reverse, 'accumulate']);
      console.log(`${c.name}: the wrapper's own dispatches: forward ${reverse.length + merge.length}, backward ${split.length + reverse.length + 1}`);
    });
  }
});

// ---- twins with TF.js ---------------------------------------------------------------------------------

type Factories = Record<string, (config: Record<string, unknown>) => unknown>;

interface TwinCase {
  name: string;
  /** The layers, from either library's factories (L.bidirectional, L.lstm …). */
  layers: (L: Factories) => unknown[];
  inputShape: number[];
  /** Integer ids below this (an embedding's input) instead of random values. */
  ids?: number;
  classes: number;
  optimizer: 'sgd' | 'adam';
}

const bi = (L: Factories, inner: string, config: Record<string, unknown>, outer: Record<string, unknown> = {}) => L.bidirectional!({ layer: L[inner]!(config), ...outer });

const twins: TwinCase[] = [
  {
    name: 'bidirectional(lstm, returnSequences) concat → flatten → dense, adam',
    layers: (L) => [bi(L, 'lstm', { units: 6, returnSequences: true }, { inputShape: [T, IN] }), L.flatten!({}), L.dense!({ units: 3, activation: 'softmax' })],
    inputShape: [T, IN],
    classes: 3,
    optimizer: 'adam',
  },
  {
    name: 'bidirectional(lstm) concat → dense, sgd',
    layers: (L) => [bi(L, 'lstm', { units: 6 }, { inputShape: [T, IN] }), L.dense!({ units: 3, activation: 'softmax' })],
    inputShape: [T, IN],
    classes: 3,
    optimizer: 'sgd',
  },
  {
    name: 'bidirectional(gru, returnSequences) sum → flatten → dense, sgd',
    layers: (L) => [bi(L, 'gru', { units: 4, returnSequences: true }, { mergeMode: 'sum', inputShape: [T, IN] }), L.flatten!({}), L.dense!({ units: 2, activation: 'softmax' })],
    inputShape: [T, IN],
    classes: 2,
    optimizer: 'sgd',
  },
  {
    name: 'bidirectional(simpleRNN) ave → dense, adam',
    layers: (L) => [bi(L, 'simpleRNN', { units: 6 }, { mergeMode: 'ave', inputShape: [T, IN] }), L.dense!({ units: 3, activation: 'softmax' })],
    inputShape: [T, IN],
    classes: 3,
    optimizer: 'adam',
  },
  {
    name: 'bidirectional(simpleRNN, returnSequences, goBackwards) mul → flatten → dense, sgd',
    layers: (L) => [bi(L, 'simpleRNN', { units: 5, returnSequences: true, goBackwards: true }, { mergeMode: 'mul', inputShape: [T, IN] }), L.flatten!({}), L.dense!({ units: 3, activation: 'softmax' })],
    inputShape: [T, IN],
    classes: 3,
    optimizer: 'sgd',
  },
  {
    name: 'embedding → bidirectional(lstm) → dense, adam',
    layers: (L) => [L.embedding!({ inputDim: 11, outputDim: IN, inputLength: T }), bi(L, 'lstm', { units: 6 }), L.dense!({ units: 3, activation: 'softmax' })],
    inputShape: [T],
    ids: 11,
    classes: 3,
    optimizer: 'adam',
  },
  {
    // Ids 0 are padding: both copies carry their state over them (TF.js hands the mask to both).
    name: 'embedding maskZero → bidirectional(lstm) concat → dense, adam',
    layers: (L) => [L.embedding!({ inputDim: 5, outputDim: IN, inputLength: T, maskZero: true }), bi(L, 'lstm', { units: 6 }), L.dense!({ units: 3, activation: 'softmax' })],
    inputShape: [T],
    ids: 5,
    classes: 3,
    optimizer: 'adam',
  },
  {
    name: 'embedding maskZero → bidirectional(gru, returnSequences) sum → lstm (the mask passed on) → dense, sgd',
    layers: (L) => [L.embedding!({ inputDim: 5, outputDim: IN, inputLength: T, maskZero: true }), bi(L, 'gru', { units: 4, returnSequences: true }, { mergeMode: 'sum' }), L.lstm!({ units: 5 }), L.dense!({ units: 3, activation: 'softmax' })],
    inputShape: [T],
    ids: 5,
    classes: 3,
    optimizer: 'sgd',
  },
];

/** Samples of the twins: 3 steps of batch B. */
const N = 3 * B;

function twinData(c: TwinCase, seed: number, samples = N): { ours: Tensor; theirs: tf.Tensor } {
  const n = samples * size(c.inputShape);
  const x = c.ids ? Float32Array.from({ length: n }, (_, i) => (i * 7 + seed) % c.ids!) : randomArray(n, seed);
  const ours = c.ids ? tensor(Int32Array.from(x), [samples, ...c.inputShape]) : tensor(x, [samples, ...c.inputShape]);
  return { ours, theirs: tf.tensor(x, [samples, ...c.inputShape]) };
}

describe('twins with TF.js (cpu backend): 3 steps, shuffle off', () => {
  for (const [k, c] of twins.entries()) {
    it(c.name, async () => {
      const ours = sequential(c.layers(layers as unknown as Factories) as Layer[]);
      const theirs = tf.sequential({ layers: c.layers(tf.layers as unknown as Factories) as tf.layers.Layer[] });
      ours.compile({ optimizer: c.optimizer === 'sgd' ? optimizers.sgd({ learningRate: 0.5 }) : optimizers.adam({ learningRate: 0.02 }), loss: 'categoricalCrossentropy', engine: engine() });
      theirs.compile({ optimizer: c.optimizer === 'sgd' ? tf.train.sgd(0.5) : tf.train.adam(0.02), loss: 'categoricalCrossentropy' });
      const data = twinData(c, 40 + k);
      const y = new Float32Array(N * c.classes);
      for (let i = 0; i < N; i++) y[i * c.classes + ((i * 5) % c.classes)] = 1;
      const start = (await ours.getWeights()).map((w) => ({ name: w.name, shape: w.shape, values: w.dataSync() }));
      theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
      const steps = { epochs: 1, batchSize: B, shuffle: false, verbose: 0 as const };
      await theirs.fit(data.theirs, tf.tensor(y, [N, c.classes]), steps);
      await ours.fit(data.ours, tensor(y, [N, c.classes]), steps);
      const want = theirs.getWeights().map((t) => t.dataSync());
      for (const [i, w] of (await ours.getWeights()).entries()) {
        const values = w.dataSync();
        const delta = values.map((v, j) => v - start[i]!.values[j]!);
        const wantDelta = want[i]!.map((v, j) => v - start[i]!.values[j]!);
        expect(record(testName(), 'updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
      }
      const probe = twinData(c, 60 + k, B);
      const got = (await ours.predict(probe.ours)).dataSync();
      expect(record(testName(), 'predictions', relL2(got, (theirs.predict(probe.theirs) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
      ours.dispose();
    });
  }
});

// ---- model.json -------------------------------------------------------------------------------------

type AnyModel = LayersModel | tf.LayersModel;
const apply = (l: unknown, x: unknown) => (l as { apply(x: unknown): unknown }).apply(x);
/** A functional model from either library: `body` maps the input [T, IN] to the output with L's factories. */
const functional = (lib: 'ours' | 'tf', body: (L: Factories, x: unknown) => unknown): AnyModel => {
  const L = (lib === 'ours' ? layers : tf.layers) as unknown as Factories;
  const xi = lib === 'ours' ? input({ shape: [T, IN] }) : tf.input({ shape: [T, IN] });
  const outputs = body(L, xi);
  return lib === 'ours' ? model({ inputs: xi as SymbolicTensor, outputs: outputs as SymbolicTensor }) : tf.model({ inputs: xi as tf.SymbolicTensor, outputs: outputs as tf.SymbolicTensor });
};

/** The same models in both libraries, every name given (the nested configs name the wrapped layers). */
const saved: { name: string; build: (lib: 'ours' | 'tf') => AnyModel }[] = [
  {
    name: 'sequential: bidirectional(lstm, sequences, inputShape) concat → flatten → dense',
    build: (lib) => {
      const L = (lib === 'ours' ? layers : tf.layers) as unknown as Factories;
      const list = [bi(L, 'lstm', { units: 6, returnSequences: true, name: 'inner_lstm' }, { name: 'bi_lstm', inputShape: [T, IN] }), L.flatten!({ name: 'flat' }), L.dense!({ units: 2, name: 'head' })];
      return lib === 'ours' ? sequential(list as Layer[]) : tf.sequential({ layers: list as tf.layers.Layer[] });
    },
  },
  {
    name: 'functional: bidirectional(lstm, sequences) concat → bidirectional(gru, goBackwards) ave → dense',
    build: (lib) =>
      functional(lib, (L, x) => {
        const h = apply(bi(L, 'lstm', { units: 6, returnSequences: true, name: 'inner_lstm' }, { name: 'bi_lstm' }), x);
        const g = apply(bi(L, 'gru', { units: 4, goBackwards: true, name: 'inner_gru' }, { mergeMode: 'ave', name: 'bi_gru' }), h);
        return apply(L.dense!({ units: 2, name: 'head' }), g);
      }),
  },
  {
    name: 'functional: bidirectional(simpleRNN relu, sequences) mul → bidirectional(simpleRNN) sum',
    build: (lib) =>
      functional(lib, (L, x) => {
        const h = apply(bi(L, 'simpleRNN', { units: 4, activation: 'relu', returnSequences: true, name: 'inner_rnn' }, { mergeMode: 'mul', name: 'bi_rnn' }), x);
        return apply(bi(L, 'simpleRNN', { units: 3, name: 'inner_rnn_2' }, { mergeMode: 'sum', name: 'bi_rnn_2' }), h);
      }),
  },
];

describe('model.json with TF.js', () => {
  for (const [k, c] of saved.entries()) {
    it(`${c.name}: TF.js loads ours, ours loads TF.js's, the same predictions; configs and weight names equal TF.js's`, async () => {
      const ours = c.build('ours') as LayersModel;
      ours.useEngine(engine());
      const theirs = c.build('tf') as tf.LayersModel;
      expect((await ours.getWeights()).map((w) => w.name)).toEqual(theirs.weights.map((w) => w.originalName));
      const x = randomArray(B * T * IN, 70 + k);
      const { oursToTf, tfToOurs } = await modelJsonBothWays(ours, theirs, x, [B, T, IN], 'Bidirectional', { engine: engine() });
      expect(record(testName(), 'ours → TF.js', oursToTf)).toBeLessThanOrEqual(1e-5);
      expect(record(testName(), 'TF.js → ours', tfToOurs)).toBeLessThanOrEqual(1e-5);
      ours.dispose();
    });
  }
});

// ---- configs and errors ---------------------------------------------------------------------------------

describe('Bidirectional: configs and errors', () => {
  it('copies the wrapped layer as TF.js does: forward_<name> as given, backward_<name> with goBackwards flipped; freezes with it', () => {
    const inner = layers.gru({ units: 3, goBackwards: true, name: 'g', dropout: 0.2 });
    const layer = layers.bidirectional({ layer: inner, mergeMode: 'sum', name: 'b' });
    const theirs = tf.layers.bidirectional({ layer: tf.layers.gru({ units: 3, goBackwards: true, name: 'g' }), mergeMode: 'sum' }) as unknown as { forwardLayer: { name: string; goBackwards: boolean }; backwardLayer: { name: string; goBackwards: boolean } };
    expect([layer.forwardLayer.name, layer.forwardLayer.goBackwards, layer.backwardLayer.name, layer.backwardLayer.goBackwards]).toEqual([
      theirs.forwardLayer.name,
      theirs.forwardLayer.goBackwards,
      theirs.backwardLayer.name,
      theirs.backwardLayer.goBackwards,
    ]);
    expect([layer.forwardLayer.dropout, layer.backwardLayer.units, layer.returnSequences]).toEqual([0.2, 3, false]);
    expect(layer.weightSpecs([[T, IN]]).map((s) => `${s.name} ${s.shape.join('x')}`)).toEqual([
      `forward_g/kernel ${IN}x9`,
      'forward_g/recurrent_kernel 3x9',
      'forward_g/bias 9',
      `backward_g/kernel ${IN}x9`,
      'backward_g/recurrent_kernel 3x9',
      'backward_g/bias 9',
    ]);
    expect(layer.getConfig()).toMatchObject({ name: 'b', merge_mode: 'sum', layer: { class_name: 'GRU', config: { name: 'g', go_backwards: true } } });
    expect(layerClass('Bidirectional')).toBe(Bidirectional);
    expect(layers.bidirectional({ layer: layers.lstm({ units: 2 }) }).name).toMatch(/^bidirectional(_\d+)?$/);
    expect(layers.bidirectional({ layer: layers.lstm({ units: 2 }) }).mergeMode).toBe('concat');
    layer.trainable = false;
    expect([inner.trainable, layer.getConfig().trainable]).toEqual([false, false]);
  });

  it('rejects configs that cannot work, naming the layer, the field, what it expects and what came', () => {
    expect(() => layers.bidirectional(undefined as never)).toThrow(/Bidirectional: expected a config object like \{ layer: layers.dense/);
    expect(() => layers.bidirectional({ name: 'b' } as never)).toThrow(/layer b \(Bidirectional\): layer is required/);
    expect(() => layers.bidirectional({ name: 'b', layer: layers.dense({ units: 3, name: 'd' }) })).toThrow(/layer b \(Bidirectional\): layer must be a recurrent layer \(layers.simpleRNN, layers.lstm or layers.gru\), got d \(Dense\)/);
    expect(() => layers.bidirectional({ name: 'b', layer: tf.layers.lstm({ units: 3 }) as never })).toThrow(/layer must be a Layer of this library.*a TF.js layer/);
    expect(() => layers.bidirectional({ name: 'b', layer: layers.lstm({ units: 3 }), mergeMode: null })).toThrow(/layer b \(Bidirectional\): mergeMode null \(the two directions as two outputs\) is not supported: a layer node has one output/);
    expect(() => layers.bidirectional({ name: 'b', layer: layers.lstm({ units: 3 }), mergeMode: 'max' as never })).toThrow(/layer b \(Bidirectional\): mergeMode must be one of 'concat', 'sum', 'mul', 'ave', got "max"/);
    expect(() => layers.bidirectional({ name: 'b', layer: layers.lstm({ units: 3, returnState: true, name: 'l' }) })).toThrow(/layer b \(Bidirectional\): the wrapped layer l has returnState true, which Bidirectional does not support/);
    expect(() => layers.bidirectional({ name: 'b', layer: layers.lstm({ units: 3, activityRegularizer: 'l2', name: 'l' }) })).toThrow(/layer b \(Bidirectional\): the wrapped layer l has an activityRegularizer/);
    const b = layers.bidirectional({ name: 'b', layer: layers.lstm({ units: 3 }) });
    expect(() => b.computeOutputShape([[4]])).toThrow(/layer b \(Bidirectional\): .*expects inputs of shape \[timesteps, features\]/);
    expect(() => b.apply(input({ shape: [6] }))).toThrow(/layer b \(Bidirectional\)/);
    expect(() => b.computeOutputShape([[4, 3], [4, 3]])).toThrow(/takes 1 input/);
    const inner = layers.simpleRNN({ units: 2, name: 'shared' });
    layers.bidirectional({ name: 'first', layer: inner });
    expect(() => layers.bidirectional({ name: 'second', layer: inner })).toThrow(/layer second \(Bidirectional\): layer shared is wrapped by first already/);
  });

  it('reads Keras configs from model.json: backward_layer when it is the copy TF.js builds, an Error otherwise', () => {
    const lstm = (name: string, goBackwards: boolean, extra: Record<string, unknown> = {}) => ({ class_name: 'LSTM', config: { name, units: 3, return_sequences: true, go_backwards: goBackwards, ...extra } });
    // Keras 3 writes its forward copy as `layer` and its backward copy beside it (with Keras 3's own fields).
    const keras3 = { seed: null, zero_output_for_mask: true, unit_forget_bias: true };
    const b = Bidirectional.fromConfig({ name: 'bi', trainable: true, dtype: 'float32', merge_mode: 'ave', layer: lstm('forward_l', false, keras3), backward_layer: lstm('backward_l', true, keras3) });
    expect([b.mergeMode, b.forwardLayer.name, b.backwardLayer.name, b.backwardLayer.goBackwards]).toEqual(['ave', 'forward_forward_l', 'backward_forward_l', true]);
    expect(Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false) }).mergeMode).toBe('concat');
    expect(Bidirectional.fromConfig({ name: 'frozen', trainable: false, layer: lstm('l', false) }).trainable).toBe(false);
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false), backward_layer: lstm('r', true, { units: 5 }) })).toThrow(
      /layer bi \(Bidirectional\): backward_layer r \(LSTM\) has units 5 where that copy has 3; TF.js ignores backward_layer and runs backward_l, a copy of layer l with goBackwards true/,
    );
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false), backward_layer: lstm('r', false) })).toThrow(/backward_layer r \(LSTM\) has go_backwards false where that copy has true/);
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false), backward_layer: { class_name: 'GRU', config: { name: 'r', units: 3, go_backwards: true } } })).toThrow(/backward_layer r \(GRU\) is not a LSTM/);
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false), merge_mode: null })).toThrow(/layer bi \(Bidirectional\): mergeMode null/);
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false), merge_mode: 'max' })).toThrow(/mergeMode must be one of 'concat', 'sum', 'mul', 'ave', got "max"/);
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false, { return_state: true }) })).toThrow(/layer bi \(Bidirectional\): the wrapped layer l has returnState true/);
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: { class_name: 'Dense', config: { name: 'd', units: 2 } } })).toThrow(/layer bi \(Bidirectional\): layer must be a recurrent layer .* got d \(Dense\)/);
    expect(() => Bidirectional.fromConfig({ name: 'bi' })).toThrow(/Bidirectional: config has no 'layer'/);
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false), num_constants: 1 })).toThrow(/Bidirectional: num_constants 1 is not supported, only null/);
    expect(() => Bidirectional.fromConfig({ name: 'bi', layer: lstm('l', false), mergeMode: 'sum' })).toThrow(/Bidirectional: unknown config key 'mergeMode'/);
  });
});
