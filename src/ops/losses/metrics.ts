/**
 * The metrics accumulator every loss kernel adds to: 8 words on the GPU, zeroed when the model
 * resets its metrics (an epoch, an evaluate call) and read once per log. The loss is
 * lossSum / count and the accuracy correct / accuracyCount (see readMetrics).
 * Word 4 is what `correct` is out of, which is not `count` for binary accuracy (it counts
 * elements, the loss counts positions). Words 5..7 are reserved (zero) for more metrics.
 */
import { METRICS_BYTES, METRICS_WORDS } from '../../../shaders/metrics.ts';

export { METRICS_BYTES, METRICS_WORDS };

/** Word offsets of the fields, for hosts that decode or seed the buffer themselves. */
export const METRICS_LAYOUT = {
  /** f32: Σ of the per-position losses added so far (minus `compensation` for the exact sum). */
  lossSum: 0,
  /** u32: accuracy matches. */
  correct: 1,
  /** u32: per-position losses in lossSum: real rows × positions per sample (one per row for [batch, k] outputs). */
  count: 2,
  /** f32: the Kahan compensation of lossSum (what it lost to rounding, negated). */
  compensation: 3,
  /** u32: what `correct` is out of: positions (sparse, categorical accuracy) or elements (binary). */
  accuracyCount: 4,
} as const;


export interface MetricsValues {
  /** Σ of the per-position losses, Kahan term included: the loss is lossSum / count. */
  lossSum: number;
  /** Per-position losses summed. */
  count: number;
  /** Accuracy matches: the accuracy is correct / accuracyCount. */
  correct: number;
  /** What `correct` is out of (0 when no accuracy was counted). */
  accuracyCount: number;
}

/** Decodes the accumulator read back from the GPU. */
export function readMetrics(bytes: ArrayBuffer | ArrayBufferView): MetricsValues {
  const buffer = ArrayBuffer.isView(bytes) ? bytes.buffer : bytes;
  const offset = ArrayBuffer.isView(bytes) ? bytes.byteOffset : 0;
  const length = bytes.byteLength;
  if (length < METRICS_BYTES) throw new Error(`readMetrics: need ${METRICS_BYTES} bytes, got ${length}`);
  const f = new Float32Array(buffer, offset, METRICS_WORDS);
  const u = new Uint32Array(buffer, offset, METRICS_WORDS);
  const L = METRICS_LAYOUT;
  return {
    // In float64: the f32 word and its compensation together hold more than f32 precision.
    lossSum: f[L.lossSum]! - f[L.compensation]!,
    count: u[L.count]!,
    correct: u[L.correct]!,
    accuracyCount: u[L.accuracyCount]!,
  };
}
