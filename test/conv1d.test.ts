/**
 * Conv1D (src/layers/conv1d.ts), the conv2d op on images of height 1: forward, input, kernel and
 * bias gradients through the layer contract against a float64 reference of the 1-D convolution
 * ('valid', 'same', 'causal'; strides; dilation) and by central finite differences; the layer's
 * shapes, config and errors; a twin trained beside TF.js 4.22 (cpu backend, which has no dilated
 * gradients and no 'causal' padding); model.json both ways.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { input, layers, loadModel, model, optimizers, sequential, tensor, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { Conv1D } from '../src/layers/conv1d.ts';
import type { ConvPadding } from '../src/ops/conv2d.ts';
import type { BackwardContext } from '../src/layers/layer.ts';
import type { BufferView } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { termsBackward, termsForward } from './reference/terms.ts';
import { captureOurs, captureTf, modelJsonBothWays } from './artifacts.ts';

const styles = {
  registers: useEngine({ kernelStyle: 'registers' }),
  tiled: useEngine({ kernelStyle: 'tiled' }),
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const report: string[] = [];
afterAll(() => console.log(`conv1d relative L2 errors (GPU float32 vs float64 reference | vs finite differences of it)\n${report.join('\n')}`));

// ---- float64 reference ----------------------------------------------------------------------

interface Case {
  batch: number;
  steps: number;
  channels: number;
  filters: number;
  kernel: number;
  strides: number;
  dilation: number;
  padding: ConvPadding;
  relu: boolean;
  bias: boolean;
  tiled?: boolean;
}

/** Output length and leading padding as Keras computes them: 'causal' pads (k − 1)·d before the input. */
function shapeOf(c: Case): { out: number; pad: number } {
  const span = (c.kernel - 1) * c.dilation + 1;
  if (c.padding === 'valid') return { out: Math.floor((c.steps - span) / c.strides) + 1, pad: 0 };
  const out = Math.ceil(c.steps / c.strides);
  if (c.padding === 'causal') return { out, pad: span - 1 };
  return { out, pad: Math.floor(Math.max((out - 1) * c.strides + span - c.steps, 0) / 2) };
}

/** visit(xi, yi, wi) for y[n, t, f] += x[n, t·s + k·d − pad, c] · w[k, c, f], taps in the padding skipped. */
function forEachTerm(c: Case, visit: (xi: number, yi: number, wi: number) => void): void {
  const { out, pad } = shapeOf(c);
  for (let n = 0; n < c.batch; n++) {
    for (let t = 0; t < out; t++) {
      for (let k = 0; k < c.kernel; k++) {
        const s = t * c.strides + k * c.dilation - pad;
        if (s < 0 || s >= c.steps) continue;
        for (let ci = 0; ci < c.channels; ci++) {
          for (let f = 0; f < c.filters; f++) visit((n * c.steps + s) * c.channels + ci, (n * out + t) * c.filters + f, (k * c.channels + ci) * c.filters + f);
        }
      }
    }
  }
}

function forwardRef(c: Case, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>): { pre: Float64Array; y: Float64Array } {
  return termsForward((visit) => forEachTerm(c, visit), c.batch * shapeOf(c).out * c.filters, c.filters, x, w, c.bias ? b : null, c.relu);
}

function backwardRef(c: Case, x: ArrayLike<number>, w: ArrayLike<number>, pre: ArrayLike<number>, dy: ArrayLike<number>) {
  return termsBackward((visit) => forEachTerm(c, visit), c.filters, x, w, pre, dy, c.relu);
}

// ---- the layer's kernels against the reference -------------------------------------------------

const CASES: Case[] = [
  { batch: 3, steps: 11, channels: 3, filters: 8, kernel: 3, strides: 1, dilation: 1, padding: 'valid', relu: true, bias: true, tiled: true },
  { batch: 2, steps: 13, channels: 5, filters: 6, kernel: 4, strides: 2, dilation: 1, padding: 'same', relu: false, bias: true },
  { batch: 2, steps: 10, channels: 8, filters: 8, kernel: 3, strides: 1, dilation: 1, padding: 'causal', relu: true, bias: true, tiled: true },
  { batch: 2, steps: 12, channels: 4, filters: 5, kernel: 3, strides: 1, dilation: 2, padding: 'causal', relu: true, bias: false },
  { batch: 3, steps: 9, channels: 2, filters: 4, kernel: 2, strides: 1, dilation: 3, padding: 'same', relu: false, bias: true },
  { batch: 2, steps: 14, channels: 6, filters: 7, kernel: 3, strides: 1, dilation: 3, padding: 'valid', relu: true, bias: true, tiled: true },
  { batch: 2, steps: 10, channels: 3, filters: 4, kernel: 5, strides: 3, dilation: 1, padding: 'causal', relu: false, bias: true },
  { batch: 2, steps: 7, channels: 12, filters: 8, kernel: 1, strides: 2, dilation: 1, padding: 'valid', relu: true, bias: true },
];

