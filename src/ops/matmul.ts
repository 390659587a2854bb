/**
 * The workgroup-tiled matrix product for GPUs (shaders/tiled-matmul.ts): geometry with defaults,
 * named tile presets a variant registry can cite, whether a preset applies on a device, the
 * dispatches (the product, and split-K's sum), and the geometries of dense's three products and
 * of a batched product, so that every heavy product can run through one configurable kernel
 * (the convolutions too, their operands gathered as implicit GEMMs: shaders/conv2d-gemm.ts).
 */
import { tiledMatmul, matmulBindings, matmulSplitKSum, splitKSumBindings, validateLoaders, validateMatmulGeometry, validateTileConfig, productLaunch } from '../../shaders/tiled-matmul.ts';
import type { MatmulGeometry, MatmulLimits, OperandLoaders, TileConfig } from '../../shaders/tiled-matmul.ts';
import type { BatchedMatmulGeometry } from '../../shaders/batched-matmul.ts';
import type { DenseGeometry } from '../../shaders/dense.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';

export type { MatmulGeometry, MatmulLimits, OperandLoaders, TileConfig };
export { DEFAULT_MATMUL_LIMITS, workgroupStorageBytes, operandPlans } from '../../shaders/tiled-matmul.ts';

/**
 * Named tile configurations, shapes common in the GPU SGEMM literature (none measured here):
 * - 'small-16x16': the textbook shared-memory tiling, one element per invocation, 16 × 16 × 16.
 * - 'gpu-32x32-4x4': 8 × 8 invocations of 4 × 4 (the shape of shaders/batched-matmul.ts's tiled variant).
 * - 'gpu-64x64-4x4': 16 × 16 invocations of 4 × 4, k step 8, double-buffered.
 * - 'gpu-128x64-8x4': 16 × 16 invocations of 8 × 4, k step 8, double-buffered.
 * - 'gpu-128x128-8x8': 16 × 16 invocations of 8 × 8, k step 8, double-buffered (16 KiB: the default limit).
 * - 'skinny-16x128': m ≪ n (few rows, many columns): 32 × 4 invocations of 4 × 4.
 * - 'tall-128x16': m ≫ n (a weight gradient with few units): 4 × 32 invocations of 4 × 4.
 * - 'splitk-32x32-s4': small outputs over a long k: 32 × 32 tiles, k split into 4 slices.
 * - 'gpu-64x64-4x4-subgroups': 'gpu-64x64-4x4' with op(A) exchanged by subgroupShuffle (needs 'subgroups').
 */
export const MATMUL_TILES = Object.freeze({
  'small-16x16': tiles(16, 16, 16, 16, 16, { vec4: true, doubleBuffer: false }),
  'gpu-32x32-4x4': tiles(32, 32, 16, 8, 8, { vec4: true, doubleBuffer: false }),
  'gpu-64x64-4x4': tiles(64, 64, 8, 16, 16, { vec4: true, doubleBuffer: true }),
  'gpu-128x64-8x4': tiles(128, 64, 8, 16, 16, { vec4: true, doubleBuffer: true }),
  'gpu-128x128-8x8': tiles(128, 128, 8, 16, 16, { vec4: true, doubleBuffer: true }),
  'skinny-16x128': tiles(16, 128, 8, 32, 4, { vec4: true, doubleBuffer: true }),
  'tall-128x16': tiles(128, 16, 8, 4, 32, { vec4: true, doubleBuffer: true }),
  'splitk-32x32-s4': tiles(32, 32, 16, 8, 8, { vec4: true, doubleBuffer: true, splitK: 4 }),
  'gpu-64x64-4x4-subgroups': tiles(64, 64, 8, 16, 16, { vec4: true, doubleBuffer: true, subgroups: true }),
} satisfies Record<string, TileConfig>);

export type MatmulTileName = keyof typeof MATMUL_TILES;

