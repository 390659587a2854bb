/**
 * Regularizers and constraints: the penalty kernels (weight and activity) and the constraint
 * projections against float64 references (and the penalty gradients by central finite
 * differences), the TF.js-style API and model.json forms, config errors, and twins with TF.js
 * 4.22 (cpu): its own fit for weight regularizers, and a Keras-semantics loop over a TF.js model
 * (TF.js's fit applies no constraint and rejects activity regularizers) for the rest.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { METRICS_WORDS } from '../shaders/metrics.ts';
import { penaltyGroups } from '../shaders/regularizers.ts';
import { activityPenalty, constraintProjection, penaltyIntoLoss, weightPenalty } from '../src/ops/regularizers.ts';
import { constraints, Dense, input, L1L2, layers, loadModel, model, optimizers, regularizers, sequential, tensor, type Constraint, type LayersModel } from '../src/index.ts';
import { parseConstraint, constraintConfig, constraintFromConfig } from '../src/layers/constraints.ts';
import { parseRegularizer, regularizerConfig, regularizerFromConfig } from '../src/layers/regularizers.ts';
import { finiteDifferences, measuredErrors, nanBuffer, randomArray, readF32, relL2, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('REGULARIZER_ERRORS', ['f64', 'fd', 'updates', 'loss', 'predictions']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---- float64 references ----------------------------------------------------------------------

function penalty64(x: ArrayLike<number>, l1: number, l2: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += l1 * Math.abs(x[i]!) + l2 * x[i]! * x[i]!;
  return s;
}

/** d(penalty)/dx with sign(0) = 0 (Keras's subgradient). */
function penaltyGrad64(x: ArrayLike<number>, l1: number, l2: number): Float64Array {
  return Float64Array.from(x, (v) => l1 * Math.sign(v) + 2 * l2 * v);
}

/** The constraint applied to a row-major weight, in float64 (TF.js's formulas). */
function constrain64(c: Constraint, w: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const out = Float64Array.from(w);
  if (c.kind === 'nonNeg') return out.map((v) => Math.max(v, 0));
  const rank = shape.length;
  const axes = (typeof c.axis === 'number' ? [c.axis] : [...c.axis]).map((a) => (a < 0 ? a + rank : a));
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const keyOf = (flat: number) =>
    shape
      .map((d, i) => (axes.includes(i) ? 0 : Math.floor(flat / strides[i]!) % d))
      .join(',');
  const sums = new Map<string, number>();
  for (let i = 0; i < out.length; i++) sums.set(keyOf(i), (sums.get(keyOf(i)) ?? 0) + out[i]! ** 2);
  for (let i = 0; i < out.length; i++) {
    const norm = Math.sqrt(sums.get(keyOf(i))!);
    const desired =
      c.kind === 'maxNorm' ? Math.min(Math.max(norm, 0), c.maxValue) : c.kind === 'minMaxNorm' ? c.rate * Math.min(Math.max(norm, c.minValue), c.maxValue) + (1 - c.rate) * norm : 1;
    out[i] = (out[i]! * desired) / (1e-7 + norm);
  }
  return out;
}

function stepInfo(rows: number) {
  const e = engine();
  const buffer = e.uniform(STEP_INFO_BYTES, 'step-info');
  e.write(buffer, stepInfoData(0, 1, 0, rows));
  return { buffer, offset: 0, size: STEP_INFO_BYTES };
}

// ---- kernels ---------------------------------------------------------------------------------

describe('penalty kernels against float64', () => {
  const CASES = [
    { n: 1, l1: 0.01, l2: 0 },
    { n: 3001, l1: 0.03, l2: 0.02 },
    { n: 4096, l1: 0, l2: 0.5 },
    { n: 2049, l1: 0.2, l2: 0.01 },
  ];
  for (const { n, l1, l2 } of CASES) {
    for (const withGradient of [true, false]) {
      it(`weight of ${n} values, l1 ${l1}, l2 ${l2}${withGradient ? '' : ' (frozen: the penalty only)'}`, async () => {
        const e = engine();
        const w = randomArray(n, n + 1, 2);
        // Exact zeros get no l1 gradient (sign(0) = 0).
        for (let i = 5; i < n; i += 97) w[i] = 0;
        const g0 = randomArray(n, n + 2);
        const grad = withGradient ? uploadView(e, g0) : null;
        const base = 3;
        const partials = nanBuffer(e, base + penaltyGroups(n) + 2);
        e.run([weightPenalty(e, new L1L2({ l1, l2 }), n, { value: uploadView(e, w), grad }, { partials, base })]);
        const parts = await readF32(e, partials, base + penaltyGroups(n) + 2);
        const mine = parts.slice(base, base + penaltyGroups(n));
        expect(Array.from(mine).every(Number.isFinite)).toBe(true);
        // Only its own slots are written.
        expect([...parts.slice(0, base), ...parts.slice(base + penaltyGroups(n))].every(Number.isNaN)).toBe(true);
        const total = mine.reduce((a, b) => a + b, 0);
        const want = penalty64(w, l1, l2);
        expect(record(`weight penalty n=${n}`, 'f64', Math.abs(total - want) / want)).toBeLessThanOrEqual(1e-5);
        if (grad) {
          const got = await readF32(e, grad, n);
          const slope = penaltyGrad64(w, l1, l2);
          const wantGrad = Float64Array.from(g0, (v, i) => v + slope[i]!);
          expect(record(`weight penalty n=${n}`, 'f64', relL2(got, wantGrad))).toBeLessThanOrEqual(1e-6);
          for (let i = 5; i < n; i += 97) expect(got[i]).toBe(g0[i]! + 0);
          // The gradient the kernel adds is that of the penalty: central differences where |w| > h.
          const indices = Array.from({ length: Math.min(n, 40) }, (_, k) => (k * 7919 + 1) % n).filter((i) => Math.abs(w[i]!) > 1e-3);
          const fd = finiteDifferences((x) => penalty64(x, l1, l2), Float64Array.from(w), indices);
          const added = indices.map((i) => got[i]! - g0[i]!);
          expect(record(`weight penalty n=${n}`, 'fd', relL2(added, fd))).toBeLessThanOrEqual(1e-4);
        }
      });
    }
  }

  for (const { batch, sample, rows, l1, l2 } of [
    { batch: 7, sample: [5, 3], rows: 5, l1: 0.01, l2: 0.02 },
    { batch: 9, sample: [300], rows: 9, l1: 0, l2: 0.1 },
  ]) {
    it(`activity over [${batch}, ${sample.join(', ')}] with ${rows} real rows, l1 ${l1}, l2 ${l2}`, async () => {
      const e = engine();
      const size = sample.reduce((a, b) => a * b, 1);
      const n = batch * size;
      const y = randomArray(n, 11, 1.5);
      const g0 = randomArray(n, 12, 0.1);
      const grad = uploadView(e, g0);
      const partials = nanBuffer(e, penaltyGroups(n));
      e.run([activityPenalty(e, new L1L2({ l1, l2 }), { batch, sampleShape: sample }, { output: uploadView(e, y), grad, stepInfo: stepInfo(rows) }, { partials, base: 0 })]);
      const total = (await readF32(e, partials, penaltyGroups(n))).reduce((a, b) => a + b, 0);
      const real = y.slice(0, rows * size);
      const want = penalty64(real, l1, l2) / rows;
      expect(record(`activity penalty ${batch}x${size}`, 'f64', Math.abs(total - want) / want)).toBeLessThanOrEqual(1e-5);
      const got = await readF32(e, grad, n);
      const slope = penaltyGrad64(real, l1, l2);
      const wantGrad = Float64Array.from(g0, (v, i) => (i < rows * size ? v + slope[i]! / rows : v));
      expect(record(`activity penalty ${batch}x${size}`, 'f64', relL2(got, wantGrad))).toBeLessThanOrEqual(1e-6);
      // The padding rows keep their gradient exactly.
      expect(Array.from(got.slice(rows * size))).toEqual(Array.from(g0.slice(rows * size)));
      const indices = [0, 1, 17, rows * size - 1];
      const fd = finiteDifferences((x) => penalty64(x, l1, l2) / rows, Float64Array.from(real), indices);
      expect(record(`activity penalty ${batch}x${size}`, 'fd', relL2(indices.map((i) => got[i]! - g0[i]!), fd))).toBeLessThanOrEqual(1e-4);
    });
  }

  it('the penalties into a loss accumulator: the mean loss moves by their total', async () => {
    const e = engine();
    const count = 300;
    const parts = randomArray(count, 21, 0.01);
    const total = parts.reduce((a, b) => a + b, 0);
    const acc = new Float32Array(METRICS_WORDS);
    const u = new Uint32Array(acc.buffer);
    acc[0] = 12.5; // lossSum so far
    u[2] = 6 * 5 * 2; // count: a previous batch of 6 rows and this one of 5, 2 positions each
    u[1] = 7;
    const metrics = uploadView(e, acc);
    e.run([penaltyIntoLoss(e, count, 2, 1 / 0.5, { partials: uploadView(e, parts), metrics, stepInfo: stepInfo(5) })]);
    const out = await readF32(e, metrics, METRICS_WORDS);
    const outU = new Uint32Array(out.buffer);
    expect(outU[2]).toBe(60);
    expect(outU[1]).toBe(7);
    const lossSum = out[0]! - out[3]!;
    expect(record('penalty into loss', 'f64', Math.abs(lossSum - (12.5 + total * 5 * 2 * 2)) / (12.5 + total * 20))).toBeLessThanOrEqual(1e-6);
  });
});

