/**
 * The shape ops and layers (src/ops/shape.ts, shaders/shape.ts, src/layers/shape.ts): zero
 * padding, cropping, nearest and bilinear upsampling, permute and RepeatVector, forward and
 * backward against float64 references on NaN-prefilled outputs (sizes not multiples of 4 and
 * multiples, for the f32 and vec4 kernels), backward also by central finite differences; the
 * layers through the Layer contract; their configs against TF.js 4.22's model.json; and two small
 * models trained as twins of TF.js (cpu) models, saved and loaded both ways.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { BackwardContext, Layer, Shape } from '../src/layers/layer.ts';
import { layers, loadModel, optimizers, sequential, tensor, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { Cropping2D, Permute, RepeatVector, UpSampling2D, ZeroPadding2D } from '../src/layers/shape.ts';
import {
  pad2dBackward,
  pad2dForward,
  pad2dGeometry,
  permuteBackward,
  permuteForward,
  permuteGeometry,
  repeatVectorGeometry,
  simplifyTranspose,
  upSample2dBackward,
  upSample2dForward,
  upSample2dGeometry,
  type Interpolation,
  type Padding2D,
} from '../src/ops/shape.ts';
import { transpose as transposeKernel, upsampleBilinear, windowCopy } from '../shaders/shape.ts';
import type { Dispatch, Engine, View } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, uploadView, useEngine, measuredErrors } from './helpers.ts';

const engine = useEngine();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---- measured errors, printed with SHAPE_ERRORS=1 --------------------------------------------

const record = measuredErrors('SHAPE_ERRORS', ['fwd', 'bwd', 'fd', 'tfjs']);

/** max |a − e| / max(max |e|, 1e-30): the worst element, relative to the tensor's scale; NaN fails. */
function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let scale = 1e-30;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) {
    if (!Number.isFinite(actual[i]!)) return Infinity;
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  return worst / scale;
}

const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

// ---- float64 references --------------------------------------------------------------------

/** Zero padding (negative amounts crop) of x [n, h, w, c]. */
function pad64(x: ArrayLike<number>, [n, h, w, c]: readonly number[], [[top, bottom], [left, right]]: Padding2D): Float64Array {
  const oh = h! + top + bottom;
  const ow = w! + left + right;
  const y = new Float64Array(n! * oh * ow * c!);
  for (let b = 0; b < n!; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let k = 0; k < c!; k++) {
          const si = i - top;
          const sj = j - left;
          if (si >= 0 && si < h! && sj >= 0 && sj < w!) y[((b * oh + i) * ow + j) * c! + k] = x[((b * h! + si) * w! + sj) * c! + k]!;
        }
  return y;
}

/**
 * Upsampling of x [n, h, w, c] by (sh, sw) as a list of (output, input, weight) terms (TF.js's
 * resizeNearestNeighbor / resizeBilinear with alignCorners and halfPixelCenters false, in float64).
 */