function describeCase(c: Case): string {
  return `[${c.batch},${c.steps},${c.channels}] → ${c.filters}, k${c.kernel} s${c.strides} d${c.dilation} ${c.padding}${c.relu ? ' relu' : ''}${c.bias ? ' bias' : ''}`;
}

describe('conv1d through the layer vs float64 reference', () => {
  CASES.forEach((c, caseIndex) => {
    it(describeCase(c), async () => {
      const layer = new Conv1D({ filters: c.filters, kernelSize: c.kernel, strides: c.strides, dilationRate: c.dilation, padding: c.padding, activation: c.relu ? 'relu' : 'linear', useBias: c.bias });
      const inputShape = [c.steps, c.channels];
      const outputShape = layer.computeOutputShape([inputShape]);
      const { out } = shapeOf(c);
      expect(outputShape).toEqual([out, c.filters]);
      expect(layer.weightSpecs([inputShape]).map((s) => s.shape)).toEqual([[c.kernel, c.channels, c.filters], ...(c.bias ? [[c.filters]] : [])]);
      const seed = 500 + 10 * caseIndex;
      const [nx, nw, ny] = [c.batch * c.steps * c.channels, c.kernel * c.channels * c.filters, c.batch * out * c.filters];
      const [x, w, b, r] = [randomArray(nx, seed), randomArray(nw, seed + 1), randomArray(c.filters, seed + 2), randomArray(ny, seed + 3)];
      const ref = forwardRef(c, x, w, b);
      if (c.relu) expect(ref.pre.some((v) => v < 0) && ref.pre.some((v) => v > 0)).toBe(true);
      const exact = backwardRef(c, x, w, ref.pre, r);
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
      for (const style of c.tiled ? (['registers', 'tiled'] as const) : (['registers'] as const)) {
        const e = styles[style]();
        const [xv, wv, bv, dyv] = [x, w, b, r].map((a) => uploadView(e, a)) as Required<BufferView>[];
        const output = nanBuffer(e, ny);
        const grads = { dx: nanBuffer(e, nx), dW: nanBuffer(e, nw), db: nanBuffer(e, c.filters) };
        const ctx: BackwardContext = {
          engine: e,
          batch: c.batch,
          inputs: [xv!],
          inputShapes: [inputShape],
          output,
          outputShape,
          weights: c.bias ? [wv!, bv!] : [wv!],
          training: true,
          stepInfo: uploadView(e, new Uint32Array([0, 0])),
          scratch: (bytes) => nanBuffer(e, bytes / 4),
          saved: new Map(),
          outputGrad: dyv!,
          inputGrads: [grads.dx],
          weightGrads: c.bias ? [grads.dW, grads.db] : [grads.dW],
        };
        e.run(layer.forward(ctx));
        const errY = relL2(await readF32(e, output, ny), ref.y);
        expect(errY, `${style} forward`).toBeLessThanOrEqual(1e-5);
        e.run(layer.backward(ctx));
        const line = [`forward ${errY.toExponential(1)}`];
        for (const [name, want] of [['dx', exact.dx], ['dW', exact.dw], ['db', exact.db]] as const) {
          if (name === 'db' && !c.bias) continue;
          const gpu = await readF32(e, grads[name], want.length);
          const errRef = relL2(gpu, want);
          const errFd = relL2(pick(gpu, fd[name].idx), fd[name].values);
          line.push(`${name} ${errRef.toExponential(1)} | ${errFd.toExponential(1)}`);
          expect(errRef, `${style} ${name} vs reference`).toBeLessThanOrEqual(1e-4);
          expect(errFd, `${style} ${name} vs finite differences`).toBeLessThanOrEqual(1e-4);
        }
        report.push(`${style.padEnd(10)} ${describeCase(c)}: ${line.join(', ')}`);
      }
    });
  });
});

