/**
 * Broadcast elementwise ops (src/ops/binary.ts) and the merge layers over them
 * (src/layers/merge.ts): every op, forward and both gradients, against float64 references and
 * central finite differences of them, on NaN-prefilled outputs and scratch, for equal shapes
 * (scalar and vec4 kernels), [N, C] ∘ [C] (a long per-channel one whose gradient takes the
 * two-pass reduction), [3, 1, 5] ∘ [4, 5], scalars [1], both operands broadcast, and gradients
 * summed over two separate runs of axes; TF.js's tie rules for maximum and minimum; n-ary folds.
 * The merge layers: output shapes as TF.js computes them, models trained a few SGD steps beside a
 * TF.js (cpu) twin (Subtract, which TF.js 4.22 lacks, against a float64 reference), and model.json
 * loading in TF.js and back.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layers, loadModel, model, optimizers, tensor, type LayersModel, type ModelArtifacts, type SymbolicTensor } from '../src/index.ts';
import { Random } from '../src/layers/initializers.ts';
import type { Layer } from '../src/layers/layer.ts';
import { Subtract } from '../src/layers/merge.ts';
import { broadcastGeometry, broadcastShapes, elementwiseBackward, elementwiseForward, ELEMENTWISE_OPS, type ElementwiseOp } from '../src/ops/binary.ts';
import { reducePasses, type Scratch } from '../src/ops/reduce.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, uploadView, useEngine, measuredErrors } from './helpers.ts';

const engine = useEngine();
/** The bounds checks browsers always have. */
const checkedEngine = useEngine({ robustBufferAccess: true });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---- measured errors, printed at the end with OP_ERRORS=1 ---------------------------------------

const record = measuredErrors('OP_ERRORS', ['fwd', 'bwd', 'fd', 'twinW', 'twinP', 'ref', 'io']);

/** max |a − e| / m, m the magnitude of each element's value (|e| unless given): an elementwise relative error. */
function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>, magnitude: ArrayLike<number> = Array.from(expected, Math.abs)): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    if (!Number.isFinite(a)) return Infinity;
    const d = Math.abs(a - expected[i]!);
    if (d > 0) worst = Math.max(worst, d / magnitude[i]!);
  }
  return worst;
}

// ---- float64 references ----------------------------------------------------------------------

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** For each output element, the element of each operand it reads (NumPy broadcasting). */
function operandIndices(shapes: readonly number[][]): Int32Array[] {
  const out = broadcastShapes(...shapes);
  const n = size(out);
  return shapes.map((s) => {
    const padded = [...Array<number>(out.length - s.length).fill(1), ...s];
    const idx = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      let rem = k;
      let stride = 1;
      let at = 0;
      for (let d = out.length - 1; d >= 0; d--) {
        const c = rem % out[d]!;
        rem = Math.floor(rem / out[d]!);
        if (padded[d] !== 1) at += c * stride;
        stride *= padded[d]!;
      }
      idx[k] = at;
    }
    return idx;
  });
}

function apply64(op: ElementwiseOp, a: number, b: number): number {
  switch (op) {
    case 'add':
      return a + b;
    case 'subtract':
      return a - b;
    case 'multiply':
      return a * b;
    case 'divide':
      return a / b;
    case 'maximum':
      return Math.max(a, b);
    case 'minimum':
      return Math.min(a, b);
  }
}

function forward64(op: ElementwiseOp, shapes: number[][], inputs: ArrayLike<number>[], scale = 1): Float64Array {
  const idx = operandIndices(shapes);
  const n = idx[0]!.length;
  return Float64Array.from({ length: n }, (_, k) => {
    let acc = inputs[0]![idx[0]![k]!]!;
    for (let j = 1; j < inputs.length; j++) acc = apply64(op, acc, inputs[j]![idx[j]![k]!]!);
    return scale * acc;
  });
}