function upsampleTerms([n, h, w, c]: readonly number[], sh: number, sw: number, interpolation: Interpolation): [number, number, number][] {
  const oh = h! * sh;
  const ow = w! * sw;
  const terms: [number, number, number][] = [];
  const axis = (o: number, s: number, len: number): [number, number][] => {
    if (interpolation === 'nearest') return [[Math.min(len - 1, Math.floor(o * (len / (len * s)))), 1]];
    const src = (len / (len * s)) * o;
    const lo = Math.max(0, Math.floor(src));
    const frac = src - lo;
    return [
      [lo, 1 - frac],
      [Math.min(len - 1, Math.ceil(src)), frac],
    ];
  };
  for (let b = 0; b < n!; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (const [si, wi] of axis(i, sh, h!))
          for (const [sj, wj] of axis(j, sw, w!))
            for (let k = 0; k < c!; k++) terms.push([((b * oh + i) * ow + j) * c! + k, ((b * h! + si) * w! + sj) * c! + k, wi * wj]);
  return terms;
}

function applyTerms(terms: [number, number, number][], x: ArrayLike<number>, outSize: number): Float64Array {
  const y = new Float64Array(outSize);
  for (const [o, i, w] of terms) y[o] += w * x[i]!;
  return y;
}

/** The adjoint: dx[i] = Σ w·dy[o] over the terms. */
function applyTermsAdjoint(terms: [number, number, number][], dy: ArrayLike<number>, inSize: number): Float64Array {
  const dx = new Float64Array(inSize);
  for (const [o, i, w] of terms) dx[i] += w * dy[o]!;
  return dx;
}

/** Transpose of x (shape) with output axis k = input axis perm[k]. */
function transpose64(x: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float64Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = shape.map((_, k) => size(shape.slice(k + 1)));
  const y = new Float64Array(x.length);
  const coord = new Array<number>(rank).fill(0);
  for (let i = 0; i < y.length; i++) {
    let rest = i;
    for (let k = rank - 1; k >= 0; k--) {
      coord[k] = rest % outShape[k]!;
      rest = Math.floor(rest / outShape[k]!);
    }
    y[i] = x[perm.reduce((s, p, k) => s + coord[k]! * inStrides[p]!, 0)]!;
  }
  return y;
}

function repeat64(x: ArrayLike<number>, batch: number, features: number, n: number): Float64Array {
  const y = new Float64Array(batch * n * features);
  for (let b = 0; b < batch; b++) for (let r = 0; r < n; r++) for (let f = 0; f < features; f++) y[(b * n + r) * features + f] = x[b * features + f]!;
  return y;
}

// ---- runners -------------------------------------------------------------------------------

type OpRun = (e: Engine, x: View, y: View, dy: View, dx: View) => Dispatch[];

/** Runs forward (x → y) and backward (dy → dx) on NaN-filled outputs. */
async function runOp(run: OpRun, x: Float32Array, outSize: number, dy: Float32Array) {
  const e = engine();
  const xv = uploadView(e, x);
  const y = nanBuffer(e, outSize);
  const dyv = uploadView(e, dy);
  const dx = nanBuffer(e, x.length);
  e.run(run(e, xv, y, dyv, dx));
  return { y: await readF32(e, y, outSize), dx: await readF32(e, dx, x.length) };
}

/**
 * Checks an op: forward against `ref`, backward against the reference gradient `grad` (the
 * adjoint), and against central differences of Σ ref(x)·dy at sampled inputs.
 */
async function checkOp(name: string, run: OpRun, inSize: number, outSize: number, ref: (x: ArrayLike<number>) => Float64Array, grad: (dy: ArrayLike<number>) => Float64Array, seed: number) {
  const x = randomArray(inSize, seed);
  const dy = randomArray(outSize, seed + 1);
  const { y, dx } = await runOp(run, x, outSize, dy);
  const yRef = ref(x);
  expect(record(name, 'fwd', maxError(y, yRef)), `${name}: forward`).toBeLessThanOrEqual(1e-6);
  expect(record(name, 'bwd', maxError(dx, grad(dy))), `${name}: backward`).toBeLessThanOrEqual(1e-6);
  const idx = sampleIndices(inSize, 40, seed + 2);
  const fd = finiteDifferences((xx) => dot(ref(xx), dy), f64(x), idx);
  expect(record(name, 'fd', relL2(pick(dx, idx), fd)), `${name}: finite differences`).toBeLessThanOrEqual(1e-6);
  return { y, dx };
}

// ---- ops -------------------------------------------------------------------------------------

describe('pad2d op (zero padding, cropping, and each one backward as the other)', () => {
  const cases: { shape: [number, number, number, number]; padding: Padding2D }[] = [
    { shape: [2, 5, 7, 3], padding: [[1, 2], [0, 3]] }, // padding, f32
    { shape: [3, 4, 3, 8], padding: [[2, 0], [3, 1]] }, // padding, vec4
    { shape: [3, 6, 5, 3], padding: [[-1, 0], [-2, -1]] }, // cropping, f32
    { shape: [2, 7, 6, 4], padding: [[-2, -3], [0, -1]] }, // cropping, vec4
    { shape: [2, 5, 6, 5], padding: [[1, -2], [-1, 2]] }, // both at once
  ];
  for (const { shape, padding } of cases) {
    it(`[${shape}] padding ${JSON.stringify(padding)}`, async () => {
      const [n, h, w, c] = shape;
      const g = pad2dGeometry(n, [h, w, c], padding);
      const outShape = [n, g.outHeight, g.outWidth, c];
      const inverse: Padding2D = [
        [-padding[0][0], -padding[0][1]],
        [-padding[1][0], -padding[1][1]],
      ];
      await checkOp(
        `pad2d [${shape}] ${JSON.stringify(padding)}`,
        (e, x, y, dy, dx) => [...pad2dForward(e, g, { x, y }), ...pad2dBackward(e, g, { dy, dx })],
        size(shape),
        size(outShape),
        (x) => pad64(x, shape, padding),
        (dy) => pad64(dy, outShape, inverse),
        size(shape) + 17,
      );
    });
  }

  it('writes readable WGSL: named sizes and offsets, guards only where the window leaves the source', () => {
    const pad = windowCopy({ batch: 2, channels: 3, srcHeight: 5, srcWidth: 7, dstHeight: 8, dstWidth: 10, offsetH: -1, offsetW: 0 });
    expect(pad.code).toContain('const OFFSET_H = -1;');
    expect(pad.code).toContain('alias T = f32;');
    expect(pad.code).toContain('select(T(0.0)');
    const crop = windowCopy({ batch: 2, channels: 8, srcHeight: 5, srcWidth: 7, dstHeight: 3, dstWidth: 4, offsetH: 1, offsetW: 2 });
    expect(crop.code).toContain('alias T = vec4f;');
    expect(crop.code).not.toContain('select(');
  });

  it('rejects what cannot work, naming the caller', () => {
    expect(() => pad2dGeometry(2, [5, 6], [[1, 1], [1, 1]], 'zp')).toThrow(/zp expects inputs of shape \[height, width, channels\].*got \[5, ?6\]/);
    expect(() => pad2dGeometry(2, [5, 6, 3], [[-3, -2], [0, 0]], 'cr')).toThrow(/cr: padding \[\[-3,-2\],\[0,0\]\] leaves an empty 0 × 6 image/);
    expect(() => pad2dGeometry(2, [5, 6, 3], [[0.5, 0], [0, 0]], 'p')).toThrow(/p: padding must be \[\[top, bottom\], \[left, right\]\] of integers/);
  });
});

describe('upsampling op', () => {
  const cases: { shape: [number, number, number, number]; size: [number, number]; interpolation: Interpolation }[] = [
    { shape: [2, 3, 5, 3], size: [2, 3], interpolation: 'nearest' },
    { shape: [2, 4, 3, 4], size: [3, 1], interpolation: 'nearest' },
    { shape: [2, 4, 3, 5], size: [2, 3], interpolation: 'bilinear' },
    { shape: [2, 3, 5, 8], size: [3, 2], interpolation: 'bilinear' },
    { shape: [3, 1, 2, 3], size: [2, 4], interpolation: 'bilinear' },
    { shape: [1, 5, 4, 2], size: [1, 1], interpolation: 'bilinear' },
  ];
  for (const { shape, size: s, interpolation } of cases) {
    it(`${interpolation} [${shape}] by ${JSON.stringify(s)}`, async () => {
      const [n, h, w, c] = shape;
      const g = upSample2dGeometry(n, [h, w, c], s, interpolation);
      const outSize = n * h * s[0] * w * s[1] * c;
      const terms = upsampleTerms(shape, s[0], s[1], interpolation);
      const { y } = await checkOp(
        `upsample ${interpolation} [${shape}] ${JSON.stringify(s)}`,
        (e, x, yv, dy, dx) => [...upSample2dForward(e, g, { x, y: yv }), ...upSample2dBackward(e, g, { dy, dx })],
        size(shape),
        outSize,
        (x) => applyTerms(terms, x, outSize),
        (dy) => applyTermsAdjoint(terms, dy, size(shape)),
        outSize,
      );
      // TF.js's image resizing (what its UpSampling2D calls), float32.
      const twin = tf.tidy(() => {
        const x = tf.tensor4d(randomArray(size(shape), outSize), shape);
        const r = interpolation === 'nearest' ? tf.image.resizeNearestNeighbor(x, [h * s[0], w * s[1]]) : tf.image.resizeBilinear(x, [h * s[0], w * s[1]]);
        return r.dataSync() as Float32Array;
      });
      expect(record(`upsample ${interpolation} [${shape}] ${JSON.stringify(s)}`, 'tfjs', maxError(y, twin))).toBeLessThanOrEqual(1e-6);
    });
  }

  it('writes readable WGSL with named sizes', () => {
    const code = upsampleBilinear({ batch: 2, height: 3, width: 5, channels: 8, sizeH: 2, sizeW: 3 }).code;
    expect(code).toContain('const SIZE_H = 2u;');
    expect(code).toContain('const OUT_W = 15u;');
    expect(code).toContain('alias T = vec4f;');
  });

  it('rejects sizes and interpolations it does not have', () => {
    expect(() => upSample2dGeometry(1, [2, 2, 1], [0, 2], 'nearest', 'up')).toThrow(/up: size must be \[rows, columns\] of positive integers, got \[0,2\]/);
    expect(() => upSample2dGeometry(1, [2, 2, 1], [2, 2], 'bicubic' as never, 'up')).toThrow(/up: interpolation must be 'nearest' or 'bilinear', got "bicubic"/);
  });
});

describe('repeatVector op', () => {
  for (const [batch, features, n] of [
    [3, 7, 5],
    [2, 8, 70],
    [4, 1, 3],
  ] as const) {
    it(`[${batch}, ${features}] × ${n}`, async () => {
      const g = repeatVectorGeometry(batch, [features], n);
      await checkOp(
        `repeatVector [${batch},${features}] x${n}`,
        (e, x, y, dy, dx) => [...upSample2dForward(e, g, { x, y }), ...upSample2dBackward(e, g, { dy, dx })],
        batch * features,
        batch * n * features,
        (x) => repeat64(x, batch, features, n),
        (dy) => {
          const dx = new Float64Array(batch * features);
          for (let b = 0; b < batch; b++) for (let r = 0; r < n; r++) for (let f = 0; f < features; f++) dx[b * features + f] += dy[(b * n + r) * features + f]!;
          return dx;
        },
        batch * features * n,
      );
    });
  }
  it('rejects inputs that are not vectors', () => {
    expect(() => repeatVectorGeometry(2, [3, 4], 2, 'rv')).toThrow(/rv expects inputs of shape \[features\] \(rank 1 without the batch\), got \[3, ?4\]/);
    expect(() => repeatVectorGeometry(2, [3], 0, 'rv')).toThrow(/rv: n must be a positive integer, got 0/);
  });
});

describe('permute op (transpose)', () => {
  const cases: { batch: number; shape: number[]; dims: number[] }[] = [
    { batch: 3, shape: [5, 7], dims: [2, 1] },
    { batch: 2, shape: [3, 5, 6], dims: [3, 1, 2] },
    { batch: 2, shape: [4, 3, 8], dims: [2, 3, 1] },
    { batch: 2, shape: [3, 5, 8], dims: [2, 1, 3] }, // the last axis stays: vec4
    { batch: 2, shape: [2, 3, 5, 7], dims: [4, 2, 1, 3] },
    { batch: 2, shape: [3, 1, 5, 4], dims: [1, 2, 4, 3] }, // a size-1 axis
    { batch: 3, shape: [2, 3, 4, 5], dims: [3, 4, 1, 2] }, // two merged runs
    { batch: 2, shape: [3, 5], dims: [1, 2] }, // the identity: a copy
  ];
  for (const { batch, shape, dims } of cases) {
    it(`[${batch}, ${shape}] dims ${JSON.stringify(dims)}`, async () => {
      const g = permuteGeometry(batch, shape, dims);
      expect(g.outputShape).toEqual(dims.map((d) => shape[d - 1]));
      const full = [0, ...dims];
      const inverse = full.map((_, k) => full.indexOf(k));
      const n = batch * size(shape);
      const { y } = await checkOp(
        `permute [${batch},${shape}] ${JSON.stringify(dims)}`,
        (e, x, y, dy, dx) => [...permuteForward(e, g, { x, y }), ...permuteBackward(e, g, { dy, dx })],
        n,
        n,
        (x) => transpose64(x, [batch, ...shape], full),
        (dy) => transpose64(dy, [batch, ...g.outputShape], inverse),
        n + 3,
      );
      const twin = tf.tidy(() => tf.transpose(tf.tensor(randomArray(n, n + 3), [batch, ...shape]), full).dataSync() as Float32Array);
      expect(record(`permute [${batch},${shape}] ${JSON.stringify(dims)}`, 'tfjs', maxError(y, twin))).toBe(0);
    });
  }

  it('simplifies: drops size-1 axes and merges axes that stay neighbours', () => {
    expect(simplifyTranspose([3, 2, 3, 4, 5], [0, 3, 4, 1, 2])).toEqual({ shape: [3, 6, 20], perm: [0, 2, 1] });
    expect(simplifyTranspose([2, 3, 1, 5, 4], [0, 1, 2, 4, 3])).toEqual({ shape: [6, 5, 4], perm: [0, 2, 1] });
    expect(simplifyTranspose([2, 3, 5], [0, 1, 2])).toEqual({ shape: [30], perm: [0] });
    expect(simplifyTranspose([1, 1], [1, 0])).toEqual({ shape: [1], perm: [0] });
    const code = transposeKernel({ shape: [6, 5, 8], perm: [1, 0, 2] }).code;
    expect(code).toContain('alias T = vec4f;');
    expect(code).toContain('const OUT_SIZE_1 = 6u;');
  });

  it('rejects dims that are not a permutation of the sample axes', () => {
    expect(() => permuteGeometry(2, [3, 4], [1, 3], 'pm')).toThrow(/pm: dims must be a permutation of 1\.\.2 \(the input \[null, ?3, ?4\] has 2 axes after the batch\), got \[1,3\]/);
    expect(() => permuteGeometry(2, [3, 4], [0, 1], 'pm')).toThrow(/got \[0,1\]/);
  });
});

// ---- layers ------------------------------------------------------------------------------

/** A layer's forward and backward through the Layer contract, on NaN-filled outputs. */
async function runLayer(layer: Layer, batch: number, inputShape: Shape, x: Float32Array, dy: Float32Array) {
  const e = engine();
  const outputShape = layer.computeOutputShape([inputShape]);
  const outSize = batch * size(outputShape);
  expect(dy.length).toBe(outSize);
  const ctx: BackwardContext = {
    engine: e,
    batch,
    inputs: [uploadView(e, x)],
    inputShapes: [inputShape],
    output: nanBuffer(e, outSize),
    outputShape,
    weights: [],
    training: true,
    stepInfo: nanBuffer(e, 4),
    saved: new Map(),
    scratch: (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4)),
    outputGrad: uploadView(e, dy),
    inputGrads: [nanBuffer(e, x.length)],
    weightGrads: [],
  };
  e.run([...layer.forward(ctx), ...layer.backward(ctx)]);
  return {
    outputShape,
    y: await readF32(e, ctx.output, outSize),
    dx: await readF32(e, ctx.inputGrads[0]!, x.length),
    noInputGrad: layer.backward({ ...ctx, inputGrads: [null] }),
  };
}

