/**
 * Convolutions as implicit GEMMs on the configurable tiled product (shaders/conv2d-gemm.ts through
 * shaders/tiled-matmul.ts's operand loaders): every 'gemm-*' row of the conv2d tables, forced on a
 * 'gpu' engine (kernelStyle 'tiled' on SwiftShader), against the float64 reference on shapes that
 * are not multiples of the tiles (strides 1 and 2, 'same' and 'valid', dilation, channels not
 * multiples of 4 and, for the vec4 gathers, channels in groups of 4, batch 3), forward with bias
 * and ReLU, input, kernel (split-K 4 and 2) and bias
 * gradients, one shape by central differences; outputs and scratch NaN-prefilled.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { conv2dGemmForward, conv2dGemmInputGrad, conv2dGemmKernelGrad } from '../shaders/conv2d-gemm.ts';
import { tiledMatmul } from '../shaders/tiled-matmul.ts';
import { conv2dBackward, conv2dForward, conv2dForwardTable, conv2dGeometry, conv2dInputGradTable, conv2dKernelGradTable, conv2dVariants, type Conv2DGeometry } from '../src/ops/conv2d.ts';
import { CONV_GEMM_TILES, isGemmVariant, kernelGradSplitPays, type Conv2DVariant } from '../src/ops/conv2d-variants.ts';
import { MATMUL_TILES } from '../src/ops/matmul.ts';
import { variantNames } from '../src/ops/variants.ts';
import type { Engine, View } from '../src/runtime/engine.ts';
import { dot, finiteDifferences, nanBuffer, randomArray, readF32, relL2, toF64, uploadView, useEngine } from './helpers.ts';
import { conv2dBackwardRef, conv2dForwardRef } from './reference/conv2d.ts';

const gpu = useEngine({ kernelStyle: 'tiled' });
const cpu = useEngine();

const report: string[] = [];
afterAll(() => console.log(`conv gemm (relL2 against float64 | central differences):\n${report.join('\n')}`));

/** Plan-lifetime memory for the ops, NaN-prefilled so a split-K slice nobody writes shows. */
const nanScratch = (e: Engine) => (byteLength: number): View => nanBuffer(e, byteLength / 4);

/** Sizes of g's tensors. */
const sizes = (g: Conv2DGeometry) => ({ x: g.batch * g.inH * g.inW * g.inC, w: g.kH * g.kW * g.inC * g.outC, b: g.outC, y: g.batch * g.outH * g.outW * g.outC });

/** Forward then backward of g with the given variants on engine e: y, dx, dw, db read back. */
async function run(e: Engine, g: Conv2DGeometry, data: { x: Float32Array; w: Float32Array; b: Float32Array; r: Float32Array }, options: { forward: Conv2DVariant; inputGrad: Conv2DVariant; kernelGrad: Conv2DVariant }) {
  const n = sizes(g);
  const [x, w, b, r] = [data.x, data.w, data.b, data.r].map((a) => uploadView(e, a)) as View[];
  const y = nanBuffer(e, n.y);
  e.run(conv2dForward(e, g, { x: x!, w: w!, b: g.bias ? b : undefined, y, scratch: nanScratch(e) }, undefined, { forward: options.forward }));
  const [dx, dw, db] = [n.x, n.w, n.b].map((count) => nanBuffer(e, count));
  e.run(conv2dBackward(e, g, { x: x!, w: w!, y, dy: r!, dx: dx!, dw: dw!, db: g.bias ? db : null, scratch: nanScratch(e) }, undefined, options));
  return { y: await readF32(e, y, n.y), dx: await readF32(e, dx!, n.x), dw: await readF32(e, dw!, n.w), db: await readF32(e, db!, n.b) };
}

const conv = (batch: number, inputShape: number[], filters: number, extra: Partial<Parameters<typeof conv2dGeometry>[0]> = {}) =>
  conv2dGeometry({ batch, inputShape, filters, kernelSize: [3, 3], relu: true, ...extra });

type Options = { forward: Conv2DVariant; inputGrad: Conv2DVariant; kernelGrad: Conv2DVariant };
const rows = (forward: Conv2DVariant, inputGrad: Conv2DVariant, kernelGrad: Conv2DVariant): Options => ({ forward, inputGrad, kernelGrad });

