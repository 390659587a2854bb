import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, model, input, layers, tensor, type LayersModel, type ModelArtifacts } from '../src/index.ts';
import { defaultBlocks, mirroredGeometry, type Conv2DBlocks, type Conv2DGeometry } from '../shaders/conv2d.ts';
import type { Padding } from '../src/ops/window.ts';
import { Conv2D } from '../src/layers/conv2d.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry, conv2dVariants, pooledForwardVariant } from '../src/ops/conv2d.ts';
import { maxPoolBackwardFromArgmax, poolGeometry } from '../src/ops/pool.ts';
import type { BackwardContext } from '../src/layers/layer.ts';
import type { BufferView, Engine } from '../src/runtime/engine.ts';
import { winogradExtent, winogradLayout } from '../shaders/winograd.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './reference/conv2d.ts';
import { maxPoolBackwardRef, maxPoolForwardRef } from './reference/pool.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { captureOurs, captureTf } from './artifacts.ts';


interface Case {
  batch: number;
  input: [number, number, number];
  filters: number;
  kernel: [number, number];
  strides?: [number, number];
  dilation?: [number, number];
  padding: Padding;
  relu: boolean;
  bias: boolean;
  /** false: the first layer's case, where nobody wants dx. */
  dx?: boolean;
  /** Register-block sizes overriding the defaults. */
  blocks?: Partial<Conv2DBlocks>;
  /** Also check the tiled (GPU) kernels: on a few cases only, as SwiftShader takes seconds to compile each. */
  tiled?: boolean;
}

const CASES: Case[] = [
  { batch: 3, input: [7, 9, 3], filters: 5, kernel: [3, 3], padding: 'valid', relu: true, bias: true },
  { batch: 3, input: [7, 9, 3], filters: 6, kernel: [2, 3], strides: [2, 2], padding: 'same', relu: false, bias: true },
  { batch: 2, input: [7, 9, 4], filters: 8, kernel: [3, 3], padding: 'same', relu: true, bias: false },
  { batch: 3, input: [7, 9, 8], filters: 6, kernel: [3, 3], strides: [2, 2], padding: 'valid', relu: false, bias: false },
  { batch: 2, input: [8, 7, 3], filters: 8, kernel: [2, 3], strides: [2, 1], padding: 'same', relu: true, bias: true },
  // Kernel wider than the input ('same'): taps that never land, and the dW ox range going empty.
  { batch: 2, input: [4, 2, 5], filters: 4, kernel: [3, 5], strides: [2, 2], padding: 'same', relu: true, bias: true, tiled: true },
  // Input channels not a multiple of the dW block (12 = 1.5 blocks of 8) and odd register blocks
  // (3 images per row-correlation invocation: 1 real image in the second block).
  {
    batch: 4,
    input: [6, 5, 12],
    filters: 12,
    kernel: [3, 3],
    padding: 'same',
    relu: true,
    bias: true,
    blocks: { forwardPixels: 3, forwardGroups: 2, dxPixels: 3, dxGroups: 1, dwTaps: 4, dwInGroups: 2, dwOutGroups: 2, rowImages: 3 },
  },
  // The forward by rows (stride 1, rows of 8+): channels not multiples of 4 on either side, padding, bias without ReLU.
  { batch: 2, input: [9, 10, 6], filters: 10, kernel: [3, 3], padding: 'same', relu: false, bias: true },
  // dW by rows of taps under a vertical stride, with padding.
  { batch: 2, input: [8, 7, 8], filters: 5, kernel: [3, 2], strides: [2, 1], padding: 'same', relu: true, bias: true },
  // Like the model's conv3: rows of 3 (forward) and 5 (dx), so each invocation takes 4 images' rows;
  // batch 5 leaves the second block of images with one real image. Its 3×3 outputs are one F(3×3)
  // tile: Winograd's forward and kernel gradient for a small output.
  { batch: 5, input: [5, 5, 16], filters: 12, kernel: [3, 3], padding: 'valid', relu: true, bias: true },
  // F(3×3) with 'same' padding on 3×11 outputs (four tiles, the last hanging one column over the
  // edge), 10 output channels: its kernel gradient, and its forward without checks (a share of
  // 100/297 of the direct multiply-adds, over the checked forward's third).
  { batch: 2, input: [3, 11, 12], filters: 10, kernel: [3, 3], padding: 'same', relu: true, bias: true },
  // Like the model's conv1 (no dx; dW and db reduced from several chunks) and conv2 (F(6×6), tiles
  // hanging over both edges; dx F(5×5) on 13×13), at batch 2.
  { batch: 2, input: [28, 28, 1], filters: 32, kernel: [3, 3], padding: 'valid', relu: true, bias: true, dx: false },
  { batch: 2, input: [13, 13, 32], filters: 64, kernel: [3, 3], padding: 'valid', relu: true, bias: true, tiled: true },
  // Winograd F(4×4, 3×3) (8×7 outputs: 4 tiles of 36 against F(5×5)'s 4 of 49): output channels
  // not a multiple of 4 (and, for dx, input channels padded to vec4s), 'same' padding, tiles
  // hanging over the edge, bias without ReLU.
  { batch: 2, input: [8, 7, 12], filters: 10, kernel: [3, 3], padding: 'same', relu: false, bias: true },
  // F(6×6, 3×3): one exact tile (6×6 outputs; dx 8×8 by F(4×4)), input channels not a multiple of 4.
  { batch: 3, input: [8, 8, 9], filters: 8, kernel: [3, 3], padding: 'valid', relu: true, bias: false },
  // F(5×5) forward, dW and dx (10×9 outputs): tiles hanging over one edge, 10 output channels, dx with K padded to vec4s.
  { batch: 2, input: [10, 9, 12], filters: 10, kernel: [3, 3], padding: 'same', relu: true, bias: true },
  // Per-tap products at stride 2 with 'same' padding (shifted reads and scattered writes that leave the input).
  { batch: 2, input: [9, 8, 8], filters: 12, kernel: [3, 3], strides: [2, 2], padding: 'same', relu: true, bias: true },
  // Dilated (direct kernels only): the first layer's unrolled taps and a scalar dW at dilation 2;
  // the forward by rows (flipped taps) and dx by rows at [2, 3] with 'same' padding; 5 channels
  // (scalar dW, partial vec4s) at [3, 2] with odd blocks; a span wider than the input.
  { batch: 2, input: [9, 10, 3], filters: 5, kernel: [3, 3], dilation: [2, 2], padding: 'valid', relu: true, bias: true },
  { batch: 2, input: [8, 11, 8], filters: 6, kernel: [3, 2], dilation: [2, 3], padding: 'same', relu: true, bias: true },
  {
    batch: 3,
    input: [7, 9, 5],
    filters: 7,
    kernel: [2, 3],
    dilation: [3, 2],
    padding: 'same',
    relu: false,
    bias: true,
    blocks: { forwardPixels: 3, forwardGroups: 2, dxPixels: 3, dxGroups: 1, dwTaps: 4, dwInGroups: 2, dwOutGroups: 2, rowImages: 3 },
  },
  { batch: 2, input: [4, 5, 4], filters: 4, kernel: [3, 3], dilation: [2, 3], padding: 'same', relu: true, bias: true, tiled: true },
];