// ---- the layer ----------------------------------------------------------------------------

describe('Conv1D layer', () => {
  it("writes TF.js's config (sizes as arrays of one, no data_format) and reads Keras's", () => {
    const layer = new Conv1D({ filters: 4, kernelSize: [3], strides: 1, dilationRate: 2, padding: 'causal', activation: 'relu', name: 'c1', kernelInitializer: 'heNormal' });
    expect(layer.getConfig()).toEqual({
      name: 'c1',
      trainable: true,
      filters: 4,
      kernel_size: [3],
      strides: [1],
      padding: 'causal',
      dilation_rate: [2],
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
    const back = Conv1D.fromConfig({ ...layer.getConfig(), data_format: 'channels_last', groups: 1 });
    expect([back.name, back.kernelSize, back.strides, back.dilationRate, back.padding]).toEqual(['c1', 3, 1, 2, 'causal']);
    expect(new Conv1D({ filters: 2, kernelSize: 3, padding: 'causal' }).computeOutputShape([[7, 2]])).toEqual([7, 2]);
    expect(new Conv1D({ filters: 2, kernelSize: 3, strides: 2, padding: 'causal' }).computeOutputShape([[7, 2]])).toEqual([4, 2]);
    expect(new Conv1D({ filters: 2, kernelSize: 3 }).name).toMatch(/^conv1d(_\d+)?$/);
  });

  it('refuses configs and inputs that cannot work, naming the layer and the field', () => {
    expect(() => new Conv1D({ filters: 0, kernelSize: 3, name: 'c' })).toThrow(/layer c \(Conv1D\): filters must be a positive integer, got 0/);
    expect(() => new Conv1D({ filters: 2, kernelSize: [3, 3] as unknown as [number], name: 'c' })).toThrow(/layer c \(Conv1D\): kernelSize must be a positive integer or an array of one positive integer, got \[3,3\]/);
    expect(() => new Conv1D({ filters: 2, kernelSize: 3, strides: 0, name: 'c' })).toThrow(/layer c \(Conv1D\): strides must be a positive integer/);
    expect(() => new Conv1D({ filters: 2, kernelSize: 3, padding: 'full' as ConvPadding, name: 'c' })).toThrow(/layer c \(Conv1D\): padding must be 'valid', 'same' or 'causal', got "full"/);
    expect(() => new Conv1D({ filters: 2, kernelSize: 3, strides: 2, dilationRate: 2, name: 'c' })).toThrow(/layer c \(Conv1D\): dilationRate \[2\] cannot be combined with strides \[2\]/);
    expect(() => new Conv1D({ filters: 2, kernelSize: 3, dilationRate: 1.5, name: 'c' })).toThrow(/layer c \(Conv1D\): dilationRate must be a positive integer/);
    const layer = new Conv1D({ filters: 2, kernelSize: 3, dilationRate: 3, name: 'c' });
    expect(() => layer.computeOutputShape([[8, 8, 1]])).toThrow(/layer c \(Conv1D\) expects inputs of shape \[steps, channels\] \(rank 2 without the batch\), got \[8, ?8, ?1\]/);
    expect(() => layer.computeOutputShape([[6, 2]])).toThrow(/layer c \(Conv1D\): the kernel spans 7 steps \(kernelSize 3, dilationRate 3\), more than the input's 6 with padding 'valid'/);
    expect(() => layer.computeOutputShape([[8, 2], [8, 2]])).toThrow(/layer c \(Conv1D\) takes 1 input, got 2/);
    expect(() => Conv1D.fromConfig({ name: 'c', filters: 2, kernel_size: [3], data_format: 'channels_first' })).toThrow(/Conv1D: data_format "channels_first" is not supported, only "channels_last"/);
    expect(() => Conv1D.fromConfig({ name: 'c', filters: 2, kernel_size: [3], kernel_regularizer: { class_name: 'OrthogonalRegularizer', config: {} } })).toThrow(/Conv1D: kernel_regularizer: unknown regularizer class/);
  });
});

// ---- twin with TF.js and model.json ------------------------------------------------------------

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

describe('twin with TF.js (cpu backend)', () => {
  it("conv1d 'same' relu → conv1d strides 2 'valid' → flatten → dense softmax, categorical crossentropy, sgd", async () => {
    const N = 10;
    const inputShape = [11, 3];
    const a = { filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape } as const;
    const b = { filters: 5, kernelSize: 2, strides: 2 } as const;
    const ours = sequential([layers.conv1d(a), layers.conv1d(b), layers.flatten(), layers.dense({ units: 3, activation: 'softmax' })]);
    const theirs = tf.sequential({ layers: [tf.layers.conv1d(a), tf.layers.conv1d(b), tf.layers.flatten(), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'categoricalCrossentropy', engine: styles.registers() });
    theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
    const x = randomArray(N * size(inputShape), 71);
    const y = new Float32Array(N * 3);
    for (let i = 0; i < N; i++) y[i * 3 + ((i * 7) % 3)] = 1;
    const start = await ours.getWeights();
    theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
    const steps = { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 as const };
    await theirs.fit(tf.tensor(x, [N, ...inputShape]), tf.tensor(y, [N, 3]), steps);
    await ours.fit(tensor(x, [N, ...inputShape]), tensor(y, [N, 3]), steps);
    const want = theirs.getWeights().map((t) => t.dataSync());
    const updates: string[] = [];
    for (const [i, w] of (await ours.getWeights()).entries()) {
      const err = relL2(
        w.values.map((v, k) => v - start[i]!.values[k]!),
        want[i]!.map((v, k) => v - start[i]!.values[k]!),
      );
      updates.push(`${w.name} ${err.toExponential(1)}`);
      expect(err, `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
    }
    const probe = randomArray(N * size(inputShape), 72);
    const predictions = relL2((await ours.predict(tensor(probe, [N, ...inputShape]))).values, (theirs.predict(tf.tensor(probe, [N, ...inputShape])) as tf.Tensor).dataSync());
    console.log(`conv1d twin: predictions ${predictions.toExponential(1)}; updates ${updates.join(', ')}`);
    expect(predictions).toBeLessThanOrEqual(1e-4);
  });
});


describe('model.json', () => {
  it("with TF.js both ways, dilated too: the same predictions, configs equal TF.js's", async () => {
    const shape = [12, 3];
    const configs = [
      { filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'relu', kernelInitializer: 'glorotUniform', name: 'c1a' },
      { filters: 2, kernelSize: 2, strides: 2, kernelInitializer: 'glorotUniform', name: 'c1b' },
    ] as const;
    const xi = input({ shape });
    const ours = model({ inputs: xi, outputs: layers.conv1d(configs[1]).apply(layers.conv1d(configs[0]).apply(xi)) });
    const ti = tf.input({ shape });
    const theirs = tf.model({ inputs: ti, outputs: tf.layers.conv1d(configs[1]).apply(tf.layers.conv1d(configs[0]).apply(ti)) as tf.SymbolicTensor });
    const e = styles.registers();
    ours.useEngine(e);
    const x = randomArray(3 * size(shape), 81);
    const { oursToTf, tfToOurs } = await modelJsonBothWays(ours, theirs, x, [3, ...shape], 'Conv1D', { engine: e });
    console.log(`Conv1D model.json: ours → TF.js ${oursToTf.toExponential(1)}, TF.js → ours ${tfToOurs.toExponential(1)}`);
    expect(oursToTf).toBeLessThanOrEqual(1e-5);
    expect(tfToOurs).toBeLessThanOrEqual(1e-5);
    ours.dispose();
  });

  it("keeps 'causal' padding through save and load (TF.js 4.22 cannot run it)", async () => {
    const e = styles.registers();
    const ours = sequential([layers.conv1d({ filters: 3, kernelSize: 3, dilationRate: 2, padding: 'causal', inputShape: [9, 2] })]);
    ours.useEngine(e);
    const x = randomArray(2 * 18, 91);
    const expected = (await ours.predict(tensor(x, [2, 9, 2]))).values;
    const artifacts = await captureOurs(ours);
    const loaded = await loadModel({ load: async () => artifacts }, { engine: e });
    expect((loaded.layers.find((l) => l.className === 'Conv1D') as Conv1D).padding).toBe('causal');
    expect(relL2((await loaded.predict(tensor(x, [2, 9, 2]))).values, expected)).toBe(0);
    ours.dispose();
    loaded.dispose();
  });
});
