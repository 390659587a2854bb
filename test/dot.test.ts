/**
 * The batched matrix product (both kernel variants, every transpose, odd sizes) and its gradients
 * against float64 references, NaN-filled outputs and central finite differences; the L2
 * normalization Dot applies first; the Dot layer on rank 2 and 3 inputs with several axes, with
 * and without normalize, against float64 and TF.js's own Dot; configs and their errors; twins
 * trained beside TF.js 4.22 (cpu backend); model.json both ways.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { input, layers, loadModel, model, optimizers, tensor, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { Dot } from '../src/layers/dot.ts';
import { batchedMatmul, batchedMatmulBackward, l2NormalizeBackward, l2NormalizeForward, type BatchedMatmulGeometry, type VectorGeometry } from '../src/ops/batched-matmul.ts';
import type { KernelStyle } from '../shaders/kernel.ts';
import type { View } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The largest error each check measured; DOT_ERRORS=1 prints them after the file. */
const worst = new Map<string, number>();
function record(what: string, err: number): number {
  worst.set(what, Math.max(worst.get(what) ?? 0, err));
  return err;
}
afterAll(() => {
  if (process.env.DOT_ERRORS) console.log([...worst].map(([what, err]) => `${what}: ${err.toExponential(2)}`).join('\n'));
});

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function scratch(bytes: number, label: string): View {
  return { buffer: engine().buffer(bytes, label), offset: 0, size: bytes };
}

// ---- float64 references ------------------------------------------------------------------------

function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, g: BatchedMatmulGeometry): Float64Array {
  const { batch, m, n, k } = g;
  const c = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = a[t * m * k + (g.transposeA ? q * m + i : i * k + q)]!;
          const bv = b[t * k * n + (g.transposeB ? j * k + q : q * n + j)]!;
          s += av * bv;
        }
        c[(t * m + i) * n + j] = s;
      }
    }
  }
  return c;
}

function normalizeRef(x: ArrayLike<number>, v: VectorGeometry): Float64Array {
  const u = Float64Array.from(x);
  for (let o = 0; o < v.outer; o++) {
    for (let r = 0; r < v.inner; r++) {
      const at = (t: number) => (o * v.length + t) * v.inner + r;
      let s = 0;
      for (let t = 0; t < v.length; t++) s += x[at(t)]! ** 2;
      const norm = Math.sqrt(Math.max(s, 1e-7));
      for (let t = 0; t < v.length; t++) u[at(t)] = x[at(t)]! / norm;
    }
  }
  return u;
}

// ---- the batched product -----------------------------------------------------------------------

/** dA and dB of Σ C·r as float64 sums, each element in its operand's own layout. */
function matmulGradRef(a: ArrayLike<number>, b: ArrayLike<number>, r: ArrayLike<number>, g: BatchedMatmulGeometry): { da: Float64Array; db: Float64Array } {
  const { batch, m, n, k } = g;
  const da = new Float64Array(batch * m * k);
  const db = new Float64Array(batch * k * n);
  const ai = (t: number, i: number, q: number) => t * m * k + (g.transposeA ? q * m + i : i * k + q);
  const bi = (t: number, q: number, j: number) => t * k * n + (g.transposeB ? j * k + q : q * n + j);
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const rv = r[(t * m + i) * n + j]!;
        for (let q = 0; q < k; q++) {
          da[ai(t, i, q)] += rv * b[bi(t, q, j)]!;
          db[bi(t, q, j)] += rv * a[ai(t, i, q)]!;
        }
      }
    }
  }
  return { da, db };
}

const TRANSPOSES = [[false, false], [true, false], [false, true], [true, true]] as const;
const transposeName = (g: BatchedMatmulGeometry) => `${g.transposeA ? 'Aᵀ' : 'A'}·${g.transposeB ? 'Bᵀ' : 'B'}`;

