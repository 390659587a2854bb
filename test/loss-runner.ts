/**
 * One loss run as a plan runs it, shared by test/loss-variants.test.ts and
 * test/property-losses-convs.test.ts: the loss's dispatches (a variant forced) on NaN-prefilled
 * gradient and scratch, a zeroed metrics accumulator and a step uniform saying how many rows are
 * real, and what came back.
 */
import { STEP_INFO_BYTES, stepInfoData } from '../shaders/kernel.ts';
import { resolveLoss } from '../src/ops/losses/index.ts';
import type { AccuracyKind } from '../src/ops/losses/loss.ts';
import { METRICS_BYTES, readMetrics } from '../src/ops/losses/metrics.ts';
import type { Engine } from '../src/runtime/engine.ts';
import { nanBuffer, readF32, uploadView } from './helpers.ts';

/** |a − b| / |b|: the loss's error (a scalar). */
export const relError = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);

export interface LossRun {
  batch: number;
  /** The output's per-sample shape. */
  shape: number[];
  /** The real rows (StepInfo.rows); the others are padding. */
  rows: number;
  fused: boolean;
  accuracy: AccuracyKind | null;
  gradient: boolean;
  variant: string;
  weights?: Float32Array;
  /** f32 [batch, ...shape without its last axis]. */
  mask?: Float32Array;
}

/** Runs loss `loss` on outputs y and labels t: the metrics accumulator, the gradient (null when evaluating) and the dispatch count. */
export async function runLoss(e: Engine, loss: string, y: Float32Array, t: Float32Array | Uint32Array, o: LossRun) {
  const grad = o.gradient ? nanBuffer(e, y.length) : null;
  const metrics = uploadView(e, new Uint32Array(METRICS_BYTES / 4));
  const step = e.uniform(STEP_INFO_BYTES, 'step-info');
  e.write(step, stepInfoData(0, 0, 0, o.rows));
  const views = {
    output: uploadView(e, y),
    labels: uploadView(e, t),
    grad,
    metrics,
    stepInfo: { buffer: step, offset: 0, size: STEP_INFO_BYTES },
    // NaN-prefilled: the passes must write every word they read.
    scratch: (bytes: number) => nanBuffer(e, Math.ceil(bytes / 4)),
    ...(o.weights ? { sampleWeights: uploadView(e, o.weights) } : {}),
    ...(o.mask ? { mask: uploadView(e, o.mask) } : {}),
  };
  const g = { batch: o.batch, outputShape: o.shape, ...(o.mask ? { maskShape: o.shape.slice(0, -1) } : {}) };
  const dispatches = resolveLoss(loss).dispatches(e, g, views, { fused: o.fused, accuracy: o.accuracy, variant: o.variant });
  e.run(dispatches);
  return { ...readMetrics(await e.read(metrics, METRICS_BYTES)), grad: grad ? await readF32(e, grad, y.length) : null, dispatches: dispatches.length };
}
