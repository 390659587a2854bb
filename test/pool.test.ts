import { describe, expect, it } from 'vitest';
import { MaxPooling2D } from '../src/layers/pooling.ts';
import { maxPoolBackward, maxPoolForward, poolGeometry, type PoolGeometry } from '../src/ops/pool.ts';
import { Random } from '../src/layers/initializers.ts';
import type { Padding } from '../src/ops/window.ts';
import type { BackwardContext } from '../src/layers/layer.ts';
import { maxPoolBackward as maxPoolBackwardKernel, maxPoolBackwardCells, maxPoolBackwardGather } from '../shaders/pool.ts';
import { forEachWindow, maxPoolBackwardRef, maxPoolForwardRef } from './reference/pool.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();

interface Case {
  name: string;
  batch: number;
  shape: [number, number, number];
  pool: [number, number];
  strides: [number, number];
  padding: Padding;
}

const cases: Case[] = [
  { name: '2x2 valid, odd 7x9, 3 channels (one channel per invocation)', batch: 2, shape: [7, 9, 3], pool: [2, 2], strides: [2, 2], padding: 'valid' },
  { name: '2x2 valid, 8 channels (vec4 of channels)', batch: 3, shape: [6, 5, 8], pool: [2, 2], strides: [2, 2], padding: 'valid' },
  { name: 'overlapping 3x3 stride 2, valid', batch: 2, shape: [7, 9, 4], pool: [3, 3], strides: [2, 2], padding: 'valid' },
  { name: 'overlapping 3x3 stride 1, valid, 5 channels', batch: 2, shape: [6, 7, 5], pool: [3, 3], strides: [1, 1], padding: 'valid' },
  { name: 'overlapping 3x3 stride 2, same', batch: 2, shape: [7, 9, 4], pool: [3, 3], strides: [2, 2], padding: 'same' },
  { name: '2x2 same on odd 7x9', batch: 2, shape: [7, 9, 3], pool: [2, 2], strides: [2, 2], padding: 'same' },
  { name: '2x3 pool, strides 1x2, same', batch: 1, shape: [5, 8, 4], pool: [2, 3], strides: [1, 2], padding: 'same' },
  { name: 'stride 3 larger than pool 2 (gaps get zero)', batch: 2, shape: [8, 7, 2], pool: [2, 2], strides: [3, 3], padding: 'valid' },
  { name: '3x3 stride 3, same with leading padding', batch: 2, shape: [4, 7, 4], pool: [3, 3], strides: [3, 3], padding: 'same' },
];

function geometryOf(c: Case): PoolGeometry {
  return poolGeometry(c.batch, c.shape, c.pool, c.strides, c.padding);
}

async function runPool(g: PoolGeometry, x: Float32Array, dy: Float32Array): Promise<{ y: Float32Array; dx: Float32Array }> {
  const e = engine();
  const nIn = g.batch * g.height * g.width * g.channels;
  const nOut = g.batch * g.outHeight * g.outWidth * g.channels;
  const xv = uploadView(e, x);
  const dyv = uploadView(e, dy);
  const y = nanBuffer(e, nOut);
  const dx = nanBuffer(e, nIn);
  e.run([...maxPoolForward(e, g, { x: xv, y }), ...maxPoolBackward(e, g, { x: xv, dy: dyv, dx })]);
  return { y: await readF32(e, y, nOut), dx: await readF32(e, dx, nIn) };
}

/** Relu-like values quantized to {0, 0.5, 1}: most windows hold tied maxima. */
function tiedArray(n: number, seed: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => Math.max(0, Math.round(r.uniform(-2, 2)) / 2));
}

/** Distinct values 1e-3 apart, so a ±1e-5 finite-difference probe never changes a window's argmax. */
function distinctArray(n: number, seed: number): Float32Array {
  const p = new Random(seed).permutation(n);
  return Float32Array.from(p, (v) => (v - n / 2) * 1e-3);
}