const report: string[] = [];
afterAll(() => console.log(`conv2d relative L2 errors (GPU float32 vs float64 reference | vs finite differences of it)\n${report.join('\n')}`));

function describeCase(c: Case): string {
  const s = c.strides ?? [1, 1];
  return `[${c.batch},${c.input.join(',')}] → ${c.filters}, k${c.kernel.join('×')} s${s.join('×')}${c.dilation ? ` d${c.dilation.join('×')}` : ''} ${c.padding}${c.relu ? ' relu' : ''}${c.bias ? ' bias' : ''}${c.blocks ? ' (odd blocks)' : ''}`;
}

function caseGeometry(c: Case): Conv2DGeometry {
  return conv2dGeometry({ batch: c.batch, inputShape: c.input, filters: c.filters, kernelSize: c.kernel, strides: c.strides, dilationRate: c.dilation, padding: c.padding, relu: c.relu, useBias: c.bias });
}

/**
 * A dilated g as the undilated convolution over its whole span whose kernel has zeros between the
 * taps (the float64 reference knows no dilation): that geometry, and where tap (ky, kx) lies in it.
 */
function spread(g: Conv2DGeometry): { g: Conv2DGeometry; kernel: (w: ArrayLike<number>) => Float64Array; taps: (wide: ArrayLike<number>) => Float64Array } {
  const kH = (g.kH - 1) * g.dilationH + 1;
  const kW = (g.kW - 1) * g.dilationW + 1;
  const wide: Conv2DGeometry = { ...g, kH, kW, dilationH: 1, dilationW: 1 };
  const row = g.inC * g.outC;
  // Flat offset of tap t's [inC, outC] block in the wide kernel.
  const at = (t: number) => (Math.floor(t / g.kW) * g.dilationH * kW + (t % g.kW) * g.dilationW) * row;
  return {
    g: wide,
    kernel: (w) => {
      const out = new Float64Array(kH * kW * row);
      for (let t = 0; t < g.kH * g.kW; t++) for (let i = 0; i < row; i++) out[at(t) + i] = w[t * row + i]!;
      return out;
    },
    taps: (wideW) => Float64Array.from({ length: g.kH * g.kW * row }, (_, k) => wideW[at(Math.floor(k / row)) + (k % row)]!),
  };
}

/** conv2dForwardRef, dilation included. */
function forwardRef(g: Conv2DGeometry, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null) {
  if (g.dilationH === 1 && g.dilationW === 1) return conv2dForwardRef(g, x, w, b);
  const s = spread(g);
  return conv2dForwardRef(s.g, x, s.kernel(w), b);
}

/** conv2dBackwardRef, dilation included. */
function backwardRef(g: Conv2DGeometry, x: ArrayLike<number>, w: ArrayLike<number>, pre: ArrayLike<number>, dy: ArrayLike<number>) {
  if (g.dilationH === 1 && g.dilationW === 1) return conv2dBackwardRef(g, x, w, pre, dy);
  const s = spread(g);
  const grads = conv2dBackwardRef(s.g, x, s.kernel(w), pre, dy);
  return { ...grads, dw: s.taps(grads.dw) };
}

