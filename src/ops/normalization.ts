/**
 * The normalization ops: BatchNormalization over any channel axis (shaders/normalization.ts), and
 * LayerNormalization over any set of axes (shaders/normalization-layer.ts).
 *
 * - Batch normalization in training: per channel statistics over the step's real rows (the other
 *   rows of a partial batch neither count nor get a gradient), two passes each way: the
 *   statistics' blocks (then their finish, which also moves the moving statistics) and the
 *   normalize pass; the gradient sums' blocks (then their finish: dβ, dγ) and the dx pass.
 * - Batch normalization with the moving statistics (inference, a frozen layer): one normalize
 *   pass, and the backward of an affine map.
 * - Layer normalization: one invocation per group forward and for dx; dγ, dβ by blocks of groups.
 *
 * How the reductions cut their work (bnPartition) is the variant's (normalizationTable): on CPU
 * rasterizers (registers) each invocation stores its block's record and barriers never run (a
 * workgroup's barrier costs more there than the block's reads); on GPUs (tiled) a workgroup
 * merges its blocks in workgroup memory first.
 */
import * as kernels from '../../shaders/normalization.ts';
import * as layerKernels from '../../shaders/normalization-layer.ts';
import { bnLayout, type AffineFlags, type BnPartition, type NormGeometry } from '../../shaders/normalization.ts';
import { lnSizes, type LnGeometry } from '../../shaders/normalization-layer.ts';
import type { KernelStyle } from '../../shaders/kernel.ts';
import { stepInfoData } from '../../shaders/kernel.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { formatShape, type Shape } from '../runtime/tensor.ts';
import type { BenchRun } from '../runtime/tuning.ts';
import { benchRun } from './bench-buffers.ts';
import { always, choose, kindFirst, paramsOf, type Variant, type VariantTable } from './variants.ts';

export type { AffineFlags, BnPartition, LnGeometry, NormGeometry };

import type { Scratch } from '../runtime/engine.ts';
export type { Scratch };

/** A dimension index of `[batch, ...shape]` resolved (negatives from the end); `what` names the caller and field in errors. */
export function resolveAxis(axis: number, rank: number, what: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(`${what} must be an integer in [${-rank}, ${rank - 1}] for an input of rank ${rank}, got ${axis}`);
  }
  const resolved = axis < 0 ? axis + rank : axis;
  if (resolved === 0) throw new Error(`${what} must not be the batch axis (0, or ${-rank} for rank ${rank}), got ${axis}`);
  return resolved;
}

function checkShape(shape: Shape, what: string): void {
  if (shape.length < 1 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`${what}: expected an input of shape [batch, ...] with at least one more axis and positive sizes, got [batch, ${shape.join(', ')}]`);
  }
}

/** The [batch · perSample, channels, inner] view of `[batch, ...shape]` normalized per index of `axis` (counting the batch axis). */
export function normGeometry(batch: number, shape: Shape, axis: number, what: string): NormGeometry {
  checkShape(shape, what);
  const d = resolveAxis(axis, shape.length + 1, `${what}: axis`) - 1;
  const product = (from: number, to: number) => shape.slice(from, to).reduce((p, v) => p * v, 1);
  return { batch, perSample: product(0, d), channels: shape[d]!, inner: product(d + 1, shape.length) };
}

/** A variant's tuning: how many invocations keep the device busy, the fewest rows a block holds, rows per invocation of the elementwise passes. */
export interface NormTuning {
  invocations: number;
  minRows: number;
  elementRows: number;
}

const REGISTERS: Variant<unknown, NormTuning> = {
  name: 'registers',
  applies: always,
  params: { invocations: 1024, minRows: 8, elementRows: 4 },
  why: 'CPU rasterizers: few invocations of long blocks, each storing its record, no barriers (one costs more there than the block).',
};
const TILED: Variant<unknown, NormTuning> = {
  name: 'tiled',
  applies: always,
  params: { invocations: 32768, minRows: 4, elementRows: 1 },
  why: 'GPUs: many invocations, 256 a workgroup merging their blocks in workgroup memory.',
};

