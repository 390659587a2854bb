/**
 * DepthwiseConv2D and SeparableConv2D: the depthwise op's kernels (forward, input gradient, kernel
 * and bias gradients) against float64 references on NaN-filled outputs and by central finite
 * differences, over strides, 'same' padding, dilation, depth multipliers and channel counts that
 * are not multiples of 4; the layers' configs and errors; a MobileNet-style twin trained beside
 * TF.js 4.22 (cpu backend) with one layer frozen; and model.json both ways.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { input, layers, loadModel, model, optimizers, sequential, tensor, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { DepthwiseConv2D, SeparableConv2D } from '../src/layers/depthwise-conv2d.ts';
import { depthwiseConv2dBackward, depthwiseConv2dForward, depthwiseConv2dGeometry, depthwiseConv2dReductionPlan, type DepthwiseConv2DGeometry } from '../src/ops/depthwise-conv2d.ts';
import type { Padding } from '../src/ops/window.ts';
import { dot, finiteDifferences, measuredErrors, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { captureOurs, captureTf } from './artifacts.ts';
import { depthwiseBackwardRef, depthwiseForwardRef } from './reference/depthwise.ts';

const engine = useEngine();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The largest error each check measured; DEPTHWISE_ERRORS=1 prints them after the file. */
const record = measuredErrors('DEPTHWISE_ERRORS', ['vs float64', 'vs finite differences', 'loss', 'weight updates', 'predictions']);

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

// ---- the op's kernels ------------------------------------------------------------------------

interface Case {
  name: string;
  batch: number;
  input: [number, number, number];
  kernel: [number, number];
  multiplier: number;
  strides?: [number, number];
  dilation?: [number, number];
  padding: Padding;
  relu: boolean;
  bias: boolean;
}

const CASES: Case[] = [
  { name: '3x3 valid, 3 channels (scalar), relu, bias', batch: 2, input: [7, 9, 3], kernel: [3, 3], multiplier: 1, padding: 'valid', relu: true, bias: true },
  { name: '3x3 stride 2 same, 8 channels (vec4), relu', batch: 2, input: [8, 7, 8], kernel: [3, 3], multiplier: 1, strides: [2, 2], padding: 'same', relu: true, bias: false },
  { name: '3x3 dilation 2 same, 4 channels x multiplier 2', batch: 3, input: [9, 8, 4], kernel: [3, 3], multiplier: 2, dilation: [2, 2], padding: 'same', relu: false, bias: true },
  { name: '2x3 strides 2x1 same, 5 channels x multiplier 3 (scalar)', batch: 2, input: [6, 7, 5], kernel: [2, 3], multiplier: 3, strides: [2, 1], padding: 'same', relu: true, bias: true },
  { name: '3x3 dilation 2x1 same, 12 channels x multiplier 3 (vec4 swizzles)', batch: 2, input: [7, 6, 12], kernel: [3, 3], multiplier: 3, dilation: [2, 1], padding: 'same', relu: true, bias: true },
  { name: '5x3 dilation 1x2 valid, 6 channels x multiplier 2', batch: 1, input: [7, 8, 6], kernel: [5, 3], multiplier: 2, dilation: [1, 2], padding: 'valid', relu: false, bias: true },
  { name: 'kernel larger than the input, 5x5 stride 2 same, 4 channels', batch: 2, input: [3, 2, 4], kernel: [5, 5], multiplier: 1, strides: [2, 2], padding: 'same', relu: false, bias: true },
  { name: '3x3 dilation 2 valid, 4 channels', batch: 2, input: [9, 9, 4], kernel: [3, 3], multiplier: 1, dilation: [2, 2], padding: 'valid', relu: true, bias: false },
  { name: '3x3 stride 2 valid, 2 channels x multiplier 4, odd sizes', batch: 3, input: [9, 11, 2], kernel: [3, 3], multiplier: 4, strides: [2, 2], padding: 'valid', relu: false, bias: true },
  { name: '1x2 stride 2 valid (odd rows: a stride phase no tap reaches), 4 channels x multiplier 2', batch: 2, input: [5, 7, 4], kernel: [1, 2], multiplier: 2, strides: [2, 2], padding: 'valid', relu: false, bias: true },
  { name: '3x3 same, 16 channels, 12x13 (several dW chunks)', batch: 4, input: [12, 13, 16], kernel: [3, 3], multiplier: 1, padding: 'same', relu: true, bias: true },
];

