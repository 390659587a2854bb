/**
 * The convolution's forward with its 2×2 max pool as the implicit GEMM's epilogue (the 'gemm-*'
 * rows of conv2d.pooledForward on 'gpu' profiles: shaders/conv2d-gemm.ts conv2dGemmPooledForward
 * through shaders/tiled-matmul.ts's pooled store), forced on a 'gpu' engine (kernelStyle 'tiled'
 * on SwiftShader): the pooled values and first-max positions against float64, then the training
 * step as a plan runs it (maxPoolBackwardFromArgmax, the convolution's dx, dW and db) against
 * float64 and central differences; odd conv outputs (the last row and column under no window),
 * channels not multiples of the tiles, batch 3, ties; the fusion in a small model on a 'gpu'
 * engine, whose predictions after a training step match a 'cpu' engine's. Outputs NaN-prefilled.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { tiledMatmul } from '../shaders/tiled-matmul.ts';
import { conv2dGemmForward, conv2dGemmPooledForward } from '../shaders/conv2d-gemm.ts';
import { layers, optimizers, sequential, tensor } from '../src/index.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry, conv2dPooledForwardTable, pooledForwardVariant, type Conv2DGeometry } from '../src/ops/conv2d.ts';
import { CONV_GEMM_TILES } from '../src/ops/conv2d-variants.ts';
import { maxPoolBackwardFromArgmax, poolArgmaxWords, poolGeometry } from '../src/ops/pool.ts';
import { MATMUL_TILES } from '../src/ops/matmul.ts';
import { applicableNames } from '../src/ops/variants.ts';
import type { Engine, View } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, pick, randomArray, readF32, relL2, sampleIndices, toF64, uploadView, useEngine } from './helpers.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './reference/conv2d.ts';
import { maxPoolBackwardRef, maxPoolForwardRef } from './reference/pool.ts';

const gpu = useEngine({ kernelStyle: 'tiled' });
const cpu = useEngine({ kernelStyle: 'registers' });

const report: string[] = [];
afterAll(() => console.log(`pooled conv gemm (relL2 against float64 | central differences):\n${report.join('\n')}`));

const nanScratch = (e: Engine) => (byteLength: number): View => nanBuffer(e, byteLength / 4);

/** The first-max position of each pooled value and channel (poolWindow's order and strict comparison) over the float64 conv output y. */
function firstMaxCodes(y: ArrayLike<number>, g: Conv2DGeometry): number[] {
  const [pH, pW] = [g.outH >> 1, g.outW >> 1];
  const codes: number[] = [];
  for (let n = 0; n < g.batch; n++) {
    for (let py = 0; py < pH; py++) {
      for (let px = 0; px < pW; px++) {
        for (let c = 0; c < g.outC; c++) {
          const at = (q: number) => y[((n * g.outH + 2 * py + (q >> 1)) * g.outW + 2 * px + (q & 1)) * g.outC + c]!;
          let [best, arg] = [at(0), 0];
          for (let q = 1; q < 4; q++) if (at(q) > best) [best, arg] = [at(q), q];
          codes.push(arg);
        }
      }
    }
  }
  return codes;
}

/** The 2-bit codes of the argmax words, a code per pooled value and channel (channels past outC dropped). */
function decode(words: Uint32Array, g: Conv2DGeometry): number[] {
  const groups = Math.ceil(g.outC / 4);
  const codes: number[] = [];
  for (let p = 0; p < words.length / groups; p++) for (let c = 0; c < g.outC; c++) codes.push((words[p * groups + (c >> 2)]! >>> (2 * (c & 3))) & 3);
  return codes;
}

interface Case {
  name: string;
  g: Conv2DGeometry;
  variant: 'gemm-64x64' | 'gemm-32x32';
  /** Also the training step (argmax, the pool's and the convolution's gradients). */
  training: boolean;
  /**
   * Makes x produce ties: pixels 1 and 2 of the first image's windows equal, so the first of them
   * must win. Forward, positions and the pool's dx only: central differences do not hold at a tie.
   */
  ties?: boolean;
}

