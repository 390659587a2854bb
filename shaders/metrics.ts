/** The metrics accumulator's layout on the GPU and its WGSL (src/ops/losses/metrics.ts decodes it). */

/** 32-bit words of the accumulator. */
export const METRICS_WORDS = 8;

/** Bytes of the accumulator. */
export const METRICS_BYTES = METRICS_WORDS * 4;

/**
 * The WGSL of the accumulator at `binding` of group 0: the `Metrics` struct, the `metrics`
 * variable and `add_to_metrics(lossSum, count, correct, accuracyCount)`, which one invocation of a
 * loss kernel calls once with the batch's totals. The loss sum goes in with Kahan's compensation,
 * so an epoch of f32 additions stays accurate.
 */
export function metricsWgsl(binding: number): string {
  return `struct Metrics {
  lossSum: f32,
  correct: u32,
  count: u32,
  // Kahan: what lossSum lost to rounding, negated; the true sum is lossSum - compensation.
  compensation: f32,
  accuracyCount: u32,
  reserved0: u32,
  reserved1: u32,
  reserved2: u32,
}

@group(0) @binding(${binding}) var<storage, read_write> metrics: Metrics;

fn add_to_metrics(lossSum: f32, count: u32, correct: u32, accuracyCount: u32) {
  let y = lossSum - metrics.compensation;
  let t = metrics.lossSum + y;
  metrics.compensation = (t - metrics.lossSum) - y;
  metrics.lossSum = t;
  metrics.count += count;
  metrics.correct += correct;
  metrics.accuracyCount += accuracyCount;
}`;
}
