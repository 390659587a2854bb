/**
 * BatchNormalization and LayerNormalization: the ops against float64 references (forward, backward,
 * central finite differences, a partial batch whose extra rows hold NaN), and twins with TF.js 4.22
 * (cpu backend): training with a partial last batch (weight updates, moving statistics,
 * inference predictions), a frozen BatchNormalization, and model.json both ways.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layers, loadModel, optimizers, sequential, tensor, type LayersModel } from '../src/index.ts';
import type { View } from '../src/runtime/engine.ts';
import { stepInfoData, STEP_INFO_BYTES } from '../shaders/kernel.ts';
import {
  batchNormAffineBackward,
  batchNormApply,
  batchNormTrainBackward,
  batchNormTrainForward,
  layerNormBackward,
  layerNormForward,
  normGeometry,
} from '../src/ops/normalization.ts';
import { dot, finiteDifferences, measuredErrors, nanBuffer, randomArray, readF32, relL2, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();
const record = measuredErrors('NORM_ERRORS', ['fwd', 'bwd', 'fd', 'moving']);

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const EPS = 1e-3;

function stepInfo(rows: number): View {
  const e = engine();
  const buffer = e.uniform(STEP_INFO_BYTES, 'test step info');
  e.write(buffer, stepInfoData(0, 0, 0, rows));
  return { buffer, offset: 0, size: STEP_INFO_BYTES };
}

function sprinkleNaN(a: Float32Array, from: number): Float32Array {
  const b = a.slice();
  b.fill(NaN, from);
  return b;
}

// ---- float64 references ----------------------------------------------------------------------

/** BN training over the first n rows of [*, C]: y, mean, biased variance, and the backward. */
function bnRef(x: ArrayLike<number>, C: number, n: number, gamma: ArrayLike<number>, beta: ArrayLike<number>) {
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let r = 0; r < n; r++) for (let c = 0; c < C; c++) mean[c] += x[r * C + c]! / n;
  for (let r = 0; r < n; r++) for (let c = 0; c < C; c++) variance[c] += (x[r * C + c]! - mean[c]!) ** 2 / n;
  const inv = variance.map((v) => 1 / Math.sqrt(v + EPS));
  const y = new Float64Array(n * C);
  for (let i = 0; i < n * C; i++) y[i] = (x[i]! - mean[i % C]!) * inv[i % C]! * gamma[i % C]! + beta[i % C]!;
  const backward = (dy: ArrayLike<number>) => {
    const sdy = new Float64Array(C);
    const sdyx = new Float64Array(C);
    for (let i = 0; i < n * C; i++) {
      const c = i % C;
      sdy[c] += dy[i]!;
      sdyx[c] += dy[i]! * (x[i]! - mean[c]!) * inv[c]!;
    }
    const dx = new Float64Array(n * C);
    for (let i = 0; i < n * C; i++) {
      const c = i % C;
      const xh = (x[i]! - mean[c]!) * inv[c]!;
      dx[i] = (gamma[c]! * inv[c]! * (n * dy[i]! - sdy[c]! - xh * sdyx[c]!)) / n;
    }
    return { dx, dgamma: sdyx, dbeta: sdy };
  };
  return { y, mean, variance, backward };
}

