import { describe, expect, it } from 'vitest';
import { Dense } from '../src/layers/dense.ts';
import { denseBackward, denseForward, denseGeometry, type DenseGeometry } from '../src/ops/dense.ts';
import type { BackwardContext } from '../src/layers/layer.ts';
import { denseBackwardRef, denseForwardRef } from './reference/dense.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';

const engine = useEngine();

// Sizes around the kernels' 4-wide vectors and 16-long blocks (pipelines compile slowly on
// SwiftShader, so few geometries cover them): nothing a multiple of 4; everything aligned; inputs
// unaligned and units aligned; the reverse with units = 10 like the reference model; rows past
// one block with a partial block of rows and of inputs. The layer test reuses the third geometry.
const cases: DenseGeometry[] = [
  { rows: 5, inputs: 7, units: 3, relu: true, bias: true },
  { rows: 8, inputs: 12, units: 8, relu: false, bias: true },
  { rows: 6, inputs: 13, units: 12, relu: false, bias: true },
  { rows: 17, inputs: 20, units: 10, relu: true, bias: false },
  { rows: 33, inputs: 70, units: 36, relu: true, bias: true },
];

const name = (g: DenseGeometry) => `[${g.rows}, ${g.inputs}] -> ${g.units}, ${g.relu ? 'relu' : 'linear'}, ${g.bias ? 'bias' : 'no bias'}`;

interface Data {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array | null;
  dy: Float32Array;
}

function dataFor(g: DenseGeometry, seed: number): Data {
  return {
    x: randomArray(g.rows * g.inputs, seed),
    w: randomArray(g.inputs * g.units, seed + 1, 0.5),
    b: g.bias ? randomArray(g.units, seed + 2, 0.5) : null,
    dy: randomArray(g.rows * g.units, seed + 3),
  };
}

async function runDense(g: DenseGeometry, d: Data, withDx = true) {
  const e = engine();
  const x = uploadView(e, d.x);
  const w = uploadView(e, d.w);
  const b = d.b ? uploadView(e, d.b) : undefined;
  const y = nanBuffer(e, g.rows * g.units);
  const dy = uploadView(e, d.dy);
  const dx = withDx ? nanBuffer(e, g.rows * g.inputs) : null;
  const dw = nanBuffer(e, g.inputs * g.units);
  const db = g.bias ? nanBuffer(e, g.units) : null;
  const dispatches = [...denseForward(e, g, { x, w, b, y }), ...denseBackward(e, g, { x, w, y, dy, dx, dw, db })];
  e.run(dispatches);
  return {
    dispatches: dispatches.length,
    y: await readF32(e, y, g.rows * g.units),
    dx: dx ? await readF32(e, dx, g.rows * g.inputs) : null,
    dw: await readF32(e, dw, g.inputs * g.units),
    db: db ? await readF32(e, db, g.units) : null,
  };
}

describe('dense kernels', () => {
  cases.forEach((g, n) => {
    it(`forward and backward match float64, ${name(g)}`, async () => {
      const d = dataFor(g, 100 * n);
      const out = await runDense(g, d);
      const yRef = denseForwardRef(d.x, d.w, d.b, g);
      expect(relL2(out.y, yRef)).toBeLessThanOrEqual(1e-5);
      if (g.relu) expect(yRef.some((v) => v === 0) && yRef.some((v) => v > 0)).toBe(true); // the mask matters
      const ref = denseBackwardRef(d.x, d.w, yRef, d.dy, g);
      expect(relL2(out.dx!, ref.dx)).toBeLessThanOrEqual(1e-4);
      expect(relL2(out.dw, ref.dw)).toBeLessThanOrEqual(1e-4);
      if (g.bias) expect(relL2(out.db!, ref.db)).toBeLessThanOrEqual(1e-4);
    });
  });

  for (const g of [cases[0]!, cases[2]!, cases[3]!, cases[4]!]) {
    it(`backward matches finite differences, ${name(g)}`, async () => {
      const d = dataFor(g, 7);
      const out = await runDense(g, d);
      const x = toF64(d.x);
      const w = toF64(d.w);
      const b = d.b ? toF64(d.b) : null;
      const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array | null) => dot(denseForwardRef(xx, ww, bb, g), d.dy);
      const ix = sampleIndices(x.length, 20, 1);
      expect(relL2(pick(out.dx!, ix), finiteDifferences((v) => loss(v, w, b), x, ix))).toBeLessThanOrEqual(1e-4);
      const iw = sampleIndices(w.length, 20, 2);
      expect(relL2(pick(out.dw, iw), finiteDifferences((v) => loss(x, v, b), w, iw))).toBeLessThanOrEqual(1e-4);
      if (b) expect(relL2(out.db!, finiteDifferences((v) => loss(x, w, v), b))).toBeLessThanOrEqual(1e-4);
    });
  }

  it('skips the input gradient when dx is null', async () => {
    const g = cases[4]!;
    const d = dataFor(g, 3);
    const out = await runDense(g, d, false);
    expect(out.dispatches).toBe(2); // forward, dW with db
    const ref = denseBackwardRef(d.x, d.w, denseForwardRef(d.x, d.w, d.b, g), d.dy, g);
    expect(relL2(out.dw, ref.dw)).toBeLessThanOrEqual(1e-4);
  });
});

