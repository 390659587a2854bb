/**
 * Float64 references of the flat elementwise kernels (src/ops/elementwise.ts FlatOp): each kernel,
 * how many inputs it reads, and its result from the inputs (and, for accumulate, the output's prior
 * contents). test/elementwise.test.ts and test/property-families.test.ts run every kernel of the list.
 */
import type { FlatOp } from '../../src/ops/elementwise.ts';

export interface FlatCase {
  op: FlatOp;
  inputs: number;
  ref: (xs: Float64Array[], before: Float64Array) => Float64Array;
  /** A backward's forward function, for central differences of Σ f(x)·dy (dy the second input). */
  f?: (x: number) => number;
}

export const FLAT_CASES: readonly FlatCase[] = [
  { op: { kind: 'fill', value: -0.375 }, inputs: 0, ref: (_, before) => before.map(() => -0.375) },
  { op: { kind: 'sum', inputs: 3 }, inputs: 3, ref: ([a, b, c]) => a!.map((v, i) => v + b![i]! + c![i]!) },
  { op: { kind: 'sum', inputs: 2 }, inputs: 2, ref: ([a, b]) => a!.map((v, i) => v + b![i]!) },
  { op: { kind: 'accumulate' }, inputs: 1, ref: ([x], before) => before.map((v, i) => v + x![i]!) },
  { op: { kind: 'scale', factor: -1.75 }, inputs: 1, ref: ([x]) => x!.map((v) => -1.75 * v) },
  { op: { kind: 'reluForward' }, inputs: 1, ref: ([x]) => x!.map((v) => Math.max(v, 0)) },
  { op: { kind: 'activationForward', activation: { kind: 'sigmoid' } }, inputs: 1, ref: ([x]) => x!.map((v) => 1 / (1 + Math.exp(-v))) },
  { op: { kind: 'activationForward', activation: { kind: 'elu', alpha: 0.7 } }, inputs: 1, ref: ([x]) => x!.map((v) => (v > 0 ? v : 0.7 * Math.expm1(v))) },
  // dx = dy·tanh′(x); the second input is dy.
  { op: { kind: 'activationBackward', activation: { kind: 'tanh' } }, inputs: 2, ref: ([x, dy]) => x!.map((v, i) => dy![i]! / Math.cosh(v) ** 2), f: Math.tanh },
];