describe('constraint projections against float64', () => {
  const CASES: { c: Constraint; shape: number[] }[] = [
    { c: constraints.maxNorm({ maxValue: 0.8 }), shape: [5, 7] },
    { c: constraints.maxNorm({ maxValue: 1.2, axis: [0, 1, 2] }), shape: [3, 3, 2, 5] },
    { c: constraints.maxNorm({ maxValue: 0.5, axis: -1 }), shape: [4, 6, 3] },
    { c: constraints.minMaxNorm({ minValue: 0.9, maxValue: 1.1, rate: 0.7, axis: 1 }), shape: [4, 6, 3] },
    { c: constraints.minMaxNorm(), shape: [7] },
    { c: constraints.unitNorm({ axis: [0, 2] }), shape: [3, 5, 2] },
    { c: constraints.unitNorm(), shape: [6, 1] },
    { c: constraints.nonNeg(), shape: [3, 333] },
  ];
  for (const { c, shape } of CASES) {
    it(`${c.getClassName()} ${JSON.stringify(c.getConfig())} on [${shape.join(', ')}]`, async () => {
      const e = engine();
      const n = shape.reduce((a, b) => a * b, 1);
      const w = randomArray(n, n + 5, 1.3);
      const view = uploadView(e, w);
      e.run([constraintProjection(e, c, shape, view, 'test weight')]);
      const got = await readF32(e, view, n);
      expect(record(`${c.getClassName()} [${shape.join(', ')}]`, 'f64', relL2(got, constrain64(c, w, shape)))).toBeLessThanOrEqual(2e-7);
    });
  }

  it('a norm constraint whose axis is out of range for its weight is an error naming it', () => {
    const e = engine();
    expect(() => constraintProjection(e, constraints.maxNorm({ axis: 2 }), [3, 4], uploadView(e, new Float32Array(12)), 'layer d: the kernel')).toThrow(
      /layer d: the kernel: axis 2 is out of range for a weight of rank 2 \(axes lie in \[-2, 1\]\)/,
    );
  });
});

// ---- the API and its model.json forms ------------------------------------------------------