describe('Dense layer', () => {
  it('infers shapes and weights over the last axis', () => {
    const layer = new Dense({ units: 10, inputShape: [1152] });
    expect(layer.computeOutputShape([[1152]])).toEqual([10]);
    expect(layer.computeOutputShape([[3, 5, 7]])).toEqual([3, 5, 10]);
    expect(layer.weightSpecs([[3, 5, 7]])).toEqual([
      { name: 'kernel', shape: [7, 10], initializer: 'glorotNormal' },
      { name: 'bias', shape: [10], initializer: 'zeros' },
    ]);
    expect(new Dense({ units: 4, useBias: false }).weightSpecs([[6]])).toEqual([{ name: 'kernel', shape: [6, 4], initializer: 'glorotNormal' }]);
    expect(layer.activation).toBe('linear');
    expect(new Dense({ units: 10, activation: 'softmax' }).activation).toBe('softmax');
    expect(new Dense({ units: 10, activation: 'relu' }).activation).toBe('relu');
  });

  it('rejects bad configs and inputs with clear errors', () => {
    expect(() => new Dense({ units: 0 })).toThrow(/units must be a positive integer/);
    expect(() => new Dense({ units: 2.5 })).toThrow(/units must be a positive integer/);
    expect(() => new Dense(undefined as unknown as { units: number })).toThrow(/config object/);
    expect(() => new Dense({ units: 3, activation: 'tanhh' as 'relu' })).toThrow(/unknown activation "tanhh"; known: /);
    expect(() => new Dense({ units: 3, useBias: 1 as unknown as boolean })).toThrow(/useBias must be a boolean/);
    expect(() => new Dense({ units: 3, kernelInitializer: 'nope' })).toThrow(/kernelInitializer: unknown initializer 'nope'/);
    const layer = new Dense({ units: 3, name: 'head' });
    expect(() => layer.computeOutputShape([[]])).toThrow(/head.*rank ≥ 1/);
    expect(() => layer.computeOutputShape([[4], [4]])).toThrow(/takes 1 input/);
    expect(() => denseGeometry(2, [4], 0)).toThrow(/units must be a positive integer/);
    expect(() => denseGeometry(0, [4], 3)).toThrow(/batch must be a positive integer/);
    expect(() => denseGeometry(2, [4, 0], 3)).toThrow(/positive sizes/);
  });

  it('serializes its config like TF.js', () => {
    const layer = new Dense({ units: 10, activation: 'softmax', name: 'out', kernelInitializer: 'he_normal' });
    expect(layer.className).toBe('Dense');
    expect(layer.getConfig()).toEqual({
      name: 'out',
      trainable: true,
      units: 10,
      activation: 'softmax',
      use_bias: true,
      kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'normal', seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
    });
    expect(new Dense({ units: 1 }).getConfig().kernel_initializer).toEqual({ class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'normal', seed: null } });
    expect(new Dense({ units: 1 }).name).toMatch(/^dense(_\d+)?$/);
  });

  it('runs forward and backward through the layer contract on rank-3 inputs, softmax left to the graph', async () => {
    const e = engine();
    const layer = new Dense({ units: 12, activation: 'softmax' });
    const batch = 2;
    const inputShape = [3, 13];
    const outputShape = layer.computeOutputShape([inputShape]);
    const g = denseGeometry(batch, inputShape, 12); // linear logits, bias
    expect(g).toEqual(cases[2]);
    const d = dataFor(g, 41);
    const ctx: BackwardContext = {
      engine: e,
      batch,
      inputs: [uploadView(e, d.x)],
      inputShapes: [inputShape],
      output: nanBuffer(e, g.rows * 12),
      outputShape,
      weights: [uploadView(e, d.w), uploadView(e, d.b!)],
      training: true,
      stepInfo: nanBuffer(e, 4),
      saved: new Map(),
      scratch: () => {
        throw new Error('dense needs no scratch');
      },
      outputGrad: uploadView(e, d.dy),
      inputGrads: [nanBuffer(e, g.rows * 13)],
      weightGrads: [nanBuffer(e, 13 * 12), nanBuffer(e, 12)],
    };
    e.run([...layer.forward(ctx), ...layer.backward(ctx)]);
    const yRef = denseForwardRef(d.x, d.w, d.b, g);
    const ref = denseBackwardRef(d.x, d.w, yRef, d.dy, g);
    expect(relL2(await readF32(e, ctx.output, g.rows * 12), yRef)).toBeLessThanOrEqual(1e-5);
    expect(relL2(await readF32(e, ctx.inputGrads[0]!, g.rows * 13), ref.dx)).toBeLessThanOrEqual(1e-4);
    expect(relL2(await readF32(e, ctx.weightGrads[0]!, 13 * 12), ref.dw)).toBeLessThanOrEqual(1e-4);
    expect(relL2(await readF32(e, ctx.weightGrads[1]!, 12), ref.db)).toBeLessThanOrEqual(1e-4);
    expect(layer.backward({ ...ctx, inputGrads: [null] })).toHaveLength(1);
  });
});