/** Runs C = op(A)·op(B) and, when `grads`, dA and dB of Σ C·r; checks them against float64 (and finite differences). */
async function checkProduct(g: BatchedMatmulGeometry, style: KernelStyle, grads: boolean): Promise<void> {
  const e = engine();
  const [na, nb, nc] = [g.batch * g.m * g.k, g.batch * g.k * g.n, g.batch * g.m * g.n];
  const a = randomArray(na, na + 1);
  const b = randomArray(nb, nb + 2);
  const r = randomArray(nc, nc + 3);
  const [c, da, db] = [nanBuffer(e, nc), nanBuffer(e, na), nanBuffer(e, nb)];
  const views = { a: uploadView(e, a), b: uploadView(e, b) };
  e.run([...batchedMatmul(e, g, { ...views, c }, { style }), ...(grads ? batchedMatmulBackward(e, g, { ...views, dc: uploadView(e, r), da, db }, { style }) : [])]);
  expect(record(`${style} product vs float64`, relL2(await readF32(e, c, nc), matmulRef(a, b, g)))).toBeLessThanOrEqual(1e-6);
  if (!grads) return;
  const dA = await readF32(e, da, na);
  const dB = await readF32(e, db, nb);
  const want = matmulGradRef(a, b, r, g);
  expect(record(`${style} dA vs float64`, relL2(dA, want.da))).toBeLessThanOrEqual(1e-6);
  expect(record(`${style} dB vs float64`, relL2(dB, want.db))).toBeLessThanOrEqual(1e-6);
  const ia = sampleIndices(na, 24, 4);
  const ib = sampleIndices(nb, 24, 5);
  const fa = (aa: Float64Array) => dot(matmulRef(aa, b, g), r);
  const fb = (bb: Float64Array) => dot(matmulRef(a, bb, g), r);
  expect(record(`${style} dA vs finite differences`, relL2(pick(dA, ia), finiteDifferences(fa, toF64(a), ia)))).toBeLessThanOrEqual(1e-4);
  expect(record(`${style} dB vs finite differences`, relL2(pick(dB, ib), finiteDifferences(fb, toF64(b), ib)))).toBeLessThanOrEqual(1e-4);
}

describe('batched matrix product', () => {
  const shapes = [
    { batch: 3, m: 5, n: 7, k: 9 },
    { batch: 2, m: 37, n: 35, k: 19 },
    { batch: 4, m: 1, n: 1, k: 6 },
    { batch: 1, m: 33, n: 2, k: 17 },
  ];
  for (const s of shapes) {
    for (const [transposeA, transposeB] of TRANSPOSES) {
      const g: BatchedMatmulGeometry = { ...s, transposeA, transposeB };
      it(`registers: C, dA and dB match float64 and finite differences, ${s.batch}×${s.m}×${s.n}×${s.k} ${transposeName(g)}`, () => checkProduct(g, 'registers', true));
    }
  }

  // The GPU variant compiles slowly on SwiftShader (workgroup barriers): every transpose once,
  // on sizes that leave partial tiles in m, n and k, and the gradients of one of them.
  it('tiled: C matches float64 for every transpose, 2×37×35×19 (partial 32 × 32 tiles and k steps of 16)', async () => {
    for (const [transposeA, transposeB] of TRANSPOSES) await checkProduct({ batch: 2, m: 37, n: 35, k: 19, transposeA, transposeB }, 'tiled', false);
  });
  it('tiled: dA and dB match float64 and finite differences, 2×37×35×19 Aᵀ·B', () => checkProduct({ batch: 2, m: 37, n: 35, k: 19, transposeA: true, transposeB: false }, 'tiled', true));
});

describe('batched matrix product: API', () => {
  it('skips a gradient nobody needs and checks its geometry', () => {
    const e = engine();
    const g: BatchedMatmulGeometry = { batch: 1, m: 2, n: 3, k: 4, transposeA: false, transposeB: false };
    const v = uploadView(e, randomArray(12, 1));
    expect(batchedMatmulBackward(e, g, { a: v, b: v, dc: v, da: null, db: v })).toHaveLength(1);
    expect(batchedMatmulBackward(e, g, { a: v, b: v, dc: v, da: null, db: null })).toHaveLength(0);
    expect(() => batchedMatmul(e, { ...g, k: 0 }, { a: v, b: v, c: v })).toThrow(/batchedMatmul: k must be a positive integer, got 0/);
    expect(() => batchedMatmul(e, { ...g, transposeA: 1 as unknown as boolean }, { a: v, b: v, c: v })).toThrow(/transposeA must be true or false, got 1/);
  });
});

