/**
 * Property tests of the op families test/property.test.ts leaves out: the batched product, batch
 * and layer normalization, reductions, attention, the depthwise kernel gradient, average pooling,
 * the recurrent kernel gradient, the optimizer update and the flat elementwise kernels (the loss and
 * the convolutions' pooled and transposed forwards: test/property-losses-convs.test.ts). Each case
 * draws a seeded random geometry, an engine kind ('cpu', 'checked' = robustBufferAccess, 'gpu' =
 * kernelStyle 'tiled') and, per variant table of the family, a variant that applies there (one not
 * drawn yet when there is one), forced; forward and backward run on NaN-prefilled outputs (the
 * optimizer updates in place) against the float64 references. The last test of each family
 * checks that every variant of its tables was drawn. A failing case prints its geometry, engine
 * and variants; PROPERTY_ERRORS=1 prints the worst error per family, variant and engine kind.
 */
import { describe, expect, it } from 'vitest';
import { batchedMatmul, batchedMatmulBackward, batchedMatmulTable, type BatchedMatmulGeometry, type BatchedMatmulVariant } from '../src/ops/batched-matmul.ts';
import { batchNormTable, batchNormTrainBackward, batchNormTrainForward, layerNormBackward, layerNormForward, layerNormTable, lnGeometry, normGeometry } from '../src/ops/normalization.ts';
import { reduceBackwardDispatches, reduceDispatches, reduceGeometry, reduceTable } from '../src/ops/reduce.ts';
import { attentionBackward, attentionForward, attentionStatsFloats, attentionTable, type AttentionGeometry } from '../src/ops/attention.ts';
import { depthwiseConv2dBackward, depthwiseConv2dForward, depthwiseConv2dGeometry, depthwiseKernelGradTable } from '../src/ops/depthwise-conv2d.ts';
import { avgPoolBackward, avgPoolBackwardTable, avgPoolForward, avgPoolForwardTable, poolGeometry } from '../src/ops/pool.ts';
import { recurrentBackward, recurrentForward, recurrentGeometry, recurrentKernelGradTable, type CellKind } from '../src/ops/recurrent.ts';
import { optimizerUpdateTable, type UpdateGeometry } from '../src/optimizers/update-variants.ts';
import { flatDispatch, flatTable } from '../src/ops/elementwise.ts';
import { HYPER_BYTES } from '../src/optimizers.ts';
import { choose } from '../src/ops/variants.ts';
import { Random } from '../src/layers/initializers.ts';
import { adapterKey } from '../src/runtime/tuning.ts';
import { Usage, type Engine, type View } from '../src/runtime/engine.ts';
import type { KernelStyle } from '../shaders/kernel.ts';
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import type { UpdateRule } from '../shaders/optimizers.ts';
import { batchedMatmulRef } from './reference/dense.ts';
import { bnRef, lnRef } from './reference/normalization.ts';
import { reduceBackwardRef, reduceRef } from './reference/reduce.ts';
import { attentionRef, dropoutKeeps } from './reference/attention.ts';
import { depthwiseBackwardRef, depthwiseForwardRef } from './reference/depthwise.ts';
import { avgPoolBackwardRef, avgPoolForwardRef } from './reference/pool.ts';
import { randomWeights, recurrentRunBackwardRef, NUMBERS, recurrentRun } from './reference/recurrent.ts';
import { OPTIMIZER_CASES, references } from './reference/optimizers.ts';
import { FLAT_CASES } from './reference/elementwise.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { int, oneOf, propertyCases, relL2Checker, scratchOf, type Tables } from './property-draws.ts';

const engines = {
  cpu: useEngine(),
  checked: useEngine({ kernelStyle: 'registers', robustBufferAccess: true }),
  gpu: useEngine({ kernelStyle: 'tiled' }),
};
/** The worst relL2 per family, variant and engine kind; PROPERTY_ERRORS=1 prints them after the file. */
const checker = relL2Checker('PROPERTY_ERRORS');
const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);

/** A step uniform with these fields (stepInfoData). */
function stepUniform(e: Engine, step: number, seed: number, rows: number): View {
  const buffer = e.uniform(STEP_INFO_BYTES, 'property step info');
  e.write(buffer, stepInfoData(0, step, seed, rows));
  return { buffer, offset: 0, size: STEP_INFO_BYTES };
}

/** a with every float from `from` on NaN: the rows of a partial batch nobody may read. */
const nanFrom = (a: Float32Array, from: number) => (a.fill(NaN, from), a);

// ---- batched matrix product ---------------------------------------------------------------------

