/**
 * Float64 references of Keras masks: the recurrent cells over a masked sequence (TF.js's rnn():
 * at a masked step the output and every state are the previous ones, zeros before the first step),
 * written over the arithmetic of test/reference/recurrent.ts so that a tape gives the exact
 * gradients; the masks an embedding with maskZero and a Masking layer make; and a masked loss mean.
 */
import type { RecurrentGeometry } from '../../shaders/recurrent.ts';
import { NUMBERS, recurrentRun, recurrentRunBackwardRef, type Arith, type MasksRef, type RecurrentWeightsRef } from './recurrent.ts';

/**
 * The layer's output (y's layout) over a sequence whose step (b, t) counts where mask[b·T + t] ≠ 0
 * (t in input order; with goBackwards the steps run from the last). Dropout masks as in
 * recurrentForwardGeneric.
 */
export function maskedRecurrentGeneric<N>(A: Arith<N>, g: RecurrentGeometry, x: ArrayLike<N>, w: RecurrentWeightsRef<N>, mask: ArrayLike<number>, masks: MasksRef = {}): N[] {
  return recurrentRun(A, g, x, w, { masks, mask }).y;
}

/** The masked forward in float64. */
export function maskedRecurrentRef(g: RecurrentGeometry, x: ArrayLike<number>, w: RecurrentWeightsRef, mask: ArrayLike<number>, masks: MasksRef = {}): Float64Array {
  return Float64Array.from(maskedRecurrentGeneric(NUMBERS, g, x, w, mask, masks));
}

/** The exact gradients of Σ y·dy with respect to x and the weights, by reverse accumulation of the masked forward. */
export function maskedRecurrentBackwardRef(
  g: RecurrentGeometry,
  x: ArrayLike<number>,
  w: RecurrentWeightsRef,
  mask: ArrayLike<number>,
  dy: ArrayLike<number>,
  masks: MasksRef = {},
): { dx: Float64Array; dKernel: Float64Array; dRecurrentKernel: Float64Array; dBias?: Float64Array } {
  return recurrentRunBackwardRef(g, x, w, { dy }, { masks, mask });
}

/** Keras's Masking: rows (of the last axis, `width` wide) all equal to `value` are padding; returns the mask and x with those rows zeroed. */
export function maskingRef(x: ArrayLike<number>, width: number, value: number): { mask: Float64Array; y: Float64Array } {
  const rows = x.length / width;
  const mask = Float64Array.from({ length: rows }, (_, r) => (Array.from({ length: width }, (_, j) => x[r * width + j]!).some((v) => v !== Math.fround(value)) ? 1 : 0));
  return { mask, y: Float64Array.from(x, (v, i) => v * mask[Math.floor(i / width)]!) };
}

/**
 * Keras 2.13+'s (and Keras 3's) masked mean: Σ mask·w·loss / Σ mask over the positions (0 when
 * none is kept), with the gradient factor of each position, mask·w / Σ mask.
 */
export function maskedMean(losses: ArrayLike<number>, mask: ArrayLike<number>, weights?: ArrayLike<number>): { loss: number; factor: Float64Array } {
  const kept = Array.from(mask).reduce((a, m) => a + (m !== 0 ? 1 : 0), 0);
  const factor = Float64Array.from(mask, (m, p) => (m !== 0 ? (weights ? weights[p]! : 1) / Math.max(kept, 1) : 0));
  const loss = Array.from(losses).reduce((s, l, p) => s + (factor[p]! === 0 ? 0 : l * factor[p]!), 0);
  return { loss, factor };
}
