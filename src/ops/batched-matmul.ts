/**
 * The batched matrix product C[b] = op(A[b]) · op(B[b]) with either operand transposed (the Dot
 * layer's product, and attention's Q·Kᵀ and P·V), its gradients, and the L2 normalization of
 * vectors along an axis that Dot applies first when asked. Kernels: shaders/batched-matmul.ts.
 */
import * as kernels from '../../shaders/batched-matmul.ts';
import type { BatchedMatmulGeometry, VectorGeometry } from '../../shaders/batched-matmul.ts';
import type { KernelStyle } from '../../shaders/kernel.ts';
import { always, choose, onCpu, onGpu, type Variant, type VariantTable } from './variants.ts';
import type { BufferView, Dispatch, Engine } from '../runtime/engine.ts';
import type { BenchRun } from '../runtime/tuning.ts';
import { batchedMatmulAsTiled, MATMUL_TILES, matmul, matmulConfigApplies, type MatmulTileName } from './matmul.ts';
import { benchRun } from './bench-buffers.ts';

export type { BatchedMatmulGeometry, VectorGeometry };
export { L2_NORMALIZE_EPSILON } from '../../shaders/batched-matmul.ts';

export interface BatchedMatmulViews {
  /** [batch, m, k], or [batch, k, m] when transposeA. */
  a: BufferView;
  /** [batch, k, n], or [batch, n, k] when transposeB. */
  b: BufferView;
  /** [batch, m, n], overwritten. */
  c: BufferView;
}

export interface BatchedMatmulBackwardViews {
  a: BufferView;
  b: BufferView;
  /** dL/dC, [batch, m, n]. */
  dc: BufferView;
  /** dL/dA in A's own layout (transposed when A is), overwritten; null when nobody needs it. */
  da: BufferView | null;
  /** dL/dB in B's own layout, overwritten; null when nobody needs it. */
  db: BufferView | null;
}

/** The batched product's variant names: its own kernels, and the tiled matmul's presets. */
export type BatchedMatmulVariant = KernelStyle | keyof typeof TILED_PRESETS;

export interface BatchedMatmulOptions {
  /** Force a variant of batchedMatmulTable ('registers', 'tiled', 'tiled-64x64', …); by default the table's choice for the engine's profile. */
  variant?: BatchedMatmulVariant;
  /** The same as `variant` (its former name). */
  style?: KernelStyle;
}

/** A short key of a batched product's geometry for the variant records. */
export function batchedMatmulKey(g: BatchedMatmulGeometry): string {
  return `${g.batch}x[${g.m}x${g.k}${g.transposeA ? 'ᵀ' : ''}·${g.k}x${g.n}${g.transposeB ? 'ᵀ' : ''}]`;
}

/** The tiled matmul's presets (src/ops/matmul.ts MATMUL_TILES) the batched product runs as rows. */
const TILED_PRESETS = { 'tiled-64x64': 'gpu-64x64-4x4', 'tiled-128x64': 'gpu-128x64-8x4' } as const satisfies Record<string, MatmulTileName>;

/** A row running the product through the tiled matmul with `preset`: 'gpu' profiles, where the preset applies. */
function presetRow(name: keyof typeof TILED_PRESETS, why: string): Variant<BatchedMatmulGeometry> {
  return { name, why, applies: (g, p) => onGpu(g, p) && matmulConfigApplies(batchedMatmulAsTiled(g), MATMUL_TILES[TILED_PRESETS[name]], p) };
}
const UNMEASURED = "the GPU SGEMM literature's shape, unmeasured here (no bench/NOTES.md item yet)";

/** The batched product's variants (shaders/batched-matmul.ts, and the tiled matmul's presets first on GPUs); the profile's kind puts its own first. */
export const batchedMatmulTable: VariantTable<BatchedMatmulGeometry> = {
  op: 'batchedMatmul',
  key: batchedMatmulKey,
  rows: [
    presetRow('tiled-64x64', `GPUs: the configurable tiled matmul, 64 × 64 tiles of 4 × 4 per invocation, double-buffered: ${UNMEASURED}.`),
    presetRow('tiled-128x64', `GPUs: the configurable tiled matmul, 128 × 64 tiles of 8 × 4 per invocation, behind 64 × 64: ${UNMEASURED}.`),
    { name: 'registers', applies: onCpu, why: 'CPU rasterizers: 4 × 4 blocks in named vec4 accumulators, no workgroup memory or barriers.' },
    { name: 'tiled', applies: always, why: 'GPUs: 32 × 32 tiles staged in workgroup memory; on CPU rasterizers it runs, behind the registers kernel.' },
    { name: 'registers', applies: always, why: 'The registers kernel runs on GPUs too, behind the tiled one.' },
  ],
  bench: batchedMatmulBench,
};