/** A fresh buffer pre-filled with NaN, as conv2dBackward's scratch allocator. */
function nanScratch(e: Engine): (bytes: number) => Required<BufferView> {
  return (bytes) => nanBuffer(e, bytes / 4);
}

/**
 * Both kernel styles run on SwiftShader here: 'tiled' is what real GPUs get. 'checked' is the
 * registers style with bounds checks, as in browsers: its slice products take more rows per
 * invocation and sized bindings (its direct kernels are the registers style's, not rerun).
 */
const styles = {
  registers: useEngine({ kernelStyle: 'registers' }),
  tiled: useEngine({ kernelStyle: 'tiled' }),
  checked: useEngine({ kernelStyle: 'registers', robustBufferAccess: true }),
};

interface Reference {
  g: Conv2DGeometry;
  data: { x: Float32Array; w: Float32Array; b: Float32Array; r: Float32Array };
  y: Float64Array;
  /** Gradient name → float64 reference, and finite differences at sampled coordinates. */
  grads: { name: 'dx' | 'dW' | 'db'; ref: Float64Array; idx: number[]; fd: Float64Array }[];
}

/** The float64 forward and gradients of L = Σ y·r, and their finite-difference spot checks. */
function reference(c: Case, seed: number): Reference {
  const g = caseGeometry(c);
  const nx = g.batch * g.inH * g.inW * g.inC;
  const nw = g.kH * g.kW * g.inC * g.outC;
  const ny = g.batch * g.outH * g.outW * g.outC;
  const data = { x: randomArray(nx, seed), w: randomArray(nw, seed + 1), b: randomArray(g.outC, seed + 2), r: randomArray(ny, seed + 3) };
  const { x, w, b, r } = data;
  const out = forwardRef(g, x, w, c.bias ? b : null);
  if (c.relu) {
    // The mask must matter: some pre-activations negative, some positive.
    expect(out.pre.some((v) => v < 0) && out.pre.some((v) => v > 0)).toBe(true);
  }
  const exact = backwardRef(g, x, w, out.pre, r);
  // L is piecewise linear in each of x, w, b, so central differences are exact unless a probe moves
  // a pre-activation across ReLU's kink: count such crossings and require none, so no coordinate
  // is skipped and no tolerance is loosened for kinks.
  let kinkCrossings = 0;
  const loss = (xs: ArrayLike<number>, ws: ArrayLike<number>, bs: ArrayLike<number>) => {
    const probe = forwardRef(g, xs, ws, c.bias ? bs : null);
    if (c.relu) for (let i = 0; i < ny; i++) if (probe.pre[i]! > 0 !== out.pre[i]! > 0) kinkCrossings++;
    return dot(probe.y, r);
  };
  const [x64, w64, b64] = [toF64(x), toF64(w), toF64(b)];
  const grads: Reference['grads'] = [];
  if (c.dx !== false) {
    const idx = sampleIndices(nx, 20, seed + 4);
    grads.push({ name: 'dx', ref: exact.dx, idx, fd: finiteDifferences((v) => loss(v, w64, b64), x64, idx) });
  }
  const widx = sampleIndices(nw, 20, seed + 5);
  grads.push({ name: 'dW', ref: exact.dw, idx: widx, fd: finiteDifferences((v) => loss(x64, v, b64), w64, widx) });
  if (c.bias) {
    const bidx = sampleIndices(g.outC, 20, seed + 6);
    grads.push({ name: 'db', ref: exact.db, idx: bidx, fd: finiteDifferences((v) => loss(x64, w64, v), b64, bidx) });
  }
  expect(kinkCrossings).toBe(0);
  return { g, data, y: out.y, grads };
}

