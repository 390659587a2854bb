/**
 * Helpers shared by layer configs: validating Keras-style arguments (`number | [h, w]` pairs,
 * padding modes), the output size of windowed ops (pooling, convolution), and the Keras/TF.js
 * serialization of initializers for getConfig().
 */
import type { Initializer } from './initializers.ts';

export type Padding = 'valid' | 'same';

/** Normalizes `2` or `[2, 3]` to `[h, w]` of positive integers; `what` names the argument in errors. */
export function pair(value: number | readonly number[], what: string): [number, number] {
  const pairValue = typeof value === 'number' ? [value, value] : Array.isArray(value) ? [...value] : undefined;
  if (!pairValue || pairValue.length !== 2 || !pairValue.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${what} must be a positive integer or an array of two positive integers, got ${JSON.stringify(value)}`);
  }
  return [pairValue[0]!, pairValue[1]!];
}

export function padding(value: unknown, what: string): Padding {
  if (value === undefined) return 'valid';
  if (value === 'valid' || value === 'same') return value;
  throw new Error(`${what} must be 'valid' or 'same', got ${JSON.stringify(value)}`);
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

const KERAS_INITIALIZER_CLASS: Record<Exclude<Initializer, object>, string> = {
  glorotUniform: 'GlorotUniform',
  glorotNormal: 'GlorotNormal',
  heNormal: 'HeNormal',
  heUniform: 'HeUniform',
  zeros: 'Zeros',
  ones: 'Ones',
};

/** `{class_name, config}` as Keras/TF.js write an initializer into model.json. */
export function initializerConfig(init: Initializer): { class_name: string; config: Record<string, unknown> } {
  if (typeof init === 'string') {
    // The random families carry a seed in Keras; ours come from the model's seed, so it is null here.
    const seeded = init !== 'zeros' && init !== 'ones';
    return { class_name: KERAS_INITIALIZER_CLASS[init], config: seeded ? { seed: null } : {} };
  }
  switch (init.kind) {
    case 'constant':
      return { class_name: 'Constant', config: { value: init.value } };
    case 'randomNormal':
      return { class_name: 'RandomNormal', config: { mean: init.mean ?? 0, stddev: init.stddev ?? 0.05, seed: null } };
    case 'randomUniform':
      return { class_name: 'RandomUniform', config: { minval: init.minval ?? -0.05, maxval: init.maxval ?? 0.05, seed: null } };
  }
}
