/**
 * The conv2d family's variant tables (src/ops/variants.ts): its forward, input gradient, kernel
 * gradient and pooled forward, each an ordered list of rows whose first applicable row is the
 * hand policy. 'cpu' profiles run the slice-product variants (Winograd, per-tap, whole-patch) and
 * the register-blocked direct kernels; 'gpu' profiles the implicit GEMMs on the configurable tiled
 * product (the 'gemm-*' rows: shaders/conv2d-gemm.ts, the pooled forward's with the pool as its
 * epilogue) before the frozen-tile 'tiled' kernels.
 * Dilated convolutions run the direct kernels only: Winograd's tiles, the per-tap products and
 * the whole-patch product all assume adjacent taps. The transposed convolution's tables are here
 * too (its forward is a conv2d input gradient).
 */
import { dilated, forwardByRows, mirroredGeometry, type Conv2DGeometry } from '../../shaders/conv2d.ts';
import { conv2dGemmForward, conv2dGemmInputGrad, conv2dGemmKernelGrad, conv2dGemmPooledForward, conv2dGemmTransposeForward, type ConvGemm } from '../../shaders/conv2d-gemm.ts';
import { patchesApply, tapsApply } from '../../shaders/conv2d-taps.ts';
import { winogradApplies, winogradProductLayout, winogradShare } from '../../shaders/winograd.ts';
import type { DeviceProfile } from '../runtime/profile.ts';
import { MATMUL_TILES, matmulConfigApplies, type TileConfig } from './matmul.ts';
import { onCpu, onGpu, type Variant, type VariantTable } from './variants.ts';

/**
 * The implicit-GEMM variants and the tiled-matmul configurations they run (src/ops/matmul.ts
 * MATMUL_TILES): 64 × 64 and 32 × 32 tiles of 4 × 4 per invocation, and for the kernel gradient
 * 32 × 32 tiles with k (the output pixels) split into 4 or 2 slices.
 */
export const CONV_GEMM_TILES = Object.freeze({
  'gemm-64x64': MATMUL_TILES['gpu-64x64-4x4'],
  'gemm-32x32': MATMUL_TILES['gpu-32x32-4x4'],
  'gemm-splitk': MATMUL_TILES['splitk-32x32-s4'],
  'gemm-splitk2': Object.freeze({ ...MATMUL_TILES['splitk-32x32-s4'], splitK: 2 }),
} satisfies Record<string, TileConfig>);

export type ConvGemmVariant = keyof typeof CONV_GEMM_TILES;

/** How a convolution's forward, input gradient or kernel gradient runs. */
export type Conv2DVariant = 'direct' | 'winograd' | 'taps' | 'patches' | 'tiled' | ConvGemmVariant;

/** Whether `name` is an implicit-GEMM variant (CONV_GEMM_TILES). */
export function isGemmVariant(name: string): name is ConvGemmVariant {
  return Object.hasOwn(CONV_GEMM_TILES, name);
}

const UNMEASURED = "the GPU SGEMM literature's shape, unmeasured here (no bench/NOTES.md item yet)";

/**
 * A row running one of g's products as an implicit GEMM with `name`'s tiles: 'gpu' profiles,
 * where the configuration fits the product (`product` of g and the tiles) and the device
 * (matmulConfigApplies), and where `extra` says.
 */
function gemmRow(name: ConvGemmVariant, product: (g: Conv2DGeometry, tiles: TileConfig) => ConvGemm, why: string, extra: (g: Conv2DGeometry) => boolean = () => true): Variant<Conv2DGeometry> {
  return {
    name,
    why,
    applies: (g, p) => p.kind === 'gpu' && extra(g) && matmulConfigApplies(product(g, CONV_GEMM_TILES[name]).geometry, CONV_GEMM_TILES[name], p),
  };
}

/**
 * Split-K pays where dW's output is few workgroups for a GPU (under 64 tiles of 32 × 32) and its
 * k, the output pixels, long (at least 512: each of 4 slices still 8 steps of 16).
 */
export function kernelGradSplitPays(g: Conv2DGeometry): boolean {
  const tiles = Math.ceil((g.kH * g.kW * g.inC) / 32) * Math.ceil(g.outC / 32);
  return tiles < 64 && g.batch * g.outH * g.outW >= 512;
}

/** The forward's and input gradient's implicit-GEMM rows, first on 'gpu' profiles. */
function gemmRows(product: (g: Conv2DGeometry) => ConvGemm): Variant<Conv2DGeometry>[] {
  return [
    gemmRow('gemm-64x64', product, `GPUs: the implicit GEMM on the configurable tiled product, 64 × 64 tiles of 4 × 4 per invocation, double-buffered: ${UNMEASURED}.`),
    gemmRow('gemm-32x32', product, `GPUs: the implicit GEMM with 32 × 32 tiles (more workgroups for small products), behind 64 × 64: ${UNMEASURED}.`),
  ];
}