describe('max pooling kernels', () => {
  for (const c of cases) {
    it(`forward and backward match float64, ${c.name}`, async () => {
      const g = geometryOf(c);
      const nIn = g.batch * g.height * g.width * g.channels;
      const nOut = g.batch * g.outHeight * g.outWidth * g.channels;
      const x = randomArray(nIn, nIn);
      const dy = randomArray(nOut, nOut + 1);
      const { y, dx } = await runPool(g, x, dy);
      expect(relL2(y, maxPoolForwardRef(x, g))).toBeLessThanOrEqual(1e-5);
      expect(relL2(dx, maxPoolBackwardRef(x, dy, g))).toBeLessThanOrEqual(1e-4);
    });
  }

  it('applies a preceding ReLU mask to dx exactly (both kernels, windows of zeros included)', async () => {
    for (const c of [cases[1]!, cases[2]!, cases[5]!]) {
      const g = geometryOf(c);
      const nIn = g.batch * g.height * g.width * g.channels;
      const nOut = g.batch * g.outHeight * g.outWidth * g.channels;
      // ReLU outputs, three quarters zeros: some windows (3×3 ones too) are all zeros, their maximum not positive.
      const r = new Random(nIn + 7);
      const x = Float32Array.from({ length: nIn }, () => Math.max(0, r.uniform(-3, 1)));
      const dy = randomArray(nOut, nOut + 2);
      const e = engine();
      const dx = nanBuffer(e, nIn);
      e.run(maxPoolBackward(e, g, { x: uploadView(e, x), dy: uploadView(e, dy), dx }, { reluMask: true }));
      const got = await readF32(e, dx, nIn);
      const expected = maxPoolBackwardRef(x, dy, g).map((v, i) => (x[i]! > 0 ? v : 0));
      expect(expected.some((v, i) => v === 0 && maxPoolBackwardRef(x, dy, g)[i] !== 0), `${c.name}: the mask must matter`).toBe(true);
      expect(relL2(got, expected), c.name).toBeLessThanOrEqual(1e-6);
      expect(Array.from(got).every((v, i) => x[i]! > 0 || v === 0), `${c.name}: masked exactly`).toBe(true);
    }
  });

  it('uses the cells kernel exactly when windows do not overlap', () => {
    const kinds = cases.map((c) => maxPoolBackwardKernel(geometryOf(c)).key.split(':')[0]);
    expect(kinds).toEqual(cases.map((c) => (c.pool[0] <= c.strides[0] && c.pool[1] <= c.strides[1] ? 'maxpool-backward-cells' : 'maxpool-backward-gather')));
    expect(kinds).toContain('maxpool-backward-cells');
    expect(kinds).toContain('maxpool-backward-gather');
    expect(geometryOf(cases[8]!)).toMatchObject({ padTop: 1, padLeft: 1, outHeight: 2, outWidth: 3 });
  });

  for (const c of [cases[0]!, cases[1]!, cases[5]!, cases[8]!]) {
    it(`the gather kernel agrees with the cells kernel on tied inputs, ${c.name}`, async () => {
      const e = engine();
      const g = geometryOf(c);
      const nIn = g.batch * g.height * g.width * g.channels;
      const nOut = g.batch * g.outHeight * g.outWidth * g.channels;
      const x = uploadView(e, tiedArray(nIn, 5));
      const dy = uploadView(e, randomArray(nOut, 6));
      const [a, b] = [nanBuffer(e, nIn), nanBuffer(e, nIn)];
      e.run([e.kernel(maxPoolBackwardGather(g), [x, dy, a]), e.kernel(maxPoolBackwardCells(g), [x, dy, b])]);
      expect(relL2(await readF32(e, a, nIn), await readF32(e, b, nIn))).toBe(0);
    });
  }

  for (const c of [cases[0]!, cases[1]!, cases[2]!, cases[4]!, cases[8]!]) {
    it(`routes tied maxima to the first one in scan order, ${c.name}`, async () => {
      const g = geometryOf(c);
      const nIn = g.batch * g.height * g.width * g.channels;
      const nOut = g.batch * g.outHeight * g.outWidth * g.channels;
      const x = tiedArray(nIn, 11);
      const dy = randomArray(nOut, 12);
      const { y, dx } = await runPool(g, x, dy);
      const dxRef = maxPoolBackwardRef(x, dy, g);
      expect(relL2(y, maxPoolForwardRef(x, g))).toBeLessThanOrEqual(1e-5);
      expect(relL2(dx, dxRef)).toBeLessThanOrEqual(1e-4);
      // Each window's gradient lands exactly once.
      const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
      expect(sum(dx)).toBeCloseTo(sum(dy), 4);
      // Ties were common, so routing to every tied element (or to the last one) would have failed.
      let tied = 0;
      forEachWindow(g, (out, inputs) => {
        if (inputs.filter((i) => x[i] === y[out]).length > 1) tied++;
      });
      expect(tied).toBeGreaterThan(nOut / 3);
    });
  }

  for (const c of [cases[0]!, cases[2]!, cases[4]!, cases[6]!, cases[8]!]) {
    it(`backward matches finite differences, ${c.name}`, async () => {
      // Max pooling is not differentiable at ties, so the probe uses distinct, well-separated values.
      const g = geometryOf(c);
      const nIn = g.batch * g.height * g.width * g.channels;
      const nOut = g.batch * g.outHeight * g.outWidth * g.channels;
      const x = distinctArray(nIn, 21);
      const r = randomArray(nOut, 22);
      const { dx } = await runPool(g, x, r);
      const idx = sampleIndices(nIn, 20, 23);
      const fd = finiteDifferences((xx) => dot(maxPoolForwardRef(xx, g), r), toF64(x), idx);
      expect(fd.some((v) => v !== 0)).toBe(true);
      expect(relL2(pick(dx, idx), fd)).toBeLessThanOrEqual(1e-4);
    });
  }
});