/** Each operand's gradient: the local gradient (TF.js's rules) summed where it was broadcast. */
function backward64(op: ElementwiseOp, shapes: number[][], inputs: ArrayLike<number>[], dy: ArrayLike<number>, scale = 1): Float64Array[] {
  const idx = operandIndices(shapes);
  const n = idx[0]!.length;
  const grads = shapes.map((s) => new Float64Array(size(s)));
  for (let k = 0; k < n; k++) {
    const v = inputs.map((x, j) => x[idx[j]![k]!]!);
    const g = dy[k]!;
    let local: number[];
    switch (op) {
      case 'add':
        local = v.map(() => scale * g);
        break;
      case 'subtract':
        local = [g, -g];
        break;
      case 'multiply':
        local = v.map((_, j) => v.reduce((p, x, m) => (m === j ? p : p * x), g));
        break;
      case 'divide':
        local = [g / v[1]!, (-g * v[0]!) / (v[1]! * v[1]!)];
        break;
      case 'maximum':
      case 'minimum': {
        // A left fold of binary ops whose gradient goes to a where a >= b (a <= b): the first extreme.
        let win = 0;
        for (let j = 1; j < v.length; j++) if (op === 'maximum' ? v[j]! > v[win]! : v[j]! < v[win]!) win = j;
        local = v.map((_, j) => (j === win ? g : 0));
        break;
      }
    }
    local.forEach((l, j) => (grads[j]![idx[j]![k]!]! += l));
  }
  return grads;
}

// ---- runners -----------------------------------------------------------------------------------

function nanScratch(e: Engine): Scratch {
  return (bytes) => nanBuffer(e, Math.ceil(bytes / 4));
}

async function runOp(op: ElementwiseOp, shapes: number[][], inputs: Float32Array[], dy: Float32Array, scale = 1, e = engine()) {
  const out = broadcastShapes(...shapes);
  const n = size(out);
  const views = inputs.map((x) => uploadView(e, x));
  const y = nanBuffer(e, n);
  const grads = shapes.map((s) => nanBuffer(e, size(s)));
  const options = scale === 1 ? {} : { scale };
  e.run([
    ...elementwiseForward(e, op, shapes, { inputs: views, y }, options),
    ...elementwiseBackward(e, op, shapes, { inputs: views, dy: uploadView(e, dy), grads }, nanScratch(e), options),
  ]);
  return { y: await readF32(e, y, n), grads: await Promise.all(grads.map((g, j) => readF32(e, g, size(shapes[j]!)))) };
}

/** Operands for `op`: divisors kept away from 0. */
function operands(op: ElementwiseOp, shapes: number[][], seed: number): Float32Array[] {
  return shapes.map((s, j) => {
    const x = randomArray(size(s), seed + j, 2);
    if (op === 'divide' && j === 1) return x.map((v) => Math.sign(v || 1) * (0.5 + Math.abs(v)));
    return x;
  });
}

/** Forward, every gradient, and finite differences of Σ r·y with respect to each operand. */
async function checkOp(op: ElementwiseOp, shapes: number[][], label: string, scale = 1, e = engine()): Promise<void> {
  const seed = size(broadcastShapes(...shapes)) + shapes.length * 31 + ELEMENTWISE_OPS.indexOf(op);
  const inputs = operands(op, shapes, seed);
  const n = size(broadcastShapes(...shapes));
  const dy = randomArray(n, seed + 17);
  const { y, grads } = await runOp(op, shapes, inputs, dy, scale, e);
  const name = `${op} ${label}`;
  // Sums are compared relative to Σ|terms|: float32 rounds each partial sum, however much they cancel.
  const magnitude = op === 'add' || op === 'subtract' ? forward64('add', shapes, inputs.map((x) => x.map(Math.abs)), Math.abs(scale)) : undefined;
  expect(record(name, 'fwd', maxError(y, forward64(op, shapes, inputs, scale), magnitude))).toBeLessThanOrEqual(op === 'divide' ? 2e-7 : 1.2e-7 * (shapes.length - 1));
  const want = backward64(op, shapes, inputs, dy, scale);
  grads.forEach((g, j) => expect(record(name, 'bwd', relL2(g, want[j]!)), `gradient of operand ${j}`).toBeLessThanOrEqual(1e-6));
  shapes.forEach((s, j) => {
    const indices = sampleIndices(size(s), 16, seed + 40 + j);
    const f = (v: Float64Array) => forward64(op, shapes, inputs.map((x, m) => (m === j ? v : x)), scale).reduce((t, yk, k) => t + yk * dy[k]!, 0);
    const fd = finiteDifferences(f, Float64Array.from(inputs[j]!), indices, 1e-6);
    expect(record(name, 'fd', relL2(pick(grads[j]!, indices), fd)), `finite differences of operand ${j}`).toBeLessThanOrEqual(1e-5);
  });
}

