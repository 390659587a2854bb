/**
 * Transfer learning on a trained model (Teachable Machine's recipe): freeze it, cut it at the
 * features its classifier reads, and put a new softmax head over as many classes as the new task
 * has. The new model shares the base's layers (and so its weights); only the head trains.
 */
import { layers } from '../layers/all.ts';
import type { Layer } from '../layers/layer.ts';
import { model } from '../model/containers.ts';
import type { LayersModel } from '../model/layers-model.ts';

/** The name of the new head's layer. */
export const TRANSFER_HEAD = 'transfer_head';

/**
 * The layer whose output are the model's features: the one named `name` when given, else a layer
 * named 'features' (the catalog's residual and MobileNet models), else the layer feeding the
 * model's classifier (the tutorial CNN's flatten, the MLP's last dropout).
 */
export function featureLayer(base: LayersModel, name?: string): Layer {
  if (name !== undefined) return base.getLayer(name);
  const named = base.layers.find((l) => l.name === 'features');
  if (named) return named;
  if (base.outputs.length !== 1) throw new Error(`featureLayer(): model ${base.name} has ${base.outputs.length} outputs; name the feature layer`);
  const classifier = base.outputs[0]!.producer;
  if (classifier.inputs.length !== 1) throw new Error(`featureLayer(): the output layer ${classifier.layer.name} of model ${base.name} has ${classifier.inputs.length} inputs; name the feature layer`);
  const feeding = classifier.inputs[0]!.producer.layer;
  if (feeding.inboundNodes.length === 0 || base.inputs.some((t) => t.producer.layer === feeding)) {
    throw new Error(`featureLayer(): the output layer ${classifier.layer.name} of model ${base.name} reads the model's input; there are no inner features to cut at`);
  }
  return feeding;
}

export interface TransferOptions {
  /** Classes of the new task (≥ 2). */
  classes: number;
  /** The layer to cut at (see featureLayer()). */
  featureLayer?: string;
  /** Seeds the new head's weights. */
  seed?: number;
  name?: string;
}

/**
 * Freezes every layer of `base` and returns a model from its inputs through the feature layer to a
 * new Dense(classes, softmax) head: compile and fit it, and only the head learns. The base's layers
 * stay frozen afterwards (set `trainable` back to fine-tune them).
 */
export function transferModel(base: LayersModel, options: TransferOptions): LayersModel {
  const { classes, seed, name = 'transfer' } = options;
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`transferModel(): classes must be an integer ≥ 2, got ${JSON.stringify(classes)}`);
  const features = featureLayer(base, options.featureLayer);
  for (const layer of base.layers) layer.trainable = false;
  const head = layers.dense({ units: classes, activation: 'softmax', name: TRANSFER_HEAD });
  return model({ name, seed, inputs: base.inputs, outputs: head.apply(features.output) });
}
