/**
 * Property tests: conv2d, max pooling and dense on seeded random VALID geometries (sizes, strides,
 * paddings, channel counts that hit every tail case of the register blocks), forward and backward
 * against the float64 references. Each case prints its geometry when it fails.
 */
import { describe, expect, it } from 'vitest';
import { conv2dBackward, conv2dForward, conv2dGeometry } from '../src/ops/conv2d.ts';
import { denseBackward, denseForward, denseGeometry } from '../src/ops/dense.ts';
import { maxPoolBackward, maxPoolForward, poolGeometry } from '../src/ops/pool.ts';
import { Random } from '../src/layers/initializers.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './reference/conv2d.ts';
import { denseBackwardRef, denseForwardRef } from './reference/dense.ts';
import { maxPoolBackwardRef, maxPoolForwardRef } from './reference/pool.ts';
import { nanBuffer, randomArray, readF32, relL2, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();
const CASES = 4;
const int = (r: Random, lo: number, hi: number) => lo + Math.floor(r.next() * (hi - lo + 1));

describe('conv2d on random geometries', () => {
  const r = new Random(2026);
  for (let c = 0; c < CASES; c++) {
    const padding = r.next() < 0.5 ? 'valid' : 'same';
    const k: [number, number] = [int(r, 1, 4), int(r, 1, 4)];
    const options = {
      batch: int(r, 1, 3),
      inputShape: [int(r, k[0], 9), int(r, k[1], 9), int(r, 1, 9)],
      filters: int(r, 1, 9),
      kernelSize: k,
      strides: [int(r, 1, 2), int(r, 1, 2)] as [number, number],
      padding: padding as 'valid' | 'same',
      relu: r.next() < 0.5,
      useBias: r.next() < 0.7,
    };
    it(JSON.stringify(options), async () => {
      const e = engine();
      const g = conv2dGeometry(options);
      const nx = g.batch * g.inH * g.inW * g.inC;
      const nw = g.kH * g.kW * g.inC * g.outC;
      const ny = g.batch * g.outH * g.outW * g.outC;
      const [x, w, b, dy] = [randomArray(nx, c * 10 + 1), randomArray(nw, c * 10 + 2), randomArray(g.outC, c * 10 + 3), randomArray(ny, c * 10 + 4)];
      const views = { x: uploadView(e, x!), w: uploadView(e, w!), b: g.bias ? uploadView(e, b!) : undefined, y: nanBuffer(e, ny) };
      const grads = { dy: uploadView(e, dy!), dx: nanBuffer(e, nx), dw: nanBuffer(e, nw), db: g.bias ? nanBuffer(e, g.outC) : null };
      const scratch = (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4));
      e.run([...conv2dForward(e, g, views), ...conv2dBackward(e, g, { ...views, ...grads, scratch })]);
      const ref = conv2dForwardRef(g, x!, w!, g.bias ? b! : null);
      const refGrads = conv2dBackwardRef(g, x!, w!, ref.pre, dy!);
      expect(relL2(await readF32(e, views.y, ny), ref.y)).toBeLessThanOrEqual(1e-5);
      expect(relL2(await readF32(e, grads.dx, nx), refGrads.dx)).toBeLessThanOrEqual(1e-4);
      expect(relL2(await readF32(e, grads.dw, nw), refGrads.dw)).toBeLessThanOrEqual(1e-4);
      if (grads.db) expect(relL2(await readF32(e, grads.db, g.outC), refGrads.db)).toBeLessThanOrEqual(1e-4);
    });
  }
});

describe('max pooling on random geometries', () => {
  const r = new Random(7);
  for (let c = 0; c < CASES; c++) {
    const pool: [number, number] = [int(r, 1, 3), int(r, 1, 3)];
    const strides: [number, number] = [int(r, 1, 3), int(r, 1, 3)];
    const mode = r.next() < 0.5 ? 'valid' : 'same';
    const shape = [int(r, pool[0], 10), int(r, pool[1], 10), int(r, 1, 9)];
    const batch = int(r, 1, 3);
    it(JSON.stringify({ batch, shape, pool, strides, mode }), async () => {
      const e = engine();
      const g = poolGeometry(batch, shape, pool, strides, mode as 'valid' | 'same');
      const nx = batch * g.height * g.width * g.channels;
      const ny = batch * g.outHeight * g.outWidth * g.channels;
      // Few distinct values: ties in most windows, as after a ReLU.
      const x = randomArray(nx, c + 1).map((v) => Math.round(v * 2) / 2);
      const dy = randomArray(ny, c + 100);
      const views = { x: uploadView(e, x), y: nanBuffer(e, ny), dy: uploadView(e, dy), dx: nanBuffer(e, nx) };
      e.run([...maxPoolForward(e, g, views), ...maxPoolBackward(e, g, views)]);
      expect(relL2(await readF32(e, views.y, ny), maxPoolForwardRef(x, g))).toBeLessThanOrEqual(1e-6);
      expect(relL2(await readF32(e, views.dx, nx), maxPoolBackwardRef(x, dy, g))).toBeLessThanOrEqual(1e-6);
    });
  }
});

describe('dense on random geometries', () => {
  const r = new Random(99);
  for (let c = 0; c < CASES; c++) {
    const batch = int(r, 1, 40);
    const inputs = int(r, 1, 70);
    const units = int(r, 1, 33);
    const options = { relu: r.next() < 0.5, bias: r.next() < 0.7 };
    it(JSON.stringify({ batch, inputs, units, ...options }), async () => {
      const e = engine();
      const g = denseGeometry(batch, [inputs], units, options);
      const [x, w, b, dy] = [randomArray(batch * inputs, c + 1), randomArray(inputs * units, c + 2), randomArray(units, c + 3), randomArray(batch * units, c + 4)];
      const views = { x: uploadView(e, x!), w: uploadView(e, w!), b: g.bias ? uploadView(e, b!) : undefined, y: nanBuffer(e, batch * units) };
      const grads = { dy: uploadView(e, dy!), dx: nanBuffer(e, batch * inputs), dw: nanBuffer(e, inputs * units), db: g.bias ? nanBuffer(e, units) : undefined };
      e.run([...denseForward(e, g, views), ...denseBackward(e, g, { ...views, ...grads })]);
      const y = denseForwardRef(x!, w!, g.bias ? b! : null, g);
      const ref = denseBackwardRef(x!, w!, y, dy!, g);
      expect(relL2(await readF32(e, views.y, batch * units), y)).toBeLessThanOrEqual(1e-5);
      expect(relL2(await readF32(e, grads.dx, batch * inputs), ref.dx)).toBeLessThanOrEqual(1e-4);
      expect(relL2(await readF32(e, grads.dw, inputs * units), ref.dw)).toBeLessThanOrEqual(1e-4);
      if (grads.db) expect(relL2(await readF32(e, grads.db, units), ref.db)).toBeLessThanOrEqual(1e-4);
    });
  }
});