describe('conv2d kernels vs float64 reference', () => {
  CASES.forEach((c, caseIndex) => {
    it(describeCase(c), async () => {
      const { g, data, y: yRef, grads } = reference(c, 100 * (caseIndex + 1));
      // The registers style runs once per variant that applies (forward, dx and dW paired in order, the last repeating).
      const variants = Object.entries(styles).flatMap(([style, engine]) => {
        if (style === 'tiled') return c.tiled ? [{ style, engine, options: {} }] : [];
        const { forward, inputGrad, kernelGrad } = conv2dVariants(engine(), g);
        const nth = <T,>(list: T[], i: number) => list[Math.min(i, list.length - 1)]!;
        const all = Array.from({ length: Math.max(forward.length, inputGrad.length, kernelGrad.length) }, (_, i) => {
          const options = { forward: nth(forward, i), inputGrad: nth(inputGrad, i), kernelGrad: nth(kernelGrad, i) };
          return { style: `${style === 'checked' ? 'checked ' : ''}${options.forward}/${options.inputGrad}/${options.kernelGrad}`, engine, options };
        });
        return style === 'checked' ? all.filter(({ options }) => Object.values(options).some((v) => v !== 'direct')) : all;
      });
      for (const { style, engine, options } of variants) {
        const e = engine();
        const blocks = { ...defaultBlocks(g), ...c.blocks };
        const ny = yRef.length;
        const [x, w, b, dy] = [data.x, data.w, data.b, data.r].map((a) => uploadView(e, a)) as Required<BufferView>[];
        const y = nanBuffer(e, ny);
        e.run(conv2dForward(e, g, { x: x!, w: w!, b: c.bias ? b : undefined, y, scratch: nanScratch(e) }, blocks, options));
        const errY = relL2(await readF32(e, y, ny), yRef);
        const out = {
          dx: c.dx === false ? null : nanBuffer(e, data.x.length),
          dW: nanBuffer(e, data.w.length),
          db: c.bias ? nanBuffer(e, g.outC) : null,
        };
        e.run(conv2dBackward(e, g, { x: x!, w: w!, y, dy: dy!, dx: out.dx, dw: out.dW, db: out.db, scratch: nanScratch(e) }, blocks, options));
        const line = [`forward ${errY.toExponential(1)}`];
        expect(errY, `${style} forward`).toBeLessThanOrEqual(1e-5);
        for (const grad of grads) {
          const gpu = await readF32(e, out[grad.name]!, grad.ref.length);
          const errRef = relL2(gpu, grad.ref);
          const errFd = relL2(pick(gpu, grad.idx), grad.fd);
          line.push(`${grad.name} ${errRef.toExponential(1)} | ${errFd.toExponential(1)}`);
          expect(errRef, `${style} ${grad.name} vs reference`).toBeLessThanOrEqual(1e-4);
          expect(errFd, `${style} ${grad.name} vs finite differences`).toBeLessThanOrEqual(1e-4);
        }
        report.push(`${style.padEnd(26)} ${describeCase(c)}: ${line.join(', ')}`);
      }
    }, 300_000); // the tutorial-sized cases compile every variant on SwiftShader: minutes when the machine is shared
  });
});