/** dA and dB of Σ C·dC for C = op(A)·op(B), each in its operand's layout: the sums written out, independent of the op's own gradient geometries. */
function batchedMatmulGradRef(a: ArrayLike<number>, b: ArrayLike<number>, dc: ArrayLike<number>, g: BatchedMatmulGeometry) {
  const { batch, m, n, k } = g;
  const da = new Float64Array(batch * m * k);
  const db = new Float64Array(batch * k * n);
  for (let t = 0; t < batch; t++)
    for (let i = 0; i < m; i++)
      for (let l = 0; l < k; l++) {
        const ai = t * m * k + (g.transposeA ? l * m + i : i * k + l);
        for (let j = 0; j < n; j++) {
          const bi = t * k * n + (g.transposeB ? j * k + l : l * n + j);
          const r = dc[(t * m + i) * n + j]!;
          da[ai] += r * b[bi]!;
          db[bi] += a[ai]! * r;
        }
      }
  return { da, db };
}

describe('batchedMatmul on random geometries', () => {
  propertyCases(41, { cpu: 2, checked: 1, gpu: 4 }, [batchedMatmulTable] as Tables, (r, draws, c, kind) => {
    // Every transpose pair in turn; sizes off the 4 × 4 blocks and the 32/64/128 tiles.
    const g: BatchedMatmulGeometry = { batch: int(r, 1, 3), m: int(r, 1, 37), n: int(r, 1, 37), k: int(r, 1, 23), transposeA: c % 2 === 1, transposeB: c % 4 >= 2 };
    it(`${JSON.stringify(g)} on ${kind}`, async () => {
      const e = engines[kind]();
      const variant = draws.draw(batchedMatmulTable, g, e) as BatchedMatmulVariant;
      const sizes = { a: g.batch * g.m * g.k, b: g.batch * g.k * g.n, c: g.batch * g.m * g.n };
      const [a, b, dc] = [randomArray(sizes.a, c * 10 + 1), randomArray(sizes.b, c * 10 + 2), randomArray(sizes.c, c * 10 + 3)];
      const views = { a: uploadView(e, a), b: uploadView(e, b) };
      const out = { c: nanBuffer(e, sizes.c), da: nanBuffer(e, sizes.a), db: nanBuffer(e, sizes.b) };
      e.run([...batchedMatmul(e, g, { ...views, c: out.c }, { variant }), ...batchedMatmulBackward(e, g, { ...views, dc: uploadView(e, dc), da: out.da, db: out.db }, { variant })]);
      const ref = batchedMatmulGradRef(a, b, dc, g);
      const check = checker('batchedMatmul', kind, variant);
      check('forward', 'C', relL2(await readF32(e, out.c, sizes.c), batchedMatmulRef(a, b, g)), 1e-5);
      check('backward', 'dA', relL2(await readF32(e, out.da, sizes.a), ref.da), 1e-4);
      check('backward', 'dB', relL2(await readF32(e, out.db, sizes.b), ref.db), 1e-4);
    });
  });
});

// ---- normalization ------------------------------------------------------------------------------

const EPS = 1e-3;

/** [batch, ...sample] of rank 2 to 4, sizes 1 to 7 (now and then 8: four channels a read), and the real rows of a batch that may be partial. */
function normShape(r: Random): { shape: number[]; rows: number } {
  const batch = int(r, 2, 6);
  const shape = [batch, ...Array.from({ length: int(r, 1, 3) }, () => (r.next() < 0.25 ? 8 : int(r, 1, 7)))];
  return { shape, rows: r.next() < 0.4 ? int(r, 1, batch - 1) : batch };
}

/** A normalization's backward against float64: dx over the real rows and exact zeros past them, dgamma and dbeta where the layer has them. */
async function checkNormBackward(
  e: Engine,
  check: ReturnType<typeof checker>,
  label: string,
  f: { scale: boolean; center: boolean },
  got: { dx: View; dgamma: View; dbeta: View },
  sizes: { total: number; real: number; params: number },
  back: { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array },
): Promise<void> {
  const dx = await readF32(e, got.dx, sizes.total);
  check('backward', 'dx', relL2(dx.slice(0, sizes.real), back.dx), 1e-4);
  expect(dx.slice(sizes.real).every((v) => v === 0), `${label} dx of the rows past the batch's`).toBe(true);
  if (f.scale) check('backward', 'dgamma', relL2(await readF32(e, got.dgamma, sizes.params), back.dgamma), 1e-4);
  if (f.center) check('backward', 'dbeta', relL2(await readF32(e, got.dbeta, sizes.params), back.dbeta), 1e-4);
}

