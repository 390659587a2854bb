/** A model's weights as the model keeps them: where each lives, whether it trains, and their order. */
import { initialize, Random } from '../layers/initializers.ts';
import type { Layer, WeightSpec } from '../layers/layer.ts';
import { describe, formatShape, sizeOf } from '../runtime/tensor.ts';
import { asTensor, type NamedWeight, type TensorLike } from './args.ts';
import { initLayerWeights, layerWeights } from './shared-weights.ts';

export interface ModelWeight {
  layer: Layer;
  spec: WeightSpec;
  name: string;
  shape: number[];
  size: number;
  /** Offset in floats inside the flat parameter buffer (aligned for binding). */
  offset: number;
  /** Its position in the layer's weightSpecs (and in its shared values, src/model/shared-weights.ts). */
  index: number;
}

/** The weight's host value (current when no model holds newer values on its device). */
export function hostValue(w: ModelWeight): Float32Array {
  const entry = layerWeights(w.layer);
  if (!entry) throw new Error(`layer ${w.layer.name} has no weights yet`);
  return entry.values[w.index]!;
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

/** A weight's initial values: from its initializer, or piece by piece (WeightSpec.parts). */
function initialValues(spec: WeightSpec, random: Random, what: string): Float32Array {
  if (!spec.parts) return initialize(spec.initializer, [...spec.shape], random, what);
  const values = new Float32Array(sizeOf(spec.shape));
  let at = 0;
  for (const part of spec.parts) {
    values.set(initialize(part.initializer, [part.size], random, what), at);
    at += part.size;
  }
  if (at !== values.length) throw new Error(`${what}: its initial parts cover ${at} of its ${values.length} values`);
  return values;
}

/**
 * The weights of a model's layers (in `layers` order, each layer's in its weightSpecs order). Layers
 * without weights yet get them here, seeded, in that order; the others keep theirs (shared).
 */
export function modelWeights(layers: readonly Layer[], seed: number): ModelWeight[] {
  const list: ModelWeight[] = [];
  const random = new Random(seed);
  for (const layer of layers) {
    const specs = layer.weightSpecs(layer.inboundNodes[0]!.inputs.map((t) => t.shape));
    if (specs.length === 0) continue;
    if (!layerWeights(layer)) initLayerWeights(layer, specs.map((spec) => initialValues(spec, random, `${layer.name}/${spec.name}`)));
    specs.forEach((spec, index) => {
      const shape = [...spec.shape];
      list.push({ layer, spec, index, name: `${layer.name}/${spec.name}`, shape, size: sizeOf(shape), offset: 0 });
    });
  }
  return list;
}

/** setWeights()'s values checked against `order` as a whole: copies, or an Error naming the weight. */
export function checkWeightValues(order: readonly ModelWeight[], weights: readonly (TensorLike | NamedWeight)[]): Float32Array[] {
  if (!Array.isArray(weights) || weights.length !== order.length) {
    throw new Error(`setWeights(): expected a list of ${order.length} weights (${order.map((w) => w.name).join(', ')}), got ${describe(weights)}`);
  }
  return weights.map((given, i) => {
    const w = order[i]!;
    const shape = (given as { shape?: readonly number[] })?.shape;
    if (!Array.isArray(shape) || shape.length !== w.shape.length || shape.some((d, k) => d !== w.shape[k])) {
      throw new Error(`setWeights(): weight ${i} (${w.name}) must have shape ${formatShape(w.shape)}, got ${shape ? formatShape(shape) : describe(given)}`);
    }
    // Ours, a getWeights() entry, or a TF.js tensor (read with dataSync()).
    const values = asTensor(given as TensorLike, `setWeights(): weight ${i} (${w.name})`).values;
    if (!(values instanceof Float32Array) || values.length !== w.size) {
      throw new Error(`setWeights(): weight ${i} (${w.name}) needs ${w.size} float32 values, got ${describe(values)}`);
    }
    return values.slice();
  });
}

/** New host values: every device copy of these layers' weights is stale now (their version moves on). */
export function setHostValues(order: readonly ModelWeight[], values: readonly Float32Array[]): void {
  order.forEach((w, i) => (layerWeights(w.layer)!.values[w.index] = values[i]!));
  for (const layer of new Set(order.map((w) => w.layer))) {
    const entry = layerWeights(layer)!;
    entry.holder = undefined;
    entry.version++;
  }
}
