/**
 * BatchNormalization and LayerNormalization: the ops against float64 references (forward, backward,
 * central finite differences, a partial batch whose extra rows hold NaN), and twins with TF.js 4.22
 * (cpu backend): training with a partial last batch (weight updates, moving statistics,
 * inference predictions), a frozen BatchNormalization, and model.json both ways.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layers, loadModel, optimizers, sequential, tensor, type LayersModel } from '../src/index.ts';
import { BatchNormalization } from '../src/layers/normalization.ts';
import type { View } from '../src/runtime/engine.ts';
import { stepInfoData, STEP_INFO_BYTES } from '../shaders/kernel.ts';
import {
  batchNormAffineBackward,
  batchNormApply,
  batchNormTrainBackward,
  batchNormTrainForward,
  bnPartition,
  layerNormBackward,
  layerNormForward,
  lnGeometry,
  normGeometry,
  type BnPartition,
  type NormGeometry,
} from '../src/ops/normalization.ts';
import { bnLayout } from '../shaders/normalization.ts';
import { dot, finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, uploadView, useEngine } from './helpers.ts';
import { bnRef, lnRef } from './reference/normalization.ts';

const engine = useEngine();
const record = measuredErrors('NORM_ERRORS', ['fwd', 'var', 'bwd', 'fd', 'moving']);

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

// ---- gradient checks, scratch ----------------------------------------------------------------

/** Central finite differences of Σ y·dy at p, on all coordinates or, for big inputs, 48 of x's and all of γ's and β's. */
function gradientCheck(loss: (q: Float64Array) => number, p: Float64Array, n: number, got: Float64Array): number {
  const idx = n > 400 ? [...sampleIndices(n, 48, 7), ...Array.from({ length: p.length - n }, (_, i) => n + i)] : undefined;
  const fd = finiteDifferences(loss, p, idx);
  return relL2(idx ? pick(got, idx) : got, fd);
}

/** A scratch allocator for op tests; `release` frees what it handed out. */
function scratchOf(e: ReturnType<typeof engine>) {
  const buffers: GPUBuffer[] = [];
  const scratch = (bytes: number) => {
    const buffer = e.buffer(bytes, 'test scratch');
    buffers.push(buffer);
    return { buffer, offset: 0, size: bytes };
  };
  return { scratch, release: () => buffers.forEach((b) => e.release(b)) };
}

// ---- ops -------------------------------------------------------------------------------------

/** Shapes with the batch; axis counting it; `rows` real samples (the rest hold NaN). */
const BN_CASES: { shape: number[]; axis: number; rows: number; tiled?: boolean }[] = [
  { shape: [5, 7], axis: -1, rows: 5 },
  { shape: [3, 5, 6, 7], axis: -1, rows: 3 },
  { shape: [6, 3, 5], axis: -1, rows: 4 }, // partial batch: rows 4 and 5 hold NaN
  { shape: [5, 3, 8], axis: -1, rows: 4 }, // channels a multiple of 4: 4 channels a read
  { shape: [9, 13, 12, 8], axis: 3, rows: 7 }, // many row blocks
  { shape: [4, 5, 3], axis: 1, rows: 3 }, // channel axis 1, 3 positions after it
  { shape: [5, 3, 6, 8], axis: 1, rows: 4 }, // channels first: 4 positions of a channel a read
  { shape: [4, 6, 5, 4], axis: 2, rows: 3 },
  { shape: [3, 4, 7, 3], axis: -2, rows: 2 },
  { shape: [5, 24, 132], axis: 1, rows: 4, tiled: true }, // long inner runs: several units per column
];

/**
 * The partitions a case runs: the registers style's, hand-made ones (several units per
 * invocation, a small workgroup tree over row blocks, one block for everything), and with `tiled`
 * the tiled style's (its 256-invocation trees take seconds to compile on SwiftShader).
 */