describe('MaxPooling2D layer', () => {
  it('infers Keras output shapes', () => {
    expect(new MaxPooling2D().computeOutputShape([[26, 26, 32]])).toEqual([13, 13, 32]);
    expect(new MaxPooling2D({ poolSize: 2 }).computeOutputShape([[11, 11, 64]])).toEqual([5, 5, 64]);
    expect(new MaxPooling2D({ padding: 'same' }).computeOutputShape([[7, 9, 3]])).toEqual([4, 5, 3]);
    expect(new MaxPooling2D({ poolSize: 3, strides: 2 }).computeOutputShape([[7, 9, 3]])).toEqual([3, 4, 3]);
    expect(new MaxPooling2D({ poolSize: [2, 3], strides: [1, 2], padding: 'same' }).computeOutputShape([[5, 8, 4]])).toEqual([5, 4, 4]);
  });

  it('rejects bad configs and inputs with clear errors', () => {
    expect(() => new MaxPooling2D({ poolSize: 0 })).toThrow(/poolSize must be a positive integer/);
    expect(() => new MaxPooling2D({ strides: [2, 2, 2] as unknown as [number, number] })).toThrow(/strides/);
    expect(() => new MaxPooling2D({ padding: 'full' as Padding })).toThrow(/'valid' or 'same'/);
    const pool = new MaxPooling2D({ poolSize: 5, name: 'tiny_pool' });
    expect(() => pool.computeOutputShape([[28, 28]])).toThrow(/tiny_pool.*rank 3/);
    expect(() => pool.computeOutputShape([[3, 8, 1]])).toThrow(/tiny_pool.*larger than the input/);
    expect(() => pool.computeOutputShape([[8, 8, 1], [8, 8, 1]])).toThrow(/takes 1 input/);
    expect(new MaxPooling2D({ poolSize: 5, padding: 'same' }).computeOutputShape([[3, 8, 1]])).toEqual([1, 2, 1]);
    expect(() => poolGeometry(0, [4, 4, 1], [2, 2], [2, 2], 'valid')).toThrow(/batch must be a positive integer/);
    expect(() => poolGeometry(1, [4, 0, 1], [2, 2], [2, 2], 'valid')).toThrow(/positive integers/);
    expect(() => poolGeometry(1, [4, 4, 1], [2, 0], [2, 2], 'valid')).toThrow(/pool size must be/);
  });

  it('serializes its config like TF.js', () => {
    const pool = new MaxPooling2D({ poolSize: [2, 3], strides: 1, padding: 'same', name: 'pool_a' });
    expect(pool.className).toBe('MaxPooling2D');
    expect(pool.getConfig()).toEqual({ name: 'pool_a', trainable: true, pool_size: [2, 3], padding: 'same', strides: [1, 1], data_format: 'channels_last' });
    expect(new MaxPooling2D().name).toMatch(/^max_pooling2d(_\d+)?$/);
  });

  it('runs forward and backward through the layer contract', async () => {
    const e = engine();
    const layer = new MaxPooling2D({ poolSize: 3, strides: 2, padding: 'same' });
    const inputShape = [7, 9, 4];
    const batch = 2;
    const outputShape = layer.computeOutputShape([inputShape]);
    const g = poolGeometry(batch, inputShape, [3, 3], [2, 2], 'same');
    const nIn = batch * 7 * 9 * 4;
    const nOut = batch * outputShape.reduce((a, b) => a * b, 1);
    const x = randomArray(nIn, 31);
    const dy = randomArray(nOut, 32);
    const ctx: BackwardContext = {
      engine: e,
      batch,
      inputs: [uploadView(e, x)],
      inputShapes: [inputShape],
      output: nanBuffer(e, nOut),
      outputShape,
      weights: [],
      training: true,
      stepInfo: nanBuffer(e, 4),
      saved: new Map(),
      scratch: () => {
        throw new Error('max pooling needs no scratch');
      },
      outputGrad: uploadView(e, dy),
      inputGrads: [nanBuffer(e, nIn)],
      weightGrads: [],
    };
    e.run([...layer.forward(ctx), ...layer.backward(ctx)]);
    expect(relL2(await readF32(e, ctx.output, nOut), maxPoolForwardRef(x, g))).toBeLessThanOrEqual(1e-5);
    expect(relL2(await readF32(e, ctx.inputGrads[0]!, nIn), maxPoolBackwardRef(x, dy, g))).toBeLessThanOrEqual(1e-4);
    expect(layer.backward({ ...ctx, inputGrads: [null] })).toEqual([]);
  });
});