/** The normalizations' variants: both run anywhere; the profile's kind puts its own first. */
function normalizationTable<G>(op: string, key: (g: G) => string, bench: (engine: Engine, g: G, name: string) => BenchRun): VariantTable<G, NormTuning> {
  return {
    op,
    key,
    rows: kindFirst(REGISTERS, TILED) as Variant<G, NormTuning>[],
    bench,
  };
}

/** Batch normalization's variants (the reductions' partition and the elementwise passes' rows). */
export const batchNormTable = normalizationTable<NormGeometry>('batchNorm', (g) => `${g.batch}x${g.perSample}x${g.channels}x${g.inner}`, batchNormBench);
/** Layer normalization's variants (the blocks of its dγ, dβ reduction). */
export const layerNormTable = normalizationTable<LnGeometry>('layerNorm', (g) => `${g.batch}x[${g.runs.map((r) => `${r.size}${r.normalized ? '*' : ''}`).join('x')}]`, layerNormBench);

function tuningOf(variant: KernelStyle): NormTuning {
  return paramsOf(variant === 'tiled' ? TILED : REGISTERS, 'batchNorm');
}

/** The largest divisor of n that is at most limit (at least 1). */
function divisorAtMost(n: number, limit: number): number {
  for (let d = Math.max(1, Math.min(n, Math.floor(limit))); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/** How the reductions' first pass cuts `g` in the variant named `style` (see BnPartition). */
export function bnPartition(style: KernelStyle, g: NormGeometry): BnPartition {
  const { invocations, minRows } = tuningOf(style);
  const { CV, IV } = bnLayout(g);
  const rows = g.batch * g.perSample;
  const innerChunks = divisorAtMost(IV, Math.min(64, invocations / CV));
  const cols = CV * innerChunks;
  const wanted = Math.max(1, Math.min(Math.ceil(invocations / cols), Math.ceil(rows / minRows)));
  if (style === 'registers') {
    const rowsPerPart = Math.ceil(rows / wanted);
    return { innerChunks, rowsPerPart, wgCols: Math.min(cols, 64), wgParts: 1, groups: Math.ceil(rows / rowsPerPart) };
  }
  // Tiled: 256 invocations a workgroup, at most 256 records per column for the finish to read.
  const wgCols = Math.min(64, 2 ** Math.ceil(Math.log2(cols)));
  const wgParts = 256 / wgCols;
  const groups = Math.max(1, Math.min(Math.ceil(wanted / wgParts), Math.floor(256 / innerChunks)));
  return { innerChunks, rowsPerPart: Math.ceil(rows / (groups * wgParts)), wgCols, wgParts, groups };
}

function check(what: string, view: View | undefined, floats: number): void {
  if (!view) throw new Error(`${what}: missing buffer`);
  if (view.size < floats * 4) throw new Error(`${what}: view of ${view.size} bytes, need ${floats * 4}`);
}

const elements = (g: NormGeometry) => g.batch * g.perSample * g.channels * g.inner;

/** Bytes of the records a reduction's first pass stores. */
function recordBytes(g: NormGeometry, p: BnPartition): number {
  const { CV, R } = bnLayout(g);
  return 2 * p.groups * CV * p.innerChunks * (R === 'vec4f' ? 16 : 4);
}

/** Overrides of the tuning (tests and measurements): the variant (batchNormTable), the reductions' partition, rows per invocation of the elementwise passes. */
export interface BnTuning {
  variant?: KernelStyle;
  partition?: BnPartition;
  elementRows?: number;
}

function tuning(engine: Engine, g: NormGeometry, t: BnTuning | undefined): { partition: BnPartition; elementRows: number } {
  const variant = choose(batchNormTable, g, engine, t?.variant).name as KernelStyle;
  return { partition: t?.partition ?? bnPartition(variant, g), elementRows: t?.elementRows ?? tuningOf(variant).elementRows };
}

export interface BatchNormTrainForward {
  x: View;
  stepInfo: View;
  /** Out: the batch mean and biased variance, [C] each (kept for the backward). */
  mean: View;
  variance: View;
  /** Updated in place (null: statistics only). */
  movingMean: View | null;
  movingVariance: View | null;
  gamma?: View;
  beta?: View;
  /** Null: statistics only. */
  y: View | null;
  scratch: Scratch;
}

/** The batch statistics over the real rows, the moving statistics' update, then y. */
export function batchNormTrainForward(engine: Engine, g: NormGeometry, f: AffineFlags & { momentum: number }, io: BatchNormTrainForward, t?: BnTuning): Dispatch[] {
  const C = g.channels;
  check('batchNorm x', io.x, elements(g));
  check('batchNorm mean', io.mean, C);
  check('batchNorm variance', io.variance, C);
  const p = tuning(engine, g, t).partition;
  const records = io.scratch(recordBytes(g, p), 'batchNorm statistics records');
  const update = io.movingMean && io.movingVariance ? { momentum: f.momentum } : null;
  const out = [
    engine.kernel(kernels.bnStatsPartials(g, p), [io.x, io.stepInfo, records]),
    engine.kernel(kernels.bnStatsFinish(g, p, update), [records, io.stepInfo, io.mean, io.variance, ...(update ? [io.movingMean!, io.movingVariance!] : [])]),
  ];
  if (!io.y) return out;
  return [...out, ...batchNormApply(engine, g, f, { x: io.x, mean: io.mean, variance: io.variance, gamma: io.gamma, beta: io.beta, y: io.y }, t)];
}

/** y from given statistics (the moving ones in inference). */
export function batchNormApply(engine: Engine, g: NormGeometry, f: AffineFlags, io: { x: View; mean: View; variance: View; gamma?: View; beta?: View; y: View }, t?: BnTuning): Dispatch[] {
  check('batchNorm x', io.x, elements(g));
  check('batchNorm y', io.y, elements(g));
  const views = [io.x, io.mean, io.variance];
  if (f.scale) views.push(io.gamma!);
  if (f.center) views.push(io.beta!);
  views.push(io.y);
  return [engine.kernel(kernels.bnNormalize(g, f, tuning(engine, g, t).elementRows), views)];
}

export interface BatchNormTrainBackward {
  x: View;
  dy: View;
  mean: View;
  variance: View;
  gamma?: View;
  stepInfo: View;
  dx: View | null;
  dgamma?: View;
  dbeta?: View;
  scratch: Scratch;
}

/** The exact gradient through the batch statistics: the sums' blocks and their finish (dγ, dβ), then dx (none without dx). */
export function batchNormTrainBackward(engine: Engine, g: NormGeometry, f: AffineFlags, io: BatchNormTrainBackward, t?: BnTuning): Dispatch[] {
  check('batchNorm dy', io.dy, elements(g));
  const { partition: p, elementRows } = tuning(engine, g, t);
  const records = io.scratch(recordBytes(g, p), 'batchNorm gradient records');
  const sums = io.scratch(2 * g.channels * 4, 'batchNorm gradient sums');
  const finishViews = [records, io.variance, io.stepInfo, sums];
  if (f.scale) finishViews.push(io.dgamma!);
  if (f.center) finishViews.push(io.dbeta!);
  const out = [
    engine.kernel(kernels.bnGradPartials(g, p), [io.x, io.dy, io.mean, io.stepInfo, records]),
    engine.kernel(kernels.bnGradFinish(g, p, f), finishViews),
  ];
  if (io.dx) {
    check('batchNorm dx', io.dx, elements(g));
    const views = [io.x, io.dy, io.mean, io.variance, sums];
    if (f.scale) views.push(io.gamma!);
    views.push(io.stepInfo, io.dx);
    out.push(engine.kernel(kernels.bnGradInput(g, f, elementRows), views));
  }
  return out;
}

/** dx = dy · γ / sqrt(var + ε): the backward with constant (moving) statistics. */
export function batchNormAffineBackward(engine: Engine, g: NormGeometry, f: AffineFlags, io: { dy: View; variance: View; gamma?: View; dx: View }, t?: BnTuning): Dispatch[] {
  check('batchNorm dx', io.dx, elements(g));
  const views = [io.dy, io.variance];
  if (f.scale) views.push(io.gamma!);
  views.push(io.dx);
  return [engine.kernel(kernels.bnAffineGrad(g, f, tuning(engine, g, t).elementRows), views)];
}

// ---- LayerNormalization ----------------------------------------------------------------

/**
 * The runs of `[batch, ...shape]` normalized over `axes` (counting the batch axis; negatives from
 * the end; never the batch axis, no repeats): size-1 axes dropped, neighbours of a kind merged.
 */
export function lnGeometry(batch: number, shape: Shape, axes: readonly number[], what: string): LnGeometry {
  checkShape(shape, what);
  const rank = shape.length + 1;
  if (axes.length === 0) throw new Error(`${what}: axis must name at least one axis, got []`);
  const resolved = axes.map((a) => resolveAxis(a, rank, `${what}: axis`));
  if (new Set(resolved).size !== resolved.length) throw new Error(`${what}: axis must not repeat an axis, got ${JSON.stringify(axes)} (input ${formatShape([null as never, ...shape])})`);
  const runs: { size: number; normalized: boolean }[] = [];
  shape.forEach((size, d) => {
    if (size === 1) return;
    const normalized = resolved.includes(d + 1);
    const last = runs[runs.length - 1];
    if (last && last.normalized === normalized) last.size *= size;
    else runs.push({ size, normalized });
  });
  return { batch, runs };
}

/** Groups of the batch (rows of rowMean, rowInv) and values normalized together. */
export function lnCounts(g: LnGeometry): { groups: number; normalized: number } {
  const { N, KEPT } = lnSizes(g);
  return { groups: g.batch * KEPT, normalized: N };
}

/** Layer normalization of every group; rowMean and rowInv ([groups] each) receive the group's mean and 1/σ. */
export function layerNormForward(engine: Engine, g: LnGeometry, f: AffineFlags, io: { x: View; gamma?: View; beta?: View; y: View; rowMean: View; rowInv: View }): Dispatch[] {
  const { groups, normalized } = lnCounts(g);
  check('layerNorm x', io.x, groups * normalized);
  check('layerNorm y', io.y, groups * normalized);
  check('layerNorm rowMean', io.rowMean, groups);
  check('layerNorm rowInv', io.rowInv, groups);
  const views = [io.x];
  if (f.scale) views.push(io.gamma!);
  if (f.center) views.push(io.beta!);
  views.push(io.y, io.rowMean, io.rowInv);
  return [engine.kernel(layerKernels.lnForward(g, f), views)];
}

/** dx per group, then dγ and dβ over the real groups by blocks (their first pass, then the finish; `variant` forces a row of layerNormTable). */
export function layerNormBackward(
  engine: Engine,
  g: LnGeometry,
  f: AffineFlags,
  io: { x: View; dy: View; rowMean: View; rowInv: View; gamma?: View; stepInfo: View; dx: View | null; dgamma?: View; dbeta?: View; scratch: Scratch },
  variant?: KernelStyle,
): Dispatch[] {
  const out: Dispatch[] = [];
  if (io.dx) {
    const views = [io.x, io.dy, io.rowMean, io.rowInv];
    if (f.scale) views.push(io.gamma!);
    views.push(io.stepInfo, io.dx);
    out.push(engine.kernel(layerKernels.lnGradInput(g, f), views));
  }
  if (f.scale || f.center) {
    const { groups, normalized } = lnCounts(g);
    const { invocations, minRows } = paramsOf(choose(layerNormTable, g, engine, variant), layerNormTable.op);
    const parts = Math.max(1, Math.min(Math.ceil(invocations / normalized), Math.ceil(groups / minRows), 256));
    const block = Math.ceil(groups / parts);
    const used = Math.ceil(groups / block);
    const records = io.scratch(2 * used * normalized * 4, 'layerNorm gradient records');
    out.push(engine.kernel(layerKernels.lnGradPartials(g, block), [io.x, io.dy, io.rowMean, io.rowInv, io.stepInfo, records]));
    const views = [records];
    if (f.scale) views.push(io.dgamma!);
    if (f.center) views.push(io.dbeta!);
    out.push(engine.kernel(layerKernels.lnGradFinish(g, used, f), views));
  }
  return out;
}

// ---- benches (src/runtime/tuning.ts) ----------------------------------------------------------

/** The affine flags and momentum a bench runs with: Keras's defaults (scale, center, momentum 0.99). */
const BENCH_AFFINE = { scale: true, center: true, epsilon: 1e-3, momentum: 0.99 };

/** Batch normalization's bench: a training step's forward (statistics, moving update, y) and backward (dγ, dβ, dx) in the variant, every row real. */
function batchNormBench(engine: Engine, g: NormGeometry, name: string): BenchRun {
  return benchRun(engine, (s) => {
    const n = elements(g);
    const C = g.channels;
    const t: BnTuning = { variant: name as KernelStyle };
    const stepInfo = s.uniform(stepInfoData(0, 0, 0, g.batch), 'bench batchNorm step info');
    const [x, gamma, beta, dy] = [s.input(n, 'bench batchNorm x'), s.input(C, 'bench batchNorm gamma'), s.input(C, 'bench batchNorm beta'), s.input(n, 'bench batchNorm dy')];
    const [mean, variance, y, dx, dgamma, dbeta] = [C, C, n, n, C, C].map((floats) => s.output(floats, 'bench batchNorm output')) as [View, View, View, View, View, View];
    const [movingMean, movingVariance] = [s.constant(C, 0, 'bench batchNorm moving mean'), s.constant(C, 1, 'bench batchNorm moving variance')];
    return [
      ...batchNormTrainForward(engine, g, BENCH_AFFINE, { x, stepInfo, mean, variance, movingMean, movingVariance, gamma, beta, y, scratch: s.scratch }, t),
      ...batchNormTrainBackward(engine, g, BENCH_AFFINE, { x, dy, mean, variance, gamma, stepInfo, dx, dgamma, dbeta, scratch: s.scratch }, t),
    ];
  });
}

/** Layer normalization's bench: the forward (the group statistics the backward reads) and the variant's backward (dx, dγ, dβ), every group real. */
function layerNormBench(engine: Engine, g: LnGeometry, name: string): BenchRun {
  return benchRun(engine, (s) => {
    const { groups, normalized } = lnCounts(g);
    const n = groups * normalized;
    const stepInfo = s.uniform(stepInfoData(0, 0, 0, g.batch), 'bench layerNorm step info');
    const [x, gamma, beta, dy] = [s.input(n, 'bench layerNorm x'), s.input(normalized, 'bench layerNorm gamma'), s.input(normalized, 'bench layerNorm beta'), s.input(n, 'bench layerNorm dy')];
    const [y, rowMean, rowInv, dx, dgamma, dbeta] = [n, groups, groups, n, normalized, normalized].map((floats) => s.output(floats, 'bench layerNorm output')) as [View, View, View, View, View, View];
    return [
      ...layerNormForward(engine, g, BENCH_AFFINE, { x, gamma, beta, y, rowMean, rowInv }),
      ...layerNormBackward(engine, g, BENCH_AFFINE, { x, dy, rowMean, rowInv, gamma, stepInfo, dx, dgamma, dbeta, scratch: s.scratch }, name as KernelStyle),
    ];
  });
}