function geometryOf(c: Case): DepthwiseConv2DGeometry {
  return depthwiseConv2dGeometry({ batch: c.batch, inputShape: c.input, kernelSize: c.kernel, depthMultiplier: c.multiplier, strides: c.strides, dilationRate: c.dilation, padding: c.padding, relu: c.relu, useBias: c.bias });
}

async function runOp(g: DepthwiseConv2DGeometry, data: { x: Float32Array; w: Float32Array; b: Float32Array | null; dy: Float32Array }, options: { chunks?: number; reluMaskInput?: boolean } = {}) {
  const e = engine();
  const outC = g.inC * g.multiplier;
  const nY = g.batch * g.outH * g.outW * outC;
  const [x, w, dyView] = [uploadView(e, data.x), uploadView(e, data.w), uploadView(e, data.dy)];
  const b = data.b ? uploadView(e, data.b) : null;
  const y = nanBuffer(e, nY);
  const dx = nanBuffer(e, data.x.length);
  const dw = nanBuffer(e, data.w.length);
  const db = g.bias ? nanBuffer(e, outC) : null;
  const scratch = (bytes: number) => nanBuffer(e, bytes / 4);
  e.run([...depthwiseConv2dForward(e, g, { x, w, b, y }), ...depthwiseConv2dBackward(e, g, { x, w, y, dy: dyView, dx, dw, db, scratch }, options)]);
  return {
    y: await readF32(e, y, nY),
    dx: await readF32(e, dx, data.x.length),
    dw: await readF32(e, dw, data.w.length),
    db: db ? await readF32(e, db, outC) : null,
  };
}

function dataFor(g: DepthwiseConv2DGeometry, seed: number) {
  const outC = g.inC * g.multiplier;
  return {
    x: randomArray(g.batch * g.inH * g.inW * g.inC, seed),
    w: randomArray(g.kH * g.kW * outC, seed + 1),
    b: g.bias ? randomArray(outC, seed + 2, 0.3) : null,
    dy: randomArray(g.batch * g.outH * g.outW * outC, seed + 3),
  };
}