describe('conv2d forward with its 2×2 max pool applied before the store (inference)', () => {
  const cases: Case[] = [
    // conv1-like (direct pixel blocks): an odd pooled grid, windows of the last block past the end.
    { batch: 3, input: [9, 11, 1], filters: 12, kernel: [3, 3], padding: 'valid', relu: true, bias: true },
    // Strided with 'same' padding and 3 input channels (direct), bias without ReLU.
    { batch: 2, input: [10, 9, 3], filters: 8, kernel: [3, 3], strides: [2, 2], padding: 'same', relu: false, bias: true },
    // Winograd on the outputs under whole windows: F(5×5) in 2×2 blocks of tiles (11 → 5, the
    // last row and column never computed, as in the model's conv2), F(6×6) (7×6 → 3×3) and
    // F(4×4) (8×8 → 4×4).
    { batch: 2, input: [13, 13, 8], filters: 12, kernel: [3, 3], padding: 'valid', relu: true, bias: true },
    { batch: 2, input: [9, 8, 12], filters: 10, kernel: [3, 3], padding: 'valid', relu: true, bias: false },
    { batch: 2, input: [10, 10, 8], filters: 8, kernel: [3, 3], padding: 'valid', relu: true, bias: true },
    // Dilated (the direct pixel blocks), 'same' padding: an odd grid of windows.
    { batch: 2, input: [11, 10, 2], filters: 8, kernel: [3, 3], dilation: [2, 2], padding: 'same', relu: true, bias: true },
  ];
  cases.forEach((c, caseIndex) => {
    it(describeCase(c), async () => {
      const g = caseGeometry(c);
      const seed = 900 + 10 * caseIndex;
      const [x, w, b] = [randomArray(g.batch * g.inH * g.inW * g.inC, seed), randomArray(g.kH * g.kW * g.inC * g.outC, seed + 1), randomArray(g.outC, seed + 2)];
      const pool = poolGeometry(g.batch, [g.outH, g.outW, g.outC], [2, 2], [2, 2], 'valid');
      const convRef = forwardRef(g, x, w, c.bias ? b : null);
      const conv = convRef.y;
      if (c.relu) expect(conv.some((v) => v === 0) && conv.some((v) => v > 0)).toBe(true);
      const expected = maxPoolForwardRef(conv, pool);
      // Training: the pool's dx from the saved first-max positions. The reference routes dy to the
      // first maximum of the (ReLU'd) output; a fused ReLU's mask zeroes windows whose maximum is 0.
      const dyPool = randomArray(expected.length, seed + 3);
      const maskedDy = Float64Array.from(dyPool, (v, i) => (c.relu && !(expected[i]! > 0) ? 0 : v));
      const expectedDx = maxPoolBackwardRef(conv, maskedDy, pool);
      // Then the convolution's backward from that dy, as the plan runs it (its ReLU mask already
      // applied by the pool, the forward's saved transforms reused): against the float64 reference
      // and, for dx and dW, finite differences of L = Σ pool(conv(x, w))·dy.
      const convGrads = backwardRef(g, x, w, convRef.pre, expectedDx);
      const [x64, w64, b64] = [toF64(x), toF64(w), toF64(b)];
      const pooledLoss = (xs: Float64Array, ws: Float64Array) => dot(maxPoolForwardRef(forwardRef(g, xs, ws, c.bias ? b64 : null).y, pool), maskedDy);
      const [xidx, widx] = [sampleIndices(x.length, 20, seed + 4), sampleIndices(w.length, 20, seed + 5)];
      const fd = {
        dx: { idx: xidx, values: finiteDifferences((v) => pooledLoss(v, w64), x64, xidx) },
        dW: { idx: widx, values: finiteDifferences((v) => pooledLoss(x64, v), w64, widx) },
      };
      let ran = 0;
      for (const [style, engine] of [['registers', styles.registers], ['checked', styles.checked]] as const) {
        const e = engine();
        for (const forward of conv2dVariants(e, g).forward) {
          if (pooledForwardVariant(e, g, { forward }) === null) continue;
          const [xv, wv, bv, dyv] = [x, w, b, dyPool].map((a) => uploadView(e, a)) as Required<BufferView>[];
          for (const training of [false, true]) {
            const y = nanBuffer(e, expected.length);
            const argmax = training ? nanBuffer(e, c.batch * pool.outHeight * pool.outWidth * Math.ceil(g.outC / 4)) : undefined;
            const saved = new Map<string, Required<BufferView>>();
            e.run(conv2dForward(e, g, { x: xv!, w: wv!, b: c.bias ? bv : undefined, y, scratch: nanScratch(e), saved, argmax }, undefined, { forward, pooled: true }));
            const err = relL2(await readF32(e, y, expected.length), expected);
            const line = [`forward ${err.toExponential(1)}`];
            expect(err, `${style} ${forward}`).toBeLessThanOrEqual(1e-5);
            if (argmax && g.outC % 4 === 0) {
              const dx = nanBuffer(e, conv.length);
              e.run(maxPoolBackwardFromArgmax(e, pool, { y, argmax, dy: dyv!, dx }, { reluMask: c.relu }));
              const dxErr = relL2(await readF32(e, dx, conv.length), expectedDx);
              line.push(`pool dx from argmax ${dxErr.toExponential(1)}`);
              expect(dxErr, `${style} ${forward} pool dx from argmax`).toBeLessThanOrEqual(1e-6);
              const out = { dx: nanBuffer(e, x.length), dW: nanBuffer(e, w.length), db: c.bias ? nanBuffer(e, g.outC) : null };
              const masked = { ...g, relu: false };
              e.run(conv2dBackward(e, masked, { x: xv!, w: wv!, y, dy: dx, dx: out.dx, dw: out.dW, db: out.db, scratch: nanScratch(e), saved }, undefined, { pooled: true }));
              for (const name of ['dx', 'dW', 'db'] as const) {
                if (!out[name]) continue;
                const ref = { dx: convGrads.dx, dW: convGrads.dw, db: convGrads.db }[name];
                const gpu = await readF32(e, out[name], ref.length);
                const errRef = relL2(gpu, ref);
                line.push(`${name} ${errRef.toExponential(1)}`);
                expect(errRef, `${style} ${forward} + pool: ${name} vs reference`).toBeLessThanOrEqual(1e-4);
                if (name !== 'db') {
                  const errFd = relL2(pick(gpu, fd[name].idx), fd[name].values);
                  line.push(`| ${errFd.toExponential(1)}`);
                  expect(errFd, `${style} ${forward} + pool: ${name} vs finite differences`).toBeLessThanOrEqual(1e-4);
                }
              }
            }
            report.push(`${`${style} ${forward} + pool${argmax ? '+argmax' : ''}`.padEnd(26)} ${describeCase(c)}: ${line.join(', ')}`);
            ran++;
          }
        }
      }
      expect(ran, 'poolable variants run').toBeGreaterThan(0);
    });
  });

  it("names no variant where none can pool (conv3-like rows on CPU rasterizers); GPUs pool in the implicit GEMM's epilogue", () => {
    const g = conv2dGeometry({ batch: 2, inputShape: [5, 5, 16], filters: 12, kernelSize: [3, 3], relu: true });
    expect(pooledForwardVariant(styles.tiled(), g)).toBe('gemm-64x64');
    // Its forward is Winograd F(3×3); pooled, only the 2×2 outputs under its one window are read,
    // too few for Winograd (F(4×4)'s 36 transformed values against 36 multiply-adds), and its
    // direct forward runs by rows, which cannot pool.
    for (const style of [styles.checked, styles.registers]) {
      expect(conv2dVariants(style(), g).forward[0]).toBe('winograd');
      expect(pooledForwardVariant(style(), g)).toBeNull();
    }
    const first = conv2dGeometry({ batch: 2, inputShape: [28, 28, 1], filters: 32, kernelSize: [3, 3], relu: true });
    // Without checks conv1's own forward is the patch product; pooled, it runs the direct kernel.
    expect([conv2dVariants(styles.registers(), first).forward[0], pooledForwardVariant(styles.registers(), first)]).toEqual(['patches', 'direct']);
  });
});

