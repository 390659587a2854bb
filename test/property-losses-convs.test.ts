/**
 * Property tests of the loss, the convolution's pooled forward and the transposed convolution's
 * forward (test/property-families.test.ts holds the other families; the draws and checks are
 * test/property-draws.ts's): each case draws a seeded random geometry, an engine kind ('cpu',
 * 'checked' = robustBufferAccess, 'gpu' = kernelStyle 'tiled') and a variant of the family's table
 * that applies there (one not drawn yet when there is one), forced, on NaN-prefilled outputs,
 * against the float64 references; the last test of each family checks that every variant of its
 * table was drawn. PROPERTY_ERRORS=1 prints the worst error per family, variant and engine kind.
 */
import { describe, expect, it } from 'vitest';
import { partialsLaunch } from '../shaders/loss-partials.ts';
import type { KernelSpec } from '../shaders/losses.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry, conv2dPooledForwardTable, type Conv2DGeometry, type Conv2DVariant } from '../src/ops/conv2d.ts';
import { conv2dTransposeForward, conv2dTransposeForwardTable, conv2dTransposeGeometry, type Conv2DTransposeForwardVariant } from '../src/ops/conv2d-transpose.ts';
import { resolveLoss } from '../src/ops/losses/index.ts';
import { lossKernelGeometry, type KernelLossSpec } from '../src/ops/losses/kernel-loss.ts';
import { lossTable } from '../src/ops/losses/loss-variants.ts';
import { maxPoolBackwardFromArgmax, poolArgmaxWords, poolGeometry } from '../src/ops/pool.ts';
import { choose } from '../src/ops/variants.ts';
import type { View } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { relError, runLoss } from './loss-runner.ts';
import { int, oneOf, propertyCases, relL2Checker, scratchOf, type Tables } from './property-draws.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './reference/conv2d.ts';
import { LOSS_CASES, lossMeanRef, uniform } from './reference/losses.ts';
import { maxPoolBackwardRef, maxPoolForwardRef } from './reference/pool.ts';

const engines = {
  cpu: useEngine(),
  checked: useEngine({ kernelStyle: 'registers', robustBufferAccess: true }),
  gpu: useEngine({ kernelStyle: 'tiled' }),
};
const checker = relL2Checker('PROPERTY_ERRORS');

// ---- the loss -----------------------------------------------------------------------------------