describe('depthwise conv2d kernels', () => {
  for (const [k, c] of CASES.entries()) {
    it(`forward and backward match float64 and finite differences: ${c.name}`, async () => {
      const g = geometryOf(c);
      const data = dataFor(g, 100 + 10 * k);
      const got = await runOp(g, data);
      const want = depthwiseBackwardRef(g, data.x, data.w, data.b, data.dy);
      expect(record('forward', 'vs float64', relL2(got.y, depthwiseForwardRef(g, data.x, data.w, data.b)))).toBeLessThanOrEqual(1e-6);
      expect(record('dx', 'vs float64', relL2(got.dx, want.dx))).toBeLessThanOrEqual(1e-6);
      expect(record('dW', 'vs float64', relL2(got.dw, want.dw))).toBeLessThanOrEqual(1e-6);
      if (got.db) expect(record('db', 'vs float64', relL2(got.db, want.db))).toBeLessThanOrEqual(1e-6);
      // Finite differences of L = Σ y·dy, the float64 forward, in x, w and b.
      const loss = (xx: ArrayLike<number>, ww: ArrayLike<number>, bb: ArrayLike<number> | null) => dot(depthwiseForwardRef(g, xx, ww, bb), data.dy);
      const xi = sampleIndices(data.x.length, 30, k);
      const wi = sampleIndices(data.w.length, 30, k + 1);
      const fdX = finiteDifferences((xx) => loss(xx, data.w, data.b), toF64(data.x), xi);
      const fdW = finiteDifferences((ww) => loss(data.x, ww, data.b), toF64(data.w), wi);
      expect(fdX.some((v) => v !== 0)).toBe(true);
      expect(record('dx', 'vs finite differences', relL2(pick(got.dx, xi), fdX))).toBeLessThanOrEqual(1e-4);
      expect(record('dW', 'vs finite differences', relL2(pick(got.dw, wi), fdW))).toBeLessThanOrEqual(1e-4);
      if (got.db && data.b) {
        const fdB = finiteDifferences((bb) => loss(data.x, data.w, bb), toF64(data.b));
        expect(record('db', 'vs finite differences', relL2(got.db, fdB))).toBeLessThanOrEqual(1e-4);
      }
    });
  }

  it('the kernel gradient is the same from one chunk and from many (partial sums), and splits big reductions', async () => {
    const c = CASES[CASES.length - 1]!;
    const g = geometryOf(c);
    expect(depthwiseConv2dReductionPlan(engine(), g).chunks).toBeGreaterThan(1);
    const data = dataFor(g, 7);
    const want = depthwiseBackwardRef(g, data.x, data.w, data.b, data.dy);
    for (const chunks of [1, 5, 48]) {
      const got = await runOp(g, data, { chunks });
      expect(depthwiseConv2dReductionPlan(engine(), g, chunks).chunks).toBe(chunks);
      expect(relL2(got.dw, want.dw), `${chunks} chunks`).toBeLessThanOrEqual(1e-6);
      expect(relL2(got.db!, want.db), `${chunks} chunks`).toBeLessThanOrEqual(1e-6);
    }
  });

  it("applies the producer's ReLU mask to dx when asked (reluMaskInput)", async () => {
    for (const c of [CASES[2]!, CASES[3]!]) {
      const g = geometryOf(c);
      const data = dataFor(g, 9);
      const got = await runOp(g, data, { reluMaskInput: true });
      const want = depthwiseBackwardRef(g, data.x, data.w, data.b, data.dy).dx.map((v, i) => (data.x[i]! > 0 ? v : 0));
      expect(want.some((v, i) => v === 0 && data.x[i]! <= 0)).toBe(true);
      expect(relL2(got.dx, want), c.name).toBeLessThanOrEqual(1e-6);
    }
  });

  it("matches TF.js's depthwiseConv2d op forward, dilation included", async () => {
    for (const c of [CASES[2]!, CASES[4]!, CASES[5]!, CASES[8]!]) {
      const g = { ...geometryOf(c), relu: false, bias: false };
      const data = { ...dataFor(g, 11), b: null };
      const got = await runOp(g, data);
      const theirs = tf.depthwiseConv2d(tf.tensor4d(data.x, [g.batch, g.inH, g.inW, g.inC]), tf.tensor4d(data.w, [g.kH, g.kW, g.inC, g.multiplier]), [g.strideH, g.strideW], c.padding, 'NHWC', [g.dilationH, g.dilationW]);
      expect(theirs.shape).toEqual([g.batch, g.outH, g.outW, g.inC * g.multiplier]);
      expect(relL2(got.y, theirs.dataSync()), c.name).toBeLessThanOrEqual(1e-6);
    }
  });

  it('refuses geometries that cannot work, naming what and why', () => {
    const base = { batch: 1, inputShape: [8, 8, 4], kernelSize: [3, 3] as [number, number] };
    expect(() => depthwiseConv2dGeometry({ ...base, strides: [2, 2], dilationRate: [2, 1] })).toThrow(/dilationRate \[2, 1\] cannot be combined with strides \[2, 2\]/);
    expect(() => depthwiseConv2dGeometry({ ...base, kernelSize: [3, 3], dilationRate: [4, 4] })).toThrow(/span \[9, 9\].*larger than the input \[8, 8\] with padding 'valid'/);
    expect(depthwiseConv2dGeometry({ ...base, dilationRate: [4, 4], padding: 'same' }).outH).toBe(8);
    expect(() => depthwiseConv2dGeometry({ ...base, inputShape: [8, 8] })).toThrow(/rank 3/);
    expect(() => depthwiseConv2dGeometry({ ...base, depthMultiplier: 0 })).toThrow(/depthMultiplier must be a positive integer, got 0/);
  });
});

// ---- SeparableConv2D through its layer: depthwise, then the pointwise dense op ----------------------

/** z = act(b + mid · pw) over the rows of mid, mid = depthwise(x) without bias; and its gradients. */
function separableRef(g: DepthwiseConv2DGeometry, filters: number, relu: boolean, x: ArrayLike<number>, dw: ArrayLike<number>, pw: ArrayLike<number>, b: ArrayLike<number>, r: ArrayLike<number>) {
  const C = g.inC * g.multiplier;
  const mid = depthwiseForwardRef(g, x, dw, null);
  const rows = mid.length / C;
  const z = new Float64Array(rows * filters);
  for (let i = 0; i < rows; i++) {
    for (let f = 0; f < filters; f++) {
      let s = b[f]!;
      for (let c = 0; c < C; c++) s += mid[i * C + c]! * pw[c * filters + f]!;
      z[i * filters + f] = relu ? Math.max(0, s) : s;
    }
  }
  const dz = Float64Array.from(r, (v, i) => (relu && z[i]! <= 0 ? 0 : v));
  const dMid = new Float64Array(mid.length);
  const dPw = new Float64Array(pw.length);
  const db = new Float64Array(filters);
  for (let i = 0; i < rows; i++) {
    for (let f = 0; f < filters; f++) {
      db[f] += dz[i * filters + f]!;
      for (let c = 0; c < C; c++) {
        dMid[i * C + c] += dz[i * filters + f]! * pw[c * filters + f]!;
        dPw[c * filters + f] += dz[i * filters + f]! * mid[i * C + c]!;
      }
    }
  }
  const { dx, dw: dDw } = depthwiseBackwardRef(g, x, dw, null, dMid);
  return { z, dx, dDw, dPw, db };
}