const conv = (batch: number, inputShape: number[], filters: number, extra: Partial<Parameters<typeof conv2dGeometry>[0]> = {}) =>
  conv2dGeometry({ batch, inputShape, filters, kernelSize: [3, 3], relu: true, ...extra });

const CASES: Case[] = [
  // 7 × 9 before pooling (the last row and column under no window), 12 channels.
  { name: 'valid 7×9, bias+relu', g: conv(3, [9, 11, 5], 12, { padding: 'valid' }), variant: 'gemm-64x64', training: true },
  // 4 input channels and 20 output channels: the gathers load vec4 (forward, dx's dy and w, dW's x).
  { name: 'same 7×9, 20 channels, no bias or relu', g: conv(3, [7, 9, 4], 20, { padding: 'same', relu: false, useBias: false }), variant: 'gemm-32x32', training: true },
  { name: 'ties, bias+relu', g: conv(3, [9, 11, 5], 12, { padding: 'valid', kernelSize: [1, 1] }), variant: 'gemm-64x64', training: true, ties: true },
  // Inference: channels not a multiple of 4 (no argmax), more windows than a tile.
  { name: 'inference, 7 channels', g: conv(3, [17, 19, 3], 7, { padding: 'same' }), variant: 'gemm-64x64', training: false },
];

/** x with pixels 1 and 2 (row-major) of every window of the first image equal, so each pooled value there is a tie or a clear winner. */
function withTies(x: Float32Array, g: Conv2DGeometry): Float32Array {
  // A 1 × 1 'valid' kernel: output pixel (y, x) reads input pixel (y, x).
  const out = Float32Array.from(x);
  for (let py = 0; py < g.outH >> 1; py++) {
    for (let px = 0; px < g.outW >> 1; px++) {
      const pixel = (y: number, xx: number) => (y * g.inW + xx) * g.inC;
      const [from, to] = [pixel(2 * py, 2 * px + 1), pixel(2 * py + 1, 2 * px)];
      for (let c = 0; c < g.inC; c++) out[to + c] = out[from + c]!;
    }
  }
  return out;
}