describe('L2 normalization along an axis', () => {
  const cases: VectorGeometry[] = [
    { outer: 3, length: 7, inner: 1 },
    { outer: 2, length: 5, inner: 3 },
    { outer: 4, length: 1, inner: 2 },
  ];
  for (const v of cases) {
    it(`forward and backward match float64 and finite differences, [${v.outer}, ${v.length}, ${v.inner}], one vector of zeros (norm floored)`, async () => {
      const e = engine();
      const n = v.outer * v.length * v.inner;
      const x = randomArray(n, n + 7);
      // Vector (0, 0) is all zeros: its norm² is floored at ε and the gradient is du / sqrt(ε).
      for (let t = 0; t < v.length; t++) x[t * v.inner] = 0;
      const du = randomArray(n, n + 8);
      const [u, dx] = [nanBuffer(e, n), nanBuffer(e, n)];
      const xv = uploadView(e, x);
      e.run([...l2NormalizeForward(e, v, { x: xv, u }), ...l2NormalizeBackward(e, v, { x: xv, du: uploadView(e, du), dx })]);
      expect(record('l2 normalize vs float64', relL2(await readF32(e, u, n), normalizeRef(x, v)))).toBeLessThanOrEqual(1e-6);
      // Central differences with h = 1e-5 would cross the floor at the zero vector; 1e-6 stays below it (√ε ≈ 3e-4).
      const fd = finiteDifferences((xx) => dot(normalizeRef(xx, v), du), toF64(x), undefined, 1e-6);
      expect(record('l2 normalize backward vs finite differences', relL2(await readF32(e, dx, n), fd))).toBeLessThanOrEqual(1e-4);
    });
  }
});

// ---- the Dot layer -------------------------------------------------------------------------------

/** Runs the layer's forward and backward on [batch, ...shape] inputs; outputs NaN-prefilled. */
async function runDot(layer: Dot, batch: number, inputShapes: number[][], x1: Float32Array, x2: Float32Array, dy: Float32Array) {
  const e = engine();
  const outputShape = layer.computeOutputShape(inputShapes);
  const [n1, n2, ny] = [batch * size(inputShapes[0]!), batch * size(inputShapes[1]!), batch * size(outputShape)];
  const ctx = {
    engine: e,
    batch,
    inputs: [uploadView(e, x1), uploadView(e, x2)],
    inputShapes,
    output: nanBuffer(e, ny),
    outputShape,
    weights: [],
    training: true,
    stepInfo: uploadView(e, new Float32Array(4)),
    scratch,
    saved: new Map<string, View>(),
  };
  const inputGrads = [nanBuffer(e, n1), nanBuffer(e, n2)];
  e.run([...layer.forward(ctx), ...layer.backward({ ...ctx, outputGrad: uploadView(e, dy), inputGrads, weightGrads: [] })]);
  return { outputShape, y: await readF32(e, ctx.output, ny), dx1: await readF32(e, inputGrads[0]!, n1), dx2: await readF32(e, inputGrads[1]!, n2) };
}

/** TF.js's Dot on the same tensors: the output and the input gradients of Σ y·dy. */
function tfDot(axes: number | [number, number], normalize: boolean, batch: number, inputShapes: number[][], x1: Float32Array, x2: Float32Array, dy: Float32Array) {
  const layer = tf.layers.dot({ axes, normalize });
  const t1 = tf.tensor(x1, [batch, ...inputShapes[0]!]);
  const t2 = tf.tensor(x2, [batch, ...inputShapes[1]!]);
  const y = layer.apply([t1, t2]) as tf.Tensor;
  const [g1, g2] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(layer.apply([a, b]) as tf.Tensor, tf.tensor(dy, y.shape))))([t1, t2]);
  return { shape: y.shape.slice(1), y: y.dataSync(), dx1: g1!.dataSync(), dx2: g2!.dataSync() };
}

/** Float64 Dot as TF.js's batchDot computes it, both inputs seen as [batch, d1, d2] (rank 2: d2 = 1). */
function dotRef(axes: [number, number], normalize: boolean, batch: number, inputShapes: number[][], x1: ArrayLike<number>, x2: ArrayLike<number>): Float64Array {
  const [a1, a2] = [inputShapes[0]![0]!, inputShapes[0]![1] ?? 1];
  const [b1, b2] = [inputShapes[1]![0]!, inputShapes[1]![1] ?? 1];
  const vec = (d1: number, d2: number, axis: number): VectorGeometry => (axis === 1 ? { outer: batch, length: d1, inner: d2 } : { outer: batch * d1, length: d2, inner: 1 });
  const u1 = normalize ? normalizeRef(x1, vec(a1, a2, axes[0])) : x1;
  const u2 = normalize ? normalizeRef(x2, vec(b1, b2, axes[1])) : x2;
  const g: BatchedMatmulGeometry = { batch, m: axes[0] === 1 ? a2 : a1, n: axes[1] === 1 ? b2 : b1, k: axes[0] === 1 ? a1 : a2, transposeA: axes[0] === 1, transposeB: axes[1] === 2 };
  return matmulRef(u1, u2, g);
}

