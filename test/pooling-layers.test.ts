/**
 * The pooling layers beyond MaxPooling2D (test/pool.test.ts): AveragePooling2D, the 1-D poolings
 * (run as images of height 1) and the global poolings. Their kernels against float64 references
 * on NaN-filled outputs and by central finite differences, both global-reduction variants, the
 * layers' configs and errors, twins trained beside TF.js 4.22 (cpu backend), and model.json both
 * ways.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { input, layerClass, layers, loadModel, model, optimizers, sequential, tensor, type Layer, type LayersModel, type ModelArtifacts, type SymbolicTensor } from '../src/index.ts';
import { AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D } from '../src/layers/pooling.ts';
import { GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D } from '../src/layers/global-pooling.ts';
import { avgPoolBackward, avgPoolForward, globalPoolBackward, globalPoolGeometry, maxPoolBackward, maxPoolForward, poolGeometry, type GlobalPoolGeometry, type GlobalPoolMode, type PoolGeometry } from '../src/ops/pool.ts';
import { globalMaxPoolBackward, globalPoolForward as globalPoolForwardKernel, globalPoolVariant, type GlobalPoolVariant } from '../shaders/global-pool.ts';
import { avgPoolBackward as avgPoolBackwardKernel, avgPoolBackwardCells, avgPoolBackwardGather } from '../shaders/pool.ts';
import { Random } from '../src/layers/initializers.ts';
import type { Padding } from '../src/ops/window.ts';
import { avgPoolBackwardRef, avgPoolForwardRef, maxPoolBackwardRef, maxPoolForwardRef } from './reference/pool.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { captureOurs, captureTf } from './artifacts.ts';

const engine = useEngine();

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// ---- float64 references ------------------------------------------------------------------------



/** Calls `visit(slot, inputs)` for every (image, channel), inputs in row-major order. */
function forEachSlot(g: GlobalPoolGeometry, visit: (slot: number, inputs: number[]) => void): void {
  const spatial = g.height * g.width;
  for (let n = 0; n < g.batch; n++) {
    for (let c = 0; c < g.channels; c++) visit(n * g.channels + c, Array.from({ length: spatial }, (_, p) => (n * spatial + p) * g.channels + c));
  }
}

function globalForwardRef(x: ArrayLike<number>, g: GlobalPoolGeometry, mode: GlobalPoolMode): Float64Array {
  const y = new Float64Array(g.batch * g.channels);
  forEachSlot(g, (s, inputs) => {
    y[s] = mode === 'max' ? Math.max(...inputs.map((i) => x[i]!)) : inputs.reduce((sum, i) => sum + x[i]!, 0) / inputs.length;
  });
  return y;
}

/** The mean's dy spread evenly; the max's dy on the first maximum. */
function globalBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, g: GlobalPoolGeometry, mode: GlobalPoolMode): Float64Array {
  const dx = new Float64Array(g.batch * g.height * g.width * g.channels);
  forEachSlot(g, (s, inputs) => {
    if (mode === 'average') for (const i of inputs) dx[i] = dy[s]! / inputs.length;
    else dx[inputs.reduce((best, i) => (x[i]! > x[best]! ? i : best), inputs[0]!)] = dy[s]!;
  });
  return dx;
}

/** Distinct values 1e-3 apart, so a ±1e-5 probe never moves a maximum. */
function distinctArray(n: number, seed: number): Float32Array {
  const p = new Random(seed).permutation(n);
  return Float32Array.from(p, (v) => (v - n / 2) * 1e-3);
}

/** ReLU-like values in {0, 0.5, 1}: maxima tie often. */
function tiedArray(n: number, seed: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => Math.max(0, Math.round(r.uniform(-2, 2)) / 2));
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The largest relative L2 error each check measured; POOLING_ERRORS=1 prints them after the file. */
const worst = new Map<string, number>();
function record(what: string, err: number): number {
  worst.set(what, Math.max(worst.get(what) ?? 0, err));
  return err;
}
afterAll(() => {
  if (process.env.POOLING_ERRORS) console.log([...worst].map(([what, err]) => `${what}: ${err.toExponential(2)}`).join('\n'));
});

// ---- average pooling kernels -----------------------------------------------------------------------

interface AvgCase {
  name: string;
  batch: number;
  shape: [number, number, number];
  pool: [number, number];
  strides: [number, number];
  padding: Padding;
}

