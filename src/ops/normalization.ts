/**
 * The normalization ops (shaders/normalization.ts) over a channels-last tensor seen as
 * [batch · perSample, channels]:
 *
 * - batch normalization in training: per channel statistics over the step's real rows
 *   (StepInfo.rows · perSample; the other rows of a partial batch neither count nor get a
 *   gradient), the moving statistics updated in the same dispatch, then one normalize pass; its
 *   backward is one reduction (Σdy, Σdy·x̂ per channel, which are dβ and dγ) and one elementwise pass;
 * - batch normalization with the moving statistics (inference, a frozen layer): one normalize pass,
 *   and the backward of an affine map;
 * - layer normalization: one pass per row forward; backward one pass per row (dx) and one
 *   reduction per channel (dγ, dβ).
 */
import * as kernels from '../../shaders/normalization.ts';
import type { AffineFlags, NormGeometry } from '../../shaders/normalization.ts';
import type { Dispatch, Engine, View } from '../runtime/engine.ts';
import { formatShape, sizeOf, type Shape } from '../runtime/tensor.ts';

export type { AffineFlags, NormGeometry };

/** The [batch · perSample, channels] view of a channels-last `[batch, ...shape]`; `what` names the caller in errors. */
export function normGeometry(batch: number, shape: Shape, what: string): NormGeometry {
  if (shape.length < 1 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`${what}: expected an input of shape [batch, ..., channels] with positive sizes, got [batch, ${shape.join(', ')}]`);
  }
  const channels = shape[shape.length - 1]!;
  if (channels > 65535) throw new Error(`${what}: at most 65535 channels are supported, got ${channels} (input ${formatShape(shape)})`);
  return { batch, perSample: sizeOf(shape) / channels, channels };
}

function check(what: string, view: View | undefined, floats: number): void {
  if (!view) throw new Error(`${what}: missing buffer`);
  if (view.size < floats * 4) throw new Error(`${what}: view of ${view.size} bytes, need ${floats * 4}`);
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
}

/** The batch statistics over the real rows, the moving statistics' update, then y. */
export function batchNormTrainForward(engine: Engine, g: NormGeometry, f: AffineFlags & { momentum: number }, io: BatchNormTrainForward): Dispatch[] {
  const C = g.channels;
  check('batchNorm mean', io.mean, C);
  check('batchNorm variance', io.variance, C);
  const update = io.movingMean && io.movingVariance ? { momentum: f.momentum } : null;
  const stats = engine.kernel(kernels.bnStats(g, update), [io.x, io.stepInfo, io.mean, io.variance, ...(update ? [io.movingMean!, io.movingVariance!] : [])]);
  if (!io.y) return [stats];
  return [stats, ...batchNormApply(engine, g, f, { x: io.x, mean: io.mean, variance: io.variance, gamma: io.gamma, beta: io.beta, y: io.y })];
}

/** y from given statistics (the moving ones in inference). */
export function batchNormApply(engine: Engine, g: NormGeometry, f: AffineFlags, io: { x: View; mean: View; variance: View; gamma?: View; beta?: View; y: View }): Dispatch[] {
  const n = g.batch * g.perSample * g.channels;
  check('batchNorm x', io.x, n);
  check('batchNorm y', io.y, n);
  const views = [io.x, io.mean, io.variance];
  if (f.scale) views.push(io.gamma!);
  if (f.center) views.push(io.beta!);
  views.push(io.y);
  return [engine.kernel(kernels.bnNormalize(g, f), views)];
}

export interface BatchNormTrainBackward {
  x: View;
  dy: View;
  mean: View;
  variance: View;
  gamma?: View;
  stepInfo: View;
  /** Scratch of 2·C floats for Σdy and Σdy·x̂. */
  sums: View;
  dx: View | null;
  dgamma?: View;
  dbeta?: View;
}

/** The exact gradient through the batch statistics: one reduction, one elementwise pass (none without dx). */
export function batchNormTrainBackward(engine: Engine, g: NormGeometry, f: AffineFlags, io: BatchNormTrainBackward): Dispatch[] {
  check('batchNorm sums', io.sums, 2 * g.channels);
  const sumViews = [io.x, io.dy, io.mean, io.variance, io.stepInfo, io.sums];
  if (f.scale) sumViews.push(io.dgamma!);
  if (f.center) sumViews.push(io.dbeta!);
  const out = [engine.kernel(kernels.bnGradSums(g, f), sumViews)];
  if (io.dx) {
    const views = [io.x, io.dy, io.mean, io.variance, io.sums];
    if (f.scale) views.push(io.gamma!);
    views.push(io.stepInfo, io.dx);
    out.push(engine.kernel(kernels.bnGradInput(g, f), views));
  }
  return out;
}

/** dx = dy · γ / sqrt(var + ε): the backward with constant (moving) statistics. */
export function batchNormAffineBackward(engine: Engine, g: NormGeometry, f: AffineFlags, io: { dy: View; variance: View; gamma?: View; dx: View }): Dispatch[] {
  const views = [io.dy, io.variance];
  if (f.scale) views.push(io.gamma!);
  views.push(io.dx);
  return [engine.kernel(kernels.bnAffineGrad(g, f), views)];
}

/** Layer normalization of every row; rowMean and rowInv ([rows] each) receive the row's mean and 1/σ. */
export function layerNormForward(engine: Engine, g: NormGeometry, f: AffineFlags, io: { x: View; gamma?: View; beta?: View; y: View; rowMean: View; rowInv: View }): Dispatch[] {
  const rows = g.batch * g.perSample;
  check('layerNorm x', io.x, rows * g.channels);
  check('layerNorm y', io.y, rows * g.channels);
  check('layerNorm rowMean', io.rowMean, rows);
  check('layerNorm rowInv', io.rowInv, rows);
  const views = [io.x];
  if (f.scale) views.push(io.gamma!);
  if (f.center) views.push(io.beta!);
  views.push(io.y, io.rowMean, io.rowInv);
  return [engine.kernel(kernels.lnForward(g, f), views)];
}

export function layerNormBackward(
  engine: Engine,
  g: NormGeometry,
  f: AffineFlags,
  io: { x: View; dy: View; rowMean: View; rowInv: View; gamma?: View; stepInfo: View; dx: View | null; dgamma?: View; dbeta?: View },
): Dispatch[] {
  const out: Dispatch[] = [];
  if (io.dx) {
    const views = [io.x, io.dy, io.rowMean, io.rowInv];
    if (f.scale) views.push(io.gamma!);
    views.push(io.stepInfo, io.dx);
    out.push(engine.kernel(kernels.lnGradInput(g, f), views));
  }
  if (f.scale || f.center) {
    const views = [io.x, io.dy, io.rowMean, io.rowInv, io.stepInfo];
    if (f.scale) views.push(io.dgamma!);
    if (f.center) views.push(io.dbeta!);
    out.push(engine.kernel(kernels.lnGradParams(g, f), views));
  }
  return out;
}