/** TF.js's forward and input gradient (of Σ y·dy) of `layer` on [batch, ...shape]. */
function tfLayer(layer: tf.layers.Layer, x: Float32Array, shape: readonly number[], dy: Float32Array): { y: Float32Array; dx: Float32Array } {
  return tf.tidy(() => {
    const input = tf.tensor(x, [...shape]);
    const out = layer.apply(input) as tf.Tensor;
    const weights = tf.tensor(dy, out.shape);
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, weights)))(input);
    return { y: out.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  });
}

/*
 * TF.js 4.22's cpu gradients of image resizing are wrong in two cases, so the twins stay clear of
 * them (our kernels are checked there against the float64 references above):
 * - resizeNearestNeighborGrad reads dy at the input's batch offset (b · H·W·C, not b · OH·OW·C): every
 *   sample after the first gets another sample's gradient. Its twins run on batches of 1.
 * - resizeBilinearGrad returns its result with height and width swapped in the shape, which TF.js's
 *   tape rejects unless the image is square. Its twins upsample square images.
 */
describe('the layers', () => {
  const cases: { name: string; ours: () => Layer; theirs: () => tf.layers.Layer; shape: number[]; out: number[]; batch?: number }[] = [
    { name: 'ZeroPadding2D', ours: () => layers.zeroPadding2d({ padding: [[1, 2], [3, 0]] }), theirs: () => tf.layers.zeroPadding2d({ padding: [[1, 2], [3, 0]] }), shape: [5, 6, 3], out: [8, 9, 3] },
    { name: 'ZeroPadding2D default', ours: () => layers.zeroPadding2d(), theirs: () => tf.layers.zeroPadding2d(), shape: [3, 2, 4], out: [5, 4, 4] },
    { name: 'Cropping2D', ours: () => layers.cropping2D({ cropping: [[1, 0], [2, 1]] }), theirs: () => tf.layers.cropping2D({ cropping: [[1, 0], [2, 1]] }), shape: [5, 6, 3], out: [4, 3, 3] },
    { name: 'Cropping2D [1, 2]', ours: () => layers.cropping2D({ cropping: [1, 2] }), theirs: () => tf.layers.cropping2D({ cropping: [1, 2] }), shape: [5, 7, 4], out: [3, 3, 4] },
    { name: 'UpSampling2D', ours: () => layers.upSampling2d(), theirs: () => tf.layers.upSampling2d({}), shape: [3, 5, 3], out: [6, 10, 3], batch: 1 },
    { name: 'UpSampling2D [3, 1]', ours: () => layers.upSampling2d({ size: [3, 1] }), theirs: () => tf.layers.upSampling2d({ size: [3, 1] }), shape: [4, 3, 8], out: [12, 3, 8], batch: 1 },
    { name: 'UpSampling2D bilinear', ours: () => layers.upSampling2d({ size: [3, 2], interpolation: 'bilinear' }), theirs: () => tf.layers.upSampling2d({ size: [3, 2], interpolation: 'bilinear' }), shape: [4, 4, 5], out: [12, 8, 5] },
    { name: 'UpSampling2D bilinear vec4', ours: () => layers.upSampling2d({ size: 2, interpolation: 'bilinear' }), theirs: () => tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }), shape: [3, 3, 4], out: [6, 6, 4] },
    { name: 'Permute', ours: () => layers.permute({ dims: [3, 1, 2] }), theirs: () => tf.layers.permute({ dims: [3, 1, 2] }), shape: [3, 5, 6], out: [6, 3, 5] },
    { name: 'Permute rank 2', ours: () => layers.permute({ dims: [2, 1] }), theirs: () => tf.layers.permute({ dims: [2, 1] }), shape: [5, 7], out: [7, 5] },
    { name: 'RepeatVector', ours: () => layers.repeatVector({ n: 4 }), theirs: () => tf.layers.repeatVector({ n: 4 }), shape: [7], out: [4, 7] },
  ];
  for (const { name, ours, theirs, shape, out, batch = 2 } of cases) {
    it(`${name}: forward and backward through the layer contract, as TF.js's`, async () => {
      const x = randomArray(batch * size(shape), 5 + size(shape));
      const dy = randomArray(batch * size(out), 6 + size(out));
      const got = await runLayer(ours(), batch, shape, x, dy);
      expect(got.outputShape).toEqual(out);
      const want = tfLayer(theirs(), x, [batch, ...shape], dy);
      expect(record(`layer ${name}`, 'tfjs', Math.max(maxError(got.y, want.y), maxError(got.dx, want.dx)))).toBeLessThanOrEqual(1e-6);
      expect(got.noInputGrad).toEqual([]);
    });
  }

  it('rejects configs that cannot work, naming the layer, the field, what was expected and what came', () => {
    expect(() => layers.zeroPadding2d({ padding: -1, name: 'zp' })).toThrow(/ZeroPadding2D zp: padding must be an integer ≥ 0, \[height, width\] or \[\[top, bottom\], \[left, right\]\] of integers ≥ 0, got -1/);
    expect(() => layers.zeroPadding2d({ padding: [1, 2, 3] as never, name: 'zp' })).toThrow(/ZeroPadding2D zp: padding .* got \[1,2,3\]/);
    expect(() => layers.zeroPadding2d({ padding: [[1, 2], [3]] as never, name: 'zp' })).toThrow(/got \[\[1,2\],\[3\]\]/);
    expect(() => layers.zeroPadding2d({ dataFormat: 'channelsFirst', name: 'zp' })).toThrow(/ZeroPadding2D zp: dataFormat 'channelsFirst' is not supported, only 'channelsLast'/);
    expect(() => layers.zeroPadding2d({ dataFormat: 'NHWC' as never, name: 'zp' })).toThrow(/ZeroPadding2D zp: dataFormat must be 'channelsLast', got "NHWC"/);
    expect(() => layers.zeroPadding2d({ name: 'zp' }).computeOutputShape([[4, 4]])).toThrow(/ZeroPadding2D zp expects inputs of shape \[height, width, channels\]/);
    expect(() => layers.cropping2D({ name: 'cr' } as never)).toThrow(/Cropping2D cr: cropping is required/);
    expect(() => layers.cropping2D({ cropping: 1.5, name: 'cr' })).toThrow(/Cropping2D cr: cropping must be an integer ≥ 0.*got 1.5/);
    expect(() => layers.cropping2D({ cropping: [[2, 3], [0, 0]], name: 'cr' }).computeOutputShape([[5, 6, 3]])).toThrow(
      /Cropping2D cr: cropping \[\[2,3\],\[0,0\]\] removes 5 of 5 rows and 0 of 6 columns of the input \[null, ?5, ?6, ?3\]; it must leave at least one of each/,
    );
    expect(() => layers.cropping2D({ cropping: 1, dataFormat: 'channelsFirst', name: 'cr' })).toThrow(/Cropping2D cr: dataFormat 'channelsFirst' is not supported/);
    expect(() => layers.upSampling2d({ size: [2, 0], name: 'up' })).toThrow(/UpSampling2D up: size must be a positive integer or an array of two positive integers, got \[2,0\]/);
    expect(() => layers.upSampling2d({ interpolation: 'bicubic' as never, name: 'up' })).toThrow(/UpSampling2D up: interpolation must be 'nearest' or 'bilinear', got "bicubic"/);
    expect(() => layers.upSampling2d({ dataFormat: 'channelsFirst', name: 'up' })).toThrow(/UpSampling2D up: dataFormat 'channelsFirst' is not supported/);
    expect(() => layers.upSampling2d({ name: 'up' }).computeOutputShape([[4, 4, 4, 4]])).toThrow(/UpSampling2D up expects inputs of shape \[height, width, channels\]/);
    expect(() => layers.permute({ name: 'pm' } as never)).toThrow(/Permute pm: dims must be a permutation of 1\.\.k .* got undefined/);
    expect(() => layers.permute({ dims: [0, 1], name: 'pm' })).toThrow(/Permute pm: dims must be a permutation of 1\.\.k .*got \[0,1\]/);
    expect(() => layers.permute({ dims: [2, 1], name: 'pm' }).computeOutputShape([[3, 4, 5]])).toThrow(/Permute pm: dims \[2,1\] order 2 axes, but the input \[null, ?3, ?4, ?5\] has 3 after the batch/);
    expect(() => layers.repeatVector({ n: 0, name: 'rv' })).toThrow(/RepeatVector rv: n must be an integer ≥ 1, got 0/);
    expect(() => layers.repeatVector({ name: 'rv' } as never)).toThrow(/RepeatVector rv: n must be an integer ≥ 1, got undefined/);
    expect(() => layers.repeatVector({ n: 2, name: 'rv' }).computeOutputShape([[3, 4]])).toThrow(/RepeatVector rv expects inputs of shape \[features\]/);
    expect(() => layers.permute(undefined as never)).toThrow(/Permute: expected a config object, got undefined/);
  });

  /** The layer's config as TF.js writes it into model.json. */
  function tfModelJsonConfig(layer: tf.layers.Layer, inputShape: number[]): Record<string, unknown> {
    const model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape }), layer] });
    const json = model.toJSON(null, false) as unknown as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    return json.config.layers[1]!.config;
  }

  it("getConfig() equals TF.js's model.json config, and fromConfig rebuilds the layer", () => {
    const configs: { ours: Layer; theirs: tf.layers.Layer; shape: number[]; from: (c: unknown) => Layer }[] = [
      { ours: new ZeroPadding2D({ name: 'a' }), theirs: tf.layers.zeroPadding2d({ name: 'a' }), shape: [4, 4, 2], from: ZeroPadding2D.fromConfig },
      { ours: new ZeroPadding2D({ name: 'a', padding: 2 }), theirs: tf.layers.zeroPadding2d({ name: 'a', padding: 2 }), shape: [4, 4, 2], from: ZeroPadding2D.fromConfig },
      { ours: new ZeroPadding2D({ name: 'a', padding: [1, 3] }), theirs: tf.layers.zeroPadding2d({ name: 'a', padding: [1, 3] }), shape: [4, 4, 2], from: ZeroPadding2D.fromConfig },
      { ours: new ZeroPadding2D({ name: 'a', padding: [[1, 0], [2, 3]] }), theirs: tf.layers.zeroPadding2d({ name: 'a', padding: [[1, 0], [2, 3]] }), shape: [4, 4, 2], from: ZeroPadding2D.fromConfig },
      { ours: new Cropping2D({ name: 'a', cropping: 1 }), theirs: tf.layers.cropping2D({ name: 'a', cropping: 1 }), shape: [4, 4, 2], from: Cropping2D.fromConfig },
      { ours: new Cropping2D({ name: 'a', cropping: [1, 0] }), theirs: tf.layers.cropping2D({ name: 'a', cropping: [1, 0] }), shape: [4, 4, 2], from: Cropping2D.fromConfig },
      { ours: new Cropping2D({ name: 'a', cropping: [[0, 1], [2, 1]] }), theirs: tf.layers.cropping2D({ name: 'a', cropping: [[0, 1], [2, 1]] }), shape: [4, 4, 2], from: Cropping2D.fromConfig },
      { ours: new UpSampling2D({ name: 'a' }), theirs: tf.layers.upSampling2d({ name: 'a' }), shape: [4, 4, 2], from: UpSampling2D.fromConfig },
      { ours: new UpSampling2D({ name: 'a', size: [3, 1], interpolation: 'bilinear' }), theirs: tf.layers.upSampling2d({ name: 'a', size: [3, 1], interpolation: 'bilinear' }), shape: [4, 4, 2], from: UpSampling2D.fromConfig },
      { ours: new Permute({ name: 'a', dims: [2, 1] }), theirs: tf.layers.permute({ name: 'a', dims: [2, 1] }), shape: [4, 3], from: Permute.fromConfig },
      { ours: new Permute({ name: 'a', dims: [3, 1, 2], trainable: false }), theirs: tf.layers.permute({ name: 'a', dims: [3, 1, 2], trainable: false }), shape: [4, 3, 2], from: Permute.fromConfig },
      { ours: new RepeatVector({ name: 'a', n: 3 }), theirs: tf.layers.repeatVector({ name: 'a', n: 3 }), shape: [4], from: RepeatVector.fromConfig },
    ];
    for (const { ours, theirs, shape, from } of configs) {
      const want = tfModelJsonConfig(theirs, shape);
      expect(ours.getConfig()).toEqual(want);
      const rebuilt = from(want);
      expect(rebuilt.className).toBe(ours.className);
      expect(rebuilt.getConfig()).toEqual(want);
    }
    // With inputShape, as TF.js writes it (batch_input_shape and dtype), and back.
    const declared = new Cropping2D({ name: 'b', cropping: 1, inputShape: [4, 4, 2] });
    const tfDeclared = tf.sequential({ layers: [tf.layers.cropping2D({ name: 'b', cropping: 1, inputShape: [4, 4, 2] })] }).toJSON(null, false) as unknown as { config: { layers: { config: unknown }[] } };
    expect(declared.getConfig()).toEqual(tfDeclared.config.layers[0]!.config);
    expect(Cropping2D.fromConfig(tfDeclared.config.layers[0]!.config).getConfig()).toEqual(declared.getConfig());
    // model.json's channels_first, and keys we do not know, are errors that say so.
    expect(() => ZeroPadding2D.fromConfig({ name: 'z', padding: 1, data_format: 'channels_first' })).toThrow(/ZeroPadding2D z: dataFormat 'channelsFirst' is not supported/);
    expect(() => UpSampling2D.fromConfig({ name: 'u', data_format: 'NCHW' })).toThrow(/UpSampling2D: data_format must be 'channels_last', got "NCHW"/);
    expect(() => Permute.fromConfig({ name: 'p', dims: [1], order: 'C' })).toThrow(/Permute: unknown config key 'order'/);
  });

  it('registers the TF.js factory names and Keras class names', () => {
    expect(layers.zeroPadding2d()).toBeInstanceOf(ZeroPadding2D);
    expect(layers.cropping2D({ cropping: 1 })).toBeInstanceOf(Cropping2D);
    expect(layers.upSampling2d()).toBeInstanceOf(UpSampling2D);
    expect(layers.permute({ dims: [1] })).toBeInstanceOf(Permute);
    expect(layers.repeatVector({ n: 1 })).toBeInstanceOf(RepeatVector);
    for (const name of ['zeroPadding2d', 'cropping2D', 'upSampling2d', 'permute', 'repeatVector']) expect(typeof (tf.layers as unknown as Record<string, unknown>)[name]).toBe('function');
    expect(new ZeroPadding2D().name).toMatch(/^zero_padding2d(_\d+)?$/);
    expect(new UpSampling2D().name).toMatch(/^up_sampling2d(_\d+)?$/);
    expect(new RepeatVector({ n: 2 }).name).toMatch(/^repeat_vector(_\d+)?$/);
  });
});