describe('regularizers and constraints as TF.js takes them', () => {
  it("TF.js's factories and defaults; the names; TF.js's own objects", () => {
    expect(regularizers.l1().getConfig()).toEqual({ l1: 0.01, l2: 0 });
    expect(regularizers.l2({ l2: 0.3 }).getConfig()).toEqual({ l1: 0, l2: 0.3 });
    expect(regularizers.l1l2().getConfig()).toEqual({ l1: 0.01, l2: 0.01 });
    expect(regularizers.l1l2({ l1: 0.5 }).getConfig()).toEqual({ l1: 0.5, l2: 0.01 });
    expect(parseRegularizer('l1', 'f')!.getConfig()).toEqual({ l1: 0.01, l2: 0 });
    expect(parseRegularizer('l2', 'f')!.getConfig()).toEqual({ l1: 0, l2: 0.01 });
    expect(parseRegularizer('l1l2', 'f')!.getConfig()).toEqual({ l1: 0.01, l2: 0.01 });
    expect(parseRegularizer(tf.regularizers.l1l2({ l1: 0.1, l2: 0.2 }), 'f')!.getConfig()).toEqual({ l1: 0.1, l2: 0.2 });
    expect(parseRegularizer(tf.regularizers.l1({ l1: 0.4 }), 'f')!.getConfig()).toEqual({ l1: 0.4, l2: 0 });
    expect(parseRegularizer(null, 'f')).toBeUndefined();

    expect(constraints.maxNorm().getConfig()).toEqual({ maxValue: 2, axis: 0 });
    expect(constraints.minMaxNorm().getConfig()).toEqual({ minValue: 0, maxValue: 1, rate: 1, axis: 0 });
    expect(constraints.unitNorm().getConfig()).toEqual({ axis: 0 });
    expect(constraints.nonNeg().getConfig()).toEqual({});
    for (const [name, cls] of [
      ['maxNorm', 'MaxNorm'],
      ['minMaxNorm', 'MinMaxNorm'],
      ['nonNeg', 'NonNeg'],
      ['unitNorm', 'UnitNorm'],
      ['UnitNorm', 'UnitNorm'],
      ['max_norm', 'MaxNorm'],
    ] as const) {
      expect(parseConstraint(name, 'f')!.getClassName()).toBe(cls);
    }
    const fromTf = parseConstraint(tf.constraints.maxNorm({ maxValue: 3, axis: 1 }), 'f')!;
    expect([fromTf.getClassName(), fromTf.getConfig()]).toEqual(['MaxNorm', { maxValue: 3, axis: 1 }]);
    const minMax = parseConstraint(tf.constraints.minMaxNorm({ minValue: 0.5, maxValue: 2, rate: 0.3, axis: 0 }), 'f')!;
    expect(minMax.getConfig()).toEqual({ minValue: 0.5, maxValue: 2, rate: 0.3, axis: 0 });
  });

  it("model.json: TF.js's forms written, Keras's read", () => {
    expect(regularizerConfig(regularizers.l2({ l2: 0.5 }))).toEqual({ class_name: 'L1L2', config: { l1: 0, l2: 0.5 } });
    expect(regularizerConfig(undefined)).toBeNull();
    expect(regularizerFromConfig({ class_name: 'L1L2', config: { l1: 0.1, l2: 0.2 } }, 'f')!.getConfig()).toEqual({ l1: 0.1, l2: 0.2 });
    expect(regularizerFromConfig({ class_name: 'L2', config: { l2: 0.03 } }, 'f')!.getConfig()).toEqual({ l1: 0, l2: 0.03 });
    expect(regularizerFromConfig({ module: 'keras.regularizers', class_name: 'L1', config: { l1: 0.02 }, registered_name: null }, 'f')!.getConfig()).toEqual({ l1: 0.02, l2: 0 });
    expect(constraintConfig(constraints.minMaxNorm({ minValue: 0.1, maxValue: 2, rate: 0.5, axis: [0, 1] }))).toEqual({
      class_name: 'MinMaxNorm',
      config: { min_value: 0.1, max_value: 2, rate: 0.5, axis: [0, 1] },
    });
    expect(constraintConfig(constraints.nonNeg())).toEqual({ class_name: 'NonNeg', config: {} });
    expect(constraintFromConfig({ class_name: 'MaxNorm', config: { max_value: 1.5, axis: [0, 1, 2] } }, 'f')!.getConfig()).toEqual({ maxValue: 1.5, axis: [0, 1, 2] });
    expect(constraintFromConfig({ class_name: 'UnitNorm', config: { axis: -1 } }, 'f')!.getConfig()).toEqual({ axis: -1 });
  });

  it('bad arguments are errors naming what is wrong', () => {
    expect(() => regularizers.l1({ l1: -1 })).toThrow(/regularizers.l1: l1 must be a finite number ≥ 0, got -1/);
    expect(() => regularizers.l1l2({ l3: 1 } as never)).toThrow(/regularizers.l1l2: unknown field 'l3'; known: l1, l2/);
    expect(() => parseRegularizer('l3', 'Dense d: kernelRegularizer')).toThrow(/Dense d: kernelRegularizer: unknown regularizer 'l3'; expected regularizers.l1/);
    expect(() => parseRegularizer(3, 'Dense d: kernelRegularizer')).toThrow(/Dense d: kernelRegularizer: expected regularizers.l1.*got 3/);
    expect(() => regularizerFromConfig({ class_name: 'OrthogonalRegularizer', config: { factor: 0.01 } }, 'Dense: kernel_regularizer')).toThrow(
      /Dense: kernel_regularizer: unknown regularizer class 'OrthogonalRegularizer'; known: L1L2, L1, L2/,
    );
    expect(() => regularizerFromConfig({ class_name: 'L1L2', config: { l1: 0.1, l3: 2 } }, 'Dense: kernel_regularizer')).toThrow(/unknown L1L2 config field 'l3'; known: l1, l2/);
    expect(() => constraints.maxNorm({ maxValue: -2 })).toThrow(/constraints.maxNorm: maxValue must be a finite number ≥ 0, got -2/);
    expect(() => constraints.minMaxNorm({ minValue: 2, maxValue: 1 })).toThrow(/constraints.minMaxNorm: minValue 2 must not exceed maxValue 1/);
    expect(() => constraints.minMaxNorm({ rate: 1.5 })).toThrow(/constraints.minMaxNorm: rate must be in \[0, 1\], got 1.5/);
    expect(() => constraints.unitNorm({ axis: 0.5 })).toThrow(/constraints.unitNorm: axis must be an integer axis or a non-empty array of them, got 0.5/);
    expect(() => constraints.unitNorm({ axis: [1, 1] })).toThrow(/constraints.unitNorm: axis must not repeat an axis, got \[1,1\]/);
    expect(() => parseConstraint('radial', 'Conv2D c: kernelConstraint')).toThrow(/Conv2D c: kernelConstraint: unknown constraint 'radial'; expected constraints.maxNorm/);
    expect(() => constraintFromConfig({ class_name: 'RadialConstraint', config: {} }, 'Conv2D: kernel_constraint')).toThrow(
      /Conv2D: kernel_constraint: unknown constraint class 'RadialConstraint'; known: MaxNorm, MinMaxNorm, NonNeg, UnitNorm/,
    );
    expect(() => constraintFromConfig({ class_name: 'MaxNorm', config: { max_value: 2, axes: 0 } }, 'Conv2D: kernel_constraint')).toThrow(/Conv2D: kernel_constraint: MaxNorm: unknown field 'axes'; known: maxValue, axis/);
  });
});

// ---- twins with TF.js ------------------------------------------------------------------------

type TfModel = tf.LayersModel;

/** Copies our weights into TF.js layer by layer (assigning the variables: TF.js's setWeights would apply their constraints). */
async function copyWeights(ours: LayersModel<unknown>, theirs: TfModel): Promise<void> {
  const weights = await ours.getWeights();
  for (const layer of ours.layers) {
    const mine = weights.filter((w) => w.name.startsWith(`${layer.name}/`));
    const vars = theirs.getLayer(layer.name).weights;
    expect(vars.length, layer.name).toBe(mine.length);
    mine.forEach((w, k) => (vars[k]!.read() as tf.Variable).assign(tf.tensor(w.values, w.shape)));
  }
}

/** Every weight of both models, ours in getWeights() order and TF.js's matched by layer and position. */
async function bothWeights(ours: LayersModel<unknown>, theirs: TfModel): Promise<{ name: string; ours: Float32Array; theirs: Float32Array }[]> {
  const weights = await ours.getWeights();
  return weights.map((w) => {
    const layerName = w.name.slice(0, w.name.lastIndexOf('/'));
    const k = weights.filter((v) => v.name.startsWith(`${layerName}/`)).indexOf(w);
    return { name: w.name, ours: w.values, theirs: theirs.getLayer(layerName).weights[k]!.read().dataSync() as Float32Array };
  });
}