function tiles(tileM: number, tileN: number, tileK: number, wgX: number, wgY: number, options: Partial<TileConfig>): TileConfig {
  return Object.freeze({ tileM, tileN, tileK, wgX, wgY, blockRows: tileM / wgY, blockCols: tileN / wgX, vec4: true, doubleBuffer: false, subgroups: false, splitK: 1, ...options });
}

/** The fields of a product; everything but m, n and k has a default (packed batches, no transposes, no epilogue). */
export type MatmulGeometryInput = Pick<MatmulGeometry, 'm' | 'n' | 'k'> & Partial<MatmulGeometry>;

/** A full, checked geometry from `input`: batch 1, packed strides, and every flag false unless given. Errors name `who` and the field. */
export function matmulGeometry(input: MatmulGeometryInput, who = 'matmul'): MatmulGeometry {
  const { m, n, k } = input;
  const batch = input.batch ?? 1;
  return validateMatmulGeometry(
    {
      batch,
      m,
      n,
      k,
      transposeA: input.transposeA ?? false,
      transposeB: input.transposeB ?? false,
      strideA: input.strideA ?? m * k,
      strideB: input.strideB ?? k * n,
      strideC: input.strideC ?? m * n,
      bias: input.bias ?? false,
      relu: input.relu ?? false,
      accumulate: input.accumulate ?? false,
      maskA: input.maskA ?? false,
      maskB: input.maskB ?? false,
    },
    who,
  );
}

/** What a device offers a configuration: its limits and whether the 'subgroups' feature is enabled (a DeviceProfile fits). */
export interface MatmulDevice {
  limits: MatmulLimits;
  features: { subgroups: boolean };
}

/** Why configuration c cannot run g on the device, or null when it can (what a registry row's `applies` asks). */
export function matmulConfigProblem(g: MatmulGeometry, c: TileConfig, device: MatmulDevice): string | null {
  try {
    validateMatmulGeometry(g);
    validateTileConfig(c, device.limits);
    productLaunch(g, c);
  } catch (err) {
    return (err as Error).message;
  }
  if (c.subgroups && !device.features.subgroups) return "tiledMatmul: subgroups needs the device's 'subgroups' feature, which this device does not have";
  return null;
}

/** True when configuration c can run g on the device (matmulConfigProblem is null). */
export function matmulConfigApplies(g: MatmulGeometry, c: TileConfig, device: MatmulDevice): boolean {
  return matmulConfigProblem(g, c, device) === null;
}

/** Floats of split-K's scratch buffer (splitK slices of every batch's C); 0 without split-K. */
export function matmulScratchFloats(g: MatmulGeometry, c: TileConfig): number {
  return c.splitK > 1 ? c.splitK * g.batch * g.m * g.n : 0;
}

export interface MatmulViews {
  /** A, stored [m, k] or [k, m] per batch (transposeA), batches strideA apart; with loaders.a, what gatherA reads. */
  a: BufferView;
  /** B, stored [k, n] or [n, k] per batch (transposeB), batches strideB apart; with loaders.b, what gatherB reads. */
  b: BufferView;
  /** Laid out like A (B); required with g.maskA (g.maskB). */
  maskA?: BufferView;
  maskB?: BufferView;
  /** [n]; required with g.bias. */
  bias?: BufferView;
  /** C, [m, n] per batch, strideC apart: overwritten, or added to with g.accumulate; [windows, n] with g.pool. */
  c: BufferView;
  /** With g.pool.argmax: the first-max positions, a u32 per window and group of 4 columns. */
  argmax?: BufferView;
  /** Split-K's scratch, matmulScratchFloats(g, c) floats; required with splitK > 1, created by the caller at plan-build time. */
  partial?: BufferView;
}

/** Elements a view holds (its size, else its buffer's from the offset). */
function viewFloats(view: BufferView): number {
  return (view.size ?? view.buffer.size - (view.offset ?? 0)) / 4;
}