describe('batch normalization (training) on random geometries', () => {
  propertyCases(51, { cpu: 2, checked: 2, gpu: 2 }, [batchNormTable] as Tables, (r, draws, c, kind) => {
    const { shape, rows } = normShape(r);
    const axis = int(r, 1, shape.length - 1) - (r.next() < 0.5 ? shape.length : 0);
    const f = { epsilon: EPS, scale: r.next() < 0.7, center: r.next() < 0.7, momentum: 0.9 };
    it(`${JSON.stringify({ shape, axis, rows, scale: f.scale, center: f.center })} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = normGeometry(shape[0]!, shape.slice(1), axis, 'property');
      const variant = draws.draw(batchNormTable, g, e) as KernelStyle;
      const { channels: C, inner: I } = g;
      const total = product(shape);
      const real = rows * g.perSample * C * I;
      // An offset of 40 (and one per channel): the statistics must not lose it.
      const x = nanFrom(randomArray(total, c * 10 + 1, 2).map((v, i) => v + (Math.floor(i / I) % C) * 0.3 + 40), real);
      const dy = nanFrom(randomArray(total, c * 10 + 2), real);
      const gamma = f.scale ? randomArray(C, c * 10 + 3).map((v) => v + 1.2) : new Float32Array(C).fill(1);
      const beta = f.center ? randomArray(C, c * 10 + 4) : new Float32Array(C);
      const [mm0, mv0] = [randomArray(C, c * 10 + 5), randomArray(C, c * 10 + 6).map((v) => v + 1.5)];
      const [xv, dyv, gv, bv, mm, mv] = [x, dy, gamma, beta, mm0, mv0].map((a) => uploadView(e, a));
      const [mean, variance, y, dx, dg, db] = [C, C, total, total, C, C].map((n) => nanBuffer(e, n));
      const io = { x: xv!, stepInfo: stepUniform(e, 0, 0, rows), mean: mean!, variance: variance!, gamma: gv, scratch: scratchOf(e) };
      e.run([
        ...batchNormTrainForward(e, g, f, { ...io, movingMean: mm!, movingVariance: mv!, beta: bv, y: y! }, { variant }),
        ...batchNormTrainBackward(e, g, f, { ...io, dy: dyv!, dx: dx!, dgamma: dg, dbeta: db }, { variant }),
      ]);
      const ref = bnRef(x, C, I, rows * g.perSample, gamma, beta, EPS);
      const back = ref.backward(dy);
      const check = checker('batchNorm', kind, variant);
      const label = `${kind} ${variant}`;
      check('forward', 'y', relL2((await readF32(e, y!, total)).slice(0, real), ref.y), 1e-5);
      check('forward', 'mean', relL2(await readF32(e, mean!, C), ref.mean), 1e-6);
      check('forward', 'variance', relL2(await readF32(e, variance!, C), ref.variance), 1e-5);
      check('forward', 'moving mean', relL2(await readF32(e, mm!, C), Float64Array.from(mm0, (m, k) => m * 0.9 + ref.mean[k]! * 0.1)), 1e-6);
      check('forward', 'moving variance', relL2(await readF32(e, mv!, C), Float64Array.from(mv0, (m, k) => m * 0.9 + ref.variance[k]! * 0.1)), 1e-5);
      await checkNormBackward(e, check, label, f, { dx: dx!, dgamma: dg!, dbeta: db! }, { total, real, params: C }, back);
    });
  });
});

describe('layer normalization on random geometries', () => {
  propertyCases(61, { cpu: 2, checked: 2, gpu: 2 }, [layerNormTable] as Tables, (r, draws, c, kind) => {
    const { shape, rows } = normShape(r);
    // A non-empty subset of the sample's axes, counting the batch axis.
    const axes = Array.from({ length: shape.length - 1 }, (_, d) => d + 1).filter(() => r.next() < 0.5);
    if (axes.length === 0) axes.push(int(r, 1, shape.length - 1));
    const f = { epsilon: EPS, scale: r.next() < 0.7, center: r.next() < 0.7 };
    it(`${JSON.stringify({ shape, axes, rows, scale: f.scale, center: f.center })} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = lnGeometry(shape[0]!, shape.slice(1), axes, 'property');
      const variant = draws.draw(layerNormTable, g, e) as KernelStyle;
      const N = product(axes.map((a) => shape[a]!));
      const total = product(shape);
      const groups = total / N;
      const real = (rows * total) / shape[0]!;
      const x = nanFrom(randomArray(total, c * 10 + 1, 2).map((v, i) => v + Math.floor(i / 7) * 0.1), real);
      const dy = nanFrom(randomArray(total, c * 10 + 2), real);
      const gamma = f.scale ? randomArray(N, c * 10 + 3).map((v) => v + 1.2) : new Float32Array(N).fill(1);
      const beta = f.center ? randomArray(N, c * 10 + 4) : new Float32Array(N);
      const [xv, dyv, gv, bv] = [x, dy, gamma, beta].map((a) => uploadView(e, a));
      const [y, rowMean, rowInv, dx, dg, db] = [total, groups, groups, total, N, N].map((n) => nanBuffer(e, n));
      const stats = { rowMean: rowMean!, rowInv: rowInv! };
      e.run([
        ...layerNormForward(e, g, f, { x: xv!, gamma: gv, beta: bv, y: y!, ...stats }),
        ...layerNormBackward(e, g, f, { x: xv!, dy: dyv!, ...stats, gamma: gv, stepInfo: stepUniform(e, 0, 0, rows), dx: dx!, dgamma: dg, dbeta: db, scratch: scratchOf(e) }, variant),
      ]);
      const ref = lnRef(x, shape.slice(1), axes, rows, gamma, beta, EPS);
      const back = ref.backward(dy);
      const check = checker('layerNorm', kind, variant);
      const label = `${kind} ${variant}`;
      check('forward', 'y', relL2((await readF32(e, y!, total)).slice(0, real), ref.y), 1e-5);
      await checkNormBackward(e, check, label, f, { dx: dx!, dgamma: dg!, dbeta: db! }, { total, real, params: N }, back);
    });
  });
});