/** Our weights' updates and predictions against TF.js's, recorded under `name`. */
async function compareTrained(name: string, ours: LayersModel<unknown>, theirs: TfModel, start: { name: string; ours: Float32Array }[], x: tf.Tensor, predictionsOf: (t: tf.Tensor | tf.Tensor[]) => tf.Tensor): Promise<void> {
  const after = await bothWeights(ours, theirs);
  after.forEach((w, i) => {
    const s = start[i]!.ours;
    const delta = w.ours.map((v, k) => v - s[k]!);
    const wantDelta = w.theirs.map((v, k) => v - s[k]!);
    expect(record(name, 'updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  });
  const ourPrediction = await ours.predict(tensor(x.dataSync() as Float32Array, x.shape));
  const theirPrediction = predictionsOf(theirs.predict(x) as tf.Tensor | tf.Tensor[]).dataSync();
  expect(record(name, 'predictions', relL2((ourPrediction as { values: Float32Array }).values, theirPrediction))).toBeLessThanOrEqual(1e-4);
}

const N = 20;
const F = 6;
const x = randomArray(N * F, 5, 1.5);
const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % 3);

/** Random biases (a zero weight is where TF.js's l1 gradient, -l1, differs from Keras's, 0). */
async function randomizeBiases(m: LayersModel<unknown>, seed: number): Promise<void> {
  const weights = await m.getWeights();
  m.setWeights(weights.map((w, i) => (w.name.endsWith('/bias') ? { ...w, values: randomArray(w.values.length, seed + i, 0.3) } : w)));
}

describe("weight regularizers: twins with TF.js's own fit", () => {
  for (const frozen of [false, true]) {
    it(`dense classifier with l1, l2 and l1l2 on kernels and biases${frozen ? ', first layer frozen (its penalty still in the loss)' : ''}`, async () => {
      const ours = sequential([
        layers.dense({ name: 'h', units: 8, activation: 'relu', inputShape: [F], kernelRegularizer: regularizers.l1l2({ l1: 0.01, l2: 0.02 }), biasRegularizer: regularizers.l1({ l1: 0.05 }) }),
        layers.dense({ name: 'out', units: 3, activation: 'softmax', kernelRegularizer: 'l2', biasRegularizer: 'l1l2' }),
      ]);
      if (frozen) ours.layers[0]!.trainable = false;
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.2 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      await randomizeBiases(ours, 40);
      const theirs = tf.sequential({
        layers: [
          tf.layers.dense({ name: 'h', units: 8, activation: 'relu', inputShape: [F], kernelRegularizer: tf.regularizers.l1l2({ l1: 0.01, l2: 0.02 }), biasRegularizer: tf.regularizers.l1({ l1: 0.05 }) }),
          tf.layers.dense({ name: 'out', units: 3, activation: 'softmax', kernelRegularizer: tf.regularizers.l2(), biasRegularizer: 'l1l2' }),
        ],
      });
      if (frozen) theirs.layers[0]!.trainable = false;
      theirs.compile({ optimizer: tf.train.sgd(0.2), loss: 'sparseCategoricalCrossentropy' });
      await copyWeights(ours, theirs);
      const start = await bothWeights(ours, theirs);
      const xs = tf.tensor2d(x, [N, F]);
      const ys = tf.tensor1d(Float32Array.from(labels));
      const theirHistory = await theirs.fit(xs, ys, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
      const ourHistory = await ours.fit(tensor(x, [N, F]), tensor(labels, [N]), { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
      await compareTrained(`TF.js fit${frozen ? ', frozen' : ''}`, ours, theirs, start, xs, (t) => t as tf.Tensor);
      const theirLoss = theirHistory.history.loss as number[];
      ourHistory.history.loss!.forEach((l, e) => expect(record(`TF.js fit${frozen ? ', frozen' : ''}`, 'loss', Math.abs(l - theirLoss[e]!) / theirLoss[e]!)).toBeLessThanOrEqual(1e-4));
      // evaluate() reports the data loss alone, as TF.js's does (Keras adds the penalties there too).
      const theirEval = (theirs.evaluate(xs, ys) as tf.Scalar).dataSync()[0]!;
      const ourEval = (await ours.evaluate(tensor(x, [N, F]), tensor(labels, [N]))).loss;
      expect(Math.abs(ourEval - theirEval) / theirEval).toBeLessThanOrEqual(1e-5);
      ours.dispose();
    });
  }

  it("fit's loss over one batch is evaluate's before it plus the penalties (float64), the first of two weighted outputs carrying them", async () => {
    const inp = input({ shape: [F] });
    const h0 = layers.dense({ name: 'h', units: 5, activation: 'tanh', kernelRegularizer: regularizers.l1l2({ l1: 0.02, l2: 0.03 }), biasRegularizer: regularizers.l2({ l2: 0.5 }) }).apply(inp);
    // A layer applied at two nodes: its weights' penalty counts once (Keras; TF.js 4.22 counts it per node).
    const shared = layers.dense({ name: 's', units: 5, activation: 'tanh', kernelRegularizer: regularizers.l2({ l2: 0.05 }) });
    const h = shared.apply(shared.apply(h0));
    const a = layers.dense({ name: 'a', units: 2, kernelRegularizer: regularizers.l1({ l1: 0.1 }) }).apply(h);
    const b = layers.dense({ name: 'b', units: 3, activation: 'softmax' }).apply(h);
    const ours = model({ inputs: inp, outputs: [a, b] });
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: ['meanSquaredError', 'sparseCategoricalCrossentropy'], lossWeights: [0.25, 2], engine: engine() });
    await randomizeBiases(ours, 50);
    const ys = [tensor(randomArray(N * 2, 51), [N, 2]), tensor(labels, [N])];
    const w = Object.fromEntries((await ours.getWeights()).map((v) => [v.name, v.values]));
    const evaluated = await ours.evaluate(tensor(x, [N, F]), ys);
    // One step over the whole set: its loss is that of the weights before the step.
    const history = await ours.fit(tensor(x, [N, F]), ys, { epochs: 1, batchSize: N, shuffle: false, verbose: 0 });
    const penalties = penalty64(w['h/kernel']!, 0.02, 0.03) + penalty64(w['h/bias']!, 0, 0.5) + penalty64(w['s/kernel']!, 0, 0.05) + penalty64(w['a/kernel']!, 0.1, 0);
    const want = evaluated.loss + penalties;
    expect(record('lr 0: fit = evaluate + penalties', 'loss', Math.abs(history.history.loss![0]! - want) / want)).toBeLessThanOrEqual(1e-5);
    // Each output's own loss stays the data loss, except the first's, which carries the penalties (÷ its weight).
    expect(Math.abs(history.history.b_loss![0]! - evaluated.b_loss!) / evaluated.b_loss!).toBeLessThanOrEqual(1e-5);
    ours.dispose();
  });
});

interface Activity {
  /** Index into the TF.js model's outputs: 0 is the output the loss reads. */
  output: number;
  l1: number;
  l2: number;
}

/**
 * Keras's training step on a TF.js model, as TF.js's fit does not run it: the loss is the mean
 * squared error plus the weight penalties (calculateLosses) plus each activity's penalty over
 * the batch divided by its size (Keras 2), minimized by SGD, then each weight's constraint
 * applied. Returns each epoch's mean loss, weighted by batch sizes as the logs are.
 */
async function kerasFit(theirs: TfModel, activities: readonly Activity[], xs: tf.Tensor, ys: tf.Tensor, steps: { epochs: number; batchSize: number; learningRate: number }): Promise<number[]> {
  // Keras's d|x|/dx is sign(x), 0 at 0; TF.js's Abs gradient is -1 there (an l1 penalty pushing a
  // zero weight away from zero). The loop runs with Keras's.
  const tfAbs = tf.getGradient('Abs');
  tf.unregisterGradient('Abs');
  tf.registerGradient({ kernelName: 'Abs', inputsToSave: ['x'], gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sign(saved[0]!)) }) });
  try {
    return await kerasLoop(theirs, activities, xs, ys, steps);
  } finally {
    tf.unregisterGradient('Abs');
    tf.registerGradient(tfAbs);
  }
}

async function kerasLoop(theirs: TfModel, activities: readonly Activity[], xs: tf.Tensor, ys: tf.Tensor, steps: { epochs: number; batchSize: number; learningRate: number }): Promise<number[]> {
  const optimizer = tf.train.sgd(steps.learningRate);
  const vars = theirs.trainableWeights.map((w) => w.read() as tf.Variable);
  const n = xs.shape[0]!;
  const losses: number[] = [];
  for (let epoch = 0; epoch < steps.epochs; epoch++) {
    let total = 0;
    for (let start = 0; start < n; start += steps.batchSize) {
      const size = Math.min(steps.batchSize, n - start);
      const xb = xs.slice(start, size);
      const yb = ys.slice(start, size);
      const cost = optimizer.minimize(
        () => {
          const outs = theirs.apply(xb, { training: true }) as tf.Tensor[];
          let loss: tf.Tensor = tf.losses.meanSquaredError(yb, outs[0]!);
          for (const p of theirs.calculateLosses()) loss = tf.add(loss, p);
          for (const a of activities) {
            const y = outs[a.output]!;
            loss = tf.add(loss, tf.div(tf.add(tf.mul(a.l1, tf.sum(tf.abs(y))), tf.mul(a.l2, tf.sum(tf.square(y)))), size));
          }
          return loss as tf.Scalar;
        },
        true,
        vars,
      )!;
      total += cost.dataSync()[0]! * size;
      for (const layer of theirs.layers) {
        for (const w of layer.trainableWeights) if (w.constraint) (w.read() as tf.Variable).assign(w.constraint.apply(w.read()));
      }
    }
    losses.push(total / n);
  }
  return losses;
}

interface KerasTwin {
  name: string;
  inputShape: number[];
  /** Ids for an embedding input, else random floats. */
  ids?: number;
  /** The output's per-sample shape (the mean squared error's target). */
  outputShape: number[];
  ours: () => LayersModel;
  /** The same layers in TF.js, without activity regularizers (TF.js rejects them): its outputs are the loss's, then those the activities read. */
  theirs: () => TfModel;
  activities: Activity[];
}

const r = tf.regularizers;
const c = tf.constraints;

const KERAS_TWINS: KerasTwin[] = [
  {
    name: 'dense: activity regularizers (tanh and relu hidden, linear output), maxNorm, nonNeg, unitNorm, minMaxNorm',
    inputShape: [F],
    outputShape: [2],
    ours: () =>
      sequential([
        layers.dense({ name: 'h1', units: 7, activation: 'tanh', inputShape: [F], kernelRegularizer: regularizers.l1l2(), kernelConstraint: constraints.maxNorm({ maxValue: 0.9 }), biasConstraint: 'nonNeg', activityRegularizer: regularizers.l1l2({ l1: 0.01, l2: 0.02 }) }),
        layers.dense({ name: 'h2', units: 5, activation: 'relu', kernelConstraint: constraints.unitNorm({ axis: 0 }), biasRegularizer: 'l2', activityRegularizer: regularizers.l1({ l1: 0.05 }) }),
        layers.dense({ name: 'out', units: 2, kernelConstraint: constraints.minMaxNorm({ minValue: 0.2, maxValue: 0.6, rate: 0.5 }), activityRegularizer: regularizers.l2({ l2: 0.01 }) }),
      ]),
    theirs: () => {
      const inp = tf.input({ shape: [F] });
      const h1 = tf.layers.dense({ name: 'h1', units: 7, activation: 'tanh', kernelRegularizer: r.l1l2(), kernelConstraint: c.maxNorm({ maxValue: 0.9, axis: 0 }), biasConstraint: 'nonNeg' }).apply(inp) as tf.SymbolicTensor;
      const h2 = tf.layers.dense({ name: 'h2', units: 5, activation: 'relu', kernelConstraint: c.unitNorm({ axis: 0 }), biasRegularizer: r.l2() }).apply(h1) as tf.SymbolicTensor;
      const out = tf.layers.dense({ name: 'out', units: 2, kernelConstraint: c.minMaxNorm({ minValue: 0.2, maxValue: 0.6, rate: 0.5, axis: 0 }) }).apply(h2) as tf.SymbolicTensor;
      return tf.model({ inputs: inp, outputs: [out, h1, h2] });
    },
    activities: [
      { output: 1, l1: 0.01, l2: 0.02 },
      { output: 2, l1: 0.05, l2: 0 },
      { output: 0, l1: 0, l2: 0.01 },
    ],
  },
  {
    name: 'conv2d (relu, activity, max pool after it), batch normalization, separable conv2d, PReLU',
    inputShape: [6, 6, 2],
    outputShape: [3],
    ours: () =>
      sequential([
        layers.conv2d({ name: 'c', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 2], kernelRegularizer: regularizers.l2(), biasRegularizer: regularizers.l1(), kernelConstraint: constraints.maxNorm({ maxValue: 0.5, axis: [0, 1, 2] }), activityRegularizer: regularizers.l1({ l1: 0.002 }) }),
        layers.maxPooling2d({ name: 'pool', poolSize: 2 }),
        layers.batchNormalization({ name: 'bn', gammaRegularizer: regularizers.l2({ l2: 0.05 }), betaRegularizer: regularizers.l1({ l1: 0.02 }), gammaConstraint: 'nonNeg', betaConstraint: constraints.maxNorm({ maxValue: 0.1 }) }),
        layers.separableConv2d({ name: 's', filters: 4, kernelSize: 2, depthwiseRegularizer: 'l2', pointwiseRegularizer: 'l1l2', depthwiseConstraint: constraints.unitNorm({ axis: [0, 1] }), pointwiseConstraint: constraints.maxNorm({ maxValue: 0.7, axis: [0, 1, 2] }), biasConstraint: 'nonNeg', activityRegularizer: regularizers.l2({ l2: 0.01 }) }),
        layers.prelu({ name: 'p', alphaInitializer: { kind: 'constant', value: 0.1 }, alphaRegularizer: regularizers.l1({ l1: 0.01 }), alphaConstraint: constraints.nonNeg() }),
        layers.flatten({ name: 'f' }),
        layers.dense({ name: 'out', units: 3, kernelRegularizer: 'l2' }),
      ]),
    theirs: () => {
      const inp = tf.input({ shape: [6, 6, 2] });
      const conv = tf.layers.conv2d({ name: 'c', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', kernelRegularizer: r.l2(), biasRegularizer: r.l1(), kernelConstraint: c.maxNorm({ maxValue: 0.5, axis: [0, 1, 2] as never }) }).apply(inp) as tf.SymbolicTensor;
      const pool = tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }).apply(conv) as tf.SymbolicTensor;
      const bn = tf.layers.batchNormalization({ name: 'bn', gammaRegularizer: r.l2({ l2: 0.05 }), betaRegularizer: r.l1({ l1: 0.02 }), gammaConstraint: 'nonNeg', betaConstraint: c.maxNorm({ maxValue: 0.1, axis: 0 }) }).apply(pool) as tf.SymbolicTensor;
      const sep = tf.layers.separableConv2d({ name: 's', filters: 4, kernelSize: 2, depthwiseRegularizer: r.l2(), pointwiseRegularizer: 'l1l2', depthwiseConstraint: c.unitNorm({ axis: [0, 1] as never }), pointwiseConstraint: c.maxNorm({ maxValue: 0.7, axis: [0, 1, 2] as never }), biasConstraint: 'nonNeg' }).apply(bn) as tf.SymbolicTensor;
      const p = tf.layers.prelu({ name: 'p', alphaInitializer: 'zeros', alphaRegularizer: r.l1({ l1: 0.01 }), alphaConstraint: c.nonNeg() }).apply(sep) as tf.SymbolicTensor;
      const f = tf.layers.flatten({ name: 'f' }).apply(p) as tf.SymbolicTensor;
      const out = tf.layers.dense({ name: 'out', units: 3, kernelRegularizer: r.l2() }).apply(f) as tf.SymbolicTensor;
      return tf.model({ inputs: inp, outputs: [out, conv, sep] });
    },
    activities: [
      { output: 1, l1: 0.002, l2: 0 },
      { output: 2, l1: 0, l2: 0.01 },
    ],
  },
  {
    name: 'embedding (activity, maxNorm per row), conv1d (unitNorm), layer normalization',
    inputShape: [5],
    ids: 7,
    outputShape: [2],
    ours: () =>
      sequential([
        layers.embedding({ name: 'e', inputDim: 7, outputDim: 4, inputLength: 5, embeddingsRegularizer: regularizers.l2({ l2: 0.05 }), embeddingsConstraint: constraints.maxNorm({ maxValue: 0.06, axis: 1 }), activityRegularizer: regularizers.l1({ l1: 0.01 }) }),
        layers.conv1d({ name: 'c', filters: 3, kernelSize: 2, kernelRegularizer: 'l1l2', kernelConstraint: constraints.unitNorm({ axis: [0, 1] }), activityRegularizer: regularizers.l2({ l2: 0.01 }) }),
        layers.layerNormalization({ name: 'ln', gammaRegularizer: regularizers.l2({ l2: 0.1 }), betaRegularizer: regularizers.l1({ l1: 0.01 }) }),
        layers.flatten({ name: 'f' }),
        layers.dense({ name: 'out', units: 2, biasRegularizer: 'l1' }),
      ]),
    theirs: () => {
      const inp = tf.input({ shape: [5] });
      const e = tf.layers.embedding({ name: 'e', inputDim: 7, outputDim: 4, embeddingsRegularizer: r.l2({ l2: 0.05 }), embeddingsConstraint: c.maxNorm({ maxValue: 0.06, axis: 1 }) }).apply(inp) as tf.SymbolicTensor;
      const conv = tf.layers.conv1d({ name: 'c', filters: 3, kernelSize: 2, kernelRegularizer: 'l1l2', kernelConstraint: c.unitNorm({ axis: [0, 1] as never }) }).apply(e) as tf.SymbolicTensor;
      const ln = tf.layers.layerNormalization({ name: 'ln', gammaRegularizer: r.l2({ l2: 0.1 }), betaRegularizer: r.l1({ l1: 0.01 }) }).apply(conv) as tf.SymbolicTensor;
      const f = tf.layers.flatten({ name: 'f' }).apply(ln) as tf.SymbolicTensor;
      const out = tf.layers.dense({ name: 'out', units: 2, biasRegularizer: r.l1() }).apply(f) as tf.SymbolicTensor;
      return tf.model({ inputs: inp, outputs: [out, e, conv] });
    },
    activities: [
      { output: 1, l1: 0.01, l2: 0 },
      { output: 2, l1: 0, l2: 0.01 },
    ],
  },
  {
    name: 'depthwise conv2d (activity, maxNorm over the window), conv2d transpose (nonNeg kernel, maxNorm bias), a loss over 36 positions',
    inputShape: [5, 5, 2],
    outputShape: [6, 6, 2],
    ours: () =>
      sequential([
        layers.depthwiseConv2d({ name: 'd', kernelSize: 3, depthMultiplier: 2, inputShape: [5, 5, 2], depthwiseRegularizer: 'l2', depthwiseConstraint: constraints.maxNorm({ maxValue: 0.4, axis: [0, 1] }), biasRegularizer: 'l1', activityRegularizer: 'l1l2' }),
        layers.conv2dTranspose({ name: 't', filters: 2, kernelSize: 2, strides: 2, kernelRegularizer: 'l1', kernelConstraint: 'nonNeg', biasConstraint: constraints.maxNorm({ maxValue: 0.05 }) }),
      ]),
    theirs: () => {
      const inp = tf.input({ shape: [5, 5, 2] });
      const d = tf.layers.depthwiseConv2d({ name: 'd', kernelSize: 3, depthMultiplier: 2, depthwiseRegularizer: r.l2(), depthwiseConstraint: c.maxNorm({ maxValue: 0.4, axis: [0, 1] as never }), biasRegularizer: r.l1() }).apply(inp) as tf.SymbolicTensor;
      const t = tf.layers.conv2dTranspose({ name: 't', filters: 2, kernelSize: 2, strides: 2, kernelRegularizer: r.l1(), kernelConstraint: 'nonNeg', biasConstraint: c.maxNorm({ maxValue: 0.05, axis: 0 }) }).apply(d) as tf.SymbolicTensor;
      return tf.model({ inputs: inp, outputs: [t, d] });
    },
    activities: [{ output: 1, l1: 0.01, l2: 0.01 }],
  },
];