describe('losses on random geometries', () => {
  propertyCases(141, { cpu: 2, checked: 2, gpu: 4 }, [lossTable] as Tables, (r, draws, c, kind) => {
    const lossCase = oneOf(r, LOSS_CASES);
    const op = resolveLoss(lossCase.loss);
    const batch = int(r, 2, 5);
    // Every other case long enough that the partial pass spans several workgroups (the 'gpu' hand policy there).
    const positions = c % 2 === 0 ? int(r, 20, 45) : int(r, 1, 4);
    const width = int(r, 2, 9);
    const shape = positions > 1 ? [positions, width] : [width];
    const o = {
      rows: r.next() < 0.5 ? int(r, 1, batch - 1) : batch,
      mode: oneOf(r, ['plain', 'weighted', 'masked'] as const),
      accuracy: r.next() < 0.6,
      gradient: r.next() < 0.75,
    };
    const title = `${lossCase.loss}${lossCase.fused ? ` (fused ${op.fuses})` : ''} ${JSON.stringify({ batch, shape, ...o })} on ${kind}`;
    it(title, async () => {
      const e = engines[kind]();
      const sparse = op.labels === 'sparse';
      const accuracy = o.accuracy ? op.accuracy(shape) : null;
      const { y: yReal, t: tReal } = lossCase.data(o.rows * positions, width, c * 10 + 1);
      const y = new Float32Array(batch * positions * width).fill(NaN);
      y.set(yReal);
      const t = sparse ? new Uint32Array(batch * positions).fill(999) : new Float32Array(batch * positions * width).fill(NaN);
      t.set(tReal);
      const weights = o.mode === 'weighted' ? uniform(batch, c * 10 + 2, 0.2, 2) : undefined;
      // About a third of the positions masked (a row may lose them all); the padding rows' mask is 1 (they must not count).
      const mask = o.mode === 'masked' ? Float32Array.from(uniform(batch * positions, c * 10 + 3, 0, 1), (u, q) => (q >= o.rows * positions || u > 0.35 ? 1 : 0)) : undefined;
      // The table's geometry as KernelLoss.dispatches builds it.
      const spec: KernelSpec = (op as unknown as { spec: KernelLossSpec }).spec.kernel(lossCase.fused, lossKernelGeometry({ batch, outputShape: shape }), {
        withGradient: o.gradient,
        accuracy,
        sampleWeights: weights !== undefined,
        ...(mask ? { maskPositions: positions } : {}),
      });
      const g = { spec, scratch: true };
      const variant = draws.draw(lossTable, g, e);
      const label = `${kind} ${variant}`;
      const spans = partialsLaunch(spec).parts > 1;
      expect(choose(lossTable, g, { profile: e.profile }).name, `${label}: the hand policy`).toBe(kind === 'gpu' && spans ? 'partials' : 'one-workgroup');
      const got = await runLoss(e, lossCase.loss, y, t, { batch, shape, rows: o.rows, fused: lossCase.fused, accuracy, gradient: o.gradient, variant, weights, mask });
      const ref = lossMeanRef(lossCase, yReal, tReal, { rows: o.rows, positions, width, accuracy, ...(weights ? { weights } : {}), ...(mask ? { mask } : {}) });
      const check = checker('loss', kind, variant);
      expect(got.dispatches, label).toBe(variant === 'one-workgroup' ? 1 : mask ? 3 : 2);
      expect(got.count, `${label} positions counted`).toBe(o.rows * positions);
      check('forward', 'loss', relError(got.lossSum / got.count, ref.loss), 1e-5);
      expect({ correct: got.correct, accuracyCount: got.accuracyCount }, `${label} accuracy`).toEqual({ correct: ref.correct, accuracyCount: ref.accuracyCount });
      if (!got.grad) return;
      const real = o.rows * positions * width;
      check('backward', 'gradient', relL2(got.grad.subarray(0, real), ref.grad), 1e-5);
      expect(Array.from(got.grad.subarray(real)), `${label} padding rows`).toEqual(new Array(y.length - real).fill(0));
      const idx = sampleIndices(real, 16, c);
      const fd = finiteDifferences((v) => lossMeanRef(lossCase, v, tReal, { rows: o.rows, positions, width, accuracy: null, ...(weights ? { weights } : {}), ...(mask ? { mask } : {}) }).loss, toF64(yReal), idx);
      check('backward', 'gradient vs central differences', relL2(pick(got.grad, idx), fd), 1e-4);
    });
  });
});

// ---- the convolution's pooled forward -------------------------------------------------------------