const avgCases: AvgCase[] = [
  { name: '2x2 valid on 7x9, 3 channels (cells, remainder)', batch: 2, shape: [7, 9, 3], pool: [2, 2], strides: [2, 2], padding: 'valid' },
  { name: '3x3 stride 2 same, 8 channels (vec4, gather, clipped windows)', batch: 2, shape: [7, 9, 8], pool: [3, 3], strides: [2, 2], padding: 'same' },
  { name: '2x3 pool, strides 1x2, same, 5 channels', batch: 1, shape: [5, 7, 5], pool: [2, 3], strides: [1, 2], padding: 'same' },
  { name: 'pool 2 stride 3 valid (gaps get zero), 4 channels', batch: 2, shape: [8, 7, 4], pool: [2, 2], strides: [3, 3], padding: 'valid' },
  { name: '3x3 stride 3 same (leading padding, cells)', batch: 2, shape: [5, 7, 3], pool: [3, 3], strides: [3, 3], padding: 'same' },
  { name: 'overlapping 3x2 stride 1, valid, 6 channels', batch: 3, shape: [6, 5, 6], pool: [3, 2], strides: [1, 1], padding: 'valid' },
  { name: '1-D as height 1: pool 1x3 stride 1x2 same', batch: 2, shape: [1, 11, 3], pool: [1, 3], strides: [1, 2], padding: 'same' },
];

function avgGeometry(c: AvgCase): PoolGeometry {
  return poolGeometry(c.batch, c.shape, c.pool, c.strides, c.padding);
}

async function runAvg(g: PoolGeometry, x: Float32Array, dy: Float32Array): Promise<{ y: Float32Array; dx: Float32Array }> {
  const e = engine();
  const nIn = g.batch * g.height * g.width * g.channels;
  const nOut = g.batch * g.outHeight * g.outWidth * g.channels;
  const y = nanBuffer(e, nOut);
  const dx = nanBuffer(e, nIn);
  e.run([...avgPoolForward(e, g, { x: uploadView(e, x), y }), ...avgPoolBackward(e, g, { dy: uploadView(e, dy), dx })]);
  return { y: await readF32(e, y, nOut), dx: await readF32(e, dx, nIn) };
}

describe('average pooling kernels', () => {
  for (const c of avgCases) {
    it(`forward and backward match float64 and finite differences, ${c.name}`, async () => {
      const g = avgGeometry(c);
      const nIn = g.batch * g.height * g.width * g.channels;
      const nOut = g.batch * g.outHeight * g.outWidth * g.channels;
      const x = randomArray(nIn, nIn + 3);
      const dy = randomArray(nOut, nOut + 4);
      const { y, dx } = await runAvg(g, x, dy);
      const op = g.height === 1 ? 'averagePooling1d' : 'averagePooling2d';
      expect(record(`${op} forward vs float64`, relL2(y, avgPoolForwardRef(x, g)))).toBeLessThanOrEqual(1e-6);
      expect(record(`${op} backward vs float64`, relL2(dx, avgPoolBackwardRef(dy, g)))).toBeLessThanOrEqual(1e-6);
      const idx = sampleIndices(nIn, 24, 5);
      const fd = finiteDifferences((xx) => dot(avgPoolForwardRef(xx, g), dy), toF64(x), idx);
      expect(record(`${op} backward vs finite differences`, relL2(pick(dx, idx), fd))).toBeLessThanOrEqual(1e-4);
    });
  }

  it('the cells and gather backward kernels agree wherever windows do not overlap', async () => {
    const e = engine();
    for (const c of avgCases.filter((c) => c.pool[0] <= c.strides[0] && c.pool[1] <= c.strides[1])) {
      const g = avgGeometry(c);
      const nIn = g.batch * g.height * g.width * g.channels;
      const dy = uploadView(e, randomArray(g.batch * g.outHeight * g.outWidth * g.channels, 8));
      const [a, b] = [nanBuffer(e, nIn), nanBuffer(e, nIn)];
      e.run([e.kernel(avgPoolBackwardCells(g), [dy, a]), e.kernel(avgPoolBackwardGather(g), [dy, b])]);
      expect(relL2(await readF32(e, a, nIn), await readF32(e, b, nIn)), c.name).toBeLessThanOrEqual(1e-7);
    }
    const kinds = avgCases.map((c) => avgPoolBackwardKernel(avgGeometry(c)).key.split(':')[0]);
    expect(kinds).toEqual(avgCases.map((c) => (c.pool[0] <= c.strides[0] && c.pool[1] <= c.strides[1] ? 'avgpool-backward-cells' : 'avgpool-backward-gather')));
    expect(new Set(kinds).size).toBe(2);
  });

  it("divides by the taps inside the input with 'same' padding, as TensorFlow; TF.js's own gradient does not", async () => {
    // 5x5 with a 2x2 pool at stride 2, 'same': the last row and column of windows are clipped.
    const c: AvgCase = { name: 'clipped', batch: 1, shape: [5, 5, 1], pool: [2, 2], strides: [2, 2], padding: 'same' };
    const g = avgGeometry(c);
    const x = randomArray(25, 40);
    const dy = randomArray(9, 41);
    const { y, dx } = await runAvg(g, x, dy);
    const tfX = tf.tensor4d(x, [1, 5, 5, 1]);
    expect(relL2(y, tf.avgPool(tfX, 2, 2, 'same').dataSync())).toBeLessThanOrEqual(1e-6);
    const fd = finiteDifferences((xx) => dot(avgPoolForwardRef(xx, g), dy), toF64(x));
    expect(relL2(dx, fd)).toBeLessThanOrEqual(1e-4);
    // TF.js's AvgPoolGrad divides by the whole window's area even where padding clips it.
    const tfDx = tf.grad((v) => tf.avgPool(v as tf.Tensor4D, 2, 2, 'same').mul(tf.tensor4d(dy, [1, 3, 3, 1])).sum())(tfX).dataSync();
    expect(relL2(tfDx, fd)).toBeGreaterThan(0.1);
  });
});