describe('Keras semantics (activity regularizers, constraints after each step): twins with a Keras training loop over TF.js', () => {
  for (const spec of KERAS_TWINS) {
    it(spec.name, async () => {
      const ours = spec.ours();
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError', engine: engine() });
      const theirs = spec.theirs();
      await copyWeights(ours, theirs);
      const start = await bothWeights(ours, theirs);
      const size = spec.inputShape.reduce((a, b) => a * b, 1);
      const xData = spec.ids ? Float32Array.from({ length: N * size }, (_, i) => (i * 5 + 3) % spec.ids!) : randomArray(N * size, 71, 1.5);
      const outSize = spec.outputShape.reduce((a, b) => a * b, 1);
      const yData = randomArray(N * outSize, 72);
      const xs = tf.tensor(xData, [N, ...spec.inputShape]);
      const theirLosses = await kerasFit(theirs, spec.activities, xs, tf.tensor(yData, [N, ...spec.outputShape]), { epochs: 2, batchSize: 8, learningRate: 0.1 });
      const xOurs = spec.ids ? tensor(Int32Array.from(xData), [N, ...spec.inputShape]) : tensor(xData, [N, ...spec.inputShape]);
      const history = await ours.fit(xOurs, tensor(yData, [N, ...spec.outputShape]), { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
      await compareTrained(`Keras loop: ${spec.name.split(' ')[0]}`, ours, theirs, start, xs, (t) => (Array.isArray(t) ? t[0]! : t));
      history.history.loss!.forEach((l, e) => expect(record(`Keras loop: ${spec.name.split(' ')[0]}`, 'loss', Math.abs(l - theirLosses[e]!) / theirLosses[e]!)).toBeLessThanOrEqual(1e-4));
      ours.dispose();
    });
  }
});

// ---- model.json and config errors ------------------------------------------------------------

type Artifacts = Parameters<NonNullable<Parameters<LayersModel['save']>[0] & object>['save']>[0];
type Topology = { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };

async function captureOurs(m: LayersModel<unknown>): Promise<Artifacts> {
  let saved: Artifacts | undefined;
  await m.save({ save: async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
  return saved!;
}

async function captureTf(m: TfModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => ((captured = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return captured!;
}

/** Each layer's regularizer and constraint fields. */
function regularizationFields(topology: unknown): Record<string, unknown>[] {
  return (topology as Topology).config.layers.map((l) => Object.fromEntries(Object.entries(l.config).filter(([k]) => k.endsWith('_regularizer') || k.endsWith('_constraint'))));
}

describe('model.json with regularizers and constraints', () => {
  const SPECS: { name: string; inputShape: number[]; ids?: number; build: () => LayersModel }[] = [
    {
      name: 'image layers',
      inputShape: [6, 6, 2],
      build: () =>
        sequential([
          layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', inputShape: [6, 6, 2], kernelRegularizer: regularizers.l1l2({ l1: 0.1, l2: 0.2 }), biasRegularizer: 'l2', kernelConstraint: constraints.maxNorm({ maxValue: 1.5, axis: [0, 1, 2] }), biasConstraint: 'nonNeg' }),
          layers.batchNormalization({ gammaRegularizer: 'l1', betaRegularizer: regularizers.l2({ l2: 0.3 }), gammaConstraint: constraints.minMaxNorm({ minValue: 0.5, maxValue: 2, rate: 0.5 }), betaConstraint: constraints.unitNorm() }),
          layers.depthwiseConv2d({ kernelSize: 2, depthwiseRegularizer: 'l1l2', biasRegularizer: regularizers.l1({ l1: 0.5 }), depthwiseConstraint: constraints.maxNorm({ axis: [0, 1] }), biasConstraint: 'unitNorm' }),
          layers.separableConv2d({ filters: 2, kernelSize: 2, depthwiseRegularizer: 'l2', pointwiseRegularizer: 'l1', depthwiseConstraint: 'nonNeg', pointwiseConstraint: constraints.unitNorm({ axis: [0, 1, 2] }) }),
          layers.conv2dTranspose({ filters: 2, kernelSize: 2, kernelRegularizer: 'l2', kernelConstraint: constraints.maxNorm({ maxValue: 3, axis: -1 }) }),
          layers.prelu({ alphaRegularizer: 'l2', alphaConstraint: 'nonNeg' }),
          layers.flatten(),
          layers.dense({ units: 3, kernelRegularizer: regularizers.l2({ l2: 0.004 }), kernelConstraint: constraints.maxNorm({ maxValue: 2.5 }) }),
        ]),
    },
    {
      name: 'sequence layers',
      inputShape: [5],
      ids: 7,
      build: () =>
        sequential([
          layers.embedding({ inputDim: 7, outputDim: 4, inputLength: 5, embeddingsRegularizer: 'l1', embeddingsConstraint: constraints.maxNorm({ maxValue: 1, axis: 1 }) }),
          layers.conv1d({ filters: 3, kernelSize: 2, kernelRegularizer: 'l2', biasRegularizer: 'l1l2', kernelConstraint: constraints.unitNorm({ axis: [0, 1] }) }),
          layers.layerNormalization({ gammaRegularizer: 'l2', betaRegularizer: regularizers.l1({ l1: 0.2 }) }),
          layers.flatten(),
          layers.dense({ units: 3, biasRegularizer: 'l1', biasConstraint: constraints.minMaxNorm() }),
        ]),
    },
  ];

  for (const spec of SPECS) {
    it(`${spec.name}: TF.js loads ours with the same regularizers and constraints, and ours loads TF.js's`, async () => {
      const ours = spec.build();
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.05 }), loss: 'meanSquaredError', engine: engine() });
      const size = spec.inputShape.reduce((a, b) => a * b, 1);
      const xData = spec.ids ? Float32Array.from({ length: 10 * size }, (_, i) => (i * 3 + 1) % spec.ids!) : randomArray(10 * size, 81, 1.5);
      const xOurs = spec.ids ? tensor(Int32Array.from(xData), [10, ...spec.inputShape]) : tensor(xData, [10, ...spec.inputShape]);
      // TF.js applies each constraint to the weights it loads (its setWeights does); after a step of
      // ours they satisfy them already, up to the 1e-7 in the norms' divisor (a unit norm of a tiny
      // vector comes out a little short of 1, and TF.js's second projection moves it).
      await ours.fit(xOurs, tensor(randomArray(30, 82), [10, 3]), { epochs: 1, batchSize: 10, shuffle: false, verbose: 0 });
      const saved = await captureOurs(ours);
      const theirs = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
      const ourPrediction = (await ours.predict(xOurs)).values;
      const xs = tf.tensor(xData, [10, ...spec.inputShape]);
      const theirPrediction = (theirs.predict(xs) as tf.Tensor).dataSync();
      expect(record(`model.json ${spec.name}`, 'predictions', relL2(theirPrediction, ourPrediction))).toBeLessThanOrEqual(1e-4);
      const captured = await captureTf(theirs);
      const ourFields = regularizationFields(saved.modelTopology);
      expect(ourFields.some((f) => Object.values(f).some((v) => v !== null))).toBe(true);
      // TF.js 4.22's DepthwiseConv2D writes its depthwise regularizer as its depthwise constraint too.
      const classes = (saved.modelTopology as unknown as Topology).config.layers.map((l) => l.class_name);
      const asTfWrites = ourFields.map((f, i) => (classes[i] === 'DepthwiseConv2D' ? { ...f, depthwise_constraint: f.depthwise_regularizer } : f));
      expect(regularizationFields(captured.modelTopology)).toEqual(asTfWrites);
      const again = await loadModel({ load: async () => captured as unknown as Artifacts }, { engine: engine() });
      const lost = ourFields.map((f, i) => (classes[i] === 'DepthwiseConv2D' ? { ...f, depthwise_constraint: null } : f));
      expect(regularizationFields((await captureOurs(again)).modelTopology)).toEqual(lost);
      expect(record(`model.json ${spec.name}`, 'predictions', relL2((await again.predict(xOurs)).values, theirPrediction))).toBeLessThanOrEqual(1e-4);
      ours.dispose();
      again.dispose();
    });
  }

  it('activity regularizers survive our round trip (TF.js cannot build a model with one), and Keras 3 writes load', async () => {
    const ours = sequential([layers.dense({ units: 4, inputShape: [3], activityRegularizer: regularizers.l1l2({ l1: 0.3, l2: 0.4 }) })]);
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'meanSquaredError', engine: engine() });
    const saved = await captureOurs(ours);
    expect((saved.modelTopology as unknown as Topology).config.layers[0]!.config.activity_regularizer).toEqual({ class_name: 'L1L2', config: { l1: 0.3, l2: 0.4 } });
    const again = await loadModel({ load: async () => saved }, { engine: engine() });
    expect(again.layers[0]!.activityRegularizer!.getConfig()).toEqual({ l1: 0.3, l2: 0.4 });
    const keras3 = Dense.fromConfig({
      name: 'k3',
      units: 2,
      kernel_regularizer: { module: 'keras.regularizers', class_name: 'L2', config: { l2: 0.02 }, registered_name: null },
      kernel_constraint: { module: 'keras.constraints', class_name: 'MaxNorm', config: { max_value: 3, axis: 0 }, registered_name: null },
      activity_regularizer: { module: 'keras.regularizers', class_name: 'L1', config: { l1: 0.01 }, registered_name: null },
      bias_constraint: null,
    });
    expect(keras3.regularization.kernel!.regularizer!.getConfig()).toEqual({ l1: 0, l2: 0.02 });
    expect(keras3.regularization.kernel!.constraint!.getConfig()).toEqual({ maxValue: 3, axis: 0 });
    expect(keras3.activityRegularizer!.getConfig()).toEqual({ l1: 0.01, l2: 0 });
    ours.dispose();
    again.dispose();
  });
});