describe("conv2d's forward with its 2x2 max pool on random geometries", () => {
  let cpuCases = 0;
  const casesOf = { cpu: 0, checked: 0, gpu: 0 };
  propertyCases(151, { cpu: 2, checked: 2, gpu: 3 }, [conv2dPooledForwardTable] as Tables, (r, draws, c, kind) => {
    // Training (the argmax stored) and inference in turn on each engine kind.
    const training = casesOf[kind]++ % 2 === 0;
    // On 'cpu' profiles every other case is Winograd's (3 × 3, stride 1, 8 channels or more), the rest the direct kernel's
    // (stride 2 or under 4 input channels); on 'gpu' ones the implicit GEMM, dilated where not strided.
    const winograd = kind !== 'gpu' && cpuCases++ % 2 === 0;
    const strided = winograd ? false : kind === 'gpu' ? r.next() < 0.4 : r.next() < 0.6;
    const inC = winograd ? int(r, 8, 11) : kind === 'gpu' ? (r.next() < 0.4 ? oneOf(r, [4, 8]) : int(r, 1, 9)) : strided ? int(r, 1, 9) : int(r, 1, 3);
    // Training stores the argmax: outC a multiple of 4 there (Winograd needs 8 or more).
    const filters = training ? 4 * int(r, winograd ? 2 : 1, 3) : int(r, winograd ? 8 : 1, 13);
    const options = {
      batch: int(r, 1, 3),
      inputShape: [int(r, 6, 12), int(r, 6, 12), inC],
      filters,
      kernelSize: (winograd ? [3, 3] : [int(r, 1, 3), int(r, 1, 3)]) as [number, number],
      strides: (strided ? [int(r, 1, 2), 2] : [1, 1]) as [number, number],
      dilationRate: (kind === 'gpu' && !strided ? [int(r, 1, 2), 2] : [1, 1]) as [number, number],
      padding: oneOf(r, ['valid', 'same'] as const),
      relu: r.next() < 0.6,
      useBias: r.next() < 0.7,
    };
    it(`${JSON.stringify(options)}${training ? ', training' : ''} on ${kind}`, async () => {
      const e = engines[kind]();
      const g: Conv2DGeometry = conv2dGeometry(options);
      const forward = draws.draw(conv2dPooledForwardTable, { ...g, pooledOutput: true }, e) as Conv2DVariant;
      const label = `${kind} ${forward}`;
      const sizes = { x: g.batch * g.inH * g.inW * g.inC, w: g.kH * g.kW * g.inC * g.outC, conv: g.batch * g.outH * g.outW * g.outC };
      const [x, w, b] = [randomArray(sizes.x, c * 10 + 1), randomArray(sizes.w, c * 10 + 2, 0.5), randomArray(g.outC, c * 10 + 3)];
      const bias = g.bias ? b : null;
      const pool = poolGeometry(g.batch, [g.outH, g.outW, g.outC], [2, 2], [2, 2], 'valid');
      const convRef = conv2dForwardRef(g, x, w, bias);
      const expected = maxPoolForwardRef(convRef.y, pool);
      const [xv, wv, bv] = [x, w, b].map((a) => uploadView(e, a)) as View[];
      const y = nanBuffer(e, expected.length);
      const argmax = training ? nanBuffer(e, poolArgmaxWords(g.batch, [pool.outHeight, pool.outWidth, g.outC])) : undefined;
      const saved = new Map<string, View>();
      const { choices, result } = e.recordVariantChoices(() =>
        conv2dForward(e, g, { x: xv!, w: wv!, b: bias ? bv : undefined, y, scratch: scratchOf(e), saved, argmax }, undefined, { forward, pooled: true }),
      );
      expect(choices.find((ch) => ch.op === conv2dPooledForwardTable.op)?.variant, `${label}: the forced variant runs`).toBe(forward);
      e.run(result);
      const check = checker('conv2d.pooledForward', kind, forward);
      check('forward', 'pooled y', relL2(await readF32(e, y, expected.length), expected), 1e-5);
      if (!argmax) return;
      // The training step as a plan runs it: the pool's dx routed by the stored first-max positions
      // (masked by the fused ReLU), then the convolution's gradients without its ReLU.
      const dyPool = randomArray(expected.length, c * 10 + 4);
      const maskedDy = Float64Array.from(dyPool, (v, i) => (g.relu && !(expected[i]! > 0) ? 0 : v));
      const dyConv = maxPoolBackwardRef(convRef.y, maskedDy, pool);
      const dConv = nanBuffer(e, sizes.conv);
      e.run(maxPoolBackwardFromArgmax(e, pool, { y, argmax, dy: uploadView(e, dyPool), dx: dConv }, { reluMask: g.relu }));
      check('backward', 'pool dx from the argmax', relL2(await readF32(e, dConv, sizes.conv), dyConv), 1e-6);
      const out = { dx: nanBuffer(e, sizes.x), dW: nanBuffer(e, sizes.w), db: g.bias ? nanBuffer(e, g.outC) : null };
      e.run(conv2dBackward(e, { ...g, relu: false }, { x: xv!, w: wv!, y, dy: dConv, dx: out.dx, dw: out.dW, db: out.db, scratch: scratchOf(e), saved }, undefined, { pooled: true }));
      const grads = conv2dBackwardRef(g, x, w, convRef.pre, dyConv);
      const [x64, w64] = [toF64(x), toF64(w)];
      const loss = (xs: Float64Array, ws: Float64Array) => dot(maxPoolForwardRef(conv2dForwardRef(g, xs, ws, bias).y, pool), maskedDy);
      const idx = { dx: sampleIndices(sizes.x, 12, c + 5), dW: sampleIndices(sizes.w, 12, c + 6) };
      const fd = { dx: finiteDifferences((v) => loss(v, w64), x64, idx.dx), dW: finiteDifferences((v) => loss(x64, v), w64, idx.dW) };
      for (const [name, ref] of [['dx', grads.dx], ['dW', grads.dw]] as const) {
        const got = await readF32(e, out[name], ref.length);
        check('backward', name, relL2(got, ref), 1e-4);
        check('backward', `${name} vs central differences`, relL2(pick(got, idx[name]), fd[name]), 1e-4);
      }
      if (out.db) check('backward', 'db', relL2(await readF32(e, out.db, g.outC), grads.db), 1e-4);
    });
  });
});