describe('SeparableConv2D layer (depthwise, then the dense op over pixels)', () => {
  for (const keep of [true, false]) {
    it(`forward and backward match float64 and finite differences${keep ? '' : ", recomputing the depthwise output when the forward's is not kept"}`, async () => {
      const e = engine();
      const [batch, inputShape, filters] = [2, [7, 8, 6] as [number, number, number], 5];
      const layer = new SeparableConv2D({ filters, kernelSize: [3, 2], depthMultiplier: 2, dilationRate: [1, 2], padding: 'same', activation: 'relu' });
      const outputShape = layer.computeOutputShape([inputShape]);
      const specs = layer.weightSpecs([inputShape]);
      expect(specs.map((s) => [s.name, s.shape])).toEqual([
        ['depthwise_kernel', [3, 2, 6, 2]],
        ['pointwise_kernel', [1, 1, 12, 5]],
        ['bias', [5]],
      ]);
      const g = depthwiseConv2dGeometry({ batch, inputShape, kernelSize: [3, 2], depthMultiplier: 2, dilationRate: [1, 2], padding: 'same', useBias: false });
      const x = randomArray(batch * size(inputShape), 21);
      const [dw, pw, b] = specs.map((s, i) => randomArray(size(s.shape), 22 + i, i === 2 ? 0.3 : 1)) as [Float32Array, Float32Array, Float32Array];
      const ny = batch * size(outputShape);
      const r = randomArray(ny, 25);
      const weights = [uploadView(e, dw), uploadView(e, pw), uploadView(e, b)];
      const grads = [nanBuffer(e, dw.length), nanBuffer(e, pw.length), nanBuffer(e, b.length)];
      const [output, dx] = [nanBuffer(e, ny), nanBuffer(e, x.length)];
      const base = { engine: e, batch, inputs: [uploadView(e, x)], inputShapes: [inputShape], output, outputShape, weights, training: true, stepInfo: uploadView(e, new Uint32Array([0, 0, 0, 0])), scratch: (bytes: number) => nanBuffer(e, bytes / 4) };
      const saved = new Map();
      e.run(layer.forward({ ...base, saved }));
      expect(saved.size).toBe(1);
      e.run(layer.backward({ ...base, saved: keep ? saved : new Map(), outputGrad: uploadView(e, r), inputGrads: [dx], weightGrads: grads }));
      const want = separableRef(g, filters, true, x, dw, pw, b, r);
      expect(record('separable forward', 'vs float64', relL2(await readF32(e, output, ny), want.z))).toBeLessThanOrEqual(1e-6);
      const got = { dx: await readF32(e, dx, x.length), dDw: await readF32(e, grads[0]!, dw.length), dPw: await readF32(e, grads[1]!, pw.length), db: await readF32(e, grads[2]!, b.length) };
      for (const k of ['dx', 'dDw', 'dPw', 'db'] as const) expect(record(`separable ${k}`, 'vs float64', relL2(got[k], want[k])), k).toBeLessThanOrEqual(1e-5);
      if (!keep) return;
      const loss = (xx: ArrayLike<number>, a: ArrayLike<number>, p: ArrayLike<number>, bb: ArrayLike<number>) => dot(separableRef(g, filters, true, xx, a, p, bb, r).z, r);
      const checks: [keyof typeof got, Float32Array, (v: Float64Array) => number][] = [
        ['dx', x, (v) => loss(v, dw, pw, b)],
        ['dDw', dw, (v) => loss(x, v, pw, b)],
        ['dPw', pw, (v) => loss(x, dw, v, b)],
        ['db', b, (v) => loss(x, dw, pw, v)],
      ];
      for (const [k, at, f] of checks) {
        const idx = sampleIndices(at.length, 20, 3);
        expect(record(`separable ${k}`, 'vs finite differences', relL2(pick(got[k], idx), finiteDifferences(f, toF64(at), idx))), k).toBeLessThanOrEqual(1e-4);
      }
    });
  }
});

// ---- layers: configs and errors ----------------------------------------------------------------