/**
 * Odd sizes everywhere (none a multiple of a tile or of 4 channels), each with the variants it
 * runs: every gemm row on at least two geometries, split-K 4 and 2 where it applies (over 512
 * output pixels), and the smallest also against central differences.
 */
const CASES: { name: string; g: Conv2DGeometry; runs: Options[]; differences?: boolean }[] = [
  { name: 'same s1', g: conv(3, [15, 13, 5], 7, { padding: 'same' }), runs: [rows('gemm-64x64', 'gemm-64x64', 'gemm-splitk'), rows('gemm-32x32', 'gemm-32x32', 'gemm-splitk2')] },
  { name: 'valid s2', g: conv(3, [23, 35, 3], 5, { kernelSize: [3, 2], strides: [2, 2], padding: 'valid' }), runs: [rows('gemm-32x32', 'gemm-32x32', 'gemm-splitk'), rows('gemm-64x64', 'gemm-64x64', 'gemm-splitk2')] },
  { name: 'same s2', g: conv(2, [5, 6, 3], 2, { strides: [2, 2], padding: 'same' }), runs: [rows('gemm-64x64', 'gemm-64x64', 'gemm-64x64'), rows('gemm-32x32', 'gemm-32x32', 'gemm-32x32')], differences: true },
  { name: 'dilated same, no bias', g: conv(2, [9, 10, 6], 9, { dilationRate: [2, 2], padding: 'same', relu: false, useBias: false }), runs: [rows('gemm-64x64', 'gemm-64x64', 'gemm-64x64')] },
  // Channels in groups of 4: every gather loads vec4 (im2col's 4 channels of a tap, dy's and w's 4 output channels); over 512 output pixels, split-K too.
  { name: 'vec4 channels same s2', g: conv(3, [33, 31, 4], 12, { strides: [2, 2], padding: 'same' }), runs: [rows('gemm-64x64', 'gemm-32x32', 'gemm-splitk')] },
];

/**
 * A dilated g as the undilated convolution over its whole span whose kernel has zeros between the
 * taps (the float64 reference knows no dilation; as test/conv2d.test.ts does it).
 */
function spread(g: Conv2DGeometry): { g: Conv2DGeometry; kernel: (w: ArrayLike<number>) => Float64Array; taps: (wide: ArrayLike<number>) => Float64Array } {
  const kH = (g.kH - 1) * g.dilationH + 1;
  const kW = (g.kW - 1) * g.dilationW + 1;
  const row = g.inC * g.outC;
  const at = (t: number) => (Math.floor(t / g.kW) * g.dilationH * kW + (t % g.kW) * g.dilationW) * row;
  return {
    g: { ...g, kH, kW, dilationH: 1, dilationW: 1 },
    kernel: (w) => {
      const out = new Float64Array(kH * kW * row);
      for (let t = 0; t < g.kH * g.kW; t++) for (let i = 0; i < row; i++) out[at(t) + i] = w[t * row + i]!;
      return out;
    },
    taps: (wide) => Float64Array.from({ length: g.kH * g.kW * row }, (_, k) => wide[at(Math.floor(k / row)) + (k % row)]!),
  };
}

/** The float64 forward of g (after the activation), dilation included. */
function forwardRef(g: Conv2DGeometry, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null): Float64Array {
  const s = spread(g);
  return conv2dForwardRef(s.g, x, s.kernel(w), b).y;
}

/** The float64 forward and gradients of g for the output gradient r, dilation included. */
function reference(g: Conv2DGeometry, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, r: ArrayLike<number>) {
  const s = spread(g);
  const wide = s.kernel(w);
  const forward = conv2dForwardRef(s.g, x, wide, b);
  const grads = conv2dBackwardRef(s.g, x, wide, forward.pre, r);
  return { y: forward.y, dx: grads.dx, dw: s.taps(grads.dw), db: grads.db };
}