describe('max pooling of [steps, channels] as images of height 1 (MaxPooling1D)', () => {
  const cases: AvgCase[] = [
    { name: 'pool 3 stride 2 same, 3 channels', batch: 2, shape: [1, 11, 3], pool: [1, 3], strides: [1, 2], padding: 'same' },
    { name: 'pool 2 stride 3 valid, 4 channels', batch: 3, shape: [1, 10, 4], pool: [1, 2], strides: [1, 3], padding: 'valid' },
  ];
  for (const c of cases) {
    it(`forward and backward match float64 and finite differences, ${c.name}`, async () => {
      const e = engine();
      const g = avgGeometry(c);
      const nIn = g.batch * g.width * g.channels;
      const nOut = g.batch * g.outWidth * g.channels;
      const x = distinctArray(nIn, 17);
      const dy = randomArray(nOut, 18);
      const [xv, y, dx] = [uploadView(e, x), nanBuffer(e, nOut), nanBuffer(e, nIn)];
      e.run([...maxPoolForward(e, g, { x: xv, y }), ...maxPoolBackward(e, g, { x: xv, dy: uploadView(e, dy), dx })]);
      const got = await readF32(e, dx, nIn);
      expect(record('maxPooling1d forward vs float64', relL2(await readF32(e, y, nOut), maxPoolForwardRef(x, g)))).toBeLessThanOrEqual(1e-7);
      expect(record('maxPooling1d backward vs float64', relL2(got, maxPoolBackwardRef(x, dy, g)))).toBeLessThanOrEqual(1e-7);
      const idx = sampleIndices(nIn, 30, 19);
      const fd = finiteDifferences((xx) => dot(maxPoolForwardRef(xx, g), dy), toF64(x), idx);
      expect(fd.some((v) => v !== 0)).toBe(true);
      expect(record('maxPooling1d backward vs finite differences', relL2(pick(got, idx), fd))).toBeLessThanOrEqual(1e-4);
    });
  }
});

// ---- global pooling kernels ----------------------------------------------------------------------

const globalCases: { name: string; g: GlobalPoolGeometry }[] = [
  { name: '5x7 map, 3 channels', g: { batch: 3, height: 5, width: 7, channels: 3 } },
  { name: '6x5 map, 8 channels (vec4)', g: { batch: 2, height: 6, width: 5, channels: 8 } },
  { name: '17x19 map, 5 channels (big: workgroup)', g: { batch: 2, height: 17, width: 19, channels: 5 } },
  { name: '15x19 map, 12 channels (big, vec4)', g: { batch: 3, height: 15, width: 19, channels: 12 } },
  { name: '1-D: 1x9, 6 channels', g: { batch: 2, height: 1, width: 9, channels: 6 } },
];
const variants: GlobalPoolVariant[] = ['invocation', 'workgroup'];
const modes: GlobalPoolMode[] = ['average', 'max'];

async function runGlobal(g: GlobalPoolGeometry, mode: GlobalPoolMode, variant: GlobalPoolVariant, x: Float32Array, dy: Float32Array): Promise<{ y: Float32Array; dx: Float32Array }> {
  const e = engine();
  const nIn = size([g.batch, g.height, g.width, g.channels]);
  const nOut = g.batch * g.channels;
  const [xv, dyv, y, dx] = [uploadView(e, x), uploadView(e, dy), nanBuffer(e, nOut), nanBuffer(e, nIn)];
  const backward = mode === 'max' ? [e.kernel(globalMaxPoolBackward(g, variant), [xv, dyv, dx])] : globalPoolBackward(e, g, mode, { x: xv, dy: dyv, dx });
  e.run([e.kernel(globalPoolForwardKernel(g, mode, variant), [xv, y]), ...backward]);
  return { y: await readF32(e, y, nOut), dx: await readF32(e, dx, nIn) };
}