// ---- in models: twins of TF.js ---------------------------------------------------------------

async function capture(m: LayersModel): Promise<ModelArtifacts> {
  let saved: ModelArtifacts | undefined;
  await m.save({ save: async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }) });
  return saved!;
}

async function tfCapture(m: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return saved!;
}

describe('in models, as TF.js', () => {
  const twins: { name: string; input: number[]; batchSize: number; epochs: number; ours: () => LayersModel; theirs: () => tf.LayersModel }[] = [
    {
      // 5×6 → pad → 8×7 → conv → 6×5 → crop → 3×3 → bilinear ×2 → 6×6 → nearest [2, 1] → 12×6 (batches of 1: see above).
      name: 'zeroPadding2d → conv2d → cropping2D → upSampling2d (bilinear, nearest) → flatten → dense',
      input: [5, 6, 3],
      batchSize: 1,
      epochs: 1,
      ours: () =>
        sequential([
          layers.zeroPadding2d({ padding: [[1, 2], [0, 1]], inputShape: [5, 6, 3] }),
          layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }),
          layers.cropping2D({ cropping: [[2, 1], [0, 2]] }),
          layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }),
          layers.upSampling2d({ size: [2, 1] }),
          layers.flatten(),
          layers.dense({ units: 3, activation: 'softmax' }),
        ]),
      theirs: () =>
        tf.sequential({
          layers: [
            tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]], inputShape: [5, 6, 3] }),
            tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu' }),
            tf.layers.cropping2D({ cropping: [[2, 1], [0, 2]] }),
            tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }),
            tf.layers.upSampling2d({ size: [2, 1] }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 3, activation: 'softmax' }),
          ],
        }),
    },
    {
      name: 'dense → repeatVector → permute → reshape → permute (rank 3) → flatten → dense',
      input: [5],
      batchSize: 4,
      epochs: 2,
      ours: () =>
        sequential([
          layers.dense({ units: 6, activation: 'tanh', inputShape: [5] }),
          layers.repeatVector({ n: 4 }),
          layers.permute({ dims: [2, 1] }),
          layers.reshape({ targetShape: [3, 2, 4] }),
          layers.permute({ dims: [3, 1, 2] }),
          layers.flatten(),
          layers.dense({ units: 3, activation: 'softmax' }),
        ]),
      theirs: () =>
        tf.sequential({
          layers: [
            tf.layers.dense({ units: 6, activation: 'tanh', inputShape: [5] }),
            tf.layers.repeatVector({ n: 4 }),
            tf.layers.permute({ dims: [2, 1] }),
            tf.layers.reshape({ targetShape: [3, 2, 4] }),
            tf.layers.permute({ dims: [3, 1, 2] }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 3, activation: 'softmax' }),
          ],
        }),
    },
  ];
  const N = 6;

  for (const { name, input, batchSize, epochs, ours: makeOurs, theirs: makeTheirs } of twins) {
    it(`${name}: trains as TF.js does (SGD), and its model.json loads both ways`, async () => {
      const x = randomArray(N * size(input), 41 + size(input));
      const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % 3);
      const ours = makeOurs();
      ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'sparseCategoricalCrossentropy', engine: engine() });
      const theirs = makeTheirs();
      theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'sparseCategoricalCrossentropy' });
      const start = await ours.getWeights();
      theirs.setWeights(start.map((w) => tf.tensor(w.values, [...w.shape])));
      const xs = tf.tensor(x, [N, ...input]);
      const predictTheirs = (m: tf.LayersModel) => (m.predict(xs) as tf.Tensor).dataSync() as Float32Array;
      expect(record(`twin ${name}`, 'tfjs', maxError((await ours.predict(tensor(x, [N, ...input]))).values, predictTheirs(theirs)))).toBeLessThanOrEqual(1e-4);

      // Our model.json in TF.js, before training: the same classes, configs and predictions.
      const saved = await capture(ours);
      const loadedByTf = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
      expect(loadedByTf.layers.map((l) => l.getClassName())).toEqual(ours.layers.map((l) => l.className));
      expect(maxError(predictTheirs(loadedByTf), predictTheirs(theirs))).toBeLessThanOrEqual(1e-6);

      await theirs.fit(xs, tf.tensor1d(Float32Array.from(labels)), { epochs, batchSize, shuffle: false, verbose: 0 });
      await ours.fit(tensor(x, [N, ...input]), tensor(labels, [N]), { epochs, batchSize, shuffle: false, verbose: 0 });
      const got = await ours.getWeights();
      const want = theirs.getWeights().map((t) => t.dataSync() as Float32Array);
      got.forEach((w, i) => {
        const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
        const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
        expect(record(`twin ${name}: weight deltas`, 'tfjs', relL2(delta, wantDelta)), w.name).toBeLessThanOrEqual(1e-3);
      });
      const predicted = (await ours.predict(tensor(x, [N, ...input]))).values;
      expect(record(`twin ${name}: trained predictions`, 'tfjs', maxError(predicted, predictTheirs(theirs)))).toBeLessThanOrEqual(1e-4);

      // TF.js's model.json (trained) in ours: the same configs and predictions.
      const fromTf = await loadModel({ load: async () => (await tfCapture(theirs)) as unknown as ModelArtifacts }, { engine: engine() });
      expect(fromTf.layers.map((l) => l.className)).toEqual(ours.layers.map((l) => l.className));
      const tfJson = (theirs.toJSON(null, false) as unknown as { config: { layers: { config: Record<string, unknown> }[] } }).config.layers;
      fromTf.layers.forEach((l, i) => {
        if (['ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Permute', 'RepeatVector'].includes(l.className)) expect(l.getConfig()).toEqual(tfJson[i]!.config);
      });
      expect(record(`twin ${name}: TF.js model.json loaded by us`, 'tfjs', maxError((await fromTf.predict(tensor(x, [N, ...input]))).values, predictTheirs(theirs)))).toBeLessThanOrEqual(1e-4);

      // Ours, trained, reloaded by us.
      const again = await loadModel({ load: async () => capture(ours) }, { engine: engine() });
      expect(again.layers.map((l) => l.getConfig())).toEqual(ours.layers.map((l) => l.getConfig()));
      expect(maxError((await again.predict(tensor(x, [N, ...input]))).values, predicted)).toBeLessThanOrEqual(1e-6);
      for (const m of [ours, fromTf, again]) m.dispose();
      tf.dispose([xs]);
    });
  }
});