interface LayerCase {
  axes: number | [number, number];
  /** The axes within [batch, ...shape], resolved. */
  resolved: [number, number];
  shapes: number[][];
  out: number[];
}

const layerCases: LayerCase[] = [
  { axes: 1, resolved: [1, 1], shapes: [[6], [6]], out: [1] },
  { axes: -1, resolved: [1, 1], shapes: [[5], [5]], out: [1] },
  { axes: 2, resolved: [2, 2], shapes: [[4, 3], [5, 3]], out: [4, 5] },
  { axes: 1, resolved: [1, 1], shapes: [[4, 3], [4, 5]], out: [3, 5] },
  { axes: [2, 1], resolved: [2, 1], shapes: [[4, 3], [3, 5]], out: [4, 5] },
  { axes: [-2, -1], resolved: [1, 2], shapes: [[6, 2], [3, 6]], out: [2, 3] },
  { axes: 1, resolved: [1, 1], shapes: [[4], [4, 3]], out: [3] },
  { axes: [2, 1], resolved: [2, 1], shapes: [[5, 4], [4]], out: [5] },
  { axes: [1, -1], resolved: [1, 2], shapes: [[4, 3], [2, 4]], out: [3, 2] },
];

describe('Dot layer', () => {
  for (const c of layerCases) {
    for (const normalize of [false, true]) {
      it(`axes ${JSON.stringify(c.axes)}, inputs ${JSON.stringify(c.shapes)}${normalize ? ', normalize' : ''}: shape, forward and gradients match TF.js and float64`, async () => {
        const batch = 3;
        const layer = new Dot({ axes: c.axes, normalize });
        const x1 = randomArray(batch * size(c.shapes[0]!), 17);
        const x2 = randomArray(batch * size(c.shapes[1]!), 18);
        const outSize = batch * size(c.out);
        const dy = randomArray(outSize, 19);
        const got = await runDot(layer, batch, c.shapes, x1, x2, dy);
        // TF.js 4.22's Dot.build reads shape[axis] unresolved, so negative axes in an array throw there: it gets them resolved.
        const want = tfDot(Array.isArray(c.axes) && c.axes.some((a) => a < 0) ? c.resolved : c.axes, normalize, batch, c.shapes, x1, x2, dy);
        expect(got.outputShape).toEqual(c.out);
        expect(want.shape).toEqual(c.out);
        const label = normalize ? 'dot normalize' : 'dot';
        expect(record(`${label} forward vs float64`, relL2(got.y, dotRef(c.resolved, normalize, batch, c.shapes, x1, x2)))).toBeLessThanOrEqual(1e-6);
        expect(record(`${label} forward vs TF.js`, relL2(got.y, want.y))).toBeLessThanOrEqual(1e-6);
        expect(record(`${label} gradients vs TF.js`, relL2([...got.dx1, ...got.dx2], [...want.dx1, ...want.dx2]))).toBeLessThanOrEqual(1e-5);
        const both = toF64([...x1, ...x2]);
        const f = (xx: Float64Array) => dot(dotRef(c.resolved, normalize, batch, c.shapes, xx.subarray(0, x1.length), xx.subarray(x1.length)), dy);
        const idx = sampleIndices(both.length, 30, 20);
        expect(record(`${label} gradients vs finite differences`, relL2(pick([...got.dx1, ...got.dx2], idx), finiteDifferences(f, both, idx)))).toBeLessThanOrEqual(1e-4);
      });
    }
  }

  it('rejects configs and inputs that cannot work, naming the layer, the field, what it expects and what came', () => {
    expect(() => layers.dot({ axes: 0, name: 'd' })).toThrow(/Dot d: axes must be a non-zero integer or an array of two \(axis 0 is the batch, which cannot be contracted\), got 0/);
    expect(() => layers.dot({ axes: [1] as unknown as [number, number], name: 'd' })).toThrow(/Dot d: axes .*got \[1\]/);
    expect(() => layers.dot({ axes: [1, 0], name: 'd' })).toThrow(/Dot d: axes .*got \[1,0\]/);
    expect(() => layers.dot({ axes: 1.5, name: 'd' })).toThrow(/Dot d: axes .*got 1.5/);
    expect(() => layers.dot({ axes: 1, normalize: 'yes' as unknown as boolean, name: 'd' })).toThrow(/Dot d: normalize must be true or false, got "yes"/);
    expect(() => layers.dot(undefined as unknown as { axes: number })).toThrow(/Dot: expected a config object/);
    const d = new Dot({ axes: 2, name: 'd' });
    expect(() => d.computeOutputShape([[3, 4]])).toThrow(/layer d \(Dot\) takes 2 inputs, got 1/);
    expect(() => d.computeOutputShape([[3, 4], [3, 5]])).toThrow(/layer d \(Dot\): the contracted axes differ in size: axis 2 of input 1 \[null, ?3, ?4\] has 4, axis 2 of input 2 \[null, ?3, ?5\] has 5/);
    expect(() => d.computeOutputShape([[2, 3, 4], [2, 3, 4]])).toThrow(/layer d \(Dot\): input 1 must have shape \[batch, n\] or \[batch, p, q\]/);
    expect(() => d.computeOutputShape([[4], [4]])).toThrow(/layer d \(Dot\): axis 2 of input 1 is out of range for its shape \[null, ?4\]; expected an axis in \[1, 1\] or \[-1, -1\]/);
    expect(() => new Dot({ axes: -3, name: 'd' }).computeOutputShape([[4, 2], [4, 2]])).toThrow(/axis -3 of input 1 is out of range/);
  });

  it('reads and writes Keras configs', () => {
    const d = Dot.fromConfig({ name: 'd', axes: [2, 2], normalize: true, trainable: true, dtype: 'float32' });
    expect([d.name, d.axes, d.normalize]).toEqual(['d', [2, 2], true]);
    expect(d.getConfig()).toEqual({ name: 'd', trainable: true, axes: [2, 2], normalize: true });
    expect(Dot.fromConfig({ name: 'e', axes: -1 }).getConfig()).toEqual({ name: 'e', trainable: true, axes: -1, normalize: false });
    expect(() => Dot.fromConfig({ name: 'd', axes: 1, mode: 'sum' })).toThrow(/Dot: unknown config key 'mode'/);
    expect(() => Dot.fromConfig({ name: 'd', axes: 0 })).toThrow(/Dot d: axes must be a non-zero integer/);
  });
});