describe('DepthwiseConv2D and SeparableConv2D configs', () => {
  it("takes TF.js's names and defaults and writes Keras configs that read back", () => {
    const dw = layers.depthwiseConv2d({ kernelSize: 3, name: 'dw' });
    expect([dw.kernelSize, dw.depthMultiplier, dw.strides, dw.padding, dw.dilationRate, dw.useBias, dw.activation]).toEqual([[3, 3], 1, [1, 1], 'valid', [1, 1], true, 'linear']);
    expect(dw.depthwiseInitializer).toBe('glorotNormal');
    expect(dw.computeOutputShape([[9, 9, 3]])).toEqual([7, 7, 3]);
    const sep = layers.separableConv2d({ filters: 4, kernelSize: [3, 2], depthMultiplier: 2, strides: [2, 1], padding: 'same', activation: 'elu', useBias: false, name: 'sep' });
    expect([sep.depthwiseInitializer, sep.pointwiseInitializer]).toEqual(['glorotUniform', 'glorotUniform']);
    expect(sep.computeOutputShape([[9, 9, 3]])).toEqual([5, 9, 4]);
    expect(sep.weightSpecs([[9, 9, 3]]).map((s) => s.name)).toEqual(['depthwise_kernel', 'pointwise_kernel']);
    expect(sep.fusedActivations).toEqual(['linear', 'relu']);
    const dilated = new DepthwiseConv2D({ kernelSize: 3, dilationRate: [2, 3], depthMultiplier: 3, activation: 'relu', padding: 'same', depthwiseInitializer: 'heNormal', name: 'dd' });
    expect(dilated.computeOutputShape([[9, 10, 2]])).toEqual([9, 10, 6]);
    expect(new DepthwiseConv2D({ kernelSize: 3, dilationRate: 2 }).computeOutputShape([[9, 10, 2]])).toEqual([5, 6, 2]);
    for (const layer of [dw, sep, dilated]) {
      const config = layer.getConfig();
      const cls = layer instanceof SeparableConv2D ? SeparableConv2D : DepthwiseConv2D;
      expect(cls.fromConfig(JSON.parse(JSON.stringify(config))).getConfig()).toEqual(config);
    }
    expect(dilated.getConfig()).toMatchObject({ dilation_rate: [2, 3], depth_multiplier: 3, activation: 'relu', depthwise_initializer: { class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'normal' } } });
  });

  it('rejects configs that cannot work, naming the layer, the field, what it expects and what came', () => {
    expect(() => layers.depthwiseConv2d({ kernelSize: 0, name: 'd' })).toThrow(/layer d \(DepthwiseConv2D\): kernelSize must be a positive integer or an array of two positive integers, got 0/);
    expect(() => layers.depthwiseConv2d({ name: 'd' } as never)).toThrow(/layer d \(DepthwiseConv2D\): kernelSize is required/);
    expect(() => layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 1.5, name: 'd' })).toThrow(/layer d \(DepthwiseConv2D\): depthMultiplier must be a positive integer, got 1.5/);
    expect(() => layers.depthwiseConv2d({ kernelSize: 3, strides: 2, dilationRate: 2, name: 'd' })).toThrow(/layer d \(DepthwiseConv2D\): dilationRate \[2,2\] cannot be combined with strides \[2,2\]/);
    expect(() => layers.depthwiseConv2d({ kernelSize: 3, dilationRate: [1, 2, 3] as never, name: 'd' })).toThrow(/layer d \(DepthwiseConv2D\): dilationRate must be .*got \[1,2,3\]/);
    expect(() => layers.depthwiseConv2d({ kernelSize: 3, padding: 'causal' as Padding, name: 'd' })).toThrow(/layer d \(DepthwiseConv2D\): padding must be 'valid' or 'same', got "causal"/);
    expect(() => layers.depthwiseConv2d({ kernelSize: 3, dataFormat: 'channelsFirst' as never, name: 'd' })).toThrow(/layer d \(DepthwiseConv2D\): dataFormat must be 'channelsLast'.*got "channelsFirst"/);
    expect(() => layers.depthwiseConv2d({ kernelSize: 3, activation: 'nope' as never, name: 'd' })).toThrow(/layer d \(DepthwiseConv2D\): unknown activation "nope"/);
    expect(() => layers.depthwiseConv2d({ kernelSize: 3, useBias: 1 as never, name: 'd' })).toThrow(/layer d \(DepthwiseConv2D\): useBias must be true or false, got 1/);
    expect(() => layers.separableConv2d({ kernelSize: 3, name: 's' } as never)).toThrow(/layer s \(SeparableConv2D\): filters must be a positive integer, got undefined/);
    expect(() => layers.separableConv2d({ filters: 2, kernelSize: 3, kernelInitializer: 'zeros', name: 's' } as never)).toThrow(/layer s \(SeparableConv2D\): kernelInitializer is not a field of this layer \(got "zeros"\); use depthwiseInitializer and pointwiseInitializer/);
    expect(() => layers.separableConv2d({ filters: 2, kernelSize: 3, pointwiseInitializer: 'nope', name: 's' })).toThrow(/layer s \(SeparableConv2D\): pointwiseInitializer/);
    expect(() => new DepthwiseConv2D({ kernelSize: 3, name: 'd' }).computeOutputShape([[8, 8]])).toThrow(/layer d \(DepthwiseConv2D\): expected an input of rank 3 \[height, width, channels\]/);
    expect(() => new SeparableConv2D({ filters: 2, kernelSize: 5, name: 's' }).computeOutputShape([[4, 8, 3]])).toThrow(/layer s \(SeparableConv2D\): the kernel's span \[5, 5\].*larger than the input \[4, 8\] with padding 'valid'/);
    expect(() => new DepthwiseConv2D({ kernelSize: 3, name: 'd' }).computeOutputShape([[8, 8, 3], [8, 8, 3]])).toThrow(/takes 1 input/);
  });

  it('reads Keras configs from model.json, refusing what it cannot honour', () => {
    const dw = DepthwiseConv2D.fromConfig({ name: 'd', kernel_size: [3, 3], depth_multiplier: 2, strides: [1, 1], padding: 'same', dilation_rate: [2, 2], activation: 'relu6', use_bias: false, data_format: 'channels_last', groups: 1, depthwise_regularizer: null, trainable: false });
    expect([dw.name, dw.depthMultiplier, dw.dilationRate, dw.activation, dw.useBias]).toEqual(['d', 2, [2, 2], 'relu6', false]);
    expect(SeparableConv2D.fromConfig({ name: 's', filters: 3, kernel_size: [2, 2] }).depthMultiplier).toBe(1);
    expect(() => DepthwiseConv2D.fromConfig({ name: 'd', kernel_size: [3, 3], groups: 2 })).toThrow(/DepthwiseConv2D: groups 2 is not supported, only 1/);
    expect(() => DepthwiseConv2D.fromConfig({ name: 'd', kernel_size: [3, 3], data_format: 'channels_first' })).toThrow(/DepthwiseConv2D: data_format "channels_first" is not supported, only "channels_last"/);
    expect(() => DepthwiseConv2D.fromConfig({ name: 'd', kernel_size: [3, 3], depthwise_regularizer: { class_name: 'OrthogonalRegularizer', config: {} } })).toThrow(/DepthwiseConv2D: depthwise_regularizer: unknown regularizer class/);
    expect(() => SeparableConv2D.fromConfig({ name: 's', filters: 3, kernel_size: [2, 2], kernel_initializer: null })).toThrow(/SeparableConv2D: unknown config key 'kernel_initializer'/);
    expect(() => SeparableConv2D.fromConfig({ name: 's', filters: 3, kernel_size: [2, 2], strides: [2, 2], dilation_rate: [2, 2] })).toThrow(/layer s \(SeparableConv2D\): dilationRate \[2,2\] cannot be combined with strides \[2,2\]/);
  });
});

