/**
 * A layer's weight values belong to the layer, not to a model: every model the layer is part of
 * (a base model and a new head built on its inner outputs, or two models over the same graph)
 * reads and trains the same weights, as in Keras. Each model keeps a copy in its own flat GPU
 * buffer; this module says where the newest values are:
 *
 *  - `values`, on the host, are current unless a `holder` is set;
 *  - a model that trains a layer becomes its holder (its device copy is newer than `values`) and
 *    bumps the layer's `version`;
 *  - before a model runs, it pulls from any other holder of its layers (the holder copies its device
 *    values to the host and lets go) and uploads every layer whose version it has not uploaded.
 */
import type { Layer } from '../layers/layer.ts';

/** A model whose device copy of some layers' weights is newer than their host values. */
export interface WeightHolder {
  readonly name: string;
  /** Copies the newest values of every layer it holds to the host, and lets go of them. */
  pull(): Promise<void>;
}

export interface LayerWeights {
  /** One array per WeightSpec, in weightSpecs order. */
  values: Float32Array[];
  holder: WeightHolder | undefined;
  /** Bumped whenever the values change (a training run, setWeights): device copies compare it. */
  version: number;
}

const store = new WeakMap<Layer, LayerWeights>();

/** The layer's weights, once some model has built them. */
export function layerWeights(layer: Layer): LayerWeights | undefined {
  return store.get(layer);
}

/** Gives a layer its first values (a model initializing the layer, or a loaded file's). */
export function initLayerWeights(layer: Layer, values: Float32Array[]): LayerWeights {
  const entry: LayerWeights = { values, holder: undefined, version: 0 };
  store.set(layer, entry);
  return entry;
}

/**
 * Makes `copy` (a layer built from `original`'s config, its weights of the same shapes) read and
 * train `original`'s weights: both layers name one entry, so each model sees the other's updates.
 */
export function shareLayerWeights(original: Layer, copy: Layer): void {
  const entry = store.get(original);
  if (!entry) throw new Error(`layer ${original.name} has no weights yet: build a model with it first`);
  store.set(copy, entry);
}

/** Makes the host values of `layers` current: every holder other than `except` hands its values over. */
export async function pullFromHolders(layers: Iterable<Layer>, except?: WeightHolder): Promise<void> {
  const holders = new Set<WeightHolder>();
  for (const layer of layers) {
    const holder = store.get(layer)?.holder;
    if (holder && holder !== except) holders.add(holder);
  }
  for (const holder of holders) await holder.pull();
}