// ---- the ops ---------------------------------------------------------------------------------

describe('broadcast shapes and geometry', () => {
  it('follows NumPy and merges axes where no operand changes between broadcast and not', () => {
    expect(broadcastShapes([3, 1, 5], [4, 5])).toEqual([3, 4, 5]);
    expect(broadcastShapes([7, 10], [10])).toEqual([7, 10]);
    expect(broadcastShapes([1], [5, 6])).toEqual([5, 6]);
    expect(broadcastGeometry([[3, 1, 5], [4, 5]])).toEqual({ dims: [3, 4, 5], strides: [[5, 0, 1], [0, 5, 1]] });
    expect(broadcastGeometry([[7, 10], [10]])).toEqual({ dims: [7, 10], strides: [[10, 1], [0, 1]] });
    expect(broadcastGeometry([[2, 3, 4], [2, 3, 4]])).toEqual({ dims: [24], strides: [[1], [1]] });
    expect(broadcastGeometry([[5, 6], [1]])).toEqual({ dims: [30], strides: [[1], [0]] });
    expect(broadcastGeometry([[2, 3, 4, 5], [3, 1, 5]])).toEqual({ dims: [2, 3, 4, 5], strides: [[60, 20, 5, 1], [0, 5, 0, 1]] });
    expect(() => broadcastShapes([3], [4])).toThrow('Operands could not be broadcast together with shapes [3] and [4]');
  });
  it('rejects an arity the op does not have', () => {
    const e = engine();
    const v = nanBuffer(e, 4);
    expect(() => elementwiseForward(e, 'subtract', [[4], [4], [4]], { inputs: [v, v, v], y: v })).toThrow(/exactly 2 operands, got 3/);
    expect(() => elementwiseForward(e, 'power' as ElementwiseOp, [[4], [4]], { inputs: [v, v], y: v })).toThrow(/unknown op "power"/);
  });
});

const PER_CHANNEL = [64 * 13 * 13, 10];

const CASES: { label: string; shapes: number[][] }[] = [
  { label: 'equal [7, 13]', shapes: [[7, 13], [7, 13]] },
  { label: 'equal [8, 12] (vec4)', shapes: [[8, 12], [8, 12]] },
  { label: '[3, 1, 5] with [4, 5]', shapes: [[3, 1, 5], [4, 5]] },
  { label: '[37, 10] with [10]', shapes: [[37, 10], [10]] },
  { label: '[10] with [37, 10]', shapes: [[10], [37, 10]] },
  { label: '[10816, 10] with [10] (two-pass)', shapes: [PER_CHANNEL, [10]] },
  { label: '[5, 6] with [1]', shapes: [[5, 6], [1]] },
  { label: '[1] with [5, 6]', shapes: [[1], [5, 6]] },
  { label: '[6, 1] with [1, 8] (both broadcast, vec4)', shapes: [[6, 1], [1, 8]] },
  { label: '[4, 8] with [4, 1] (vec4 splat)', shapes: [[4, 8], [4, 1]] },
  { label: '[2, 3, 4, 5] with [3, 1, 5] (two runs)', shapes: [[2, 3, 4, 5], [3, 1, 5]] },
];