describe('conv2d as implicit GEMM on the tiled product', () => {
  it('the gemm rows stand first on a GPU profile, never on a CPU one, and every one is forced here', () => {
    const e = gpu();
    const names = [conv2dForwardTable, conv2dInputGradTable, conv2dKernelGradTable].flatMap((t) => variantNames(t).filter(isGemmVariant));
    expect(new Set(names)).toEqual(new Set(Object.keys(CONV_GEMM_TILES)));
    const forced = new Set(CASES.flatMap((c) => c.runs.flatMap((o) => [o.forward, o.inputGrad, o.kernelGrad])));
    expect(forced).toEqual(new Set(Object.keys(CONV_GEMM_TILES)));
    for (const { g } of CASES) {
      const lists = conv2dVariants(e, g);
      expect(lists.forward).toEqual(['gemm-64x64', 'gemm-32x32', 'tiled']);
      expect(lists.inputGrad).toEqual(['gemm-64x64', 'gemm-32x32', 'tiled']);
      const split = kernelGradSplitPays(g);
      expect(lists.kernelGrad).toEqual(split ? ['gemm-splitk', 'gemm-64x64', 'gemm-32x32', 'gemm-splitk2', 'tiled'] : ['gemm-64x64', 'gemm-32x32', 'tiled']);
      const onCpu = conv2dVariants(cpu(), g);
      expect([...onCpu.forward, ...onCpu.inputGrad, ...onCpu.kernelGrad].some((v) => v.startsWith('gemm') || v === 'tiled')).toBe(false);
    }
    expect(CASES.filter((c) => kernelGradSplitPays(c.g)).map((c) => c.name)).toEqual(['same s1', 'valid s2', 'vec4 channels same s2']);
    // A pooled forward's backward (pooledOutput) runs the same products (test/conv-gemm-pooled.test.ts runs them).
    const pooled = conv2dVariants(e, { ...CASES[0]!.g, pooledOutput: true });
    expect([pooled.inputGrad, pooled.kernelGrad.slice(0, 3)]).toEqual([['gemm-64x64', 'gemm-32x32', 'tiled'], ['gemm-splitk', 'gemm-64x64', 'gemm-32x32']]);
  });

  it('forward (bias, ReLU), input, kernel and bias gradients of every gemm row against float64 (and central differences)', async () => {
    const e = gpu();
    for (const [ci, { name, g, runs, differences }] of CASES.entries()) {
      const n = sizes(g);
      const data = { x: randomArray(n.x, 100 + ci), w: randomArray(n.w, 200 + ci, 0.5), b: randomArray(n.b, 300 + ci), r: randomArray(n.y, 400 + ci) };
      const ref = reference(g, data.x, data.w, g.bias ? data.b : null, data.r);
      // Central differences of L = Σ y·r over every coordinate of x, w and b.
      const inputs = [data.x, data.w, data.b].map(toF64);
      const loss = (i: number) => (v: Float64Array) => {
        const [x, w, b] = inputs.map((a, j) => (j === i ? v : a)) as [Float64Array, Float64Array, Float64Array];
        return dot(forwardRef(g, x, w, g.bias ? b : null), data.r);
      };
      const fd = differences ? inputs.map((a, i) => finiteDifferences(loss(i), a)) : null;
      for (const options of runs) {
        const got = await run(e, g, data, options);
        const errs = { y: relL2(got.y, ref.y), dx: relL2(got.dx, ref.dx), dw: relL2(got.dw, ref.dw), db: g.bias ? relL2(got.db, ref.db) : 0 };
        const label = `${options.forward}/${options.inputGrad}/${options.kernelGrad} (${name}: ${conv2dForwardTable.key(g)}${g.bias ? ' bias' : ''}${g.relu ? ' relu' : ''})`;
        const fdErrs = fd ? [relL2(got.dx, fd[0]!), relL2(got.dw, fd[1]!), g.bias ? relL2(got.db, fd[2]!) : 0] : [];
        report.push(
          `${label}: y ${errs.y.toExponential(1)}, dx ${errs.dx.toExponential(1)}, dW ${errs.dw.toExponential(1)}, db ${g.bias ? errs.db.toExponential(1) : '-'}` +
            (fd ? ` | central differences: dx ${fdErrs[0]!.toExponential(1)}, dW ${fdErrs[1]!.toExponential(1)}, db ${fdErrs[2]!.toExponential(1)}` : ''),
        );
        expect(errs.y, `${label} y`).toBeLessThanOrEqual(1e-5);
        expect(errs.dx, `${label} dx`).toBeLessThanOrEqual(1e-5);
        expect(errs.dw, `${label} dW`).toBeLessThanOrEqual(1e-5);
        expect(errs.db, `${label} db`).toBeLessThanOrEqual(1e-5);
        for (const err of fdErrs) expect(err, `${label} against central differences`).toBeLessThanOrEqual(1e-4);
        if (!g.bias) expect(Array.from(got.db).every(Number.isNaN), `${label}: db untouched without a bias`).toBe(true);
      }
    }
  });

  it('keys and WGSL: gathered operands load by element, named in the key; a masked gathered operand is an Error', () => {
    const g = CASES[0]!.g;
    const forward = conv2dGemmForward(g);
    const kernel = tiledMatmul(forward.geometry, CONV_GEMM_TILES['gemm-64x64'], undefined, forward.loaders);
    expect(kernel.key).toMatch(/:loadA1B1:.*:gatherA:conv2d-forward:n3-in15x13x5-k3x3/);
    expect(kernel.code).toContain('v = gatherA(base, r, c);');
    expect(kernel.code).toContain('fn im2col(pixel: u32, tap: u32, ci: u32) -> f32');
    // Channels in groups of 4: the gathers load vec4 (keyed loadA4), every product's; a scalar-only configuration keeps them by element.
    const wideGeometry = CASES.find((c) => c.name.startsWith('vec4'))!.g;
    for (const [product, key] of [[conv2dGemmForward, /:loadA4B4:.*gatherA:/], [conv2dGemmInputGrad, /:loadA4B4:.*gatherAB:/], [conv2dGemmKernelGrad, /:loadA4B4:.*gatherA:/]] as const) {
      const vec4 = product(wideGeometry);
      const wideKernel = tiledMatmul(vec4.geometry, CONV_GEMM_TILES['gemm-64x64'], undefined, vec4.loaders);
      expect(wideKernel.key).toMatch(key);
      expect(wideKernel.code).toMatch(/fn gatherA\(base: u32, r: u32, c: u32\) -> vec4f/);
      expect(tiledMatmul(vec4.geometry, { ...CONV_GEMM_TILES['gemm-64x64'], vec4: false }, undefined, vec4.loaders).key).toMatch(/:loadA1B1:/);
    }
    // Without loaders the same geometry reads A as a matrix: another key, no gather.
    const plain = tiledMatmul(forward.geometry, CONV_GEMM_TILES['gemm-64x64']);
    expect(plain.key).not.toContain('gather');
    expect(plain.code).not.toContain('gatherA');
    // The kernel gradient's dy (B) is read as a matrix, as vec4 where outC allows.
    const wide = conv2dGemmKernelGrad({ ...g, outC: 8 });
    expect(tiledMatmul(wide.geometry, MATMUL_TILES['gpu-64x64-4x4'], undefined, wide.loaders).key).toMatch(/:loadA1B4:/);
    const dw = conv2dGemmKernelGrad(g);
    expect(() => tiledMatmul({ ...dw.geometry, maskA: true }, CONV_GEMM_TILES['gemm-64x64'], undefined, dw.loaders)).toThrow(/tiledMatmul: a gathered operand cannot be masked \(maskA with loaders\.a\)/);
    expect(() => tiledMatmul(dw.geometry, CONV_GEMM_TILES['gemm-64x64'], undefined, { key: 'k', code: '' })).toThrow(/loaders must gather operand a, b or both, got neither/);
  });

  it("the tables' benches build and run the gemm variants", async () => {
    const e = gpu();
    // The test above's geometry and variants: the pipelines are compiled already.
    const g = CASES[0]!.g;
    for (const [table, seen, name, dispatches] of [
      [conv2dForwardTable, g, 'gemm-64x64', 1],
      [conv2dInputGradTable, { ...g, relu: false }, 'gemm-64x64', 1],
      [conv2dKernelGradTable, { ...g, relu: false }, 'gemm-splitk', 3], // product, split-K sum, db
    ] as const) {
      const bench = table.bench!(e, seen, name);
      expect(bench.dispatches, `${table.op} ${name}`).toHaveLength(dispatches);
      e.run(bench.dispatches);
      await e.sync();
      bench.dispose();
    }
  });
});
