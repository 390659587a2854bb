/**
 * The transposed convolution (src/ops/conv2d-transpose.ts, layer Conv2DTranspose): its forward
 * (conv2d's input gradient with a bias and ReLU; on GPUs every implicit-GEMM row forced), input gradient (a conv2d forward, every variant
 * that applies) and kernel and bias gradients against a float64 reference written as the scatter
 * TF.js's conv2dTranspose computes, and by central finite differences; the layer's shapes, config
 * and errors; an autoencoder trained beside TF.js 4.22 (cpu backend); model.json both ways.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { input, layers, loadModel, model, optimizers, sequential, tensor, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { Conv2DTranspose } from '../src/layers/conv2d-transpose.ts';
import { conv2dTransposeBackward, conv2dTransposeForward, conv2dTransposeForwardTable, conv2dTransposeGeometry, type Conv2DTransposeForwardVariant } from '../src/ops/conv2d-transpose.ts';
import { applicableNames } from '../src/ops/variants.ts';
import { conv2dVariants, type Conv2DGeometry } from '../src/ops/conv2d.ts';
import type { Padding } from '../src/ops/window.ts';
import type { BufferView, Engine } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { termsBackward, termsForward } from './reference/terms.ts';
import { captureOurs, captureTf, modelJsonBothWays } from './artifacts.ts';

/**
 * The registers style (CPU adapters) with every variant of the input gradient's conv2d forward,
 * and the tiled style (GPUs) on a few cases, as SwiftShader takes seconds to compile each. The
 * bounds-checked style runs the same wiring with other slice layouts (test/conv2d.test.ts).
 */