describe('global pooling kernels', () => {
  it('reduces small maps in one invocation per slot and big ones in a workgroup', () => {
    expect(globalCases.map((c) => globalPoolVariant(c.g))).toEqual(['invocation', 'invocation', 'workgroup', 'workgroup', 'invocation']);
  });

  for (const { name, g } of globalCases) {
    for (const mode of modes) {
      it(`${mode}: forward and backward of both variants match float64 and finite differences, ${name}`, async () => {
        const nIn = size([g.batch, g.height, g.width, g.channels]);
        const x = mode === 'max' ? distinctArray(nIn, nIn) : randomArray(nIn, nIn);
        const dy = randomArray(g.batch * g.channels, 3);
        // Random positions, and for the max some maxima too (elsewhere its gradient is 0).
        const routed = globalBackwardRef(x, dy, g, 'max');
        const maxima = mode === 'max' ? [...routed.keys()].filter((i) => routed[i] !== 0).slice(0, 8) : [];
        const idx = [...new Set([...sampleIndices(nIn, 24, 7), ...maxima])];
        const fd = finiteDifferences((xx) => dot(globalForwardRef(xx, g, mode), dy), toF64(x), idx);
        expect(fd.some((v) => v !== 0)).toBe(true);
        const op = `global ${mode} pooling ${g.height === 1 ? '1d' : '2d'}`;
        for (const variant of variants) {
          const { y, dx } = await runGlobal(g, mode, variant, x, dy);
          expect(record(`${op} forward vs float64`, relL2(y, globalForwardRef(x, g, mode))), variant).toBeLessThanOrEqual(1e-6);
          expect(record(`${op} backward vs float64`, relL2(dx, globalBackwardRef(x, dy, g, mode))), variant).toBeLessThanOrEqual(1e-6);
          expect(record(`${op} backward vs finite differences`, relL2(pick(dx, idx), fd)), variant).toBeLessThanOrEqual(1e-4);
        }
      });
    }
  }

  it('max: tied maxima get the gradient once, at the first in row-major order (both variants)', async () => {
    for (const { g } of [globalCases[1]!, globalCases[2]!]) {
      const nIn = size([g.batch, g.height, g.width, g.channels]);
      const x = tiedArray(nIn, 11);
      const dy = randomArray(g.batch * g.channels, 12);
      for (const variant of variants) {
        const { y, dx } = await runGlobal(g, 'max', variant, x, dy);
        expect(relL2(y, globalForwardRef(x, g, 'max'))).toBe(0);
        expect(relL2(dx, globalBackwardRef(x, dy, g, 'max')), variant).toBe(0);
      }
    }
  });

  it('max at ties: the first maximum gets the gradient (TF.js gives every tied maximum all of it)', async () => {
    const g: GlobalPoolGeometry = { batch: 1, height: 2, width: 3, channels: 1 };
    const x = Float32Array.of(1, 3, 0, 3, 2, 3);
    for (const variant of variants) {
      const { dx } = await runGlobal(g, 'max', variant, x, Float32Array.of(2));
      expect(Array.from(dx), variant).toEqual([0, 2, 0, 0, 0, 0]);
    }
    const tfDx = tf.grad((v) => tf.max(v, [1, 2]).mul(2).sum())(tf.tensor4d(x, [1, 2, 3, 1])).dataSync();
    expect(Array.from(tfDx)).toEqual([0, 2, 0, 2, 0, 2]);
  });

  it('folds more than 65,535 workgroups into a 2-D grid', async () => {
    const g: GlobalPoolGeometry = { batch: 16385, height: 1, width: 2, channels: 16 };
    const kernel = globalPoolForwardKernel(g, 'max', 'workgroup');
    expect(kernel.workgroups[1]).toBeGreaterThan(1);
    const x = randomArray(size([g.batch, 2, 16]), 13);
    const e = engine();
    const y = nanBuffer(e, g.batch * 16);
    e.run([e.kernel(kernel, [uploadView(e, x), y])]);
    expect(relL2(await readF32(e, y, g.batch * 16), globalForwardRef(x, g, 'max'))).toBe(0);
  });

  it('rejects inputs of another rank', () => {
    expect(() => globalPoolGeometry(1, [4, 4], 'gp')).toThrow(/gp expects inputs of shape \[height, width, channels\].*got \[4, ?4\]/);
    expect(() => globalPoolGeometry(1, [4, 0, 2], 'gp')).toThrow(/positive integers/);
    expect(() => globalPoolGeometry(0, [4, 4, 2], 'gp')).toThrow(/batch must be a positive integer/);
  });
});