describe('binary ops: forward and gradients against float64 and finite differences', () => {
  it('the per-channel case takes the two-pass reduction', () => {
    expect(reducePasses(engine().kernelStyle, { outer: 1, axis: PER_CHANNEL[0]!, inner: 10 }).length).toBeGreaterThan(1);
  });
  for (const op of ELEMENTWISE_OPS) {
    for (const { label, shapes } of CASES) {
      it(`${op}: ${label}`, () => checkOp(op, shapes, label));
    }
  }
});

describe('bounds-checked kernels (as in browsers)', () => {
  for (const op of ELEMENTWISE_OPS) {
    it(`${op}: [3, 1, 5] with [4, 5], [8, 12] with [12], [37, 10] with [10]`, async () => {
      for (const shapes of [[[3, 1, 5], [4, 5]], [[8, 12], [12]], [[37, 10], [10]]]) await checkOp(op, shapes, 'checked', 1, checkedEngine());
    });
  }
});

describe('n-ary folds (the merge layers’ ops)', () => {
  const shapes = [[4, 3, 5], [3, 5], [4, 1, 5]];
  for (const op of ['add', 'multiply', 'maximum', 'minimum'] as const) {
    it(`${op} of three operands, broadcast`, () => checkOp(op, shapes, 'of three'));
    it(`${op} of three operands of one shape`, () => checkOp(op, [[6, 7], [6, 7], [6, 7]], 'of three equal'));
  }
  it('average: the sum scaled by 1/3', () => checkOp('add', shapes, 'average of three', 1 / 3));
});

describe('maximum and minimum under ties, as TF.js routes them', () => {
  it('gives the gradient to the first operand holding the extreme', async () => {
    const a = Float32Array.from([1, 2, 3, 2, 5, 0, 7, 7]);
    const b = Float32Array.from([1, 3, 2, 2, 4, 0, 8, 7]);
    const c = Float32Array.from([1, 3, 3, 1, 5, 9, 8, 7]);
    const dy = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const op of ['maximum', 'minimum'] as const) {
      // Binary: against TF.js's own gradients.
      const { grads } = await runOp(op, [[8], [8]], [a, b], dy);
      const fn = (x: tf.Tensor, y: tf.Tensor) => (op === 'maximum' ? tf.maximum(x, y) : tf.minimum(x, y));
      const tfGrads = tf.grads((x: tf.Tensor, y: tf.Tensor) => fn(x, y))([tf.tensor(a), tf.tensor(b)], tf.tensor(dy));
      expect(Array.from(grads[0]!)).toEqual(Array.from(tfGrads[0]!.dataSync()));
      expect(Array.from(grads[1]!)).toEqual(Array.from(tfGrads[1]!.dataSync()));
      // Three operands: TF.js's chain max(max(a, b), c).
      const three = await runOp(op, [[8], [8], [8]], [a, b, c], dy);
      const tfThree = tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => fn(fn(x, y), z))([tf.tensor(a), tf.tensor(b), tf.tensor(c)], tf.tensor(dy));
      three.grads.forEach((g, j) => expect(Array.from(g), `${op} operand ${j}`).toEqual(Array.from(tfThree[j]!.dataSync())));
    }
  });
});

// ---- the merge layers ----------------------------------------------------------------------------

type MergeName = 'add' | 'subtract' | 'multiply' | 'average' | 'maximum' | 'minimum';
const TF_MERGES = ['add', 'multiply', 'average', 'maximum', 'minimum'] as const;

/** Subtract has no factory (TF.js 4.22 has no tf.layers.subtract): its class. */
function ourMerge(name: MergeName, config: { name?: string } = {}): Layer {
  return name === 'subtract' ? new Subtract(config) : layers[name](config);
}

