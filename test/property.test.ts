/**
 * Property tests: conv2d, max pooling and dense on seeded random VALID geometries (sizes, strides,
 * paddings, channel counts that hit every tail case of the register blocks), forward and backward
 * against the float64 references. Each case draws an engine kind ('cpu': SwiftShader's registers
 * kernels, 'checked': the same under robustBufferAccess, 'gpu': kernelStyle 'tiled') and, for
 * each variant table of the family, a variant among those that apply to its geometry there,
 * forced: one not drawn yet for that table when there is one, else any. The last test of each
 * family checks that every variant of each of its tables was drawn. Each case prints its geometry,
 * engine and variants when it fails.
 */
import { describe, expect, it } from 'vitest';
import { conv2dBackward, conv2dForward, conv2dGeometry } from '../src/ops/conv2d.ts';
import { conv2dForwardTable, conv2dInputGradTable, conv2dKernelGradTable, type Conv2DVariant } from '../src/ops/conv2d-variants.ts';
import { denseBackward, denseForward, denseGeometry, denseTable } from '../src/ops/dense.ts';
import { maxPoolBackward, maxPoolBackwardTable, maxPoolForward, maxPoolForwardTable, poolGeometry } from '../src/ops/pool.ts';
import type { VariantTable } from '../src/ops/variants.ts';
import { Random } from '../src/layers/initializers.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './reference/conv2d.ts';
import { denseBackwardRef, denseForwardRef } from './reference/dense.ts';
import { maxPoolBackwardRef, maxPoolForwardRef } from './reference/pool.ts';
import { nanBuffer, randomArray, readF32, relL2, uploadView, useEngine } from './helpers.ts';
import { int, kindsInOrder, oneOf, scratchOf, variantDraws } from './property-draws.ts';

const engines = {
  cpu: useEngine(),
  checked: useEngine({ kernelStyle: 'registers', robustBufferAccess: true }),
  gpu: useEngine({ kernelStyle: 'tiled' }),
};

describe('conv2d on random geometries', () => {
  const r = new Random(2026);
  const draws = variantDraws(2029);
  for (const [c, kind] of kindsInOrder(r, { cpu: 4, checked: 2, gpu: 6 }).entries()) {
    // On CPU kinds 60 % of the cases fit Winograd (3×3, stride 1, 8 or 12 channels), the rest have 1 to 3 input
    // channels (the whole-patch product's); on 'gpu' most have 600 output
    // pixels, where the kernel gradient's split-K rows apply. Otherwise channel counts lean to multiples of 4 (the slice products').
    const winograd = kind !== 'gpu' && r.next() < 0.6;
    const patches = kind !== 'gpu' && !winograd;
    const many = kind === 'gpu' && r.next() < 0.8;
    const k: [number, number] = winograd || r.next() < 0.5 ? [3, 3] : [int(r, 1, 4), int(r, 1, 4)];
    const strides: [number, number] = winograd || r.next() < 0.5 ? [1, 1] : [int(r, 1, 2), int(r, 1, 2)];
    const channels = () => (winograd ? oneOf(r, [8, 12]) : r.next() < 0.6 ? oneOf(r, [4, 8, 12]) : int(r, 1, 9));
    const options = {
      batch: many ? 6 * strides[0] * strides[1] : int(r, 1, 3),
      inputShape: [int(r, many ? 10 : k[0] + 3, 10), int(r, many ? 10 : k[1] + 3, 10), patches ? int(r, 1, 3) : channels()],
      filters: patches ? oneOf(r, [4, 8]) : channels(),
      kernelSize: k,
      strides,
      padding: (many || r.next() < 0.5 ? 'same' : 'valid') as 'valid' | 'same',
      relu: r.next() < 0.5,
      useBias: r.next() < 0.7,
    };
    it(`${JSON.stringify(options)} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = conv2dGeometry(options);
      const variants = { forward: draws.draw(conv2dForwardTable, g, e), inputGrad: draws.draw(conv2dInputGradTable, g, e), kernelGrad: draws.draw(conv2dKernelGradTable, g, e) } as Record<string, Conv2DVariant>;
      const nx = g.batch * g.inH * g.inW * g.inC;
      const nw = g.kH * g.kW * g.inC * g.outC;
      const ny = g.batch * g.outH * g.outW * g.outC;
      const [x, w, b, dy] = [randomArray(nx, c * 10 + 1), randomArray(nw, c * 10 + 2), randomArray(g.outC, c * 10 + 3), randomArray(ny, c * 10 + 4)];
      const views = { x: uploadView(e, x!), w: uploadView(e, w!), b: g.bias ? uploadView(e, b!) : undefined, y: nanBuffer(e, ny) };
      const grads = { dy: uploadView(e, dy!), dx: nanBuffer(e, nx), dw: nanBuffer(e, nw), db: g.bias ? nanBuffer(e, g.outC) : null };
      const scratch = scratchOf(e);
      e.run([...conv2dForward(e, g, { ...views, scratch }, undefined, variants), ...conv2dBackward(e, g, { ...views, ...grads, scratch }, undefined, variants)]);
      const ref = conv2dForwardRef(g, x!, w!, g.bias ? b! : null);
      const refGrads = conv2dBackwardRef(g, x!, w!, ref.pre, dy!);
      const label = `${kind} ${variants.forward}/${variants.inputGrad}/${variants.kernelGrad}`;
      expect(relL2(await readF32(e, views.y, ny), ref.y), `${label} y`).toBeLessThanOrEqual(1e-5);
      expect(relL2(await readF32(e, grads.dx, nx), refGrads.dx), `${label} dx`).toBeLessThanOrEqual(1e-4);
      expect(relL2(await readF32(e, grads.dw, nw), refGrads.dw), `${label} dw`).toBeLessThanOrEqual(1e-4);
      if (grads.db) expect(relL2(await readF32(e, grads.db, g.outC), refGrads.db), `${label} db`).toBeLessThanOrEqual(1e-4);
    });
  }
  it('drew every variant of the forward, input gradient and kernel gradient tables', () => {
    draws.expectAllDrawn([conv2dForwardTable, conv2dInputGradTable, conv2dKernelGradTable] as VariantTable<never, unknown>[]);
  });
});

describe('max pooling on random geometries', () => {
  const r = new Random(7);
  const draws = variantDraws(8);
  for (const [c, kind] of kindsInOrder(r, { cpu: 2, checked: 2, gpu: 3 }).entries()) {
    const pool: [number, number] = [int(r, 1, 3), int(r, 1, 3)];
    const strides: [number, number] = [int(r, 1, 3), int(r, 1, 3)];
    const mode = r.next() < 0.5 ? 'valid' : 'same';
    const shape = [int(r, pool[0], 10), int(r, pool[1], 10), r.next() < 0.5 ? oneOf(r, [4, 8]) : int(r, 1, 9)];
    const batch = int(r, 1, 3);
    it(`${JSON.stringify({ batch, shape, pool, strides, mode })} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = poolGeometry(batch, shape, pool, strides, mode as 'valid' | 'same');
      const forward = draws.draw(maxPoolForwardTable, g, e);
      const backward = draws.draw(maxPoolBackwardTable, g, e);
      const nx = batch * g.height * g.width * g.channels;
      const ny = batch * g.outHeight * g.outWidth * g.channels;
      // Few distinct values: ties in most windows, as after a ReLU.
      const x = randomArray(nx, c + 1).map((v) => Math.round(v * 2) / 2);
      const dy = randomArray(ny, c + 100);
      const views = { x: uploadView(e, x), y: nanBuffer(e, ny), dy: uploadView(e, dy), dx: nanBuffer(e, nx) };
      e.run([...maxPoolForward(e, g, views, forward), ...maxPoolBackward(e, g, views, {}, backward)]);
      expect(relL2(await readF32(e, views.y, ny), maxPoolForwardRef(x, g)), `${kind} ${forward}`).toBeLessThanOrEqual(1e-6);
      expect(relL2(await readF32(e, views.dx, nx), maxPoolBackwardRef(x, dy, g)), `${kind} ${backward}`).toBeLessThanOrEqual(1e-6);
    });
  }
  it('drew every variant of the forward and backward tables', () => {
    draws.expectAllDrawn([maxPoolForwardTable, maxPoolBackwardTable] as VariantTable<never, unknown>[]);
  });
});