// ---- reductions ---------------------------------------------------------------------------------

describe('reductions (sum, max) on random geometries', () => {
  propertyCases(71, { cpu: 3, checked: 2, gpu: 3 }, [reduceTable] as Tables, (r, draws, c, kind) => {
    // Half the cases reduce few long lines (several passes: over 256 on CPU rasterizers, over 1,024 on GPUs); sum and max in turn.
    const long = c % 4 < 2;
    const op = c % 2 === 0 ? 'sum' : 'max';
    const shape = long ? [int(r, 1, 2), int(r, 300, 2500), int(r, 1, 3)] : Array.from({ length: int(r, 1, 4) }, () => int(r, 1, 9));
    const first = long ? 1 : int(r, 0, shape.length - 1);
    const axes = Array.from({ length: long ? 1 : int(r, 1, shape.length - first) }, (_, i) => first + i - (r.next() < 0.3 ? shape.length : 0));
    it(`${op} ${JSON.stringify({ shape, axes })} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = reduceGeometry(shape, axes);
      const variant = draws.draw(reduceTable, g, e) as KernelStyle;
      const n = product(shape);
      const m = g.outer * g.inner;
      // Max over values on a grid of 1/4: ties, which go to each line's first maximum.
      const x = randomArray(n, c * 10 + 1).map((v) => (op === 'max' ? Math.round(v * 4) / 4 : v));
      const dy = randomArray(m, c * 10 + 2);
      const xv = uploadView(e, x);
      const [y, dx] = [nanBuffer(e, m), nanBuffer(e, n)];
      const scratch = scratchOf(e);
      e.run([...reduceDispatches(e, op, g, { x: xv, y }, scratch, { variant }), ...reduceBackwardDispatches(e, op, g, { x: xv, dy: uploadView(e, dy), dx }, scratch, variant)]);
      const check = checker('reduce', kind, variant, ` ${reduceTable.key(g)}`);
      check('forward', 'y', relL2(await readF32(e, y, m), reduceRef(x, g, op)), 1e-5);
      check('backward', 'dx', relL2(await readF32(e, dx, n), reduceBackwardRef(x, dy, g, op)), 1e-6);
    });
  });
});

// ---- attention ----------------------------------------------------------------------------------

describe('fused attention on random geometries', () => {
  const STEP = { step: 3, seed: 17 };
  propertyCases(81, { cpu: 3, checked: 2, gpu: 3 }, [attentionTable] as Tables, (r, draws, c, kind) => {
    // Two rows or more each way (one query or one key makes the softmax trivial).
    const g: AttentionGeometry = {
      batch: int(r, 1, 2),
      heads: int(r, 1, 3),
      queries: int(r, 2, 9),
      keys: int(r, 2, 9),
      keyDim: int(r, 1, 9),
      valueDim: int(r, 1, 9),
      mask: c % 2 === 0,
      causal: r.next() < 0.3,
      dropout: r.next() < 0.25 ? 0.3 : 0,
      seed: int(r, 0, 1000),
    };
    it(`${JSON.stringify(g)} on ${kind}`, async () => {
      const e = engines[kind]();
      const variant = draws.draw(attentionTable, g, e) as KernelStyle;
      const sizes = { q: g.batch * g.queries * g.heads * g.keyDim, k: g.batch * g.keys * g.heads * g.keyDim, v: g.batch * g.keys * g.heads * g.valueDim, o: g.batch * g.queries * g.heads * g.valueDim };
      const [q, k, v, dout] = [randomArray(sizes.q, c * 10 + 1, 1.5), randomArray(sizes.k, c * 10 + 2, 1.5), randomArray(sizes.v, c * 10 + 3), randomArray(sizes.o, c * 10 + 4)];
      // A random mask keeping about three keys in four (a row may lose them all).
      const mask = g.mask ? randomArray(g.batch * g.queries * g.keys, c * 10 + 5).map((u) => (u < 0.5 ? 1 : 0)) : undefined;
      const views = { q: uploadView(e, q), k: uploadView(e, k), v: uploadView(e, v), mask: mask && uploadView(e, mask), stepInfo: stepUniform(e, STEP.step, STEP.seed, g.batch) };
      const out = { o: nanBuffer(e, sizes.o), stats: nanBuffer(e, attentionStatsFloats(g)) };
      const grads = { dq: nanBuffer(e, sizes.q), dk: nanBuffer(e, sizes.k), dv: nanBuffer(e, sizes.v) };
      e.run([...attentionForward(e, g, { ...views, ...out }, { variant }), ...attentionBackward(e, g, { ...views, ...out, dout: uploadView(e, dout), ...grads }, { variant })]);
      const rg = { ...g, keeps: g.dropout > 0 ? dropoutKeeps(g.dropout, g.seed, STEP.step, STEP.seed) : undefined };
      const check = checker('attention', kind, variant);
      const label = `${kind} ${variant}`;
      check('forward', 'o', relL2(await readF32(e, out.o, sizes.o), attentionRef(q, k, v, rg, mask).o), 1e-5);
      // The gradients against central differences of the float64 forward, on a sample of each operand.
      const f64 = { q: toF64(q), k: toF64(k), v: toF64(v) };
      const got = { q: await readF32(e, grads.dq, sizes.q), k: await readF32(e, grads.dk, sizes.k), v: await readF32(e, grads.dv, sizes.v) };
      for (const name of ['q', 'k', 'v'] as const) {
        const idx = sampleIndices(f64[name].length, 24, c + name.charCodeAt(0));
        const loss = (x: Float64Array) => dot(attentionRef(name === 'q' ? x : f64.q, name === 'k' ? x : f64.k, name === 'v' ? x : f64.v, rg, mask).o, dout);
        const fd = finiteDifferences(loss, f64[name], idx);
        // A gradient that is zero throughout (every key masked) must come back as zeros.
        if (fd.every((d) => d === 0)) expect(pick(got[name], idx).every((d) => d === 0), `${label} d${name}`).toBe(true);
        else check('backward', `d${name}`, relL2(pick(got[name], idx), fd), 1e-5);
      }
    });
  });
});

// ---- depthwise convolution's kernel gradient, average pooling --------------------------------

describe('depthwise conv2d on random geometries', () => {
  propertyCases(91, { cpu: 2, checked: 2, gpu: 2 }, [depthwiseKernelGradTable] as Tables, (r, draws, c, kind) => {
    const kernelSize: [number, number] = [int(r, 1, 3), int(r, 1, 3)];
    const strided = r.next() < 0.4;
    const dilated = !strided && r.next() < 0.3;
    const options = {
      batch: int(r, 1, 3),
      inputShape: [int(r, 5, 9), int(r, 5, 9), r.next() < 0.5 ? oneOf(r, [4, 8]) : int(r, 1, 9)],
      kernelSize,
      depthMultiplier: int(r, 1, 3),
      strides: (strided ? [int(r, 1, 2), int(r, 1, 2)] : [1, 1]) as [number, number],
      dilationRate: (dilated ? [int(r, 1, 2), int(r, 1, 2)] : [1, 1]) as [number, number],
      padding: oneOf(r, ['valid', 'same'] as const),
      relu: r.next() < 0.5,
      useBias: r.next() < 0.7,
    };
    it(`${JSON.stringify(options)} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = depthwiseConv2dGeometry(options);
      const kernelGrad = draws.draw(depthwiseKernelGradTable, g, e);
      const outC = g.inC * g.multiplier;
      const sizes = { x: g.batch * g.inH * g.inW * g.inC, w: g.kH * g.kW * outC, y: g.batch * g.outH * g.outW * outC };
      const [x, w, b, dy] = [randomArray(sizes.x, c * 10 + 1), randomArray(sizes.w, c * 10 + 2), randomArray(outC, c * 10 + 3), randomArray(sizes.y, c * 10 + 4)];
      const views = { x: uploadView(e, x), w: uploadView(e, w), b: g.bias ? uploadView(e, b) : null, y: nanBuffer(e, sizes.y) };
      const grads = { dy: uploadView(e, dy), dx: nanBuffer(e, sizes.x), dw: nanBuffer(e, sizes.w), db: g.bias ? nanBuffer(e, outC) : null };
      e.run([...depthwiseConv2dForward(e, g, views), ...depthwiseConv2dBackward(e, g, { ...views, ...grads, scratch: scratchOf(e) }, { kernelGrad })]);
      const bias = g.bias ? b : null;
      const ref = depthwiseBackwardRef(g, x, w, bias, dy);
      const check = checker('depthwiseConv2d.kernelGrad', kind, kernelGrad);
      check('forward', 'y', relL2(await readF32(e, views.y, sizes.y), depthwiseForwardRef(g, x, w, bias)), 1e-6);
      check('backward', 'dx', relL2(await readF32(e, grads.dx, sizes.x), ref.dx), 1e-6);
      check('backward', 'dw', relL2(await readF32(e, grads.dw, sizes.w), ref.dw), 1e-6);
      if (grads.db) check('backward', 'db', relL2(await readF32(e, grads.db, outC), ref.db), 1e-6);
    });
  });
});