describe('Winograd transform choice', () => {
  const tile = (input: [number, number, number], padding: Padding, pooledOutput = false) =>
    winogradLayout({ ...conv2dGeometry({ batch: 2, inputShape: input, filters: 8, kernelSize: [3, 3], padding }), pooledOutput }).tile;

  it('takes the fewest transformed values: the cases above cover F(3×3) to F(6×6)', () => {
    expect(tile([5, 5, 16], 'valid'), 'conv3: one tile of 25').toBe(3);
    expect(tile([3, 11, 12], 'same'), '3×11: 4 tiles of 25 against F(4×4) 3 of 36').toBe(3);
    expect(tile([8, 7, 12], 'same'), '8×7: 4 of 36 against 4 of 49').toBe(4);
    expect(tile([10, 9, 12], 'same'), '10×9: 4 of 49 against 6 of 36').toBe(5);
    expect(tile([13, 13, 32], 'valid'), 'conv2: 4 of 64 against 9 of 49').toBe(6);
    expect(tile([15, 15, 64], 'valid'), "conv2's input gradient, 13×13: 9 of 49 against 16 of 36").toBe(5);
  });

  it('covers only the outputs under whole pooling windows of a pooled forward', () => {
    // conv2 pooled: 10×10 read, 4 tiles of 49 (in one 2×2 block) against F(6×6)'s 4 of 64.
    const pooled = winogradLayout({ ...conv2dGeometry({ batch: 2, inputShape: [13, 13, 32], filters: 64, kernelSize: [3, 3] }), pooledOutput: true });
    expect([pooled.tile, pooled.tilesH, pooled.tilesW, pooled.block]).toEqual([5, 2, 2, 2]);
    expect(tile([9, 8, 12], 'valid', true), '7×6 → 6×6 read: one tile').toBe(6);
    // Its input gradient: dy is zero past the windows, so dx's last row and column are zeros
    // (written by a fill), and F(6×6) covers the 12×12 others.
    const dx = mirroredGeometry({ ...conv2dGeometry({ batch: 2, inputShape: [13, 13, 32], filters: 64, kernelSize: [3, 3] }), pooledOutput: true });
    expect(winogradExtent(dx)).toEqual({ height: 12, width: 12 });
    expect([winogradLayout(dx).tile, winogradLayout(dx).tilesH]).toEqual([6, 2]);
    expect(tile([10, 10, 8], 'valid', true), '8×8: 4 of 36').toBe(4);
  });
});