describe('merge layers: shapes and configs', () => {
  it('compute output shapes as TF.js does, broadcasting per-sample shapes', () => {
    const cases: (number | null)[][][] = [
      [[null, 4, 5], [null, 4, 5]],
      [[null, 4, 5], [null, 5]],
      [[null, 5], [null, 3, 1]],
      [[null, 1, 5], [null, 4, 1], [null, 5]],
    ];
    for (const name of TF_MERGES) {
      for (const shapes of cases) {
        const theirs = tf.layers[name]({}).computeOutputShape(shapes as tf.Shape[]);
        expect([null, ...ourMerge(name).computeOutputShape(shapes.map((s) => s.slice(1) as number[]))]).toEqual(theirs);
      }
      expect(() => ourMerge(name).computeOutputShape([[4, 5], [3]])).toThrow(/could not be broadcast together with shapes \[4, 5\] \[3\]/);
      expect(() => ourMerge(name).computeOutputShape([[4]])).toThrow(/merges at least 2 inputs, got 1/);
    }
    expect(ourMerge('subtract').computeOutputShape([[4, 5], [5]])).toEqual([4, 5]);
    expect(() => ourMerge('subtract').computeOutputShape([[4], [4], [4]])).toThrow(/Subtract\) takes exactly 2 inputs, got 3/);
  });
  it('have TF.js’s class names and configs, and read them back', () => {
    for (const name of [...TF_MERGES, 'subtract'] as const) {
      const layer = ourMerge(name, { name: `m_${name}` });
      expect(layer.getConfig()).toEqual({ name: `m_${name}`, trainable: true });
      if (name !== 'subtract') expect(layer.className).toBe(tf.layers[name]({}).getClassName());
      const cls = layer.constructor as unknown as { fromConfig(c: unknown): Layer };
      expect(cls.fromConfig({ name: 'x', trainable: true, dtype: 'float32' }).name).toBe('x');
      expect(() => cls.fromConfig({ name: 'x', axis: 1 })).toThrow(/unknown config key 'axis'/);
    }
  });
});

const FEATURES = 6;
const N = 24;
const xData = randomArray(N * FEATURES, 101, 1.5);
const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % 3);

/**
 * x → `branches` dense branches (relu, linear, tanh) of 5 units, merged, → dense softmax(3); with
 * `broadcast`, the first branch is reshaped to [4, 5] (from 20 units) and the merge broadcasts
 * the others against it before a flatten.
 */
function ourModel(name: MergeName, branches: number, broadcast: boolean, seed: number): LayersModel {
  const x = input({ shape: [FEATURES] });
  const acts = ['relu', 'linear', 'tanh'] as const;
  const parts: SymbolicTensor[] = [];
  for (let b = 0; b < branches; b++) {
    if (broadcast && b === 0) parts.push(layers.reshape({ targetShape: [4, 5] }).apply(layers.dense({ units: 20, activation: acts[b] }).apply(x)));
    else parts.push(layers.dense({ units: 5, activation: acts[b] }).apply(x));
  }
  let merged = ourMerge(name).apply(parts);
  if (broadcast) merged = layers.flatten().apply(merged);
  return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(merged), seed });
}

function theirModel(name: (typeof TF_MERGES)[number], branches: number, broadcast: boolean): tf.LayersModel {
  const x = tf.input({ shape: [FEATURES] });
  const acts = ['relu', 'linear', 'tanh'] as const;
  const parts: tf.SymbolicTensor[] = [];
  for (let b = 0; b < branches; b++) {
    if (broadcast && b === 0) parts.push(tf.layers.reshape({ targetShape: [4, 5] }).apply(tf.layers.dense({ units: 20, activation: acts[b] }).apply(x)) as tf.SymbolicTensor);
    else parts.push(tf.layers.dense({ units: 5, activation: acts[b] }).apply(x) as tf.SymbolicTensor);
  }
  let merged = tf.layers[name]({}).apply(parts) as tf.SymbolicTensor;
  if (broadcast) merged = tf.layers.flatten().apply(merged) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: tf.layers.dense({ units: 3, activation: 'softmax' }).apply(merged) as tf.SymbolicTensor });
}

/** Our model with random biases too (TF.js initializes them to zero, which would hide them). */
async function randomized(m: LayersModel, seed: number) {
  const r = new Random(seed);
  const start = (await m.getWeights()).map((w) => ({ shape: w.shape, values: w.values.map((v) => (w.name.endsWith('bias') ? r.uniform(-0.3, 0.3) : v)) }));
  m.setWeights(start);
  return start;
}