// ---- layers: shapes, configs, errors ----------------------------------------------------------------

describe('pooling layers', () => {
  it('registers every TF.js pooling factory but the 3-D ones, each building the class TF.js builds', () => {
    const tfLayers = tf.layers as unknown as Record<string, (config: unknown) => tf.layers.Layer>;
    const ours = layers as unknown as Record<string, (config: unknown) => Layer>;
    const names = Object.keys(tfLayers).filter((k) => /pool/i.test(k) && !/3d$/i.test(k));
    expect(names.length).toBe(16);
    for (const name of names) {
      expect(typeof ours[name], `layers.${name}`).toBe('function');
      const tfConfig = /global/i.test(name) ? {} : { poolSize: 2 };
      expect(ours[name]!(tfConfig).className, name).toBe(tfLayers[name]!(tfConfig).getClassName());
      expect(layerClass(ours[name]!({}).className)).toBeDefined();
    }
  });

  it('infers the output shapes TF.js infers', () => {
    const cases: [string, Record<string, unknown>, number[]][] = [
      ['averagePooling2d', {}, [7, 9, 3]],
      ['averagePooling2d', { poolSize: [2, 3], strides: [1, 2], padding: 'same' }, [5, 8, 4]],
      ['averagePooling2d', { poolSize: 3, strides: 2 }, [7, 9, 3]],
      ['maxPooling1d', {}, [9, 3]],
      ['maxPooling1d', { poolSize: 3, strides: 2, padding: 'same' }, [10, 3]],
      ['averagePooling1d', { poolSize: [4], strides: [1] }, [9, 2]],
      ['avgPool1d', { poolSize: 5, padding: 'same' }, [3, 2]],
      ['globalAveragePooling2d', {}, [5, 6, 7]],
      ['globalMaxPooling2d', {}, [5, 6, 7]],
      ['globalAveragePooling1d', {}, [6, 7]],
      ['globalMaxPooling1d', {}, [6, 7]],
    ];
    for (const [name, config, shape] of cases) {
      const ours = (layers as unknown as Record<string, (c: unknown) => Layer>)[name]!({ ...config });
      const theirs = (tf.layers as unknown as Record<string, (c: unknown) => tf.layers.Layer>)[name]!({ ...config });
      expect(ours.computeOutputShape([shape]), `${name} ${JSON.stringify(config)} on ${JSON.stringify(shape)}`).toEqual((theirs.computeOutputShape([null, ...shape]) as number[]).slice(1));
    }
  });

  it('rejects configs that cannot work, naming the layer, the field, what it expects and what came', () => {
    expect(() => layers.averagePooling2d({ poolSize: 0, name: 'ap' })).toThrow(/AveragePooling2D ap: poolSize must be a positive integer or an array of two positive integers, got 0/);
    expect(() => layers.avgPool2d({ strides: [1, 2, 3] as unknown as [number, number], name: 'ap' })).toThrow(/AveragePooling2D ap: strides .*got \[1,2,3\]/);
    expect(() => layers.avgPooling2d({ padding: 'causal' as Padding, name: 'ap' })).toThrow(/AveragePooling2D ap: padding must be 'valid' or 'same', got "causal"/);
    expect(() => layers.averagePooling2d({ dataFormat: 'channelsFirst' as 'channelsLast', name: 'ap' })).toThrow(/AveragePooling2D ap: dataFormat must be 'channelsLast'.*got "channelsFirst"/);
    expect(() => layers.maxPooling2d({ dataFormat: 'channelsFirst' as 'channelsLast', name: 'mp' })).toThrow(/MaxPooling2D mp: dataFormat must be 'channelsLast'/);
    expect(() => layers.maxPooling1d({ poolSize: [2, 2] as unknown as [number], name: 'm1' })).toThrow(/MaxPooling1D m1: poolSize must be a positive integer or an array of one positive integer, got \[2,2\]/);
    expect(() => layers.maxPool1d({ strides: 1.5, name: 'm1' })).toThrow(/MaxPooling1D m1: strides .*got 1.5/);
    expect(() => layers.avgPool1d({ padding: 'causal' as Padding, name: 'a1' })).toThrow(/AveragePooling1D a1: padding must be 'valid' or 'same'/);
    expect(() => layers.globalMaxPooling2d({ dataFormat: 'channelsFirst' as 'channelsLast', name: 'g2' })).toThrow(/GlobalMaxPooling2D g2: dataFormat must be 'channelsLast'.*got "channelsFirst"/);
    expect(() => layers.globalAveragePooling2d({ dataFormat: 'channels_last' as 'channelsLast', name: 'g2' })).toThrow(/GlobalAveragePooling2D g2: dataFormat/);
  });

  it('rejects inputs that cannot work, naming the layer and the shape', () => {
    expect(() => new AveragePooling2D({ name: 'ap' }).computeOutputShape([[8, 8]])).toThrow(/layer ap \(AveragePooling2D\) expects inputs of shape \[height, width, channels\]/);
    expect(() => new AveragePooling2D({ poolSize: 5, name: 'ap' }).computeOutputShape([[3, 8, 1]])).toThrow(/ap \(AveragePooling2D\).*larger than the input/);
    expect(() => new MaxPooling1D({ name: 'm1' }).computeOutputShape([[8, 8, 1]])).toThrow(/layer m1 \(MaxPooling1D\) expects inputs of shape \[steps, channels\] \(rank 2 without the batch\), got \[8, ?8, ?1\]/);
    expect(() => new AveragePooling1D({ poolSize: 4, name: 'a1' }).computeOutputShape([[3, 2]])).toThrow(/layer a1 \(AveragePooling1D\): pool size 4 is longer than the input's 3 steps with padding 'valid'/);
    expect(new AveragePooling1D({ poolSize: 4, padding: 'same' }).computeOutputShape([[3, 2]])).toEqual([1, 2]);
    expect(() => new GlobalAveragePooling1D({ name: 'g1' }).computeOutputShape([[4, 4, 4]])).toThrow(/layer g1 \(GlobalAveragePooling1D\) expects inputs of shape \[steps, channels\]/);
    expect(() => new GlobalMaxPooling2D({ name: 'g2' }).computeOutputShape([[4, 4]])).toThrow(/layer g2 \(GlobalMaxPooling2D\) expects inputs of shape \[height, width, channels\]/);
    expect(() => new GlobalMaxPooling1D({ name: 'g1' }).computeOutputShape([[4, 4], [4, 4]])).toThrow(/takes 1 input/);
  });

  it('reads Keras configs from model.json, refusing what it cannot honour', () => {
    const avg = AveragePooling2D.fromConfig({ name: 'a', pool_size: [2, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', trainable: true, dtype: 'float32' });
    expect([avg.name, avg.poolSize, avg.strides, avg.padding]).toEqual(['a', [2, 3], [1, 1], 'same']);
    const max1 = MaxPooling1D.fromConfig({ name: 'm', pool_size: [3], strides: [2], padding: 'valid', data_format: 'channels_last' });
    expect([max1.poolSize, max1.strides, max1.padding]).toEqual([3, 2, 'valid']);
    expect(GlobalAveragePooling1D.fromConfig({ name: 'g', data_format: 'channels_last', keepdims: false }).name).toBe('g');
    expect(() => AveragePooling2D.fromConfig({ name: 'a', data_format: 'channels_first' })).toThrow(/AveragePooling2D: data_format "channels_first" is not supported, only "channels_last"/);
    expect(() => GlobalMaxPooling2D.fromConfig({ name: 'g', keepdims: true })).toThrow(/GlobalMaxPooling2D: keepdims true is not supported, only false/);
    expect(() => AveragePooling1D.fromConfig({ name: 'a', pool_size: [0] })).toThrow(/AveragePooling1D a: poolSize must be a positive integer/);
    expect(() => MaxPooling1D.fromConfig({ name: 'm', dilation: 2 })).toThrow(/MaxPooling1D: unknown config key 'dilation'/);
  });

  it('keeps MaxPooling2D as it was: the producer fusion and the ReLU mask', () => {
    const pool = new MaxPooling2D();
    expect(pool.poolsInProducer([12, 12, 8], true)).toBe(true);
    expect(pool.masksReluInputGrad).toBe(true);
    expect(new AveragePooling2D().poolsInProducer([12, 12, 8], false)).toBe(false);
    expect(new AveragePooling2D().masksReluInputGrad).toBe(false);
    expect(new MaxPooling1D().poolsInProducer([12, 8], false)).toBe(false);
  });
});

// ---- twins with TF.js and model.json ---------------------------------------------------------------

const N = 10;

interface Twin {
  ours: LayersModel;
  theirs: tf.LayersModel;
  inputShape: number[];
  classes: number;
}

/** Copies our initial weights into TF.js, trains both a few SGD steps, and compares updates and predictions. */
async function trainBoth({ ours, theirs, inputShape, classes }: Twin, seed: number, label: string): Promise<void> {
  const x = randomArray(N * size(inputShape), seed);
  const y = new Float32Array(N * classes);
  for (let i = 0; i < N; i++) y[i * classes + ((i * 7) % classes)] = 1;
  ours.compile({ optimizer: optimizers.sgd({ learningRate: 0.5 }), loss: 'categoricalCrossentropy', engine: engine() });
  theirs.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
  const start = await ours.getWeights();
  theirs.setWeights(start.map((w) => tf.tensor(w.values, w.shape)));
  const steps = { epochs: 2, batchSize: 4, shuffle: false, verbose: 0 as const };
  await theirs.fit(tf.tensor(x, [N, ...inputShape]), tf.tensor(y, [N, classes]), steps);
  await ours.fit(tensor(x, [N, ...inputShape]), tensor(y, [N, classes]), steps);
  const want = theirs.getWeights().map((t) => t.dataSync());
  for (const [i, w] of (await ours.getWeights()).entries()) {
    const delta = w.values.map((v, k) => v - start[i]!.values[k]!);
    const wantDelta = want[i]!.map((v, k) => v - start[i]!.values[k]!);
    expect(record(`twin ${label}: weight updates`, relL2(delta, wantDelta)), `update of ${w.name}`).toBeLessThanOrEqual(1e-3);
  }
  const probe = randomArray(N * size(inputShape), seed + 1);
  const got = (await ours.predict(tensor(probe, [N, ...inputShape]))).values;
  expect(record(`twin ${label}: predictions`, relL2(got, (theirs.predict(tf.tensor(probe, [N, ...inputShape])) as tf.Tensor).dataSync()))).toBeLessThanOrEqual(1e-4);
}

describe('twins with TF.js (cpu backend)', () => {
  it('conv2d → averagePooling2d → globalAveragePooling2d → dense softmax', async () => {
    const inputShape = [9, 11, 2];
    const ours = sequential([
      layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu', inputShape }),
      layers.averagePooling2d({ poolSize: [2, 3], strides: [2, 1] }),
      layers.globalAveragePooling2d(),
      layers.dense({ units: 3, activation: 'softmax' }),
    ]);
    const theirs = tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu', inputShape }),
        tf.layers.averagePooling2d({ poolSize: [2, 3], strides: [2, 1] }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    await trainBoth({ ours, theirs, inputShape, classes: 3 }, 50, 'averagePooling2d + globalAveragePooling2d');
  });

  it("conv2d 'same' → avgPool2d 'same' (no window clipped) → globalMaxPooling2d → dense softmax", async () => {
    const inputShape = [10, 12, 3];
    const ours = sequential([
      layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape }),
      layers.avgPool2d({ poolSize: 2, padding: 'same' }),
      layers.globalMaxPooling2d(),
      layers.dense({ units: 4, activation: 'softmax' }),
    ]);
    const theirs = tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape }),
        tf.layers.avgPool2d({ poolSize: 2, padding: 'same' }),
        tf.layers.globalMaxPooling2d({}),
        tf.layers.dense({ units: 4, activation: 'softmax' }),
      ],
    });
    await trainBoth({ ours, theirs, inputShape, classes: 4 }, 60, 'avgPool2d same + globalMaxPooling2d');
  });

  it("1-D: dense on [steps, channels] → maxPooling1d 3/2 'same' → averagePooling1d 2/1 → flatten → dense softmax", async () => {
    const inputShape = [7, 3];
    const ours = sequential([
      layers.dense({ units: 5, activation: 'tanh', inputShape }),
      layers.maxPooling1d({ poolSize: 3, strides: 2, padding: 'same' }),
      layers.averagePooling1d({ poolSize: 2, strides: 1 }),
      layers.flatten(),
      layers.dense({ units: 3, activation: 'softmax' }),
    ]);
    const theirs = tf.sequential({
      layers: [
        tf.layers.dense({ units: 5, activation: 'tanh', inputShape }),
        tf.layers.maxPooling1d({ poolSize: 3, strides: 2, padding: 'same' }),
        tf.layers.averagePooling1d({ poolSize: 2, strides: 1 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    await trainBoth({ ours, theirs, inputShape, classes: 3 }, 70, 'maxPooling1d + averagePooling1d');
  });

  it('1-D global: dense → globalMaxPooling1d and dense → globalAveragePooling1d, concatenated → dense softmax', async () => {
    const inputShape = [9, 2];
    const xi = input({ shape: inputShape });
    const a = layers.globalMaxPooling1d().apply(layers.dense({ units: 4, activation: 'tanh' }).apply(xi));
    const b = layers.globalAveragePooling1d().apply(layers.dense({ units: 3, activation: 'elu' }).apply(xi));
    const ours = model({ inputs: xi, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(layers.concatenate().apply([a, b])) });
    const ti = tf.input({ shape: inputShape });
    const ta = tf.layers.globalMaxPooling1d({}).apply(tf.layers.dense({ units: 4, activation: 'tanh' }).apply(ti)) as tf.SymbolicTensor;
    const tb = tf.layers.globalAveragePooling1d({}).apply(tf.layers.dense({ units: 3, activation: 'elu' }).apply(ti)) as tf.SymbolicTensor;
    const theirs = tf.model({ inputs: ti, outputs: tf.layers.dense({ units: 3, activation: 'softmax' }).apply(tf.layers.concatenate().apply([ta, tb])) as tf.SymbolicTensor });
    await trainBoth({ ours, theirs, inputShape, classes: 3 }, 80, 'globalMaxPooling1d + globalAveragePooling1d');
  });
});

/** What a save handler receives, from either library. */

/** Each pooling layer and its TF.js twin, built from the same TF.js config (names included). */
const saved: { inputShape: number[]; build: (lib: 'ours' | 'tf') => { inputs: unknown; outputs: unknown } }[] = [
  {
    inputShape: [9, 11, 3],
    build: (lib) => {
      const L = (lib === 'ours' ? layers : tf.layers) as unknown as Record<string, (c: unknown) => { apply(x: unknown): unknown }>;
      const xi = lib === 'ours' ? input({ shape: [9, 11, 3] }) : tf.input({ shape: [9, 11, 3] });
      const p = L.maxPooling2d!({ poolSize: 3, strides: 2, padding: 'same', name: 'max2d' }).apply(L.averagePooling2d!({ poolSize: [2, 3], strides: 1, padding: 'same', name: 'avg2d' }).apply(xi));
      const g = L.concatenate!({ name: 'cat' }).apply([L.globalAveragePooling2d!({ name: 'gavg2d' }).apply(p), L.globalMaxPooling2d!({ name: 'gmax2d' }).apply(p)]);
      return { inputs: xi, outputs: L.dense!({ units: 3, name: 'head' }).apply(g) };
    },
  },
  {
    inputShape: [10, 4],
    build: (lib) => {
      const L = (lib === 'ours' ? layers : tf.layers) as unknown as Record<string, (c: unknown) => { apply(x: unknown): unknown }>;
      const xi = lib === 'ours' ? input({ shape: [10, 4] }) : tf.input({ shape: [10, 4] });
      const p = L.avgPool1d!({ poolSize: 3, strides: 2, padding: 'same', name: 'avg1d' }).apply(L.maxPool1d!({ poolSize: [2], strides: [1], name: 'max1d' }).apply(xi));
      const g = L.concatenate!({ name: 'cat' }).apply([L.globalAveragePooling1d!({ name: 'gavg1d' }).apply(p), L.globalMaxPool1d!({ name: 'gmax1d' }).apply(p)]);
      return { inputs: xi, outputs: L.dense!({ units: 2, name: 'head' }).apply(g) };
    },
  },
];

describe('model.json with TF.js', () => {
  for (const [k, { inputShape, build }] of saved.entries()) {
    it(`ours loads in TF.js and TF.js's loads here with the same predictions; configs equal TF.js's (model ${k + 1})`, async () => {
      const ours = model(build('ours') as { inputs: SymbolicTensor; outputs: SymbolicTensor });
      ours.useEngine(engine());
      const theirs = tf.model(build('tf') as Parameters<typeof tf.model>[0]);
      const x = randomArray(4 * size(inputShape), 90 + k);
      const expected = (await ours.predict(tensor(x, [4, ...inputShape]))).values;

      const artifacts = await captureOurs(ours);
      const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts as unknown as tf.io.ModelArtifacts));
      expect(record('model.json ours → TF.js predictions', relL2((tfLoaded.predict(tf.tensor(x, [4, ...inputShape])) as tf.Tensor).dataSync(), expected))).toBeLessThanOrEqual(1e-6);

      const tfJson = (await captureTf(theirs)).modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
      const pools = tfJson.config.layers.filter((l) => /Pool/.test(l.class_name));
      expect(pools.length).toBe(4);
      for (const { class_name, config } of pools) {
        const layer = ours.layers.find((l) => l.name === config.name)!;
        expect(layer.className).toBe(class_name);
        expect(layer.getConfig(), class_name).toEqual(config);
      }

      theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
      const loaded = await loadModel({ load: async () => (await captureTf(theirs)) as unknown as ModelArtifacts }, { engine: engine() });
      expect(record('model.json TF.js → ours predictions', relL2((await loaded.predict(tensor(x, [4, ...inputShape]))).values, expected))).toBeLessThanOrEqual(1e-6);
      ours.dispose();
      loaded.dispose();
    });
  }
});
