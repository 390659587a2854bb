/**
 * Geometry shared by windowed ops (pooling, convolution): `number | [h, w]` pairs, padding modes,
 * and the output size of a window slid along an axis.
 */

export type Padding = 'valid' | 'same';

/** Normalizes `2` or `[2, 3]` to `[h, w]` of positive integers; `what` names the argument in errors. */
export function pair(value: number | readonly number[], what: string): [number, number] {
  const pairValue = typeof value === 'number' ? [value, value] : Array.isArray(value) ? [...value] : undefined;
  if (!pairValue || pairValue.length !== 2 || !pairValue.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${what} must be a positive integer or an array of two positive integers, got ${JSON.stringify(value)}`);
  }
  return [pairValue[0]!, pairValue[1]!];
}

/**
 * Output length and leading padding of a window of `window` taps moved by `stride` along `size`
 * inputs, as TensorFlow computes them: 'valid' keeps windows that fit (floor), 'same' gives
 * ceil(size / stride) outputs and pads the total shortfall, the odd element going after.
 * The output is ≤ 0 when a 'valid' window does not fit; callers report that.
 */
export function windowOutput(size: number, window: number, stride: number, mode: Padding): { out: number; padBefore: number } {
  if (mode === 'valid') return { out: Math.floor((size - window) / stride) + 1, padBefore: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + window - size, 0);
  return { out, padBefore: Math.floor(total / 2) };
}