/** The floats each binding must hold. */
function requiredFloats(g: MatmulGeometry): Record<string, number> {
  const last = (stride: number, one: number) => (g.batch - 1) * stride + one;
  const c = g.pool ? g.pool.windows * g.n : last(g.strideC, g.m * g.n);
  const argmax = g.pool ? g.pool.windows * Math.ceil(g.n / 4) : 0;
  return { a: last(g.strideA, g.m * g.k), maskA: last(g.strideA, g.m * g.k), b: last(g.strideB, g.k * g.n), maskB: last(g.strideB, g.k * g.n), bias: g.n, c, argmax };
}

/**
 * The dispatches of C (= | +=) act(op(A)·op(B) + bias) with configuration `config`: one product
 * kernel, and with splitK > 1 the sum of its slices. Built once per plan; nothing is allocated.
 * `loaders`: operands gathered by WGSL functions (implicit GEMM), their views sized by the loaders.
 */
export function matmul(engine: Engine, g: MatmulGeometry, views: MatmulViews, config: TileConfig, loaders?: OperandLoaders): Dispatch[] {
  const geometry = validateMatmulGeometry(g);
  const limits = engine.limits as unknown as MatmulLimits;
  validateTileConfig(config, limits);
  if (loaders) validateLoaders(geometry, loaders, 'matmul');
  if (config.subgroups && !engine.device.features.has('subgroups')) {
    throw new Error("matmul: config.subgroups needs a device created with the 'subgroups' feature; this engine's device lacks it");
  }
  const gathered = { ...(loaders?.a ? { a: loaders.a.floats } : {}), ...(loaders?.b ? { b: loaders.b.floats } : {}) };
  const need = { ...requiredFloats(geometry), ...gathered, partial: matmulScratchFloats(geometry, config) };
  const view = (name: string): BufferView => {
    const v = (views as unknown as Record<string, BufferView | undefined>)[name];
    if (!v) throw new Error(`matmul: views.${name} is required by this geometry and configuration (${need[name as keyof typeof need]} floats)`);
    const floats = viewFloats(v);
    const wanted = need[name as keyof typeof need] ?? 0;
    if (floats < wanted) throw new Error(`matmul: views.${name} must hold at least ${wanted} floats, got ${floats}`);
    return v;
  };
  const product = engine.kernel(tiledMatmul(geometry, config, limits, loaders), matmulBindings(geometry, config).map((b) => view(b.name)));
  if (config.splitK === 1) return [product];
  const sum = engine.kernel(matmulSplitKSum(geometry, config.splitK), splitKSumBindings(geometry).map((b) => view(b.name)));
  return [product, sum];
}

/**
 * Dense's three products as tiled-matmul geometries: forward y = act(x·W + b) (a = x, b = W),
 * input gradient dx = g·Wᵀ (a = dy, maskA = y under relu, b = W) and kernel gradient
 * dW = xᵀ·g (a = x, b = dy, maskB = y under relu). The bias gradient Σ_rows g is no product.
 */
export function denseMatmulGeometries(g: DenseGeometry): { forward: MatmulGeometry; inputGrad: MatmulGeometry; kernelGrad: MatmulGeometry } {
  return {
    forward: matmulGeometry({ m: g.rows, n: g.units, k: g.inputs, bias: g.bias, relu: g.relu }, 'dense'),
    inputGrad: matmulGeometry({ m: g.rows, n: g.inputs, k: g.units, transposeB: true, maskA: g.relu }, 'dense'),
    kernelGrad: matmulGeometry({ m: g.inputs, n: g.units, k: g.rows, transposeA: true, maskB: g.relu }, 'dense'),
  };
}

/** A batched product (src/ops/batched-matmul.ts) as a tiled-matmul geometry: packed batches, no epilogue. */
export function batchedMatmulAsTiled(g: BatchedMatmulGeometry): MatmulGeometry {
  return matmulGeometry({ batch: g.batch, m: g.m, n: g.n, k: g.k, transposeA: g.transposeA, transposeB: g.transposeB }, 'batchedMatmul');
}