function partitionsFor(g: NormGeometry, tiled: boolean): BnPartition[] {
  const { CV, IV } = bnLayout(g);
  const rows = g.batch * g.perSample;
  const chunks = IV % 3 === 0 ? IV / 3 : 1;
  return [
    bnPartition('registers', g),
    { innerChunks: chunks, rowsPerPart: 3, wgCols: Math.min(CV * chunks, 5), wgParts: 4, groups: Math.ceil(rows / 12) },
    { innerChunks: 1, rowsPerPart: rows, wgCols: CV, wgParts: 1, groups: 1 },
    ...(tiled ? [bnPartition('tiled', g)] : []),
  ];
}

describe('batch normalization op (float64 reference)', () => {
  const cases = [...BN_CASES.map((c) => ({ ...c, affine: true })), { ...BN_CASES[2]!, affine: false }, { ...BN_CASES[6]!, affine: false }];
  for (const { shape, axis, rows, affine, tiled } of cases) {
    const name = `BN [${shape.join(', ')}] axis ${axis} rows ${rows}${affine ? '' : ' (no scale, no center)'}`;
    it(`${name}: training forward, moving statistics, backward, finite differences; every partition`, async () => {
      const e = engine();
      const batch = shape[0]!;
      const g = normGeometry(batch, shape.slice(1), axis, 'test');
      const { channels: C, inner: I } = g;
      const total = batch * g.perSample * C * I;
      const real = rows * g.perSample * C * I;
      const ch = (i: number) => Math.floor(i / I) % C;
      const x = sprinkleNaN(randomArray(total, 1, 2).map((v, i) => v + ch(i) * 0.3 + 40), real);
      const dy = sprinkleNaN(randomArray(total, 2), real);
      const gamma = affine ? randomArray(C, 3).map((v) => v + 1.2) : new Float32Array(C).fill(1);
      const beta = affine ? randomArray(C, 4) : new Float32Array(C);
      const mm0 = randomArray(C, 5);
      const mv0 = randomArray(C, 6).map((v) => v + 1.5);
      const momentum = 0.9;
      const info = stepInfo(rows);
      const ref = bnRef(x, C, I, rows * g.perSample, gamma, beta, EPS);
      const back = ref.backward(dy);
      const n = real;
      const p = Float64Array.from([...x.slice(0, n), ...gamma, ...beta]);
      const loss = (q: Float64Array) => dot(bnRef(q.subarray(0, n), C, I, rows * g.perSample, q.subarray(n, n + C), q.subarray(n + C), EPS).y, dy);
      const wantMM = mm0.map((m, c) => m * momentum + ref.mean[c]! * (1 - momentum));
      const wantMV = mv0.map((m, c) => m * momentum + ref.variance[c]! * (1 - momentum));
      for (const [k, partition] of partitionsFor(g, tiled === true).entries()) {
        const tuning = { partition, elementRows: [4, 1, 3, 2][k]! };
        const { scratch, release } = scratchOf(e);
        const [xv, dyv, gv, bv, mm, mv] = [x, dy, gamma, beta, mm0, mv0].map((a) => uploadView(e, a));
        const [mean, variance, y, dx, dg, db] = [C, C, total, total, C, C].map((c) => nanBuffer(e, c));
        const f = { epsilon: EPS, scale: affine, center: affine, momentum };
        const io = { x: xv!, stepInfo: info, mean: mean!, variance: variance!, gamma: gv, scratch };
        e.run([
          ...batchNormTrainForward(e, g, f, { ...io, movingMean: mm!, movingVariance: mv!, beta: bv, y: y! }, tuning),
          ...batchNormTrainBackward(e, g, f, { ...io, dy: dyv!, dx: dx!, dgamma: affine ? dg : undefined, dbeta: affine ? db : undefined }, tuning),
        ]);
        const what = `${name}, partition ${JSON.stringify(partition)}`;
        expect(record(name, 'fwd', relL2((await readF32(e, y!, total)).slice(0, real), ref.y)), what).toBeLessThanOrEqual(1e-5);
        expect(relL2(await readF32(e, mean!, C), ref.mean), what).toBeLessThanOrEqual(1e-6);
        expect(record(name, 'var', relL2(await readF32(e, variance!, C), ref.variance)), what).toBeLessThanOrEqual(1e-5);
        expect(record(name, 'moving', relL2(await readF32(e, mm!, C), wantMM)), what).toBeLessThanOrEqual(1e-6);
        expect(record(name, 'moving', relL2(await readF32(e, mv!, C), wantMV)), what).toBeLessThanOrEqual(1e-5);
        const gotDx = await readF32(e, dx!, total);
        expect(record(name, 'bwd', relL2(gotDx.slice(0, real), back.dx)), what).toBeLessThanOrEqual(1e-4);
        expect(Array.from(gotDx.slice(real)).every((v) => v === 0), what).toBe(true); // the extra rows get no gradient
        if (affine) {
          const [gotDg, gotDb] = [await readF32(e, dg!, C), await readF32(e, db!, C)];
          expect(record(name, 'bwd', relL2(gotDg, back.dgamma)), what).toBeLessThanOrEqual(1e-4);
          expect(record(name, 'bwd', relL2(gotDb, back.dbeta)), what).toBeLessThanOrEqual(1e-4);
          if (k === 0) expect(record(name, 'fd', gradientCheck(loss, p, n, Float64Array.from([...gotDx.slice(0, n), ...gotDg, ...gotDb]))), what).toBeLessThanOrEqual(1e-4);
        } else {
          expect(Array.from(await readF32(e, dg!, C)).every(Number.isNaN)).toBe(true); // untouched
          const lossX = (q: Float64Array) => dot(bnRef(q, C, I, rows * g.perSample, gamma, beta, EPS).y, dy);
          if (k === 0) expect(record(name, 'fd', gradientCheck(lossX, Float64Array.from(x.slice(0, n)), n, Float64Array.from(gotDx.slice(0, n)))), what).toBeLessThanOrEqual(1e-4);
        }
        for (const v of [xv, dyv, gv, bv, mm, mv, mean, variance, y, dx, dg, db]) e.release(v!.buffer);
        release();
      }
      e.release(info.buffer);
    });
  }

  for (const { shape, axis } of [{ shape: [4, 3, 5], axis: -1 }, { shape: [3, 5, 8], axis: -1 }, { shape: [3, 4, 6, 4], axis: 1 }, { shape: [3, 4, 3], axis: 1 }]) {
    it(`inference [${shape.join(', ')}] axis ${axis} (moving statistics): forward and the affine backward`, async () => {
      const e = engine();
      const g = normGeometry(shape[0]!, shape.slice(1), axis, 'test');
      const { channels: C, inner: I } = g;
      const total = shape.reduce((a, b) => a * b, 1);
      const ch = (i: number) => Math.floor(i / I) % C;
      const [x, dy] = [randomArray(total, 7, 2), randomArray(total, 8)];
      const [gamma, beta, mm] = [randomArray(C, 9).map((v) => v + 1.2), randomArray(C, 10), randomArray(C, 11)];
      const mv = randomArray(C, 12).map((v) => v + 1.5);
      const [xv, dyv, gv, bv, mmv, mvv] = [x, dy, gamma, beta, mm, mv].map((a) => uploadView(e, a));
      for (const elementRows of [1, 4]) {
        const [y, dx] = [nanBuffer(e, total), nanBuffer(e, total)];
        const f = { epsilon: EPS, scale: true, center: true };
        e.run([
          ...batchNormApply(e, g, f, { x: xv!, mean: mmv!, variance: mvv!, gamma: gv, beta: bv, y }, { elementRows }),
          ...batchNormAffineBackward(e, g, f, { dy: dyv!, variance: mvv!, gamma: gv, dx }, { elementRows }),
        ]);
        const k = (c: number) => gamma[c]! / Math.sqrt(mv[c]! + EPS);
        const wantY = Float64Array.from(x, (v, i) => (v - mm[ch(i)]!) * k(ch(i)) + beta[ch(i)]!);
        const wantDx = Float64Array.from(dy, (v, i) => v * k(ch(i)));
        expect(record('BN inference', 'fwd', relL2(await readF32(e, y, total), wantY))).toBeLessThanOrEqual(1e-5);
        expect(record('BN inference', 'bwd', relL2(await readF32(e, dx, total), wantDx))).toBeLessThanOrEqual(1e-5);
        e.release(y.buffer);
        e.release(dx.buffer);
      }
      for (const v of [xv, dyv, gv, bv, mmv, mvv]) e.release(v!.buffer);
    });
  }
});