describe('average pooling on random geometries', () => {
  propertyCases(101, { cpu: 2, checked: 2, gpu: 4 }, [avgPoolForwardTable, avgPoolBackwardTable] as Tables, (r, draws, c, kind) => {
    // Windows of 2 or more taps (a 1 × 1 window copies).
    const pool: [number, number] = [int(r, 1, 3), int(r, 1, 3)];
    if (pool[0] * pool[1] === 1) pool[int(r, 0, 1)] = int(r, 2, 3);
    // Half the cases have windows that do not overlap (stride ≥ pool), where the backward's 'cells' applies.
    const disjoint = r.next() < 0.5;
    const strides: [number, number] = disjoint ? [pool[0] + int(r, 0, 1), pool[1] + int(r, 0, 1)] : [int(r, 1, 3), int(r, 1, 3)];
    const mode = oneOf(r, ['valid', 'same'] as const);
    const shape = [int(r, pool[0], 10), int(r, pool[1], 10), r.next() < 0.5 ? oneOf(r, [4, 8]) : int(r, 1, 9)];
    const batch = int(r, 1, 3);
    it(`${JSON.stringify({ batch, shape, pool, strides, mode })} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = poolGeometry(batch, shape, pool, strides, mode, 'average pooling');
      const forward = draws.draw(avgPoolForwardTable, g, e);
      const backward = draws.draw(avgPoolBackwardTable, g, e);
      const nx = batch * g.height * g.width * g.channels;
      const ny = batch * g.outHeight * g.outWidth * g.channels;
      const [x, dy] = [randomArray(nx, c + 1), randomArray(ny, c + 100)];
      const views = { x: uploadView(e, x), y: nanBuffer(e, ny), dy: uploadView(e, dy), dx: nanBuffer(e, nx) };
      e.run([...avgPoolForward(e, g, views, forward), ...avgPoolBackward(e, g, views, backward)]);
      checker('avgPool.forward', kind, forward)('forward', 'y', relL2(await readF32(e, views.y, ny), avgPoolForwardRef(x, g)), 1e-6);
      checker('avgPool.backward', kind, backward)('backward', 'dx', relL2(await readF32(e, views.dx, nx), avgPoolBackwardRef(dy, g)), 1e-6);
    });
  });
});

// ---- the recurrent kernel gradient ------------------------------------------------------------

/** Engines that take an imported tuning record: the way a variant of the recurrent kernel gradient is forced (recurrentBackward has no option for it). */
const tunedEngines = {
  cpu: useEngine({ tune: 'first-use', tuningStore: false }),
  checked: useEngine({ kernelStyle: 'registers', robustBufferAccess: true, tune: 'first-use', tuningStore: false }),
  gpu: useEngine({ kernelStyle: 'tiled', tune: 'first-use', tuningStore: false }),
};

describe('recurrent layers on random geometries (the kernel gradient)', () => {
  const cells: [CellKind, boolean][] = [['simpleRNN', false], ['lstm', false], ['gru', false], ['gru', true]];
  propertyCases(111, { cpu: 5, checked: 2, gpu: 1 }, [recurrentKernelGradTable] as Tables, (r, draws, c, kind) => {
    const [cell, resetAfter] = cells[c % cells.length]!;
    const options = {
      cell,
      resetAfter,
      batch: int(r, 1, 3),
      inputShape: [int(r, 1, 5), int(r, 1, 6)],
      units: r.next() < 0.3 ? 8 : int(r, 1, 7),
      activation: oneOf(r, ['tanh', 'tanh', 'softsign'] as const),
      recurrentActivation: oneOf(r, ['sigmoid', 'hardSigmoid'] as const),
      bias: r.next() < 0.7,
      returnSequences: r.next() < 0.5,
      goBackwards: r.next() < 0.3,
      masked: r.next() < 0.3,
    };
    it(`${JSON.stringify(options)} on ${kind}`, async () => {
      const e = tunedEngines[kind]();
      const g = recurrentGeometry(options);
      const variant = draws.draw(recurrentKernelGradTable, g, e);
      const op = recurrentKernelGradTable.op;
      const key = recurrentKernelGradTable.key(g);
      const hand = choose(recurrentKernelGradTable, g, { profile: e.profile }).name;
      e.importTuning({ format: 'webgpu-train-tuning', version: 1, adapters: { [adapterKey(e.profile)]: { [`${op}|${key}`]: { op, key, variant, hand, ms: {} } } } });
      const { batch: B, time: T, inputs: IN, units: U } = g;
      const cols = g.gates * U;
      const x = randomArray(B * T * IN, c * 10 + 1);
      const w = randomWeights(g, c * 10 + 2);
      const dy = randomArray(B * (g.returnSequences ? T : 1) * U, c * 10 + 5);
      // A Keras mask dropping about one step in four (a row's first step stays).
      const mask = g.masked ? Float32Array.from(randomArray(B * T, c * 10 + 6), (u, i) => (i % T === 0 || u > -0.5 ? 1 : 0)) : undefined;
      const views = {
        x: uploadView(e, x),
        kernel: uploadView(e, Float32Array.from(w.kernel)),
        recurrentKernel: uploadView(e, Float32Array.from(w.recurrentKernel)),
        bias: w.bias ? uploadView(e, Float32Array.from(w.bias)) : undefined,
        y: nanBuffer(e, dy.length),
        stepInfo: stepUniform(e, 1, 7, B),
        mask: mask && uploadView(e, mask),
      };
      const biasLength = (g.resetAfter ? 2 : 1) * cols;
      const grads = { dy: uploadView(e, dy), dx: nanBuffer(e, x.length), dKernel: nanBuffer(e, IN * cols), dRecurrentKernel: nanBuffer(e, U * cols), dBias: g.bias ? nanBuffer(e, biasLength) : undefined };
      const memory = { scratch: scratchOf(e), saved: new Map<string, View>() };
      const { choices, result: dispatches } = e.recordVariantChoices(() => [...recurrentForward(e, g, views, memory), ...recurrentBackward(e, g, { ...views, ...grads }, memory)]);
      const check = checker('recurrent.kernelGrad', kind, variant);
      const label = `${kind} ${variant}`;
      expect(choices.find((ch) => ch.op === op)?.variant, `${label}: the imported choice runs`).toBe(variant);
      e.run(dispatches);
      const run = recurrentRun(NUMBERS, g, x, w, { mask });
      const ref = recurrentRunBackwardRef(g, x, w, { dy }, { mask });
      check('forward', 'y', relL2(await readF32(e, views.y, dy.length), run.y), 1e-6);
      check('backward', 'dU', relL2(await readF32(e, grads.dRecurrentKernel, U * cols), ref.dRecurrentKernel), 1e-5);
      check('backward', 'dW', relL2(await readF32(e, grads.dKernel, IN * cols), ref.dKernel), 1e-5);
      check('backward', 'dx', relL2(await readF32(e, grads.dx, x.length), ref.dx), 1e-5);
      if (grads.dBias) check('backward', 'db', relL2(await readF32(e, grads.dBias, biasLength), ref.dBias!), 1e-5);
    });
  });
});

// ---- the optimizer update, the flat elementwise kernels --------------------------------------

/** The update rules, each with the names of its cases in OPTIMIZER_CASES. */
const OPTIMIZER_RULES: [string, RegExp][] = [
  ['SGD', /^sgd( weight decay)?$/],
  ['momentum', /^(sgd )?momentum$/],
  ['Nesterov', /nesterov/],
  ['RMSprop', /^rmsprop( momentum)?$/],
  ['RMSprop centered', /^rmsprop centered/],
  ['Adam', /^adam$/],
  ['AMSGrad', /amsgrad/],
  ['AdamW', /^adamw$/],
  ['Adamax', /^adamax/],
  ['Nadam', /^nadam/],
  ['Adagrad', /^adagrad/],
  ['Adadelta', /^adadelta/],
];

describe('optimizer updates on random sizes', () => {
  propertyCases(121, { cpu: 5, checked: 3, gpu: 4 }, [optimizerUpdateTable] as Tables, (r, draws, c, kind) => {
    // Each rule in turn, a random case of it from the reference's list.
    const [rule, pattern] = OPTIMIZER_RULES[c]!;
    const [name, make] = oneOf(r, OPTIMIZER_CASES.filter(([caseName]) => pattern.test(caseName)));
    const n = c % 2 === 0 ? 4 * int(r, 1, 150) : 4 * int(r, 0, 150) + int(r, 1, 3);
    it(`${rule} (${name}), n=${n}, 3 steps on ${kind}`, async () => {
      const e = engines[kind]();
      const opt = make();
      // The update's geometry as Optimizer.dispatches builds it (no clipping here).
      const g: UpdateGeometry = { n, rule: (opt as unknown as { rule(): UpdateRule }).rule(), options: { clip: { kind: 'none' }, weightDecay: opt.weightDecay } };
      const variant = draws.draw(optimizerUpdateTable, g, e);
      const w0 = randomArray(n, c * 10 + 1);
      const params = uploadView(e, w0);
      const gradView = uploadView(e, new Float32Array(n));
      const slots = opt.slotNames.map(() => uploadView(e, new Float32Array(n)));
      const hyper = { buffer: e.device.createBuffer({ size: HYPER_BYTES, usage: Usage.UNIFORM | Usage.COPY_DST, label: 'property hyper' }) };
      const stepInfo = stepUniform(e, 1, 0, 1);
      const segments = [{ offset: 0, size: n }];
      const dispatches = opt.dispatches(e, n, { params, grads: gradView, slots, hyper, stepInfo, segments, scratch: (floats) => nanBuffer(e, floats) }, variant);
      const ref = references(opt, segments);
      const w = toF64(w0);
      const refSlots = opt.slotNames.map(() => new Float64Array(n));
      // Ten times the default rate (halved after the first step), so that the displacement is measurable.
      const base = opt.learningRate * 10;
      for (const [k, scale] of [1, 0.2, 3].entries()) {
        const grad = randomArray(n, c * 10 + 2 + k, scale);
        opt.learningRate = k < 1 ? base : base / 2;
        e.write(stepInfo.buffer, stepInfoData(0, k + 1, 0, 1));
        opt.prepareStep(e, hyper, k + 1);
        e.write(gradView, grad);
        e.run(dispatches);
        ref(w, grad, refSlots, opt.learningRate, k + 1);
      }
      const got = await readF32(e, params, n);
      hyper.buffer.destroy();
      const check = checker('optimizer.update', kind, variant);
      check('update', 'weights', relL2(got, w), 1e-5);
      check('update', 'displacement', relL2(got.map((v, i) => v - w0[i]!), w.map((v, i) => v - w0[i]!)), 1e-5);
      for (const [k, slot] of slots.entries()) check('update', `slot ${opt.slotNames[k]}`, relL2(await readF32(e, slot, n), refSlots[k]!), 1e-5);
    });
  });
});

describe('flat elementwise kernels on random sizes', () => {
  propertyCases(131, { cpu: 3, checked: 2, gpu: 3 }, [flatTable] as Tables, (r, draws, c, kind) => {
    const { op, inputs, ref } = oneOf(r, FLAT_CASES);
    // Counts that are multiples of 4 (where 'vec4' applies) and counts that are not, neither of 256.
    const n = c % 2 === 0 ? 4 * int(r, 1, 800) : 4 * int(r, 0, 800) + int(r, 1, 3);
    it(`${JSON.stringify(op)}, n=${n} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = { op, n };
      const variant = draws.draw(flatTable, g, e);
      const xs = Array.from({ length: inputs }, (_, k) => randomArray(n, c * 10 + k, 3));
      const before = randomArray(n, c * 10 + 9);
      const out = op.kind === 'accumulate' ? uploadView(e, before) : nanBuffer(e, n);
      e.run([flatDispatch(e, g, [...xs.map((x) => uploadView(e, x)), out], variant)]);
      checker('elementwise.flat', kind, variant)('forward', 'out', relL2(await readF32(e, out, n), ref(xs.map(toF64), toF64(before))), 1e-6);
    });
  });
});