// ---- twins with TF.js and model.json -------------------------------------------------------------

const N = 10;
type Lib = 'ours' | 'tf';
type Apply = { apply(x: unknown): unknown };

/** A functional model of one input split by two dense layers into a Dot, built in either library from the same configs. */
interface TwinSpec {
  name: string;
  inputShape: number[];
  classes: number;
  build: (L: Record<string, (c: unknown) => Apply>, x: unknown) => unknown;
}

const twinSpecs: TwinSpec[] = [
  {
    name: 'rank 3 with axes 2 ([seq, 4]·[seq, 4] → [seq, seq]) and mixed ranks with axes 1 ([seq]·[seq, 4] → [4]), concatenated → dense softmax',
    inputShape: [5, 3],
    classes: 3,
    build: (L, x) => {
      const a = L.dense!({ units: 4, name: 'dense_a' }).apply(x);
      const b = L.dense!({ units: 4, activation: 'tanh', name: 'dense_b' }).apply(x);
      const c = L.dense!({ units: 5, name: 'dense_c' }).apply(L.flatten!({ name: 'flat_x' }).apply(x));
      const square = L.dot!({ axes: 2, name: 'dot' }).apply([a, b]);
      const mixed = L.dot!({ axes: 1, name: 'dot_mixed' }).apply([c, b]);
      const joined = L.concatenate!({ name: 'cat' }).apply([L.flatten!({ name: 'flat' }).apply(square), mixed]);
      return L.dense!({ units: 3, activation: 'softmax', name: 'head' }).apply(joined);
    },
  },
  {
    name: 'normalize: rank 3 with axes [1, 1] ([seq, 4]ᵀ·[seq, 3] → [4, 3]) and rank 2 with axes -1 (cosine similarity), concatenated → dense softmax',
    inputShape: [6, 2],
    classes: 4,
    build: (L, x) => {
      const a = L.dense!({ units: 4, name: 'dense_a' }).apply(x);
      const b = L.dense!({ units: 3, activation: 'tanh', name: 'dense_b' }).apply(x);
      const flat = L.flatten!({ name: 'flat_x' }).apply(x);
      const e = L.dense!({ units: 5, activation: 'tanh', name: 'dense_e' }).apply(flat);
      const f = L.dense!({ units: 5, name: 'dense_f' }).apply(flat);
      const across = L.dot!({ axes: [1, 1], normalize: true, name: 'dot' }).apply([a, b]);
      const cosine = L.dot!({ axes: -1, normalize: true, name: 'cosine' }).apply([e, f]);
      const joined = L.concatenate!({ name: 'cat' }).apply([L.flatten!({ name: 'flat' }).apply(across), cosine, e]);
      return L.dense!({ units: 4, activation: 'softmax', name: 'head' }).apply(joined);
    },
  },
];