// ---- twins with TF.js and model.json ---------------------------------------------------------------

type Lib = 'ours' | 'tf';
type Factories = Record<string, (c: unknown) => { apply(x: unknown): unknown; trainable: boolean }>;
const factories = (lib: Lib) => (lib === 'ours' ? layers : tf.layers) as unknown as Factories;

interface TwinSpec {
  label: string;
  inputShape: number[];
  classes: number;
  /** The same layers in either library, from the same TF.js config. */
  build: (lib: Lib) => { inputs: unknown; outputs: unknown };
  optimizer: (lib: Lib) => unknown;
}

/** Copies our initial weights into TF.js, trains both 3 steps, and compares updates, frozen weights and predictions. */
async function trainBoth(spec: TwinSpec, seed: number): Promise<void> {
  const N = 12;
  const { inputShape, classes } = spec;
  const ours = model(spec.build('ours') as Parameters<typeof model>[0]) as unknown as LayersModel;
  const theirs = tf.model(spec.build('tf') as Parameters<typeof tf.model>[0]);
  ours.compile({ optimizer: spec.optimizer('ours') as never, loss: 'categoricalCrossentropy', engine: engine() });
  theirs.compile({ optimizer: spec.optimizer('tf') as tf.Optimizer, loss: 'categoricalCrossentropy' });
  const start = await ours.getWeights();
  // TF.js's order, trainable weights first: ours is the same, names and shapes included.
  expect(start.map((w) => [w.name, w.shape])).toEqual(theirs.getWeights().map((t, i) => [theirs.weights[i]!.originalName, t.shape]));
  theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
  const x = randomArray(N * size(inputShape), seed);
  const y = new Float32Array(N * classes);
  for (let i = 0; i < N; i++) y[i * classes + ((i * 7) % classes)] = 1;
  const steps = { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 as const };
  const theirHistory = await theirs.fit(tf.tensor(x, [N, ...inputShape]), tf.tensor(y, [N, classes]), steps);
  const ourHistory = await ours.fit(tensor(x, [N, ...inputShape]), tensor(y, [N, classes]), steps);
  expect(record(`twin ${spec.label}`, 'loss', Math.abs(ourHistory.loss[0]! / (theirHistory.history.loss as number[])[0]! - 1))).toBeLessThanOrEqual(1e-4);
  const want = theirs.getWeights().map((t) => t.dataSync());
  let frozen = 0;
  for (const [i, w] of (await ours.getWeights()).entries()) {
    if (!w.trainable) {
      frozen++;
      expect(w.values, `${w.name} is frozen`).toEqual(start[i]!.values);
      expect(Array.from(want[i]!), `TF.js's ${w.name} is frozen`).toEqual(Array.from(start[i]!.values));
      continue;
    }
    const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
    const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
    expect(relL2(wantDelta, new Float32Array(wantDelta.length)), `${w.name} moved`).toBeGreaterThan(0);
    expect(record(`twin ${spec.label}`, 'weight updates', relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  }
  expect(frozen).toBeGreaterThan(0);
  const probe = randomArray(N * size(inputShape), seed + 1);
  const got = (await ours.predict(tensor(probe, [N, ...inputShape]))).values;
  expect(record(`twin ${spec.label}`, 'predictions', relL2(got, (theirs.predict(tf.tensor(probe, [N, ...inputShape])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
  ours.dispose();
}

describe('twins with TF.js (cpu backend)', () => {
  it('MobileNet-style: conv2d → depthwiseConv2d relu (frozen) → separableConv2d → globalAveragePooling2d → dense softmax, sgd', async () => {
    await trainBoth(
      {
        label: 'frozen depthwise',
        inputShape: [9, 9, 3],
        classes: 3,
        build: (lib) => {
          const L = factories(lib);
          const xi = lib === 'ours' ? input({ shape: [9, 9, 3] }) : tf.input({ shape: [9, 9, 3] });
          let h = L.conv2d!({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv' }).apply(xi);
          h = L.depthwiseConv2d!({ kernelSize: 3, depthMultiplier: 2, activation: 'relu', trainable: false, name: 'dw' }).apply(h);
          h = L.separableConv2d!({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'sep' }).apply(h);
          h = L.globalAveragePooling2d!({ name: 'gap' }).apply(h);
          return { inputs: xi, outputs: L.dense!({ units: 3, activation: 'softmax', name: 'head' }).apply(h) };
        },
        optimizer: (lib) => (lib === 'ours' ? optimizers.sgd({ learningRate: 0.5 }) : tf.train.sgd(0.5)),
      },
      300,
    );
  });

  it('first layer frozen (no dx through it): depthwiseConv2d stride 2 ×3 on 3 channels, separableConv2d ×2 tanh without bias, adam', async () => {
    await trainBoth(
      {
        label: 'frozen first layer',
        inputShape: [10, 9, 3],
        classes: 4,
        build: (lib) => {
          const L = factories(lib);
          const xi = lib === 'ours' ? input({ shape: [10, 9, 3] }) : tf.input({ shape: [10, 9, 3] });
          const first = L.conv2d!({ filters: 3, kernelSize: 2, name: 'conv' });
          first.trainable = false;
          let h = first.apply(xi);
          h = L.depthwiseConv2d!({ kernelSize: [3, 2], depthMultiplier: 3, strides: 2, padding: 'same', name: 'dw' }).apply(h);
          h = L.separableConv2d!({ filters: 5, kernelSize: 2, depthMultiplier: 2, activation: 'tanh', useBias: false, name: 'sep' }).apply(h);
          h = L.globalAveragePooling2d!({ name: 'gap' }).apply(h);
          return { inputs: xi, outputs: L.dense!({ units: 4, activation: 'softmax', name: 'head' }).apply(h) };
        },
        optimizer: (lib) => (lib === 'ours' ? optimizers.adam({ learningRate: 0.01 }) : tf.train.adam(0.01)),
      },
      400,
    );
  });
});

/** What a save handler receives, from either library. */

/** Both layers with every field off its default that TF.js honours (it ignores DepthwiseConv2D's dilation and saves no SeparableConv2D depth multiplier). */
function savedModel(lib: Lib, separableMultiplier: number) {
  const L = factories(lib);
  const xi = lib === 'ours' ? input({ shape: [8, 9, 4] }) : tf.input({ shape: [8, 9, 4] });
  let h = L.depthwiseConv2d!({ kernelSize: [3, 2], depthMultiplier: 2, strides: [2, 1], padding: 'same', activation: 'relu', name: 'dw' }).apply(xi);
  h = L.separableConv2d!({ filters: 5, kernelSize: 3, depthMultiplier: separableMultiplier, dilationRate: 2, padding: 'same', activation: 'tanh', depthwiseInitializer: 'heNormal', name: 'sep' }).apply(h);
  h = L.separableConv2d!({ filters: 3, kernelSize: 2, useBias: false, biasInitializer: 'ones', name: 'sep2' }).apply(h);
  return { inputs: xi, outputs: L.dense!({ units: 2, name: 'head' }).apply(L.globalMaxPooling2d!({ name: 'gmp' }).apply(h)) };
}

describe('model.json with TF.js', () => {
  it("ours loads in TF.js and TF.js's loads here with the same predictions; configs equal TF.js's", async () => {
    const ours = model(savedModel('ours', 1) as Parameters<typeof model>[0]) as unknown as LayersModel;
    ours.useEngine(engine());
    const theirs = tf.model(savedModel('tf', 1) as Parameters<typeof tf.model>[0]);
    const x = randomArray(4 * 8 * 9 * 4, 500);
    const expected = (await ours.predict(tensor(x, [4, 8, 9, 4]))).values;

    const artifacts = await captureOurs(ours);
    const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts as unknown as tf.io.ModelArtifacts));
    expect(record('model.json ours → TF.js', 'predictions', relL2((tfLoaded.predict(tf.tensor(x, [4, 8, 9, 4])) as tf.Tensor).dataSync(), expected))).toBeLessThanOrEqual(1e-6);

    const tfJson = (await captureTf(theirs)).modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    const convs = tfJson.config.layers.filter((l) => /Depthwise|Separable/.test(l.class_name));
    expect(convs.map((l) => l.class_name)).toEqual(['DepthwiseConv2D', 'SeparableConv2D', 'SeparableConv2D']);
    for (const { class_name, config } of convs) {
      const layer = ours.layers.find((l) => l.name === config.name)!;
      expect(layer.className).toBe(class_name);
      if (class_name !== 'SeparableConv2D') {
        expect(layer.getConfig(), class_name).toEqual(config);
        continue;
      }
      // TF.js 4.22 leaves depth_multiplier out (we write it, as Keras does) and builds the pointwise
      // initializer from depthwiseInitializer (we honour pointwiseInitializer, default glorotUniform, as Keras does).
      expect(config.pointwise_initializer).toEqual(config.depthwise_initializer);
      const glorotUniform = { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } };
      expect(layer.getConfig(), `${class_name} ${config.name}`).toEqual({ ...config, depth_multiplier: 1, pointwise_initializer: glorotUniform });
    }

    theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
    const loaded = await loadModel({ load: async () => (await captureTf(theirs)) as unknown as ModelArtifacts }, { engine: engine() });
    expect(record('model.json TF.js → ours', 'predictions', relL2((await loaded.predict(tensor(x, [4, 8, 9, 4]))).values, expected))).toBeLessThanOrEqual(1e-6);
    ours.dispose();
    loaded.dispose();
  });

  it('a SeparableConv2D depth multiplier above 1 survives our model.json into TF.js (which reads depth_multiplier)', async () => {
    const ours = model(savedModel('ours', 2) as Parameters<typeof model>[0]) as unknown as LayersModel;
    ours.useEngine(engine());
    const x = randomArray(3 * 8 * 9 * 4, 510);
    const expected = (await ours.predict(tensor(x, [3, 8, 9, 4]))).values;
    const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory((await captureOurs(ours)) as unknown as tf.io.ModelArtifacts));
    expect(tfLoaded.getLayer('sep').getWeights()[1]!.shape).toEqual([1, 1, 16, 5]);
    expect(relL2((tfLoaded.predict(tf.tensor(x, [3, 8, 9, 4])) as tf.Tensor).dataSync(), expected)).toBeLessThanOrEqual(1e-6);
    ours.dispose();
  });
});