describe('config errors name the layer and the field', () => {
  it('in TF.js configs', () => {
    expect(() => layers.dense({ units: 2, name: 'd', kernelRegularizer: 'l3' as never })).toThrow(/Dense d: kernelRegularizer: unknown regularizer 'l3'; expected regularizers.l1/);
    expect(() => layers.dense({ units: 2, name: 'd', activityRegularizer: { l1: 0.1 } as never })).toThrow(/Dense d: activityRegularizer: unknown key 'l1' beside class_name; expected class_name, config/);
    expect(() => layers.conv2d({ filters: 2, kernelSize: 3, name: 'c', biasConstraint: 'radial' as never })).toThrow(/layer c \(Conv2D\): biasConstraint: unknown constraint 'radial'/);
    expect(() => layers.batchNormalization({ name: 'b', gammaRegularizer: 5 as never })).toThrow(/BatchNormalization b: gammaRegularizer: expected regularizers.l1.*got 5/);
    expect(() => layers.layerNormalization({ name: 'n', betaConstraint: { className: 'MaxNorm', config: { maxValue: -1 } } as never })).toThrow(/LayerNormalization n: betaConstraint: MaxNorm: maxValue must be a finite number ≥ 0, got -1/);
    expect(() => layers.prelu({ name: 'p', alphaConstraint: 'positive' as never })).toThrow(/PReLU p: alphaConstraint: unknown constraint 'positive'/);
    expect(() => layers.embedding({ inputDim: 3, outputDim: 2, name: 'e', embeddingsRegularizer: 'l0' as never })).toThrow(/Embedding e: embeddingsRegularizer: unknown regularizer 'l0'/);
    expect(() => layers.depthwiseConv2d({ kernelSize: 3, name: 'dw', kernelRegularizer: 'l2' } as never)).toThrow(/layer dw \(DepthwiseConv2D\): kernelRegularizer is not a field of this layer \(got "l2"\); use depthwiseRegularizer/);
    expect(() => layers.separableConv2d({ filters: 2, kernelSize: 3, name: 's', kernelConstraint: 'nonNeg' } as never)).toThrow(/use depthwiseConstraint and pointwiseConstraint/);
    expect(() => layers.separableConv2d({ filters: 2, kernelSize: 3, name: 's', pointwiseRegularizer: regularizers.l1l2({ l2: NaN }) })).toThrow(/regularizers.l1l2: l2 must be a finite number ≥ 0, got null/);
  });

  it("a constraint's axis beyond its weight's rank, when the weights are built", () => {
    expect(() => sequential([layers.dense({ units: 2, name: 'd', inputShape: [6], kernelConstraint: constraints.maxNorm({ axis: 2 }) })]).build()).toThrow(
      /Dense d: kernelConstraint \(on the kernel of shape \[6, 2\]\): axis 2 is out of range for a weight of rank 2 \(axes lie in \[-2, 1\]\)/,
    );
    expect(() => sequential([layers.conv2d({ filters: 2, kernelSize: 3, name: 'c', inputShape: [5, 5, 1], biasConstraint: constraints.unitNorm({ axis: [0, -2] }) })]).build()).toThrow(
      /layer c \(Conv2D\): biasConstraint \(on the bias of shape \[2\]\): axis \[0,-2\] is out of range for a weight of rank 1/,
    );
    expect(() => sequential([layers.embedding({ inputDim: 3, outputDim: 2, name: 'e', inputLength: 4, embeddingsConstraint: constraints.unitNorm({ axis: [1, -1] }) })]).build()).toThrow(
      /Embedding e: embeddingsConstraint \(on the embeddings of shape \[3, 2\]\): axis \[1,-1\] names the same axis twice for a weight of rank 2/,
    );
  });

  it('in model.json', () => {
    expect(() => Dense.fromConfig({ name: 'd', units: 2, kernel_regularizer: { class_name: 'L2', config: { l2: -1 } } })).toThrow(/Dense: kernel_regularizer: L2: l2 must be a finite number ≥ 0, got -1/);
    expect(() => Dense.fromConfig({ name: 'd', units: 2, bias_constraint: { class_name: 'NonNeg', config: { axis: 0 } } })).toThrow(/Dense: bias_constraint: NonNeg: unknown field 'axis'; known: $/);
    expect(() => Dense.fromConfig({ name: 'd', units: 2, activity_regularizer: { class_name: 'L1L2', config: {}, extra: 1 } })).toThrow(/Dense: activity_regularizer: unknown key 'extra' beside class_name/);
  });
});