/** The pooled forward's product as its rows check it: with the argmax (conv2dGemmPooledForward). */
const pooledGemm = (g: Conv2DGeometry, tiles: TileConfig) => conv2dGemmPooledForward(g, tiles, true);

/** A short key of a convolution's geometry for the variant records. */
export function conv2dKey(g: Conv2DGeometry): string {
  const stride = g.strideH === g.strideW ? `${g.strideH}` : `${g.strideH}x${g.strideW}`;
  const dilation = dilated(g) ? ` d${g.dilationH}x${g.dilationW}` : '';
  return `${g.batch}x${g.inH}x${g.inW}x${g.inC} k${g.kH}x${g.kW} s${stride}${dilation} -> ${g.outH}x${g.outW}x${g.outC}${g.pooledOutput ? ' pooled' : ''}`;
}

/**
 * Whether Winograd runs g on p: enabled (DeviceProfile.winograd), a stride-1 3×3 it applies to
 * (winogradApplies: small outputs only where it saves `smallOutputShare`), and its buffers within
 * the device's limits.
 */
export function winogradFits(g: Conv2DGeometry, p: DeviceProfile, smallOutputShare = 0): boolean {
  if (!p.winograd || !winogradApplies(g, smallOutputShare)) return false;
  const L = winogradProductLayout(g, p.boundsChecked);
  const maxBytes = Math.min(p.limits.maxBufferSize, p.limits.maxStorageBufferBindingSize);
  return Math.max(L.vFloats, L.mFloats) * 4 <= maxBytes && p.limits.minStorageBufferOffsetAlignment <= 256;
}

/** A 'cpu' profile and adjacent taps: where the slice-product variants may run. */
const cpuAdjacent = (g: Conv2DGeometry, p: DeviceProfile) => p.kind === 'cpu' && !dilated(g);

/** Winograd's share of the direct input gradient's multiply-adds where Winograd runs it (the mirrored convolution fits), else null. */
function inputGradShare(g: Conv2DGeometry, p: DeviceProfile): number | null {
  if (!cpuAdjacent(g, p) || g.strideH !== 1 || g.strideW !== 1) return null;
  const mirrored = mirroredGeometry(g);
  return winogradFits(mirrored, p) ? winogradShare(mirrored) : null;
}

export const conv2dForwardTable: VariantTable<Conv2DGeometry> = {
  op: 'conv2d.forward',
  key: conv2dKey,
  rows: [
    {
      name: 'winograd',
      // Small outputs (conv3's one F(3×3) tile) only where Winograd saves half the multiply-adds, two thirds under bounds checks.
      applies: (g, p) => cpuAdjacent(g, p) && winogradFits(g, p, p.boundsChecked ? 1 / 3 : 1 / 2),
      note: 'bench/NOTES.md item 60',
      why: 'Winograd transforms fewer values than the direct product multiplies, fastest with and without bounds checks.',
    },
    {
      name: 'patches',
      applies: (g, p) => cpuAdjacent(g, p) && patchesApply(g),
      note: 'bench/NOTES.md item 60',
      why: 'Few input channels (the first layer): one slice product over whole patches beats the direct kernel.',
    },
    { name: 'direct', applies: onCpu, note: 'bench/NOTES.md item 60', why: 'The register-blocked direct kernel runs every convolution on CPU rasterizers.' },
    {
      name: 'taps',
      applies: (g, p) => cpuAdjacent(g, p) && tapsApply(g, 'forward'),
      note: 'bench/NOTES.md item 60',
      why: 'Per-tap slice products tie with or trail the direct kernel in the forward, so they come last.',
    },
    ...gemmRows(conv2dGemmForward),
    { name: 'tiled', applies: onGpu, why: "GPUs run the workgroup-tiled implicit GEMM ('gpu' profiles only)." },
  ],
};

/** The forward without scratch memory: one kernel, no transforms or slices. */
export const conv2dForwardNoScratchTable: VariantTable<Conv2DGeometry> = {
  op: 'conv2d.forward',
  key: conv2dKey,
  rows: [
    { name: 'direct', applies: onCpu, why: 'Without scratch only the one-kernel variants can run: the direct kernel on CPU rasterizers.' },
    { name: 'tiled', applies: onGpu, why: 'Without scratch only the one-kernel variants can run: the tiled kernel on GPUs.' },
  ],
};