function lnRef(x: ArrayLike<number>, C: number, n: number, gamma: ArrayLike<number>, beta: ArrayLike<number>) {
  const y = new Float64Array(n * C);
  const xh = new Float64Array(n * C);
  const inv = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[r * C + c]! / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c]! - m) ** 2 / C;
    inv[r] = 1 / Math.sqrt(v + EPS);
    for (let c = 0; c < C; c++) {
      xh[r * C + c] = (x[r * C + c]! - m) * inv[r]!;
      y[r * C + c] = xh[r * C + c]! * gamma[c]! + beta[c]!;
    }
  }
  const backward = (dy: ArrayLike<number>) => {
    const dx = new Float64Array(n * C);
    const dgamma = new Float64Array(C);
    const dbeta = new Float64Array(C);
    for (let r = 0; r < n; r++) {
      let mg = 0;
      let mgx = 0;
      for (let c = 0; c < C; c++) {
        const g = dy[r * C + c]! * gamma[c]!;
        mg += g / C;
        mgx += (g * xh[r * C + c]!) / C;
        dgamma[c] += dy[r * C + c]! * xh[r * C + c]!;
        dbeta[c] += dy[r * C + c]!;
      }
      for (let c = 0; c < C; c++) dx[r * C + c] = inv[r]! * (dy[r * C + c]! * gamma[c]! - mg - xh[r * C + c]! * mgx);
    }
    return { dx, dgamma, dbeta };
  };
  return { y, backward };
}

// ---- ops -------------------------------------------------------------------------------------

const CASES: { shape: number[]; rows: number }[] = [
  { shape: [5, 7], rows: 5 },
  { shape: [3, 5, 6, 7], rows: 3 },
  { shape: [6, 3, 5], rows: 4 }, // partial batch: rows 4 and 5 hold NaN
  { shape: [5, 3, 8], rows: 4 }, // channels a multiple of 4: the vec4 kernels, partial batch
];

