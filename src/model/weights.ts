/** A model's weights as the model keeps them: where each lives, whether it trains, and their order. */
import type { Layer, WeightSpec } from '../layers/layer.ts';

export interface ModelWeight {
  layer: Layer;
  spec: WeightSpec;
  name: string;
  shape: number[];
  size: number;
  /** Offset in floats inside the flat parameter buffer (aligned for binding). */
  offset: number;
  /** The host value, authoritative until the model has device state. */
  host: Float32Array;
}

/**
 * Whether the optimizer updates a weight: its layer is trainable and the weight is not state
 * (BatchNormalization's moving statistics are `trainable: false` in their spec).
 */
export function isTrainable(w: ModelWeight): boolean {
  return w.layer.trainable && w.spec.trainable !== false;
}

/** TF.js's weight order: every trainable weight in layer order, then every non-trainable one. */
export function inWeightOrder(weights: readonly ModelWeight[]): ModelWeight[] {
  return [...weights.filter(isTrainable), ...weights.filter((w) => !isTrainable(w))];
}

/** Which weights are trainable, in graph order: the device layout holds as long as this does. */
export function layoutKey(weights: readonly ModelWeight[]): string {
  return weights.map((w) => (isTrainable(w) ? 'T' : 'N')).join('');
}