/** Checks a geometry (sizes positive integers, flags booleans), naming `who`; returns it. */
export function batchedMatmulGeometry(g: BatchedMatmulGeometry, who = 'batchedMatmul'): BatchedMatmulGeometry {
  for (const field of ['batch', 'm', 'n', 'k'] as const) {
    const value = g[field];
    if (!Number.isInteger(value) || value <= 0 || value >= 2 ** 31) throw new Error(`${who}: ${field} must be a positive integer, got ${String(value)}`);
  }
  for (const field of ['transposeA', 'transposeB'] as const) {
    if (typeof g[field] !== 'boolean') throw new Error(`${who}: ${field} must be true or false, got ${String(g[field])}`);
  }
  return { batch: g.batch, m: g.m, n: g.n, k: g.k, transposeA: g.transposeA, transposeB: g.transposeB };
}

/** C = op(A)·op(B) for every batch. */
export function batchedMatmul(engine: Engine, g: BatchedMatmulGeometry, views: BatchedMatmulViews, options: BatchedMatmulOptions = {}): Dispatch[] {
  const geometry = batchedMatmulGeometry(g);
  const variant = choose(batchedMatmulTable, geometry, engine, options.variant ?? options.style).name as BatchedMatmulVariant;
  if (variant in TILED_PRESETS) return matmul(engine, batchedMatmulAsTiled(geometry), views, MATMUL_TILES[TILED_PRESETS[variant as keyof typeof TILED_PRESETS]]);
  return [engine.kernel(kernels.batchedMatmul(geometry, variant as KernelStyle), [views.a, views.b, views.c])];
}

/**
 * The products that give dA and dB, each a batched product of dC with the other operand:
 *   dA = dC·op(B)ᵀ (stored transposed when A is: op(B)·dCᵀ), dB = op(A)ᵀ·dC (or dCᵀ·op(A)).
 */
export function batchedMatmulGradients(g: BatchedMatmulGeometry): {
  a: { geometry: BatchedMatmulGeometry; operands: readonly ['dc', 'b'] | readonly ['b', 'dc'] };
  b: { geometry: BatchedMatmulGeometry; operands: readonly ['a', 'dc'] | readonly ['dc', 'a'] };
} {
  const { batch, m, n, k, transposeA, transposeB } = g;
  return {
    a: transposeA
      ? { geometry: { batch, m: k, n: m, k: n, transposeA: transposeB, transposeB: true }, operands: ['b', 'dc'] }
      : { geometry: { batch, m, n: k, k: n, transposeA: false, transposeB: !transposeB }, operands: ['dc', 'b'] },
    b: transposeB
      ? { geometry: { batch, m: n, n: k, k: m, transposeA: true, transposeB: transposeA }, operands: ['dc', 'a'] }
      : { geometry: { batch, m: k, n, k: m, transposeA: !transposeA, transposeB: false }, operands: ['a', 'dc'] },
  };
}

/** dA and dB of C = op(A)·op(B), each in its operand's layout; a null target skips its product. */
export function batchedMatmulBackward(engine: Engine, g: BatchedMatmulGeometry, views: BatchedMatmulBackwardViews, options: BatchedMatmulOptions = {}): Dispatch[] {
  const grads = batchedMatmulGradients(batchedMatmulGeometry(g));
  const dispatches: Dispatch[] = [];
  const named = { a: views.a, b: views.b, dc: views.dc };
  if (views.da) {
    const [left, right] = grads.a.operands;
    dispatches.push(...batchedMatmul(engine, grads.a.geometry, { a: named[left], b: named[right], c: views.da }, options));
  }
  if (views.db) {
    const [left, right] = grads.b.operands;
    dispatches.push(...batchedMatmul(engine, grads.b.geometry, { a: named[left], b: named[right], c: views.db }, options));
  }
  return dispatches;
}

/** u = x / sqrt(max(Σx², ε)) for each vector of an [outer, length, inner] tensor along its middle axis (TF.js's l2Normalize). */
export function l2NormalizeForward(engine: Engine, v: VectorGeometry, views: { x: BufferView; u: BufferView }): Dispatch[] {
  return [engine.kernel(kernels.l2NormalizeForward(v), [views.x, views.u])];
}

/** dx of l2NormalizeForward from x and du (the norm is recomputed); dx is overwritten. */
export function l2NormalizeBackward(engine: Engine, v: VectorGeometry, views: { x: BufferView; du: BufferView; dx: BufferView }): Dispatch[] {
  return [engine.kernel(kernels.l2NormalizeBackward(v), [views.x, views.du, views.dx])];
}

/** The batched product's bench: the variant's product C = op(A)·op(B) (its gradients are batched products of their own geometries, chosen and tuned as such). */
function batchedMatmulBench(engine: Engine, g: BatchedMatmulGeometry, name: string): BenchRun {
  return benchRun(engine, (s) => {
    const floats = { a: g.batch * g.m * g.k, b: g.batch * g.k * g.n, c: g.batch * g.m * g.n };
    return batchedMatmul(engine, g, { a: s.input(floats.a, 'bench batchedMatmul a'), b: s.input(floats.b, 'bench batchedMatmul b'), c: s.output(floats.c, 'bench batchedMatmul c') }, { variant: name as BatchedMatmulVariant });
  });
}