describe('batch normalization op (float64 reference)', () => {
  for (const { shape, rows, affine } of [...CASES.map((c) => ({ ...c, affine: true })), { ...CASES[2]!, affine: false }]) {
    const name = `BN [${shape.join(', ')}] rows ${rows}${affine ? '' : ' (no scale, no center)'}`;
    it(`${name}: training forward, moving statistics, backward, finite differences`, async () => {
      const e = engine();
      const batch = shape[0]!;
      const g = normGeometry(batch, shape.slice(1), 'test');
      const C = g.channels;
      const total = batch * g.perSample * C;
      const real = rows * g.perSample;
      const x = sprinkleNaN(randomArray(total, 1, 2).map((v, i) => v + (i % C) * 0.3), real * C);
      const dy = sprinkleNaN(randomArray(total, 2), real * C);
      const gamma = affine ? randomArray(C, 3).map((v) => v + 1.2) : new Float32Array(C).fill(1);
      const beta = affine ? randomArray(C, 4) : new Float32Array(C);
      const mm0 = randomArray(C, 5);
      const mv0 = randomArray(C, 6).map((v) => v + 1.5);
      const momentum = 0.9;
      const info = stepInfo(rows);
      const [xv, dyv, gv, bv, mm, mv] = [x, dy, gamma, beta, mm0, mv0].map((a) => uploadView(e, a));
      const [mean, variance, y, dx, dg, db, sums] = [C, C, total, total, C, C, 2 * C].map((n) => nanBuffer(e, n));
      const f = { epsilon: EPS, scale: affine, center: affine, momentum };
      e.run([
        ...batchNormTrainForward(e, g, f, { x: xv!, stepInfo: info, mean: mean!, variance: variance!, movingMean: mm!, movingVariance: mv!, gamma: gv, beta: bv, y: y! }),
        ...batchNormTrainBackward(e, g, f, { x: xv!, dy: dyv!, mean: mean!, variance: variance!, gamma: gv, stepInfo: info, sums: sums!, dx: dx!, dgamma: dg, dbeta: db }),
      ]);
      if (!affine) {
        // Σdy·x̂ and Σdy are still what dγ and dβ would be: read them from the sums.
        const sumsRead = await readF32(e, sums!, 2 * C);
        e.write(dg!.buffer, sumsRead.slice(C));
        e.write(db!.buffer, sumsRead.slice(0, C));
      }
      const ref = bnRef(x, C, real, gamma, beta);
      const gotY = (await readF32(e, y!, total)).slice(0, real * C);
      expect(record(name, 'fwd', relL2(gotY, ref.y))).toBeLessThanOrEqual(1e-5);
      expect(relL2(await readF32(e, mean!, C), ref.mean)).toBeLessThanOrEqual(1e-5);
      expect(relL2(await readF32(e, variance!, C), ref.variance)).toBeLessThanOrEqual(1e-5);
      const wantMM = mm0.map((m, c) => m * momentum + ref.mean[c]! * (1 - momentum));
      const wantMV = mv0.map((m, c) => m * momentum + ref.variance[c]! * (1 - momentum));
      expect(record(name, 'moving', relL2(await readF32(e, mm!, C), wantMM))).toBeLessThanOrEqual(1e-6);
      expect(record(name, 'moving', relL2(await readF32(e, mv!, C), wantMV))).toBeLessThanOrEqual(1e-6);
      const back = ref.backward(dy);
      const gotDx = await readF32(e, dx!, total);
      expect(record(name, 'bwd', relL2(gotDx.slice(0, real * C), back.dx))).toBeLessThanOrEqual(1e-4);
      expect(Array.from(gotDx.slice(real * C)).every((v) => v === 0)).toBe(true); // the extra rows get no gradient
      expect(record(name, 'bwd', relL2(await readF32(e, dg!, C), back.dgamma))).toBeLessThanOrEqual(1e-4);
      expect(record(name, 'bwd', relL2(await readF32(e, db!, C), back.dbeta))).toBeLessThanOrEqual(1e-4);
      // Central finite differences of Σ y·dy over the real rows, for x, γ and β together.
      const n = real * C;
      const p = Float64Array.from([...x.slice(0, n), ...gamma, ...beta]);
      const loss = (q: Float64Array) => dot(bnRef(q.subarray(0, n), C, real, q.subarray(n, n + C), q.subarray(n + C)).y, dy);
      const fd = finiteDifferences(loss, p);
      const got = Float64Array.from([...gotDx.slice(0, n), ...(await readF32(e, dg!, C)), ...(await readF32(e, db!, C))]);
      expect(record(name, 'fd', relL2(got, fd))).toBeLessThanOrEqual(1e-4);
      for (const v of [xv, dyv, gv, bv, mm, mv, mean, variance, y, dx, dg, db, sums, info]) e.release(v!.buffer);
    });
  }

  it('inference (moving statistics): forward and the affine backward', async () => {
    const e = engine();
    const shape = [4, 3, 5];
    const g = normGeometry(shape[0]!, shape.slice(1), 'test');
    const C = 5;
    const total = 60;
    const x = randomArray(total, 7, 2);
    const dy = randomArray(total, 8);
    const gamma = randomArray(C, 9).map((v) => v + 1.2);
    const beta = randomArray(C, 10);
    const mm = randomArray(C, 11);
    const mv = randomArray(C, 12).map((v) => v + 1.5);
    const [xv, dyv, gv, bv, mmv, mvv] = [x, dy, gamma, beta, mm, mv].map((a) => uploadView(e, a));
    const [y, dx] = [nanBuffer(e, total), nanBuffer(e, total)];
    const f = { epsilon: EPS, scale: true, center: true };
    e.run([
      ...batchNormApply(e, g, f, { x: xv!, mean: mmv!, variance: mvv!, gamma: gv, beta: bv, y }),
      ...batchNormAffineBackward(e, g, f, { dy: dyv!, variance: mvv!, gamma: gv, dx }),
    ]);
    const k = (c: number) => gamma[c]! / Math.sqrt(mv[c]! + EPS);
    const wantY = Float64Array.from(x, (v, i) => (v - mm[i % C]!) * k(i % C) + beta[i % C]!);
    const wantDx = Float64Array.from(dy, (v, i) => v * k(i % C));
    expect(record('BN inference', 'fwd', relL2(await readF32(e, y, total), wantY))).toBeLessThanOrEqual(1e-5);
    expect(record('BN inference', 'bwd', relL2(await readF32(e, dx, total), wantDx))).toBeLessThanOrEqual(1e-5);
  });
});