describe('merge layers in a model, trained beside a TF.js twin', () => {
  const variants = [
    ...TF_MERGES.map((name) => ({ name, branches: 2, broadcast: false })),
    ...TF_MERGES.map((name) => ({ name, branches: 3, broadcast: false })),
    // TF.js 4.22's Maximum and Minimum gradients are not reduced over broadcast axes (its training
    // throws); those two are checked against a float64 reference below.
    ...(['add', 'multiply', 'average'] as const).map((name) => ({ name, branches: 2, broadcast: true })),
  ];
  for (const { name, branches, broadcast } of variants) {
    it(`${name} of ${branches} dense branches${broadcast ? ', [4, 5] with [5]' : ''}: same updates and predictions after 3 SGD steps`, async () => {
      const ours = ourModel(name, branches, broadcast, 40 + branches);
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      const start = await randomized(ours, 7);
      const theirs = theirModel(name, branches, broadcast);
      theirs.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
      theirs.setWeights(start.map((w) => tf.tensor(w.values, [...w.shape])));
      const steps = { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 } as const;
      await theirs.fit(tf.tensor2d(xData, [N, FEATURES]), tf.tensor1d(Float32Array.from(labels)), steps);
      await ours.fit(tensor(xData, [N, FEATURES]), tensor(labels, [N]), steps);
      const got = await ours.getWeights();
      const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
      const key = `merge ${name} ×${branches}${broadcast ? ' broadcast' : ''}`;
      got.forEach((w, i) => {
        const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
        const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
        expect(record(key, 'twinW', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
      });
      const probs = await ours.predict(tensor(xData, [N, FEATURES]));
      expect(record(key, 'twinP', relL2(probs.values, (theirs.predict(tf.tensor2d(xData, [N, FEATURES])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
      ours.dispose();
    });
  }
});

describe('merge layers against a float64 reference: Subtract (TF.js 4.22 has none), and broadcast Maximum and Minimum (TF.js 4.22 does not reduce their gradients)', () => {
  const merge64: Record<string, (a: number, b: number) => number> = { subtract: (a, b) => a - b, maximum: Math.max, minimum: Math.min };
  /**
   * The float64 loss of ourModel(name, 2, broadcast): x → [dense relu (5, or 20 seen as [4, 5]),
   * dense linear (5)] → merge (b broadcast along a's rows) → dense softmax(3); weights in getWeights() order.
   */
  function loss64(name: string, w: Float64Array[], x: ArrayLike<number>, y: Int32Array): { loss: number; probs: Float64Array } {
    const dense = (v: ArrayLike<number>, k: Float64Array, bias: Float64Array, act: (t: number) => number) =>
      Float64Array.from(bias, (bo, o) => {
        let t = bo;
        for (let i = 0; i < v.length; i++) t += v[i]! * k[i * bias.length + o]!;
        return act(t);
      });
    const n = y.length;
    let total = 0;
    const probs = new Float64Array(n * 3);
    for (let r = 0; r < n; r++) {
      const xi = Array.from({ length: FEATURES }, (_, i) => x[r * FEATURES + i]!);
      const a = dense(xi, w[0]!, w[1]!, (t) => Math.max(t, 0));
      const b = dense(xi, w[2]!, w[3]!, (t) => t);
      const logits = dense(a.map((v, i) => merge64[name]!(v, b[i % 5]!)), w[4]!, w[5]!, (t) => t);
      const max = Math.max(...logits);
      const lse = Math.log(logits.reduce((t, v) => t + Math.exp(v - max), 0)) + max;
      logits.forEach((l, c) => (probs[r * 3 + c] = Math.exp(l - lse)));
      total += (lse - logits[y[r]!]!) / n;
    }
    return { loss: total, probs };
  }

  for (const [name, broadcast] of [
    ['subtract', false],
    ['subtract', true],
    ['maximum', true],
    ['minimum', true],
  ] as const) {
    it(`${name}${broadcast ? ', [4, 5] with [5]' : ''}: one SGD step (learning rate 1) moves the weights by the float64 gradient; predictions match`, async () => {
      const m = ourModel(name, 2, broadcast, 50);
      m.compile({ optimizer: optimizers.sgd({ learningRate: 1 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      const start = await randomized(m, 8);
      const w0 = start.map((w) => Float64Array.from(w.values));
      const key = `merge ${name}${broadcast ? ' broadcast' : ''}`;
      const { probs } = loss64(name, w0, xData, labels);
      expect(record(key, 'ref', relL2((await m.predict(tensor(xData, [N, FEATURES]))).values, probs))).toBeLessThanOrEqual(1e-5);
      await m.fit(tensor(xData, [N, FEATURES]), tensor(labels, [N]), { epochs: 1, batchSize: N, shuffle: false, verbose: 0 });
      const after = await m.getWeights();
      const flat = Float64Array.from(w0.flatMap((a) => [...a]));
      const unflatten = (f: Float64Array) => {
        let o = 0;
        return w0.map((a) => f.slice(o, (o += a.length)));
      };
      const fd = finiteDifferences((f) => loss64(name, unflatten(f), xData, labels).loss, flat);
      const step = Float64Array.from(after.flatMap((a, k) => [...a.values].map((v, i) => start[k]!.values[i]! - v)));
      expect(record(key, 'fd', relL2(step, fd))).toBeLessThanOrEqual(1e-4);
      m.dispose();
    });
  }
});

describe('merge layers: model.json', () => {
  async function captureOurs(m: LayersModel): Promise<ModelArtifacts> {
    let captured: ModelArtifacts | undefined;
    await m.save({ save: (a) => (captured = a) });
    return captured!;
  }
  const x = tensor(randomArray(5 * FEATURES, 202), [5, FEATURES]);

  for (const name of TF_MERGES) {
    it(`${name}: ours loads in TF.js and TF.js’s loads here, with the same predictions`, async () => {
      const ours = ourModel(name, 3, false, 60);
      ours.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', engine: engine() });
      await randomized(ours, 9);
      const expected = (await ours.predict(x)).values;
      const artifacts = await captureOurs(ours);
      const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts as unknown as tf.io.ModelArtifacts));
      const tfPred = (tfLoaded.predict(tf.tensor(x.values as Float32Array, [...x.shape])) as tf.Tensor).dataSync();
      expect(record(`merge ${name}`, 'io', relL2(tfPred, expected))).toBeLessThanOrEqual(1e-5);
      expect(tfLoaded.layers.map((l) => l.getClassName())).toContain(ours.layers.find((l) => l.name.startsWith(name))!.className);

      let tfSaved: tf.io.ModelArtifacts | undefined;
      await tfLoaded.save(tf.io.withSaveHandler(async (a) => ((tfSaved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
      const back = await loadModel({ load: async () => tfSaved as unknown as ModelArtifacts }, { engine: engine() });
      expect(record(`merge ${name}`, 'io', relL2((await back.predict(x)).values, expected))).toBeLessThanOrEqual(1e-5);
      ours.dispose();
      back.dispose();
    });
  }

  it('subtract: round trip here; TF.js 4.22 has no Subtract to load', async () => {
    const ours = ourModel('subtract', 2, true, 61);
    ours.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', engine: engine() });
    await randomized(ours, 10);
    const expected = (await ours.predict(x)).values;
    const artifacts = await captureOurs(ours);
    const back = await loadModel({ load: async () => artifacts }, { engine: engine() });
    expect(relL2((await back.predict(x)).values, expected)).toBe(0);
    expect((await captureOurs(back)).modelTopology).toEqual(artifacts.modelTopology);
    await expect(tf.loadLayersModel(tf.io.fromMemory(artifacts as unknown as tf.io.ModelArtifacts))).rejects.toThrow(/Subtract/);
    ours.dispose();
    back.dispose();
  });
});