// ---- the transposed convolution's forward --------------------------------------------------------

describe('conv2dTranspose forward on random geometries', () => {
  propertyCases(161, { cpu: 2, checked: 1, gpu: 4 }, [conv2dTransposeForwardTable] as Tables, (r, draws, c, kind) => {
    // Every third case dilated (stride 1 then, as Keras requires).
    const dilated = c % 3 === 1;
    const strides: [number, number] = dilated ? [1, 1] : [int(r, 1, 3), int(r, 1, 3)];
    const options = {
      batch: int(r, 1, 2),
      inputShape: [int(r, 2, 6), int(r, 2, 6), r.next() < 0.4 ? oneOf(r, [4, 8]) : int(r, 1, 9)],
      filters: r.next() < 0.3 ? 8 : int(r, 1, 9),
      kernelSize: [int(r, 1, 4), int(r, 1, 4)] as [number, number],
      strides,
      dilationRate: (dilated ? [int(r, 1, 2), 2] : [1, 1]) as [number, number],
      padding: oneOf(r, ['valid', 'same'] as const),
      relu: r.next() < 0.5,
      useBias: r.next() < 0.7,
    };
    it(`${JSON.stringify(options)} on ${kind}`, async () => {
      const e = engines[kind]();
      // g is the convolution whose input gradient the transposed forward is: x is g's dy, y g's dx.
      const g = conv2dTransposeGeometry(options);
      const variant = draws.draw(conv2dTransposeForwardTable, g, e) as Conv2DTransposeForwardVariant;
      const sizes = { x: g.batch * g.outH * g.outW * g.outC, w: g.kH * g.kW * g.inC * g.outC, y: g.batch * g.inH * g.inW * g.inC };
      const [x, w, b] = [randomArray(sizes.x, c * 10 + 1), randomArray(sizes.w, c * 10 + 2), randomArray(g.inC, c * 10 + 3)];
      const y = nanBuffer(e, sizes.y);
      e.run(conv2dTransposeForward(e, g, { x: uploadView(e, x), w: uploadView(e, w), b: g.bias ? uploadView(e, b) : null, y, scratch: scratchOf(e) }, undefined, variant));
      // relu(b + g's input gradient of x), the bias and ReLU on the transposed output (g's input side).
      const { dx } = conv2dBackwardRef({ ...g, relu: false }, new Float64Array(sizes.y), w, [], x);
      const ref = dx.map((v, i) => (g.bias ? v + b[i % g.inC]! : v)).map((v) => (g.relu ? Math.max(v, 0) : v));
      checker('conv2dTranspose.forward', kind, variant)('forward', 'y', relL2(await readF32(e, y, sizes.y), ref), 1e-5);
    });
  });
});