export const conv2dInputGradTable: VariantTable<Conv2DGeometry> = {
  op: 'conv2d.inputGrad',
  key: conv2dKey,
  rows: [
    {
      name: 'winograd',
      // Under bounds checks only where it needs under a quarter of the direct multiply-adds.
      applies: (g, p) => {
        const share = inputGradShare(g, p);
        return share !== null && (!p.boundsChecked || share <= 1 / 4);
      },
      note: 'bench/NOTES.md item 59',
      why: "Winograd on the mirrored convolution: fastest without checks, and with checks where it saves three quarters.",
    },
    {
      name: 'direct',
      applies: (g, p) => p.kind === 'cpu' && p.boundsChecked,
      note: 'bench/NOTES.md item 60',
      why: 'Under bounds checks the direct kernel beats the remaining Winograd and the per-tap products.',
    },
    {
      name: 'winograd',
      applies: (g, p) => inputGradShare(g, p) !== null,
      note: 'bench/NOTES.md item 59',
      why: 'Winograd where it fits but saves less than three quarters under checks: behind the direct kernel.',
    },
    {
      name: 'taps',
      applies: (g, p) => cpuAdjacent(g, p) && tapsApply(g, 'inputGrad'),
      note: 'bench/NOTES.md item 60',
      why: 'Per-tap slice products scattered into dx beat the direct kernel without checks (vector channels).',
    },
    { name: 'direct', applies: onCpu, why: 'The direct kernel over the transposed kernel runs every input gradient on CPU rasterizers.' },
    ...gemmRows(conv2dGemmInputGrad),
    { name: 'tiled', applies: onGpu, why: "GPUs run the workgroup-tiled implicit GEMM ('gpu' profiles only)." },
  ],
};

export const conv2dKernelGradTable: VariantTable<Conv2DGeometry> = {
  op: 'conv2d.kernelGrad',
  key: conv2dKey,
  rows: [
    {
      name: 'winograd',
      applies: (g, p) => cpuAdjacent(g, p) && winogradFits(g, p, 1 / 2),
      note: 'bench/NOTES.md item 60',
      why: 'Winograd wherever it saves half the multiply-adds (small outputs too), with and without checks.',
    },
    { name: 'direct', applies: onCpu, why: 'The register-blocked reduction over chunks of output rows runs every kernel gradient on CPU rasterizers.' },
    gemmRow('gemm-splitk', conv2dGemmKernelGrad, `GPUs: dW with few output tiles over many output pixels, k split into 4 slices (more workgroups), partial sums added after: ${UNMEASURED}.`, kernelGradSplitPays),
    ...gemmRows(conv2dGemmKernelGrad),
    gemmRow('gemm-splitk2', conv2dGemmKernelGrad, `GPUs: split-K with 2 slices where split-K pays, a candidate for the tuner behind the others: ${UNMEASURED}.`, kernelGradSplitPays),
    { name: 'tiled', applies: onGpu, why: "GPUs run the workgroup-tiled kernel gradient ('gpu' profiles only)." },
  ],
};

/**
 * Where a forward can pool before its store at all: outputs holding a whole 2×2 window, on
 * either kind of profile (CPU rasterizers' Winograd and direct kernels, GPUs' implicit GEMM).
 */
export function poolsBeforeStore(g: Conv2DGeometry): boolean {
  return g.outH >= 2 && g.outW >= 2;
}

/**
 * The forward with its 2×2 max pool fused before the store (g is the pooled geometry): the
 * variants whose kernels can pool, in the forward table's order; none applying, the pool runs
 * after the forward.
 */
export const conv2dPooledForwardTable: VariantTable<Conv2DGeometry> = {
  op: 'conv2d.pooledForward',
  key: conv2dKey,
  rows: [
    {
      name: 'winograd',
      applies: (g, p) => poolsBeforeStore(g) && conv2dForwardTable.rows[0]!.applies(g, p),
      note: 'bench/NOTES.md item 61',
      why: "Winograd's output transform pools before it stores.",
    },
    {
      name: 'direct',
      applies: (g, p) => p.kind === 'cpu' && poolsBeforeStore(g) && !forwardByRows(g),
      note: 'bench/NOTES.md item 61',
      why: 'The direct pixel-block kernel pools before it stores (a 4× smaller store; the by-rows kernel cannot).',
    },
    // Checked with the argmax's needs (room in tileA to stage the positions), a superset of inference's.
    gemmRow('gemm-64x64', pooledGemm, `GPUs: the implicit GEMM with the pool as its epilogue (an invocation's 4 rows one window; a 4× smaller store), 64 × 64 tiles: ${UNMEASURED}.`, poolsBeforeStore),
    gemmRow('gemm-32x32', pooledGemm, `GPUs: the pooled implicit GEMM with 32 × 32 tiles (more workgroups for small products), behind 64 × 64: ${UNMEASURED}.`, poolsBeforeStore),
  ],
};

export const conv2dTransposeForwardTable: VariantTable<Conv2DGeometry> = {
  op: 'conv2dTranspose.forward',
  key: conv2dKey,
  rows: [
    { name: 'direct', applies: onCpu, why: "The registers forward kernel over the kernel transposed once: g's input gradient with bias and ReLU fused." },
    ...gemmRows(conv2dGemmTransposeForward),
    { name: 'tiled', applies: onGpu, why: "GPUs run the workgroup-tiled input gradient ('gpu' profiles only)." },
  ],
};