describe('dense on random geometries', () => {
  const r = new Random(99);
  const draws = variantDraws(100);
  for (const [c, kind] of kindsInOrder(r, { cpu: 1, checked: 1, gpu: 3 }).entries()) {
    // Half the cases are sequences: many rows over few weights, where split-K applies on GPUs.
    const long = r.next() < 0.5;
    const batch = long ? int(r, 4, 5) : int(r, 1, 40);
    const inputShape = long ? [int(r, 64, 75), int(r, 1, 40)] : [int(r, 1, 70)];
    const units = int(r, 1, 33);
    const options = { relu: r.next() < 0.5, bias: r.next() < 0.7 };
    it(`${JSON.stringify({ batch, inputShape, units, ...options })} on ${kind}`, async () => {
      const e = engines[kind]();
      const g = denseGeometry(batch, inputShape, units, options);
      const variant = draws.draw(denseTable, g, e);
      const { rows, inputs } = g;
      const [x, w, b, dy] = [randomArray(rows * inputs, c + 1), randomArray(inputs * units, c + 2), randomArray(units, c + 3), randomArray(rows * units, c + 4)];
      const views = { x: uploadView(e, x!), w: uploadView(e, w!), b: g.bias ? uploadView(e, b!) : undefined, y: nanBuffer(e, rows * units) };
      const grads = { dy: uploadView(e, dy!), dx: nanBuffer(e, rows * inputs), dw: nanBuffer(e, inputs * units), db: g.bias ? nanBuffer(e, units) : undefined };
      e.run([...denseForward(e, g, views, variant), ...denseBackward(e, g, { ...views, ...grads, scratch: scratchOf(e) }, variant)]);
      const y = denseForwardRef(x!, w!, g.bias ? b! : null, g);
      const ref = denseBackwardRef(x!, w!, y, dy!, g);
      const label = `${kind} ${variant}`;
      expect(relL2(await readF32(e, views.y, rows * units), y), `${label} y`).toBeLessThanOrEqual(1e-5);
      expect(relL2(await readF32(e, grads.dx, rows * inputs), ref.dx), `${label} dx`).toBeLessThanOrEqual(1e-4);
      expect(relL2(await readF32(e, grads.dw, inputs * units), ref.dw), `${label} dw`).toBeLessThanOrEqual(1e-4);
      if (grads.db) expect(relL2(await readF32(e, grads.db, units), ref.db), `${label} db`).toBeLessThanOrEqual(1e-4);
    });
  }
  it('drew every variant of the table', () => {
    draws.expectAllDrawn([denseTable] as VariantTable<never, unknown>[]);
  });
});
