/**
 * The shapes every part of the benchmark reports in (ours and the baselines, Node and the page),
 * so one report prints and compares them; plus the two bits of arithmetic they share.
 */

export interface Throughput {
  samplesPerSec: number;
  /** Useful GFLOP/s: FLOPs counted from the model's shapes (flops.ts), not what a kernel executes. */
  gflops: number;
  /** gflops over the FMA ceiling measured in the same environment. */
  fractionOfCeiling: number;
}

export interface TrainResult extends Throughput {
  batch: number;
  steps: { warmup: number; windows: number; perWindow: number };
  /** ms/step of each timed window. */
  windowMs: number[];
  /** Median of windowMs. */
  msPerStep: number;
}

export interface PredictResult extends Throughput {
  batch: number;
  samples: number;
  /** Wall time of the whole predict call (after a one-batch warm-up call); the median where it ran several times. */
  ms: number;
  /** Each timed call's wall time, where there were several. */
  runsMs?: number[];
}

export interface BaselineResult {
  name: string;
  version: string;
  /** Why there are no numbers, when there are none (never a made-up number). */
  error?: string;
  /** What the backend reports about itself (renderer, backend) and the losses it trained to: a check that it really trained. */
  detail?: string;
  train: TrainResult[];
  predict: PredictResult[];
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function throughput(samplesPerSec: number, flopsPerSample: number, ceilingGflops: number): Throughput {
  const gflops = (samplesPerSec * flopsPerSample) / 1e9;
  return { samplesPerSec, gflops, fractionOfCeiling: gflops / ceilingGflops };
}

/** Median ms/step of timed windows laid over per-step timestamps: window j spans steps (a, a+k]. */
export function windowTimes(times: readonly number[], warmup: number, windows: number, k: number): number[] {
  return Array.from({ length: windows }, (_, j) => {
    const a = warmup - 1 + j * k;
    return (times[a + k]! - times[a]!) / k;
  });
}