describe('conv2d forward with its 2×2 max pool as the implicit GEMM epilogue (gpu profiles)', () => {
  it('the pooled table lists the gemm rows on a GPU profile, never on a CPU one; the plain products are keyed as before', () => {
    const g = CASES[0]!.g;
    expect(applicableNames(conv2dPooledForwardTable, { ...g, pooledOutput: true }, gpu().profile)).toEqual(['gemm-64x64', 'gemm-32x32']);
    expect(pooledForwardVariant(gpu(), g)).toBe('gemm-64x64');
    expect(applicableNames(conv2dPooledForwardTable, { ...g, pooledOutput: true }, cpu().profile).some((n) => n.startsWith('gemm'))).toBe(false);
    // A conv output without a whole window pools after the forward.
    expect(pooledForwardVariant(gpu(), conv(2, [3, 7, 2], 4))).toBeNull();
    // The pooled kernel: its own key and store; the plain product's key and code have neither.
    const tiles = CONV_GEMM_TILES['gemm-64x64'];
    const pooled = conv2dGemmPooledForward(g, tiles, true);
    const kernel = tiledMatmul(pooled.geometry, tiles, undefined, pooled.loaders);
    expect(kernel.key).toMatch(/:pool2x2-windows36\+argmax:.*:gatherA:conv2d-pooled-forward:/);
    expect(pooled.geometry.m).toBe(3 * 64); // 36 windows in rows of 16: 3 tiles of 64 rows
    expect(kernel.code).toContain('argmax[w * ARGMAX_GROUPS + n / 4u]');
    const plain = conv2dGemmForward(g);
    const plainKernel = tiledMatmul(plain.geometry, tiles, undefined, plain.loaders);
    expect(plainKernel.key).not.toContain('pool');
    expect(plainKernel.code).not.toMatch(/WINDOWS|argmax|activated/);
    // The layout's limits: 4 rows an invocation, no split-K, m as the windows lay it out.
    expect(() => tiledMatmul(pooled.geometry, MATMUL_TILES['gpu-128x64-8x4'], undefined, pooled.loaders)).toThrow(/pooled epilogue needs blockRows 4/);
    expect(() => tiledMatmul({ ...pooled.geometry, m: pooled.geometry.m + 1 }, tiles, undefined, pooled.loaders)).toThrow(/m must be poolRows\(36 windows\) = 192/);
  });

  for (const c of CASES) {
    it(`${c.name} (${c.variant}${c.training ? ', training' : ''})`, async () => {
      const { g } = c;
      const e = gpu();
      const seed = 7000 + CASES.indexOf(c) * 10;
      const nx = g.batch * g.inH * g.inW * g.inC;
      const nw = g.kH * g.kW * g.inC * g.outC;
      let x = randomArray(nx, seed);
      if (c.ties) x = withTies(x, g);
      const [w, b] = [randomArray(nw, seed + 1, 0.5), randomArray(g.outC, seed + 2)];
      const bias = g.bias ? b : null;
      const pool = poolGeometry(g.batch, [g.outH, g.outW, g.outC], [2, 2], [2, 2], 'valid');
      const convRef = conv2dForwardRef(g, x, w, bias);
      if (g.relu) expect(convRef.y.some((v) => v === 0) && convRef.y.some((v) => v > 0)).toBe(true);
      const expected = maxPoolForwardRef(convRef.y, pool);
      const [xv, wv, bv] = [x, w, b].map((a) => uploadView(e, a)) as View[];
      const y = nanBuffer(e, expected.length);
      const words = poolArgmaxWords(g.batch, [pool.outHeight, pool.outWidth, g.outC]);
      const argmax = c.training ? nanBuffer(e, words) : undefined;
      e.run(conv2dForward(e, g, { x: xv!, w: wv!, b: bias ? bv : undefined, y, scratch: nanScratch(e), argmax }, undefined, { forward: c.variant, pooled: true }));
      const errY = relL2(await readF32(e, y, expected.length), expected);
      const line = [`pooled y ${errY.toExponential(1)}`];
      expect(errY, 'pooled y').toBeLessThanOrEqual(1e-5);
      if (!argmax) {
        report.push(`${c.variant} ${c.name}: ${line.join(', ')}`);
        // The table's bench (tuning) builds the same pooled forward, with the argmax a training plan stores.
        const bench = conv2dPooledForwardTable.bench!(e, { ...g, pooledOutput: true }, c.variant);
        expect(bench.dispatches.map((d) => d.label)).toEqual([expect.stringMatching(/^matmul:tiled:.*:pool2x2-windows\d+\+argmax:/)]);
        e.run(bench.dispatches);
        await e.sync();
        bench.dispose();
        return;
      }
      // The positions themselves: equal to float64's first maxima (exact ties included).
      const got = decode(new Uint32Array((await readF32(e, argmax, words)).buffer), g);
      const want = firstMaxCodes(convRef.y, g);
      expect(got).toEqual(want);
      if (c.ties) {
        const firstImage = want.slice(0, (pool.outHeight * pool.outWidth * g.outC));
        expect(firstImage.filter((q) => q === 1).length, 'ties resolved to the first of pixels 1 and 2').toBeGreaterThan(0);
        expect(firstImage.includes(2), 'pixel 2 never wins a tie with pixel 1').toBe(false);
      }
      // The training step as the plan runs it: the pool's dx from the positions (masked by the
      // fused ReLU), then the convolution's gradients without its ReLU.
      const dyPool = randomArray(expected.length, seed + 3);
      const maskedDy = Float64Array.from(dyPool, (v, i) => (g.relu && !(expected[i]! > 0) ? 0 : v));
      const dyConv = maxPoolBackwardRef(convRef.y, maskedDy, pool);
      const grads = conv2dBackwardRef(g, x, w, convRef.pre, dyConv);
      const dyv = uploadView(e, dyPool);
      const dConv = nanBuffer(e, convRef.y.length);
      e.run(maxPoolBackwardFromArgmax(e, pool, { y, argmax, dy: dyv, dx: dConv }, { reluMask: g.relu }));
      const errPool = relL2(await readF32(e, dConv, convRef.y.length), dyConv);
      line.push(`pool dx ${errPool.toExponential(1)}`);
      expect(errPool, 'pool dx from the positions').toBeLessThanOrEqual(1e-6);
      if (c.ties) {
        report.push(`${c.variant} ${c.name}: ${line.join(', ')}`);
        return;
      }
      const out = { dx: nanBuffer(e, nx), dW: nanBuffer(e, nw), db: g.bias ? nanBuffer(e, g.outC) : null };
      e.run(conv2dBackward(e, { ...g, relu: false }, { x: xv!, w: wv!, y, dy: dConv, dx: out.dx, dw: out.dW, db: out.db, scratch: nanScratch(e) }, undefined, { pooled: true }));
      // Central differences of L = Σ pool(conv(x, w, b)) · maskedDy at sampled coordinates.
      const [x64, w64, b64] = [toF64(x), toF64(w), toF64(b)];
      const loss = (xs: Float64Array, ws: Float64Array, bs: Float64Array) => dot(maxPoolForwardRef(conv2dForwardRef(g, xs, ws, g.bias ? bs : null).y, pool), maskedDy);
      const idx = { dx: sampleIndices(nx, 16, seed + 4), dW: sampleIndices(nw, 16, seed + 5), db: [...Array(g.outC).keys()] };
      const fd = {
        dx: finiteDifferences((v) => loss(v, w64, b64), x64, idx.dx),
        dW: finiteDifferences((v) => loss(x64, v, b64), w64, idx.dW),
        db: finiteDifferences((v) => loss(x64, w64, v), b64, idx.db),
      };
      for (const [name, ref] of [['dx', grads.dx], ['dW', grads.dw], ['db', grads.db]] as const) {
        const view = out[name];
        if (!view) continue;
        const values = await readF32(e, view, ref.length);
        const [errRef, errFd] = [relL2(values, ref), relL2(pick(values, idx[name]), fd[name])];
        line.push(`${name} ${errRef.toExponential(1)} | ${errFd.toExponential(1)}`);
        expect(errRef, `${name} vs float64`).toBeLessThanOrEqual(1e-5);
        expect(errFd, `${name} vs central differences`).toBeLessThanOrEqual(1e-4);
      }
      report.push(`${c.variant} ${c.name}: ${line.join(', ')}`);
    });
  }

  it("fuses conv + pool in a small model's plans on a GPU engine, and trains and predicts as a CPU engine does", async () => {
    const build = () =>
      sequential([
        layers.conv2d({ inputShape: [9, 11, 3], filters: 12, kernelSize: 3, activation: 'relu' }),
        layers.maxPooling2d({ poolSize: 2 }),
        layers.flatten(),
        layers.dense({ units: 3, activation: 'softmax' }),
      ]);
    const [batch, classes] = [3, 3];
    const x = tensor(randomArray(batch * 9 * 11 * 3, 77), [batch, 9, 11, 3]);
    const labels = tensor(Float32Array.from({ length: batch * classes }, (_, i) => (i % classes === Math.floor(i / classes) % classes ? 1 : 0)), [batch, classes]);
    const models = [gpu(), cpu()].map((engine) => {
      const m = build();
      m.compile({ optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: 'categoricalCrossentropy', engine });
      return m;
    });
    const [onGpu, onCpu] = models as [(typeof models)[0], (typeof models)[0]];
    await onCpu.setWeights((await onGpu.getWeights()).map((w) => tensor(w.values, w.shape)));
    for (const mode of ['train', 'predict'] as const) {
      const rows = await onGpu.describeVariants({ batchSize: batch, mode });
      expect(rows.map((r) => `${r.op} ${r.variant}`), mode).toContain('conv2d.pooledForward gemm-64x64');
    }
    for (const m of models) await m.fit(x, labels, { epochs: 1, batchSize: batch, verbose: 0 });
    const [a, b] = [await onGpu.predict(x), await onCpu.predict(x)];
    const err = relL2(a.values, b.values);
    report.push(`model after a training step, gpu (pooled gemm) against cpu predictions: ${err.toExponential(1)}`);
    expect(err).toBeLessThanOrEqual(1e-5);
    for (const m of models) m.dispose();
  });
});