function buildTwin(spec: TwinSpec, lib: Lib): { inputs: unknown; outputs: unknown } {
  const L = (lib === 'ours' ? layers : tf.layers) as unknown as Record<string, (c: unknown) => Apply>;
  const x = lib === 'ours' ? input({ shape: spec.inputShape }) : tf.input({ shape: spec.inputShape });
  return { inputs: x, outputs: spec.build(L, x) };
}

describe('twins with TF.js (cpu backend): one input split by two dense layers into a Dot', () => {
  for (const [k, spec] of twinSpecs.entries()) {
    it(spec.name, async () => {
      const ours = model(buildTwin(spec, 'ours') as Parameters<typeof model>[0]) as unknown as LayersModel;
      const theirs = tf.model(buildTwin(spec, 'tf') as Parameters<typeof tf.model>[0]);
      const x = randomArray(N * size(spec.inputShape), 70 + k, 1.5);
      const y = new Float32Array(N * spec.classes);
      for (let i = 0; i < N; i++) y[i * spec.classes + ((i * 7) % spec.classes)] = 1;
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'categoricalCrossentropy', engine: engine() });
      theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
      const start = await ours.getWeights();
      theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
      const steps = { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 as const };
      await theirs.fit(tf.tensor(x, [N, ...spec.inputShape]), tf.tensor(y, [N, spec.classes]), steps);
      await ours.fit(tensor(x, [N, ...spec.inputShape]), tensor(y, [N, spec.classes]), steps);
      const want = theirs.getWeights().map((t) => t.dataSync());
      for (const [i, w] of (await ours.getWeights()).entries()) {
        const delta = w.values.map((v, j) => v - start[i]!.values[j]!);
        const wantDelta = want[i]!.map((v, j) => v - start[i]!.values[j]!);
        expect(record('twin weight updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
      }
      const probe = randomArray(N * size(spec.inputShape), 80 + k);
      const got = (await ours.predict(tensor(probe, [N, ...spec.inputShape]))) as unknown as { values: Float32Array };
      expect(record('twin predictions', relL2(got.values, (theirs.predict(tf.tensor(probe, [N, ...spec.inputShape])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
      ours.dispose();
    });
  }
});

describe('model.json with TF.js', () => {
  for (const [k, spec] of twinSpecs.entries()) {
    it(`ours loads in TF.js and TF.js's loads here with the same predictions; the Dot configs equal TF.js's (model ${k + 1})`, async () => {
      const ours = model(buildTwin(spec, 'ours') as Parameters<typeof model>[0]) as unknown as LayersModel;
      ours.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', engine: engine() });
      const theirs = tf.model(buildTwin(spec, 'tf') as Parameters<typeof tf.model>[0]);
      const x = randomArray(4 * size(spec.inputShape), 90 + k);
      const predict = async (m: LayersModel) => ((await m.predict(tensor(x, [4, ...spec.inputShape]))) as unknown as { values: Float32Array }).values;
      const expected = await predict(ours);

      let artifacts: ModelArtifacts | undefined;
      await ours.save({ save: (a) => (artifacts = a) });
      const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts as unknown as tf.io.ModelArtifacts));
      expect(record('model.json ours → TF.js predictions', relL2((tfLoaded.predict(tf.tensor(x, [4, ...spec.inputShape])) as tf.Tensor).dataSync(), expected))).toBeLessThanOrEqual(1e-6);

      theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
      let tfArtifacts: tf.io.ModelArtifacts | undefined;
      await theirs.save(tf.io.withSaveHandler(async (a) => ((tfArtifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' as const } })));
      const tfDots = (tfArtifacts!.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }).config.layers.filter((l) => l.class_name === 'Dot');
      expect(tfDots).toHaveLength(2);
      for (const { config } of tfDots) expect(ours.layers.find((l) => l.name === config.name)!.getConfig()).toEqual(config);
      const loaded = await loadModel({ load: async () => tfArtifacts as unknown as ModelArtifacts }, { engine: engine() });
      expect(record('model.json TF.js → ours predictions', relL2(await predict(loaded as unknown as LayersModel), expected))).toBeLessThanOrEqual(1e-6);
      ours.dispose();
      loaded.dispose();
    });
  }
});