describe('layer normalization op (float64 reference)', () => {
  for (const { shape, rows, affine } of [...CASES.map((c) => ({ ...c, affine: true })), { ...CASES[2]!, affine: false }]) {
    const name = `LN [${shape.join(', ')}] rows ${rows}${affine ? '' : ' (no scale, no center)'}`;
    it(`${name}: forward, backward, finite differences`, async () => {
      const e = engine();
      const batch = shape[0]!;
      const g = normGeometry(batch, shape.slice(1), 'test');
      const C = g.channels;
      const total = batch * g.perSample * C;
      const real = rows * g.perSample;
      const x = sprinkleNaN(randomArray(total, 21, 2).map((v, i) => v + Math.floor(i / C) * 0.1), real * C);
      const dy = sprinkleNaN(randomArray(total, 22), real * C);
      const gamma = affine ? randomArray(C, 23).map((v) => v + 1.2) : new Float32Array(C).fill(1);
      const beta = affine ? randomArray(C, 24) : new Float32Array(C);
      const info = stepInfo(rows);
      const [xv, dyv, gv, bv] = [x, dy, gamma, beta].map((a) => uploadView(e, a));
      const rowsAll = batch * g.perSample;
      const [y, rm, ri, dx, dg, db] = [total, rowsAll, rowsAll, total, C, C].map((n) => nanBuffer(e, n));
      const f = { epsilon: EPS, scale: affine, center: affine };
      e.run([
        ...layerNormForward(e, g, f, { x: xv!, gamma: gv, beta: bv, y: y!, rowMean: rm!, rowInv: ri! }),
        ...layerNormBackward(e, g, f, { x: xv!, dy: dyv!, rowMean: rm!, rowInv: ri!, gamma: gv, stepInfo: info, dx: dx!, dgamma: dg, dbeta: db }),
      ]);
      const ref = lnRef(x, C, real, gamma, beta);
      expect(record(name, 'fwd', relL2((await readF32(e, y!, total)).slice(0, real * C), ref.y))).toBeLessThanOrEqual(1e-5);
      const back = ref.backward(dy);
      const gotDx = await readF32(e, dx!, total);
      expect(record(name, 'bwd', relL2(gotDx.slice(0, real * C), back.dx))).toBeLessThanOrEqual(1e-4);
      expect(Array.from(gotDx.slice(real * C)).every((v) => v === 0)).toBe(true);
      const n = real * C;
      if (affine) {
        const gotDg = await readF32(e, dg!, C);
        const gotDb = await readF32(e, db!, C);
        expect(record(name, 'bwd', relL2(gotDg, back.dgamma))).toBeLessThanOrEqual(1e-4);
        expect(record(name, 'bwd', relL2(gotDb, back.dbeta))).toBeLessThanOrEqual(1e-4);
        const p = Float64Array.from([...x.slice(0, n), ...gamma, ...beta]);
        const loss = (q: Float64Array) => dot(lnRef(q.subarray(0, n), C, real, q.subarray(n, n + C), q.subarray(n + C)).y, dy);
        expect(record(name, 'fd', relL2(Float64Array.from([...gotDx.slice(0, n), ...gotDg, ...gotDb]), finiteDifferences(loss, p)))).toBeLessThanOrEqual(1e-4);
      } else {
        const loss = (q: Float64Array) => dot(lnRef(q, C, real, gamma, beta).y, dy);
        expect(record(name, 'fd', relL2(gotDx.slice(0, n), finiteDifferences(loss, Float64Array.from(x.slice(0, n)))))).toBeLessThanOrEqual(1e-4);
        expect(Array.from(await readF32(e, dg!, C)).every(Number.isNaN)).toBe(true); // untouched
      }
      for (const v of [xv, dyv, gv, bv, y, rm, ri, dx, dg, db, info]) e.release(v!.buffer);
    });
  }
});