const LN_CASES: { shape: number[]; axes: number[]; rows: number }[] = [
  { shape: [5, 7], axes: [-1], rows: 5 },
  { shape: [3, 5, 6, 7], axes: [-1], rows: 3 },
  { shape: [6, 3, 5], axes: [-1], rows: 4 }, // partial batch: rows 4 and 5 hold NaN
  { shape: [40, 6, 5], axes: [2], rows: 37 }, // many groups: several blocks for dγ, dβ
  { shape: [4, 5, 3], axes: [1], rows: 3 }, // rank 3, axis 1
  { shape: [3, 4, 5, 6], axes: [2], rows: 2 }, // rank 4, axis 2
  { shape: [3, 4, 5, 6], axes: [1], rows: 3 }, // rank 4, axis 1
  { shape: [4, 5, 3], axes: [1, 2], rows: 3 }, // two axes
  { shape: [3, 4, 5, 6], axes: [3, 1], rows: 2 }, // two axes apart, listed out of order
  { shape: [3, 1, 5, 4], axes: [-3, 2], rows: 3 }, // a size-1 axis
];

describe('layer normalization op (float64 reference)', () => {
  for (const { shape, axes, rows, affine } of [...LN_CASES.map((c) => ({ ...c, affine: true })), { ...LN_CASES[4]!, affine: false }]) {
    const name = `LN [${shape.join(', ')}] axes [${axes.join(', ')}] rows ${rows}${affine ? '' : ' (no scale, no center)'}`;
    it(`${name}: forward, backward, finite differences`, async () => {
      const e = engine();
      const batch = shape[0]!;
      const g = lnGeometry(batch, shape.slice(1), axes, 'test');
      const resolved = axes.map((a) => (a < 0 ? a + shape.length : a));
      const N = resolved.reduce((p, a) => p * shape[a]!, 1);
      const size = shape.slice(1).reduce((a, b) => a * b, 1);
      const total = batch * size;
      const real = rows * size;
      const x = sprinkleNaN(randomArray(total, 21, 2).map((v, i) => v + Math.floor(i / 7) * 0.1), real);
      const dy = sprinkleNaN(randomArray(total, 22), real);
      const gamma = affine ? randomArray(N, 23).map((v) => v + 1.2) : new Float32Array(N).fill(1);
      const beta = affine ? randomArray(N, 24) : new Float32Array(N);
      const info = stepInfo(rows);
      const { scratch, release } = scratchOf(e);
      const [xv, dyv, gv, bv] = [x, dy, gamma, beta].map((a) => uploadView(e, a));
      const groups = total / N;
      const [y, rm, ri, dx, dg, db] = [total, groups, groups, total, N, N].map((n) => nanBuffer(e, n));
      const f = { epsilon: EPS, scale: affine, center: affine };
      e.run([
        ...layerNormForward(e, g, f, { x: xv!, gamma: gv, beta: bv, y: y!, rowMean: rm!, rowInv: ri! }),
        ...layerNormBackward(e, g, f, { x: xv!, dy: dyv!, rowMean: rm!, rowInv: ri!, gamma: gv, stepInfo: info, dx: dx!, dgamma: dg, dbeta: db, scratch }),
      ]);
      const ref = lnRef(x, shape.slice(1), resolved, rows, gamma, beta, EPS);
      expect(ref.N).toBe(N);
      expect(record(name, 'fwd', relL2((await readF32(e, y!, total)).slice(0, real), ref.y))).toBeLessThanOrEqual(1e-5);
      const back = ref.backward(dy);
      const gotDx = await readF32(e, dx!, total);
      expect(record(name, 'bwd', relL2(gotDx.slice(0, real), back.dx))).toBeLessThanOrEqual(1e-4);
      expect(Array.from(gotDx.slice(real)).every((v) => v === 0)).toBe(true);
      if (affine) {
        const [gotDg, gotDb] = [await readF32(e, dg!, N), await readF32(e, db!, N)];
        expect(record(name, 'bwd', relL2(gotDg, back.dgamma))).toBeLessThanOrEqual(1e-4);
        expect(record(name, 'bwd', relL2(gotDb, back.dbeta))).toBeLessThanOrEqual(1e-4);
        const p = Float64Array.from([...x.slice(0, real), ...gamma, ...beta]);
        const loss = (q: Float64Array) => dot(lnRef(q.subarray(0, real), shape.slice(1), resolved, rows, q.subarray(real, real + N), q.subarray(real + N), EPS).y, dy);
        expect(record(name, 'fd', gradientCheck(loss, p, real, Float64Array.from([...gotDx.slice(0, real), ...gotDg, ...gotDb])))).toBeLessThanOrEqual(1e-4);
      } else {
        const loss = (q: Float64Array) => dot(lnRef(q, shape.slice(1), resolved, rows, gamma, beta, EPS).y, dy);
        expect(record(name, 'fd', gradientCheck(loss, Float64Array.from(x.slice(0, real)), real, Float64Array.from(gotDx.slice(0, real))))).toBeLessThanOrEqual(1e-4);
        expect(Array.from(await readF32(e, dg!, N)).every(Number.isNaN)).toBe(true); // untouched
      }
      for (const v of [xv, dyv, gv, bv, y, rm, ri, dx, dg, db, info]) e.release(v!.buffer);
      release();
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
  /** The normalization's index in TF.js's model when it differs (a permuted BatchNormalization). */
  theirNormIndex?: number;
  /** A BatchNormalization twin whose frozen variant another twin already covers. */
  skipFrozen?: boolean;
}

/**
 * TF.js's BatchNormalization on a non-last axis, as TF.js computes it in exact arithmetic: the axis
 * permuted last, normalized there, and permuted back. TF.js 4.22's own layer cannot serve: its cpu
 * FusedBatchNorm kernel cycles mean, variance, γ and β along the flat index (right for the last
 * axis only), and its training gradient throws on the broadcast statistics (tfjs#2120).
 */
function tfBatchNormOnAxis(sample: number[], axis: number, config: Parameters<typeof tf.layers.batchNormalization>[0], first = false): tf.layers.Layer[] {
  const rank = sample.length;
  const dims = Array.from({ length: rank }, (_, i) => i + 1).filter((d) => d !== axis);
  const forward = [...dims, axis];
  const back = Array.from({ length: rank }, (_, i) => forward.indexOf(i + 1) + 1);
  return [tf.layers.permute({ dims: forward, ...(first ? { inputShape: sample } : {}) }), tf.layers.batchNormalization({ ...config, axis: -1 }), tf.layers.permute({ dims: back })];
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
    name: 'batchNormalization axis 1 on [4, 5, 3] → flatten → dense softmax',
    inputShape: [4, 5, 3],
    ours: () => sequential([layers.batchNormalization({ axis: 1, momentum: 0.8, inputShape: [4, 5, 3] }), layers.flatten(), layers.dense({ units: 3, activation: 'softmax' })]),
    theirs: () =>
      tf.sequential({
        layers: [...tfBatchNormOnAxis([4, 5, 3], 1, { momentum: 0.8 }, true), tf.layers.flatten(), tf.layers.dense({ units: 3, activation: 'softmax' })],
      }),
    normIndex: 0,
    theirNormIndex: 1,
  },
  {
    name: 'conv2d → batchNormalization axis 1 (4 positions a read) → relu → flatten → dense softmax',
    inputShape: [6, 6, 3],
    ours: () =>
      sequential([
        layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 3] }),
        layers.batchNormalization({ axis: 1 }),
        layers.activation({ activation: 'relu' }),
        layers.flatten(),
        layers.dense({ units: 3, activation: 'softmax' }),
      ]),
    theirs: () =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 3] }),
          ...tfBatchNormOnAxis([4, 4, 4], 1, {}),
          tf.layers.activation({ activation: 'relu' }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: 'softmax' }),
        ],
      }),
    normIndex: 1,
    theirNormIndex: 2,
    skipFrozen: true,
  },
  {
    name: 'dense on [steps, features] → layerNormalization axis [1, 2] → flatten → dense softmax',
    inputShape: [4, 5],
    ours: () =>
      sequential([layers.dense({ units: 6, inputShape: [4, 5] }), layers.layerNormalization({ axis: [1, 2] }), layers.flatten(), layers.dense({ units: 3, activation: 'softmax' })]),
    theirs: () =>
      tf.sequential({
        layers: [tf.layers.dense({ units: 6, inputShape: [4, 5] }), tf.layers.layerNormalization({ axis: [1, 2] }), tf.layers.flatten(), tf.layers.dense({ units: 3, activation: 'softmax' })],
      }),
    normIndex: 1,
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
  for (const frozen of isBN && !spec.skipFrozen ? [false, true] : [false]) {
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
        theirs.layers[spec.theirNormIndex ?? spec.normIndex]!.trainable = false;
        kerasFrozen(theirs.layers[spec.theirNormIndex ?? spec.normIndex]!);
      }
      theirs.compile({ optimizer: tf.train.sgd(0.1), loss: 'sparseCategoricalCrossentropy' });
      const start = await ours.getWeights();
      // Moving statistics away from their initial values, so that the inference paths are exercised.
      for (const w of start) {
        if (w.name.endsWith('moving_mean')) w.values.set(randomArray(w.values.length, 41, 0.3));
        if (w.name.endsWith('moving_variance')) w.values.set(randomArray(w.values.length, 42, 0.5).map((v) => v + 1));
      }
      await ours.setWeights(start);
      expect(theirs.getWeights().map((t) => t.shape)).toEqual(start.map((w) => w.shape));
      expect(theirs.weights.map((w) => w.name.split('/').pop()!.replace(/_\d+$/, ''))).toEqual(start.map((w) => w.name.split('/').pop()));
      theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
      const xs = tf.tensor(x, [N, ...spec.inputShape]);
      const ys = tf.tensor1d(Float32Array.from(labels));
      await theirs.fit(xs, ys, { epochs: 2, batchSize: BATCH, shuffle: false, verbose: 0 });
      await ours.fit(tensor(x, [N, ...spec.inputShape]), tensor(labels, [N]), { epochs: 2, batchSize: BATCH, shuffle: false, verbose: 0 });
      const got = await ours.getWeights();
      const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
      const normName = ours.layers[spec.normIndex]!.name;
      got.forEach((w, i) => {
        const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
        const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
        if (w.name.startsWith(`${normName}/moving`)) {
          const diff = Math.max(...w.values.map((v, k) => Math.abs(v - want[i]![k]!)));
          expect(record(`twin ${name}`, 'moving', diff), w.name).toBeLessThanOrEqual(1e-4);
          if (frozen) expect(Array.from(w.values)).toEqual(Array.from(start[i]!.values));
          else expect(relL2(delta, wantDelta), w.name).toBeLessThanOrEqual(1e-3);
        } else if (frozen && w.name.startsWith(`${normName}/`)) {
          expect(Array.from(w.values), w.name).toEqual(Array.from(start[i]!.values));
          expect(Array.from(want[i]!), w.name).toEqual(Array.from(start[i]!.values));
        } else if (Math.max(...wantDelta.map(Math.abs)) < 1e-5) {
          // A bias right before a batch normalization: its gradient is zero up to rounding.
          expect(Math.max(...delta.map(Math.abs)), `update of ${w.name}`).toBeLessThanOrEqual(1e-5);
        } else {
          expect(record(`twin ${name}`, 'bwd', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
        }
      });
      const probs = await ours.predict(tensor(x, [N, ...spec.inputShape]));
      expect(record(`twin ${name}`, 'fwd', relL2(probs.values, (theirs.predict(xs) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
      ours.dispose();
    });
  }
}

// ---- model.json ------------------------------------------------------------------------------

describe('model.json with normalization layers', () => {
  type Artifacts = Parameters<NonNullable<Parameters<LayersModel['save']>[0] & object>['save']>[0];

  const captureOurs = async (m: LayersModel) => {
    let saved: Artifacts | undefined;
    await m.save({ save: async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
    return saved!;
  };
  const captureTf = async (m: tf.LayersModel) => {
    let captured: tf.io.ModelArtifacts | undefined;
    await m.save(tf.io.withSaveHandler(async (a) => ((captured = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    return captured!;
  };
  type Topology = { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };

  const SPECS: { name: string; inputShape: number[]; build: () => LayersModel; classes: string[]; norms: number[]; tfPredicts: boolean }[] = [
    {
      name: 'last axes',
      inputShape: [6, 6, 3],
      build: () =>
        sequential([
          layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 3] }),
          layers.batchNormalization({ momentum: 0.9, epsilon: 0.01, movingVarianceInitializer: { kind: 'constant', value: 2 } }),
          layers.activation({ activation: 'relu' }),
          layers.layerNormalization({ epsilon: 1e-4 }),
          layers.flatten(),
          layers.dense({ units: 3, activation: 'softmax' }),
        ]),
      classes: ['Conv2D', 'BatchNormalization', 'Activation', 'LayerNormalization', 'Flatten', 'Dense'],
      norms: [1, 3],
      tfPredicts: true,
    },
    {
      name: 'layer normalization over [1, 2] and over axis 1',
      inputShape: [4, 5],
      build: () =>
        sequential([
          layers.dense({ units: 6, inputShape: [4, 5] }),
          layers.layerNormalization({ axis: [1, 2] }),
          layers.layerNormalization({ axis: -2, epsilon: 0.01 }),
          layers.flatten(),
          layers.dense({ units: 3, activation: 'softmax' }),
        ]),
      classes: ['Dense', 'LayerNormalization', 'LayerNormalization', 'Flatten', 'Dense'],
      norms: [1, 2],
      tfPredicts: true,
    },
    {
      // TF.js 4.22's cpu kernel normalizes a non-last axis wrongly (see tfBatchNormOnAxis): its predictions are not compared.
      name: 'batch normalization on axes 1 and -2',
      inputShape: [4, 5, 3],
      build: () =>
        sequential([
          layers.batchNormalization({ axis: 1, momentum: 0.5, inputShape: [4, 5, 3] }),
          layers.batchNormalization({ axis: -2, center: false }),
          layers.flatten(),
          layers.dense({ units: 3, activation: 'softmax' }),
        ]),
      classes: ['BatchNormalization', 'BatchNormalization', 'Flatten', 'Dense'],
      norms: [0, 1],
      tfPredicts: false,
    },
  ];

  for (const spec of SPECS) {
    it(`${spec.name}: ours loads in TF.js with TF.js's configs; TF.js's loads in ours and predicts the same`, async () => {
      const ours = spec.build();
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      const size = spec.inputShape.reduce((a, b) => a * b, 1);
      const x = randomArray(10 * size, 51, 1.5);
      await ours.fit(tensor(x, [10, ...spec.inputShape]), tensor(Int32Array.from({ length: 10 }, (_, i) => i % 3), [10]), { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 });
      const saved = await captureOurs(ours);
      const theirs = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
      expect(theirs.layers.map((l) => l.getClassName())).toEqual(spec.classes);
      const weights = await ours.getWeights();
      theirs.getWeights().forEach((w, i) => expect(Array.from(w.dataSync()), weights[i]!.name).toEqual(Array.from(weights[i]!.values)));
      const ourProbs = (await ours.predict(tensor(x, [10, ...spec.inputShape]))).values;
      if (spec.tfPredicts) {
        expect(record(`model.json ${spec.name}`, 'fwd', relL2(ourProbs, (theirs.predict(tf.tensor(x, [10, ...spec.inputShape])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-5);
      }
      const captured = await captureTf(theirs);
      // Our config is TF.js's, field for field (BatchNormalization's axis an integer, LayerNormalization's a list).
      const tfTopology = captured.modelTopology as unknown as Topology;
      const ourTopology = saved.modelTopology as unknown as Topology;
      for (const i of spec.norms) expect(ourTopology.config.layers[i]!.config).toEqual(tfTopology.config.layers[i]!.config);
      const again = await loadModel({ load: async () => captured as unknown as Artifacts }, { engine: engine() });
      expect(again.layers.map((l) => l.className)).toEqual(spec.classes);
      expect(relL2((await again.predict(tensor(x, [10, ...spec.inputShape]))).values, ourProbs)).toBeLessThanOrEqual(1e-6);
      ours.dispose();
      again.dispose();
    });
  }

  it("TF.js's own layers with non-last axes save configs ours reads back to the same axes", async () => {
    const theirs = tf.sequential({
      layers: [tf.layers.batchNormalization({ axis: 1, inputShape: [4, 5, 3] }), tf.layers.layerNormalization({ axis: [3, 1] }), tf.layers.layerNormalization({ axis: -1 })],
    });
    const captured = await captureTf(theirs);
    const configs = (captured.modelTopology as unknown as Topology).config.layers.map((l) => l.config.axis);
    expect(configs).toEqual([1, [3, 1], [3]]);
    const again = await loadModel({ load: async () => captured as unknown as Artifacts }, { engine: engine() });
    expect(again.layers.map((l) => (l.getConfig() as { axis: unknown }).axis)).toEqual([1, [3, 1], [3]]);
    expect((await again.getWeights()).map((w) => w.shape)).toEqual(theirs.getWeights().map((w) => w.shape));
    again.dispose();
  });

  it('rejects configs that cannot work, naming the layer and the field', () => {
    expect(() => layers.batchNormalization({ momentum: 2 })).toThrow(/BatchNormalization .*momentum must be a number in \[0, 1\], got 2/);
    expect(() => layers.batchNormalization({ epsilon: 0 })).toThrow(/BatchNormalization .*epsilon must be a positive finite number, got 0/);
    expect(() => layers.batchNormalization({ center: 'yes' as never })).toThrow(/BatchNormalization .*center must be true or false, got "yes"/);
    expect(() => layers.batchNormalization({ axis: 1.5 })).toThrow(/BatchNormalization .*axis must be an integer \(counting the batch axis; negative from the end\), got 1.5/);
    expect(() => layers.batchNormalization({ axis: 0 })).toThrow(/BatchNormalization .*axis must not be the batch axis 0, got 0/);
    expect(() => layers.batchNormalization({ axis: -4 }).apply(input({ shape: [4, 4, 3] }))).toThrow(/BatchNormalization .*axis must not be the batch axis \(0, or -4 for rank 4\), got -4/);
    expect(() => layers.batchNormalization({ axis: 4 }).apply(input({ shape: [4, 4, 3] }))).toThrow(/BatchNormalization .*axis must be an integer in \[-4, 3\] for an input of rank 4, got 4/);
    expect(() => BatchNormalization.fromConfig({ name: 'bn', axis: [1, 2] })).toThrow(/BatchNormalization: axis must be one axis \(an integer or a list of one\), got \[1,2\]/);
    expect(() => layers.layerNormalization({ axis: [] })).toThrow(/LayerNormalization .*axis must list at least one axis, got \[\]/);
    expect(() => layers.layerNormalization({ axis: [1, 1] })).toThrow(/LayerNormalization .*axis must not repeat an axis, got \[1,1\]/);
    expect(() => layers.layerNormalization({ axis: [2, 0] })).toThrow(/LayerNormalization .*axis\[1\] must not be the batch axis 0, got 0/);
    expect(() => layers.layerNormalization({ axis: 'x' as never })).toThrow(/LayerNormalization .*axis must be an integer .*got "x"/);
    expect(() => layers.layerNormalization({ axis: [-1, 2] }).apply(input({ shape: [4, 3] }))).toThrow(/LayerNormalization .*axis must not repeat an axis, got \[-1,2\]/);
    expect(() => layers.layerNormalization({ axis: 3 }).apply(input({ shape: [4, 3] }))).toThrow(/LayerNormalization .*axis must be an integer in \[-3, 2\] for an input of rank 3, got 3/);
    expect(() => layers.layerNormalization({ gammaInitializer: 'nope' })).toThrow(/LayerNormalization .*gammaInitializer: unknown initializer 'nope'/);
  });
});