describe('Conv2D layer', () => {
  it('validates its config and input, naming the layer and the argument', () => {
    expect(() => new Conv2D({ filters: 0, kernelSize: 3, name: 'c1' })).toThrow(/layer c1 \(Conv2D\): filters must be a positive integer, got 0/);
    expect(() => new Conv2D({ filters: 2.5, kernelSize: 3, name: 'c1' })).toThrow(/filters must be a positive integer, got 2.5/);
    expect(() => new Conv2D({ filters: 4, kernelSize: [3, 0], name: 'c2' })).toThrow(/layer c2 \(Conv2D\): kernelSize must be a positive integer or an array of two positive integers, got \[3,0\]/);
    expect(() => new Conv2D({ filters: 4, kernelSize: 3, strides: -1 })).toThrow(/strides must be a positive integer/);
    expect(() => new Conv2D({ filters: 4, kernelSize: 3, padding: 'full' as Padding })).toThrow(/padding must be 'valid' or 'same', got "full"/);
    expect(() => new Conv2D({ filters: 4, kernelSize: 3, activation: 'tanhh' as 'relu' })).toThrow(/unknown activation "tanhh"; known: /);
    expect(() => new Conv2D({ filters: 4, kernelSize: 3, kernelInitializer: 'bogus' })).toThrow(/kernelInitializer: unknown initializer 'bogus'/);
    const layer = new Conv2D({ filters: 4, kernelSize: [3, 5], name: 'c3' });
    expect(() => layer.computeOutputShape([[28, 28]])).toThrow(/layer c3 \(Conv2D\): expected an input of rank 3 \[height, width, channels\].*got \[28, 28\]/);
    expect(() => layer.computeOutputShape([[4, 4, 1]])).toThrow(/layer c3 \(Conv2D\): kernelSize \[3, 5\] is larger than the input \[4, 4\] with padding 'valid'/);
    expect(() => layer.computeOutputShape([[8, 8, 1], [8, 8, 1]])).toThrow(/layer c3 \(Conv2D\) takes 1 input, got 2/);
  });

  it('infers shapes and weights the Keras way', () => {
    const same = new Conv2D({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', useBias: false });
    expect(same.computeOutputShape([[7, 9, 3]])).toEqual([4, 5, 6]);
    expect(same.weightSpecs([[7, 9, 3]]).map((s) => [s.name, s.shape])).toEqual([['kernel', [3, 3, 3, 6]]]);
    expect(same.activation).toBe('relu');
    const valid = new Conv2D({ filters: 32, kernelSize: 3, activation: 'softmax' });
    expect(valid.computeOutputShape([[28, 28, 1]])).toEqual([26, 26, 32]);
    expect(valid.weightSpecs([[28, 28, 1]]).map((s) => [s.name, s.shape, s.initializer])).toEqual([
      ['kernel', [3, 3, 1, 32], 'glorotNormal'],
      ['bias', [32], 'zeros'],
    ]);
    expect(valid.activation).toBe('softmax');
    expect(valid.name).toMatch(/^conv2d(_\d+)?$/);
    // TF 'same' padding: the odd row/column of padding goes at the end.
    const g = conv2dGeometry({ batch: 1, inputShape: [8, 7, 1], filters: 1, kernelSize: [4, 2], strides: [2, 3], padding: 'same' });
    expect([g.outH, g.outW, g.padTop, g.padLeft]).toEqual([4, 3, 1, 0]);
  });

  it('writes its config as TF.js does in model.json', () => {
    const layer = new Conv2D({ filters: 8, kernelSize: [3, 2], strides: [1, 2], padding: 'same', activation: 'relu', name: 'conv_a', kernelInitializer: 'he_normal' });
    expect(layer.getConfig()).toEqual({
      name: 'conv_a',
      trainable: true,
      filters: 8,
      kernel_size: [3, 2],
      strides: [1, 2],
      padding: 'same',
      data_format: 'channels_last',
      dilation_rate: [1, 1],
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
    expect(new Conv2D({ filters: 1, kernelSize: 1, name: 'c' }).getConfig()).toMatchObject({ kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'normal', seed: null } } });
  });

  it('runs forward and backward through the layer contract', async () => {
    const e = styles.registers();
    const layer = new Conv2D({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' });
    // Winograd on CPU adapters: the backward reuses the forward's transformed input (ctx.saved).
    const inputShape = [8, 9, 8];
    const batch = 2;
    const outputShape = layer.computeOutputShape([inputShape]);
    const g: Conv2DGeometry = conv2dGeometry({ batch, inputShape, filters: 8, kernelSize: [3, 3], padding: 'same', relu: true });
    const nx = batch * 8 * 9 * 8;
    const ny = batch * outputShape.reduce((a, s) => a * s, 1);
    const x = randomArray(nx, 1);
    const w = randomArray(3 * 3 * 8 * 8, 2);
    const b = randomArray(8, 3);
    const r = randomArray(ny, 4);
    const [xv, wv, bv, dyv] = [x, w, b, r].map((a) => uploadView(e, a)) as [Required<BufferView>, ...Required<BufferView>[]];
    const output = nanBuffer(e, ny);
    const dx = nanBuffer(e, nx);
    const dw = nanBuffer(e, w.length);
    const db = nanBuffer(e, 8);
    const ctx: BackwardContext = {
      engine: e,
      batch,
      inputs: [xv],
      inputShapes: [inputShape],
      output,
      outputShape,
      weights: [wv, bv!],
      training: true,
      stepInfo: uploadView(e, new Uint32Array([0, 0])),
      scratch: (bytes) => nanBuffer(e, bytes / 4),
      saved: new Map(),
      outputGrad: dyv!,
      inputGrads: [dx],
      weightGrads: [dw, db],
    };
    e.run(layer.forward(ctx));
    expect(ctx.saved.size, 'the Winograd forward keeps its transformed input').toBe(conv2dVariants(e, g).forward[0] === 'winograd' ? 1 : 0);
    const backward = layer.backward(ctx);
    // The only input transform left in the backward is dx's (of dy), where dx runs as Winograd.
    const dxByWinograd = conv2dVariants(e, g).inputGrad[0] === 'winograd' ? 1 : 0;
    if (ctx.saved.size) expect(backward.filter((d) => d.label.startsWith('winograd-input:')), 'the backward transforms x again').toHaveLength(dxByWinograd);
    e.run(backward);
    const ref = forwardRef(g, x, w, b);
    const grads = backwardRef(g, x, w, ref.pre, r);
    expect(relL2(await readF32(e, output, ny), ref.y)).toBeLessThanOrEqual(1e-5);
    expect(relL2(await readF32(e, dx, nx), grads.dx)).toBeLessThanOrEqual(1e-4);
    expect(relL2(await readF32(e, dw, w.length), grads.dw)).toBeLessThanOrEqual(1e-4);
    expect(relL2(await readF32(e, db, 8), grads.db)).toBeLessThanOrEqual(1e-4);
  });
});

describe('Conv2D dilationRate', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('sizes outputs by the dilated span, keeps it in its config, refuses what TF.js refuses', () => {
    const layer = new Conv2D({ filters: 3, kernelSize: [3, 2], dilationRate: [2, 3], name: 'cd' });
    // Spans 5 × 4: 9 − 5 + 1 rows, 10 − 4 + 1 columns.
    expect(layer.computeOutputShape([[9, 10, 2]])).toEqual([5, 7, 3]);
    expect(new Conv2D({ filters: 1, kernelSize: 3, dilationRate: 2, padding: 'same' }).computeOutputShape([[7, 8, 1]])).toEqual([7, 8, 1]);
    expect(layer.getConfig()).toMatchObject({ kernel_size: [3, 2], strides: [1, 1], dilation_rate: [2, 3] });
    const back = Conv2D.fromConfig(layer.getConfig());
    expect([back.name, back.dilationRate, back.kernelSize]).toEqual(['cd', [2, 3], [3, 2]]);
    // TF 'same' padding on the span: 8 columns, span 7, stride 1 → 6 padding, 3 before.
    const g = conv2dGeometry({ batch: 1, inputShape: [5, 8, 1], filters: 1, kernelSize: [2, 4], dilationRate: [3, 2], padding: 'same' });
    expect([g.outH, g.outW, g.padTop, g.padLeft, g.dilationH, g.dilationW]).toEqual([5, 8, 1, 3, 3, 2]);

    expect(() => new Conv2D({ filters: 1, kernelSize: 3, dilationRate: 2, strides: 2, name: 'c' })).toThrow(
      /layer c \(Conv2D\): dilationRate \[2,2\] cannot be combined with strides \[2,2\]; strides must be 1 where dilationRate is above 1/,
    );
    expect(() => new Conv2D({ filters: 1, kernelSize: 3, dilationRate: [2, 1], strides: [1, 2], name: 'c' })).toThrow(/dilationRate \[2,1\] cannot be combined with strides \[1,2\]/);
    expect(() => new Conv2D({ filters: 1, kernelSize: 3, dilationRate: 0, name: 'c' })).toThrow(/layer c \(Conv2D\): dilationRate must be a positive integer or an array of two positive integers, got 0/);
    expect(() => new Conv2D({ filters: 1, kernelSize: 3, dilationRate: [2, 2, 2] as unknown as [number, number] })).toThrow(/dilationRate must be .* got \[2,2,2\]/);
    expect(() => new Conv2D({ filters: 1, kernelSize: 3, dilationRate: 2, name: 'c' }).computeOutputShape([[4, 9, 1]])).toThrow(
      /layer c \(Conv2D\): the kernel's span \[5, 5\] \(kernelSize \[3, 3\], dilationRate \[2, 2\]\) is larger than the input \[4, 9\] with padding 'valid'/,
    );
    expect(() => Conv2D.fromConfig({ name: 'c', filters: 1, kernel_size: [3, 3], dilation_rate: [1.5, 1] })).toThrow(/layer c \(Conv2D\): dilationRate must be a positive integer/);
    expect(() => conv2dGeometry({ batch: 1, inputShape: [9, 9, 1], filters: 1, kernelSize: [3, 3], strides: [2, 2], dilationRate: [2, 2] }, 'op')).toThrow(/op: dilationRate \[2, 2\] cannot be combined with strides \[2, 2\]/);
  });

  it('model.json both ways with TF.js: dilated layers predict the same, configs equal TF.js\'s', async () => {
    const shape = [9, 10, 3];
    const configs = [
      { filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'relu', kernelInitializer: 'glorotUniform', name: 'dil_a' },
      { filters: 2, kernelSize: [2, 3], dilationRate: [1, 2], kernelInitializer: 'glorotUniform', name: 'dil_b' },
    ] as const;
    const xi = input({ shape });
    const a = layers.conv2d(configs[0]).apply(xi);
    const ours = model({ inputs: xi, outputs: layers.dense({ units: 3, name: 'head' }).apply(layers.flatten({ name: 'flat' }).apply(layers.conv2d(configs[1]).apply(a))) });
    const ti = tf.input({ shape });
    const ta = tf.layers.conv2d(configs[0]).apply(ti) as tf.SymbolicTensor;
    const tb = tf.layers.conv2d({ ...configs[1], kernelSize: [2, 3], dilationRate: [1, 2] }).apply(ta) as tf.SymbolicTensor;
    const theirs = tf.model({ inputs: ti, outputs: tf.layers.dense({ units: 3, name: 'head' }).apply(tf.layers.flatten({ name: 'flat' }).apply(tb)) as tf.SymbolicTensor });
    const e = styles.registers();
    ours.useEngine(e);
    const x = randomArray(3 * 270, 77);
    const expected = (await ours.predict(tensor(x, [3, ...shape]))).values;
    theirs.setWeights((await ours.getWeights()).map((w) => tf.tensor(w.values, w.shape)));
    const direct = relL2((theirs.predict(tf.tensor(x, [3, ...shape])) as tf.Tensor).dataSync(), expected);
    const tfLoaded = await tf.loadLayersModel(tf.io.fromMemory((await captureOurs(ours)) as unknown as tf.io.ModelArtifacts));
    const oursToTf = relL2((tfLoaded.predict(tf.tensor(x, [3, ...shape])) as tf.Tensor).dataSync(), expected);
    const tfJson = (await captureTf(theirs)).modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    for (const { class_name, config } of tfJson.config.layers.filter((l) => l.class_name === 'Conv2D')) {
      expect(ours.layers.find((l) => l.name === config.name)!.getConfig(), class_name).toEqual(config);
    }
    const loaded = await loadModel({ load: async () => (await captureTf(theirs)) as unknown as ModelArtifacts }, { engine: e });
    const tfToOurs = relL2((await loaded.predict(tensor(x, [3, ...shape]))).values, expected);
    console.log(`dilated Conv2D predictions vs TF.js: same weights ${direct.toExponential(1)}, ours → TF.js ${oursToTf.toExponential(1)}, TF.js → ours ${tfToOurs.toExponential(1)}`);
    expect(direct).toBeLessThanOrEqual(1e-5);
    expect(oursToTf).toBeLessThanOrEqual(1e-5);
    expect(tfToOurs).toBeLessThanOrEqual(1e-5);
    ours.dispose();
    loaded.dispose();
  });
});

/** What a save handler receives, from either library. */