// ---- twins with TF.js ------------------------------------------------------------------------

const N = 20;
const BATCH = 8; // 8, 8, then a partial batch of 4

interface TwinSpec {
  name: string;
  inputShape: number[];
  ours: (frozen: boolean) => LayersModel;
  theirs: () => tf.Sequential;
  normIndex: number;
}

const TWINS: TwinSpec[] = [
  {
    name: 'conv2d → batchNormalization → relu → flatten → dense softmax',
    inputShape: [6, 6, 3],
    ours: () =>
      sequential([
        layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 3] }),
        layers.batchNormalization({ momentum: 0.8 }),
        layers.activation({ activation: 'relu' }),
        layers.flatten(),
        layers.dense({ units: 3, activation: 'softmax' }),
      ]),
    theirs: () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 3] }),
          tf.layers.batchNormalization({ momentum: 0.8 }),
          tf.layers.activation({ activation: 'relu' }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: 'softmax' }),
        ],
      }),
    normIndex: 1,
  },
  {
    name: 'dense → batchNormalization → dense softmax (MLP)',
    inputShape: [6],
    ours: () => sequential([layers.dense({ units: 7, inputShape: [6] }), layers.batchNormalization({}), layers.dense({ units: 3, activation: 'softmax' })]),
    theirs: () => tf.sequential({ layers: [tf.layers.dense({ units: 7, inputShape: [6] }), tf.layers.batchNormalization({}), tf.layers.dense({ units: 3, activation: 'softmax' })] }),
    normIndex: 1,
  },
  {
    name: 'dense → layerNormalization → dense softmax (MLP)',
    inputShape: [6],
    ours: () => sequential([layers.dense({ units: 7, activation: 'relu', inputShape: [6] }), layers.layerNormalization({}), layers.dense({ units: 3, activation: 'softmax' })]),
    theirs: () =>
      tf.sequential({ layers: [tf.layers.dense({ units: 7, activation: 'relu', inputShape: [6] }), tf.layers.layerNormalization({}), tf.layers.dense({ units: 3, activation: 'softmax' })] }),
    normIndex: 1,
  },
  {
    name: 'conv2d → layerNormalization → flatten → dense softmax',
    inputShape: [6, 6, 3],
    ours: () =>
      sequential([layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 3] }), layers.layerNormalization({}), layers.flatten(), layers.dense({ units: 3, activation: 'softmax' })]),
    theirs: () =>
      tf.sequential({
        layers: [tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 3] }), tf.layers.layerNormalization({}), tf.layers.flatten(), tf.layers.dense({ units: 3, activation: 'softmax' })],
      }),
    normIndex: 1,
  },
  {
    name: 'batchNormalization first (no input gradient) → dense softmax',
    inputShape: [6],
    ours: () => sequential([layers.batchNormalization({ momentum: 0.5, inputShape: [6] }), layers.dense({ units: 3, activation: 'softmax' })]),
    theirs: () => tf.sequential({ layers: [tf.layers.batchNormalization({ momentum: 0.5, inputShape: [6] }), tf.layers.dense({ units: 3, activation: 'softmax' })] }),
    normIndex: 0,
  },
  {
    // (TF.js 4.22 cannot train a LayerNormalization without scale or center: the op tests cover those.)
    name: 'layerNormalization first (no input gradient) → dense relu → dense softmax',
    inputShape: [6],
    ours: () =>
      sequential([layers.layerNormalization({ inputShape: [6] }), layers.dense({ units: 5, activation: 'relu' }), layers.dense({ units: 3, activation: 'softmax' })]),
    theirs: () =>
      tf.sequential({
        layers: [tf.layers.layerNormalization({ inputShape: [6] }), tf.layers.dense({ units: 5, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })],
      }),
    normIndex: 0,
  },
];

/**
 * Keras semantics for a frozen BatchNormalization in TF.js: 4.22 ignores `trainable` in its call
 * (batch statistics and moving updates in fit), so the reference runs it with training false.
 */