const styles = {
  registers: useEngine({ kernelStyle: 'registers' }),
  tiled: useEngine({ kernelStyle: 'tiled' }),
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const report: string[] = [];
afterAll(() => console.log(`conv2dTranspose relative L2 errors (GPU float32 vs float64 reference | vs finite differences of it)\n${report.join('\n')}`));

// ---- float64 reference ----------------------------------------------------------------------

interface Case {
  batch: number;
  /** [h, w, c] of the transposed convolution's input. */
  input: [number, number, number];
  filters: number;
  kernel: [number, number];
  strides: [number, number];
  dilation?: [number, number];
  padding: Padding;
  relu: boolean;
  bias: boolean;
  /** Also run the tiled (GPU) kernels. */
  tiled?: boolean;
}

/** TF.js's conv2dTranspose sizes: deconvLength's output, and the 'same' padding of the convolution it inverts. */
function shapeOf(c: Case): { outH: number; outW: number; padTop: number; padLeft: number } {
  const d = c.dilation ?? [1, 1];
  const axis = (i: 0 | 1) => {
    const span = (c.kernel[i] - 1) * d[i] + 1;
    const s = c.strides[i];
    const out = c.padding === 'valid' ? c.input[i] * s + Math.max(span - s, 0) : c.input[i] * s;
    const pad = c.padding === 'valid' ? 0 : Math.floor(Math.max((c.input[i] - 1) * s + span - out, 0) / 2);
    return { out, pad };
  };
  const [h, w] = [axis(0), axis(1)];
  return { outH: h.out, outW: w.out, padTop: h.pad, padLeft: w.pad };
}

/**
 * Calls visit(xi, yi, wi) for every input pixel, tap and channel pair whose output lands inside:
 * y[n, oy·s + ky·d − padTop, ox·s + kx·d − padLeft, f] += x[n, oy, ox, c] · w[ky, kx, f, c].
 */
function forEachTerm(c: Case, visit: (xi: number, yi: number, wi: number) => void): void {
  const { outH, outW, padTop, padLeft } = shapeOf(c);
  const [inH, inW, inC] = c.input;
  const d = c.dilation ?? [1, 1];
  for (let n = 0; n < c.batch; n++) {
    for (let oy = 0; oy < inH; oy++) {
      for (let ox = 0; ox < inW; ox++) {
        for (let ky = 0; ky < c.kernel[0]; ky++) {
          const Y = oy * c.strides[0] + ky * d[0] - padTop;
          if (Y < 0 || Y >= outH) continue;
          for (let kx = 0; kx < c.kernel[1]; kx++) {
            const X = ox * c.strides[1] + kx * d[1] - padLeft;
            if (X < 0 || X >= outW) continue;
            for (let f = 0; f < c.filters; f++) {
              for (let ci = 0; ci < inC; ci++) {
                visit(((n * inH + oy) * inW + ox) * inC + ci, ((n * outH + Y) * outW + X) * c.filters + f, ((ky * c.kernel[1] + kx) * c.filters + f) * inC + ci);
              }
            }
          }
        }
      }
    }
  }
}

function forwardRef(c: Case, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>): { pre: Float64Array; y: Float64Array } {
  const { outH, outW } = shapeOf(c);
  return termsForward((visit) => forEachTerm(c, visit), c.batch * outH * outW * c.filters, c.filters, x, w, c.bias ? b : null, c.relu);
}

function backwardRef(c: Case, x: ArrayLike<number>, w: ArrayLike<number>, pre: ArrayLike<number>, dy: ArrayLike<number>) {
  return termsBackward((visit) => forEachTerm(c, visit), c.filters, x, w, pre, dy, c.relu);
}

// ---- kernels against the reference ----------------------------------------------------------

const CASES: Case[] = [
  { batch: 2, input: [4, 5, 3], filters: 5, kernel: [3, 3], strides: [2, 2], padding: 'same', relu: true, bias: true, tiled: true },
  { batch: 2, input: [3, 4, 6], filters: 4, kernel: [4, 4], strides: [2, 2], padding: 'valid', relu: false, bias: true },
  // 'same' with k − s odd: the odd row and column of padding at the end.
  { batch: 1, input: [3, 3, 8], filters: 8, kernel: [5, 5], strides: [3, 3], padding: 'same', relu: true, bias: true },
  // Kernel shorter than the stride ('valid'): rows and columns no input reaches (bias only).
  { batch: 2, input: [5, 4, 2], filters: 3, kernel: [2, 3], strides: [3, 3], padding: 'valid', relu: false, bias: true },
  // Stride 1, 3×3, vector channels: the input gradient's conv2d forward has Winograd and per-tap variants.
  { batch: 2, input: [5, 6, 8], filters: 8, kernel: [3, 3], strides: [1, 1], padding: 'same', relu: true, bias: true },
  { batch: 2, input: [3, 5, 5], filters: 7, kernel: [3, 4], strides: [2, 3], padding: 'same', relu: true, bias: false },
  // Dilated (stride 1).
  { batch: 2, input: [5, 5, 4], filters: 6, kernel: [3, 3], strides: [1, 1], dilation: [2, 2], padding: 'valid', relu: true, bias: true },
  { batch: 2, input: [4, 6, 3], filters: 4, kernel: [3, 2], strides: [1, 1], dilation: [2, 3], padding: 'same', relu: false, bias: true, tiled: true },
];

function describeCase(c: Case): string {
  return `[${c.batch},${c.input.join(',')}] → ${c.filters}, k${c.kernel.join('×')} s${c.strides.join('×')}${c.dilation ? ` d${c.dilation.join('×')}` : ''} ${c.padding}${c.relu ? ' relu' : ''}${c.bias ? ' bias' : ''}`;
}

function geometryOf(c: Case): Conv2DGeometry {
  return conv2dTransposeGeometry({ batch: c.batch, inputShape: c.input, filters: c.filters, kernelSize: c.kernel, strides: c.strides, dilationRate: c.dilation, padding: c.padding, relu: c.relu, useBias: c.bias });
}

function nanScratch(e: Engine): (bytes: number) => Required<BufferView> {
  return (bytes) => nanBuffer(e, bytes / 4);
}

describe('conv2dTranspose kernels vs float64 reference', () => {
  it('sizes outputs as TF.js does (deconvLength) and pads as its conv2DBackpropInput does', () => {
    for (const c of CASES) {
      const g = geometryOf(c);
      const want = shapeOf(c);
      expect([g.inH, g.inW, g.inC, g.padTop, g.padLeft], describeCase(c)).toEqual([want.outH, want.outW, c.filters, want.padTop, want.padLeft]);
    }
  });

  CASES.forEach((c, caseIndex) => {
    it(describeCase(c), async () => {
      const g = geometryOf(c);
      const seed = 300 + 10 * caseIndex;
      const nx = c.batch * c.input[0] * c.input[1] * c.input[2];
      const nw = c.kernel[0] * c.kernel[1] * c.filters * c.input[2];
      const ny = c.batch * g.inH * g.inW * c.filters;
      const [x, w, b, r] = [randomArray(nx, seed), randomArray(nw, seed + 1), randomArray(c.filters, seed + 2), randomArray(ny, seed + 3)];
      const ref = forwardRef(c, x, w, b);
      if (c.relu) expect(ref.pre.some((v) => v < 0) && ref.pre.some((v) => v > 0)).toBe(true);
      const exact = backwardRef(c, x, w, ref.pre, r);
      // L = Σ y·r is piecewise linear: central differences are exact unless a probe crosses ReLU's kink.
      let kinks = 0;
      const loss = (xs: ArrayLike<number>, ws: ArrayLike<number>, bs: ArrayLike<number>) => {
        const probe = forwardRef(c, xs, ws, bs);
        if (c.relu) for (let i = 0; i < ny; i++) if (probe.pre[i]! > 0 !== ref.pre[i]! > 0) kinks++;
        return dot(probe.y, r);
      };
      const [x64, w64, b64] = [toF64(x), toF64(w), toF64(b)];
      const [xi, wi] = [sampleIndices(nx, 20, seed + 4), sampleIndices(nw, 20, seed + 5)];
      const fd = {
        dx: { idx: xi, values: finiteDifferences((v) => loss(v, w64, b64), x64, xi) },
        dW: { idx: wi, values: finiteDifferences((v) => loss(x64, v, b64), w64, wi) },
        db: { idx: [...Array(c.filters).keys()], values: finiteDifferences((v) => loss(x64, w64, v), b64) },
      };
      expect(kinks).toBe(0);

      // Each variant of the input gradient's conv2d forward (and of the kernel gradient), in turn.
      const runs = Object.entries(styles).flatMap(([style, engine]) => {
        if (style === 'tiled') return c.tiled ? [{ style, engine, options: {} }] : [];
        const conv = { ...g, relu: false, bias: false };
        const { forward, kernelGrad } = conv2dVariants(engine(), conv);
        return forward.map((v, i) => ({ style: `${style} ${v}/${kernelGrad[Math.min(i, kernelGrad.length - 1)]}`, engine, options: { inputGrad: v, kernelGrad: kernelGrad[Math.min(i, kernelGrad.length - 1)] } }));
      });
      for (const { style, engine, options } of runs) {
        const e = engine();
        const [xv, wv, bv, dyv] = [x, w, b, r].map((a) => uploadView(e, a)) as Required<BufferView>[];
        const y = nanBuffer(e, ny);
        e.run(conv2dTransposeForward(e, g, { x: xv!, w: wv!, b: c.bias ? bv : null, y, scratch: nanScratch(e) }));
        const errY = relL2(await readF32(e, y, ny), ref.y);
        expect(errY, `${style} forward`).toBeLessThanOrEqual(1e-5);
        const out = { dx: nanBuffer(e, nx), dW: nanBuffer(e, nw), db: c.bias ? nanBuffer(e, c.filters) : null };
        e.run(conv2dTransposeBackward(e, g, { x: xv!, w: wv!, y, dy: dyv!, dx: out.dx, dw: out.dW, db: out.db, scratch: nanScratch(e) }, undefined, options));
        const line = [`forward ${errY.toExponential(1)}`];
        for (const [name, want] of [['dx', exact.dx], ['dW', exact.dw], ['db', exact.db]] as const) {
          if (!out[name]) continue;
          const gpu = await readF32(e, out[name], want.length);
          const errRef = relL2(gpu, want);
          const errFd = relL2(pick(gpu, fd[name].idx), fd[name].values);
          line.push(`${name} ${errRef.toExponential(1)} | ${errFd.toExponential(1)}`);
          expect(errRef, `${style} ${name} vs reference`).toBeLessThanOrEqual(1e-4);
          expect(errFd, `${style} ${name} vs finite differences`).toBeLessThanOrEqual(1e-4);
        }
        report.push(`${style.padEnd(28)} ${describeCase(c)}: ${line.join(', ')}`);
      }
    });
  });

  it('leaves the input gradient out when nobody needs it', async () => {
    const e = styles.registers();
    const c = CASES[0]!;
    const g = geometryOf(c);
    const views = { x: nanBuffer(e, 1), w: nanBuffer(e, 1), y: nanBuffer(e, 1), dy: nanBuffer(e, 1), dx: null, dw: nanBuffer(e, 1), db: nanBuffer(e, 1), scratch: nanScratch(e) };
    const labels = conv2dTransposeBackward(e, g, views).map((d) => d.label);
    expect(labels.some((l) => l.startsWith('conv2d-forward'))).toBe(false);
    expect(labels.some((l) => l.startsWith('conv2d-kernel-grad'))).toBe(true);
  });
});

describe('conv2dTranspose forward as an implicit GEMM (gpu profiles)', () => {
  // Odd outputs, strides 1, 2, 3 and 2 × 3, 'same' and 'valid', dilation, bias with and without ReLU, channels in and not in groups of 4.
  const runs: [Case, Conv2DTransposeForwardVariant][] = [
    [CASES[0]!, 'gemm-64x64'],
    [CASES[0]!, 'gemm-32x32'],
    [CASES[1]!, 'gemm-32x32'],
    [CASES[5]!, 'gemm-64x64'],
    [{ ...CASES[7]!, relu: true }, 'gemm-32x32'],
    // Stride 3 and stride 1 with 8 input channels: the gathers load vec4.
    [CASES[2]!, 'gemm-64x64'],
    [CASES[4]!, 'gemm-32x32'],
  ];

  it('stands first on a GPU profile, before the frozen-tile kernel, never on a CPU one', () => {
    const g = geometryOf(CASES[0]!);
    expect(applicableNames(conv2dTransposeForwardTable, g, styles.tiled().profile)).toEqual(['gemm-64x64', 'gemm-32x32', 'tiled']);
    expect(applicableNames(conv2dTransposeForwardTable, g, styles.registers().profile)).toEqual(['direct']);
  });

  it('every gemm row against float64 (bias and ReLU on the transposed output), and its bench', async () => {
    const e = styles.tiled();
    for (const [ri, [c, variant]] of runs.entries()) {
      const g = geometryOf(c);
      const seed = 500 + 10 * ri;
      const nx = c.batch * c.input[0] * c.input[1] * c.input[2];
      const ny = c.batch * g.inH * g.inW * c.filters;
      const [x, w, b] = [randomArray(nx, seed), randomArray(c.kernel[0] * c.kernel[1] * c.filters * c.input[2], seed + 1), randomArray(c.filters, seed + 2)];
      const ref = forwardRef(c, x, w, b);
      if (c.relu) expect(ref.pre.some((v) => v < 0) && ref.pre.some((v) => v > 0)).toBe(true);
      const [xv, wv, bv] = [x, w, b].map((a) => uploadView(e, a)) as Required<BufferView>[];
      const y = nanBuffer(e, ny);
      e.run(conv2dTransposeForward(e, g, { x: xv!, w: wv!, b: c.bias ? bv : null, y, scratch: nanScratch(e) }, undefined, variant));
      const err = relL2(await readF32(e, y, ny), ref.y);
      report.push(`${`tiled ${variant}`.padEnd(28)} ${describeCase(c)}: forward ${err.toExponential(1)}`);
      expect(err, `${variant} ${describeCase(c)}`).toBeLessThanOrEqual(1e-5);
    }
    // The bench builds the variant on buffers of its own (the first run's pipeline).
    const bench = conv2dTransposeForwardTable.bench!(e, geometryOf(runs[0]![0]), 'gemm-64x64');
    expect(bench.dispatches).toHaveLength(1);
    e.run(bench.dispatches);
    await e.sync();
    bench.dispose();
  });
});

// ---- the layer ----------------------------------------------------------------------------

describe('Conv2DTranspose layer', () => {
  it('infers shapes and weights as TF.js does: deconvLength, kernel [kH, kW, filters, inC]', () => {
    const same = new Conv2DTranspose({ filters: 6, kernelSize: 3, strides: 2, padding: 'same' });
    expect(same.computeOutputShape([[4, 5, 3]])).toEqual([8, 10, 6]);
    expect(same.weightSpecs([[4, 5, 3]]).map((s) => [s.name, s.shape])).toEqual([
      ['kernel', [3, 3, 6, 3]],
      ['bias', [6]],
    ]);
    expect(same.name).toMatch(/^conv2d_transpose(_\d+)?$/);
    // 'valid': in·s + max(k − s, 0).
    expect(new Conv2DTranspose({ filters: 2, kernelSize: [4, 2], strides: [2, 3] }).computeOutputShape([[3, 5, 1]])).toEqual([8, 15, 2]);
    expect(new Conv2DTranspose({ filters: 2, kernelSize: 3, dilationRate: 2 }).computeOutputShape([[3, 5, 1]])).toEqual([7, 9, 2]);
    expect(new Conv2DTranspose({ filters: 2, kernelSize: 3, useBias: false }).weightSpecs([[3, 5, 1]]).map((s) => s.name)).toEqual(['kernel']);
  });

  it('refuses configs and inputs that cannot work, naming the layer and the field', () => {
    expect(() => new Conv2DTranspose({ filters: 0, kernelSize: 3, name: 't' })).toThrow(/layer t \(Conv2DTranspose\): filters must be a positive integer, got 0/);
    expect(() => new Conv2DTranspose({ filters: 2, kernelSize: [3, 0], name: 't' })).toThrow(/layer t \(Conv2DTranspose\): kernelSize must be a positive integer or an array of two/);
    expect(() => new Conv2DTranspose({ filters: 2, kernelSize: 3, padding: 'causal' as Padding, name: 't' })).toThrow(/layer t \(Conv2DTranspose\): padding must be 'valid' or 'same', got "causal"/);
    expect(() => new Conv2DTranspose({ filters: 2, kernelSize: 3, strides: 2, dilationRate: 2, name: 't' })).toThrow(
      /layer t \(Conv2DTranspose\): dilationRate \[2,2\] cannot be combined with strides \[2,2\]/,
    );
    expect(() => new Conv2DTranspose({ filters: 2, kernelSize: 3, activation: 'nope' as 'relu', name: 't' })).toThrow(/unknown activation "nope"/);
    expect(() => new Conv2DTranspose({ filters: 2, kernelSize: 3, useBias: 1 as unknown as boolean, name: 't' })).toThrow(/useBias must be true or false, got 1/);
    const layer = new Conv2DTranspose({ filters: 2, kernelSize: 3, name: 't' });
    expect(() => layer.computeOutputShape([[4, 4]])).toThrow(/layer t \(Conv2DTranspose\): expected an input of rank 3 \[height, width, channels\].*got \[4, ?4\]/);
    expect(() => layer.computeOutputShape([[4, 4, 1], [4, 4, 1]])).toThrow(/layer t \(Conv2DTranspose\) takes 1 input, got 2/);
    expect(() => Conv2DTranspose.fromConfig({ name: 't', filters: 2, kernel_size: [3, 3], output_padding: [1, 1] })).toThrow(/Conv2DTranspose: output_padding \[1,1\] is not supported, only null/);
    expect(() => Conv2DTranspose.fromConfig({ name: 't', filters: 2, kernel_size: [3, 3], data_format: 'channels_first' })).toThrow(/Conv2DTranspose: data_format "channels_first" is not supported/);
  });

  it("writes TF.js's config (no dilation_rate unless dilated) and reads Keras's", () => {
    const layer = new Conv2DTranspose({ filters: 4, kernelSize: [3, 2], strides: [2, 1], padding: 'same', activation: 'relu', name: 'up', kernelInitializer: 'heNormal' });
    expect(layer.getConfig()).toEqual({
      name: 'up',
      trainable: true,
      filters: 4,
      kernel_size: [3, 2],
      strides: [2, 1],
      padding: 'same',
      data_format: 'channels_last',
      activation: 'relu',
      use_bias: true,
      kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'normal', seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
    });
    expect(new Conv2DTranspose({ filters: 1, kernelSize: 3, dilationRate: [2, 3] }).getConfig()).toMatchObject({ dilation_rate: [2, 3] });
    // Keras 2's Conv2DTranspose config: output_padding, dilation_rate and groups beside the rest.
    const keras = Conv2DTranspose.fromConfig({
      name: 'k',
      trainable: true,
      dtype: 'float32',
      filters: 3,
      kernel_size: [3, 3],
      strides: [1, 1],
      padding: 'valid',
      data_format: 'channels_last',
      dilation_rate: [2, 2],
      groups: 1,
      output_padding: null,
      activation: 'linear',
      use_bias: false,
      kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
    });
    expect([keras.name, keras.filters, keras.dilationRate, keras.useBias, keras.kernelInitializer]).toEqual(['k', 3, [2, 2], false, 'glorotUniform']);
  });
});

// ---- twins with TF.js and model.json ---------------------------------------------------------

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

describe('twins with TF.js (cpu backend)', () => {
  const N = 12;
  const twins = [
    {
      name: 'autoencoder: conv2d s2 relu → conv2dTranspose s2 → conv2d 1×1, mean squared error, adam',
      transpose: { filters: 3, kernelSize: 3, strides: 2, padding: 'same' },
    },
    {
      name: "the same with conv2dTranspose k4 s2 'valid' relu (8×8 → 4×4 → 10×10)",
      transpose: { filters: 4, kernelSize: 4, strides: 2, padding: 'valid', activation: 'relu' },
    },
  ] as const;
  for (const twin of twins) {
    it(twin.name, async () => {
      const inputShape = [8, 8, 2];
      const first = { filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', inputShape } as const;
      const last = { filters: 2, kernelSize: 1 } as const;
      const ours = sequential([layers.conv2d(first), layers.conv2dTranspose(twin.transpose), layers.conv2d(last)]);
      const theirs = tf.sequential({ layers: [tf.layers.conv2d(first), tf.layers.conv2dTranspose(twin.transpose), tf.layers.conv2d(last)] });
      ours.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'meanSquaredError', engine: styles.registers() });
      theirs.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
      const outShape = theirs.outputs[0]!.shape.slice(1) as number[];
      const x = randomArray(N * size(inputShape), 41);
      const target = randomArray(N * size(outShape), 42);
      const start = await ours.getWeights();
      theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
      const steps = { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 as const };
      await theirs.fit(tf.tensor(x, [N, ...inputShape]), tf.tensor(target, [N, ...outShape]), steps);
      await ours.fit(tensor(x, [N, ...inputShape]), tensor(target, [N, ...outShape]), steps);
      const want = theirs.getWeights().map((t) => t.dataSync());
      const updates: string[] = [];
      for (const [i, w] of (await ours.getWeights()).entries()) {
        const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
        const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
        const err = relL2(delta, wantDelta);
        updates.push(`${w.name} ${err.toExponential(1)}`);
        expect(err, `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
      }
      const probe = randomArray(N * size(inputShape), 43);
      const predictions = relL2((await ours.predict(tensor(probe, [N, ...inputShape]))).values, (theirs.predict(tf.tensor(probe, [N, ...inputShape])) as tf.Tensor).dataSync());
      console.log(`twin ${twin.name}: predictions ${predictions.toExponential(1)}; updates ${updates.join(', ')}`);
      expect(predictions).toBeLessThanOrEqual(1e-4);
    });
  }
});


describe('model.json', () => {
  it("with TF.js both ways: the same predictions, configs equal TF.js's", async () => {
    const shape = [5, 4, 3];
    const configs = [
      { filters: 4, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', kernelInitializer: 'glorotUniform', name: 'up_a' },
      { filters: 2, kernelSize: [4, 3], strides: [2, 1], padding: 'same', useBias: false, kernelInitializer: 'glorotUniform', name: 'up_b' },
    ] as const;
    const xi = input({ shape });
    const ours = model({ inputs: xi, outputs: layers.conv2dTranspose(configs[1]).apply(layers.conv2dTranspose(configs[0]).apply(xi)) });
    const ti = tf.input({ shape });
    const tb = tf.layers.conv2dTranspose({ ...configs[1], kernelSize: [4, 3], strides: [2, 1] }).apply(tf.layers.conv2dTranspose(configs[0]).apply(ti));
    const theirs = tf.model({ inputs: ti, outputs: tb as tf.SymbolicTensor });
    const e = styles.registers();
    ours.useEngine(e);
    const x = randomArray(3 * size(shape), 51);
    const { oursToTf, tfToOurs } = await modelJsonBothWays(ours, theirs, x, [3, ...shape], 'Conv2DTranspose', { engine: e });
    console.log(`Conv2DTranspose model.json: ours → TF.js ${oursToTf.toExponential(1)}, TF.js → ours ${tfToOurs.toExponential(1)}`);
    expect(oursToTf).toBeLessThanOrEqual(1e-5);
    expect(tfToOurs).toBeLessThanOrEqual(1e-5);
    ours.dispose();
  });

  it('keeps a dilated transposed convolution through save and load (Keras semantics; TF.js 4.22 ignores dilation)', async () => {
    const e = styles.registers();
    const ours = sequential([layers.conv2dTranspose({ filters: 3, kernelSize: [3, 2], dilationRate: [2, 3], padding: 'same', activation: 'relu', inputShape: [4, 5, 2] })]);
    ours.useEngine(e);
    const x = randomArray(2 * 40, 61);
    const expected = (await ours.predict(tensor(x, [2, 4, 5, 2]))).values;
    const artifacts = await captureOurs(ours);
    const loaded = await loadModel({ load: async () => artifacts }, { engine: e });
    expect((loaded.layers.find((l) => l.className === 'Conv2DTranspose') as Conv2DTranspose).dilationRate).toEqual([2, 3]);
    expect(relL2((await loaded.predict(tensor(x, [2, 4, 5, 2]))).values, expected)).toBe(0);
    ours.dispose();
    loaded.dispose();
  });
});