function kerasFrozen(layer: tf.layers.Layer): void {
  const call = layer.call.bind(layer);
  layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
}

for (const spec of TWINS) {
  const isBN = spec.name.includes('batchNormalization');
  for (const frozen of isBN ? [false, true] : [false]) {
    const name = `${spec.name}${frozen ? ', normalization frozen' : ''}`;
    it(`twin: ${name}`, async () => {
      const features = spec.inputShape.reduce((a, b) => a * b, 1);
      const x = randomArray(N * features, 31, 1.5);
      const labels = Int32Array.from({ length: N }, (_, i) => (i * 5 + 1) % 3);
      const ours = spec.ours(frozen);
      if (frozen) ours.layers[spec.normIndex]!.trainable = false;
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      const theirs = spec.theirs();
      if (frozen) {
        theirs.layers[spec.normIndex]!.trainable = false;
        kerasFrozen(theirs.layers[spec.normIndex]!);
      }
      theirs.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
      const start = await ours.getWeights();
      // Moving statistics away from their initial values, so that the inference paths are exercised.
      for (const w of start) {
        if (w.name.endsWith('moving_mean')) w.data.set(randomArray(w.data.length, 41, 0.3));
        if (w.name.endsWith('moving_variance')) w.data.set(randomArray(w.data.length, 42, 0.5).map((v) => v + 1));
      }
      await ours.setWeights(start);
      expect(theirs.getWeights().map((t) => t.shape)).toEqual(start.map((w) => w.shape));
      expect(theirs.weights.map((w) => w.name.split('/').pop()!.replace(/_\d+$/, ''))).toEqual(start.map((w) => w.name.split('/').pop()));
      theirs.setWeights(start.map((w) => tf.tensor(w.data, w.shape)));
      const xs = tf.tensor(x, [N, ...spec.inputShape]);
      const ys = tf.tensor1d(Float32Array.from(labels));
      await theirs.fit(xs, ys, { epochs: 2, batchSize: BATCH, shuffle: false, verbose: 0 });
      await ours.fit(tensor(x, [N, ...spec.inputShape]), tensor(labels, [N]), { epochs: 2, batchSize: BATCH, shuffle: false, verbose: 0 });
      const got = await ours.getWeights();
      const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
      const normName = ours.layers[spec.normIndex]!.name;
      got.forEach((w, i) => {
        const delta = w.data.map((v, k) => v - start[i]!.data[k]!);
        const wantDelta = want[i]!.map((v, k) => v - start[i]!.data[k]!);
        if (w.name.startsWith(`${normName}/moving`)) {
          const diff = Math.max(...w.data.map((v, k) => Math.abs(v - want[i]![k]!)));
          expect(record(`twin ${name}`, 'moving', diff), w.name).toBeLessThanOrEqual(1e-4);
          if (frozen) expect(Array.from(w.data)).toEqual(Array.from(start[i]!.data));
          else expect(relL2(delta, wantDelta), w.name).toBeLessThanOrEqual(1e-3);
        } else if (frozen && w.name.startsWith(`${normName}/`)) {
          expect(Array.from(w.data), w.name).toEqual(Array.from(start[i]!.data));
          expect(Array.from(want[i]!), w.name).toEqual(Array.from(start[i]!.data));
        } else if (Math.max(...wantDelta.map(Math.abs)) < 1e-5) {
          // A bias right before a batch normalization: its gradient is zero up to rounding.
          expect(Math.max(...delta.map(Math.abs)), `update of ${w.name}`).toBeLessThanOrEqual(1e-5);
        } else {
          expect(record(`twin ${name}`, 'bwd', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
        }
      });
      const probs = await ours.predict(tensor(x, [N, ...spec.inputShape]));
      expect(record(`twin ${name}`, 'fwd', relL2(probs.data, (theirs.predict(xs) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
      ours.dispose();
    });
  }
}

// ---- model.json ------------------------------------------------------------------------------

describe('model.json with normalization layers', () => {
  type Artifacts = Parameters<NonNullable<Parameters<LayersModel['save']>[0] & object>['save']>[0];

  it('ours loads in TF.js and predicts the same; TF.js loads in ours', async () => {
    const ours = sequential([
      layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 3] }),
      layers.batchNormalization({ momentum: 0.9, epsilon: 0.01, movingVarianceInitializer: { kind: 'constant', value: 2 } }),
      layers.activation({ activation: 'relu' }),
      layers.layerNormalization({ epsilon: 1e-4 }),
      layers.flatten(),
      layers.dense({ units: 3, activation: 'softmax' }),
    ]);
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
    const x = randomArray(10 * 108, 51, 1.5);
    await ours.fit(tensor(x, [10, 6, 6, 3]), tensor(Int32Array.from({ length: 10 }, (_, i) => i % 3), [10]), { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 });
    let saved: Artifacts | undefined;
    await ours.save({ save: async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
    const theirs = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    expect(theirs.layers.map((l) => l.getClassName())).toEqual(['Conv2D', 'BatchNormalization', 'Activation', 'LayerNormalization', 'Flatten', 'Dense']);
    const xs = tf.tensor(x, [10, 6, 6, 3]);
    const ourProbs = (await ours.predict(tensor(x, [10, 6, 6, 3]))).data;
    expect(relL2(ourProbs, (theirs.predict(xs) as tf.Tensor).dataSync())).toBeLessThanOrEqual(1e-5);

    let captured: tf.io.ModelArtifacts | undefined;
    await theirs.save(tf.io.withSaveHandler(async (a) => ((captured = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const topology = captured!.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    // Our config is TF.js's, field for field.
    const ourTopology = saved!.modelTopology as unknown as typeof topology;
    for (const i of [1, 3]) expect(ourTopology.config.layers[i]!.config).toEqual(topology.config.layers[i]!.config);
    const again = await loadModel({ load: async () => captured as unknown as Artifacts }, { engine: engine() });
    expect(again.layers.map((l) => l.className)).toEqual(['Conv2D', 'BatchNormalization', 'Activation', 'LayerNormalization', 'Flatten', 'Dense']);
    expect(relL2((await again.predict(tensor(x, [10, 6, 6, 3]))).data, ourProbs)).toBeLessThanOrEqual(1e-6);
    ours.dispose();
    again.dispose();
  });

  it('rejects configs that cannot work, naming the layer and the field', () => {
    expect(() => layers.batchNormalization({ momentum: 2 })).toThrow(/BatchNormalization .*momentum must be a number in \[0, 1\], got 2/);
    expect(() => layers.batchNormalization({ epsilon: 0 })).toThrow(/BatchNormalization .*epsilon must be a positive finite number, got 0/);
    expect(() => layers.batchNormalization({ center: 'yes' as never })).toThrow(/BatchNormalization .*center must be true or false, got "yes"/);
    expect(() => layers.batchNormalization({ axis: 1.5 })).toThrow(/BatchNormalization .*axis must be an integer/);
    expect(() => layers.batchNormalization({ axis: 1 }).apply(input({ shape: [4, 4, 3] }))).toThrow(/BatchNormalization .*axis must be the input's last axis \(-1 or 3 .*got 1/);
    expect(() => layers.layerNormalization({ axis: [1, 2] })).toThrow(/LayerNormalization .*axis must be the last axis.*got \[1,2\]/);
    expect(() => layers.layerNormalization({ axis: 1 }).apply(input({ shape: [4, 3] }))).toThrow(/LayerNormalization .*axis must be the input's last axis \(-1 or 2 .*got 1/);
    expect(() => layers.layerNormalization({ gammaInitializer: 'nope' })).toThrow(/LayerNormalization .*gammaInitializer: unknown initializer 'nope'/);
  });
});
