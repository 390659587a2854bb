/**
 * The Keras MNIST tutorial's CNN (104,202 parameters), with either API:
 * Conv2D(32,3,relu) → MaxPool(2) → Conv2D(64,3,relu) → MaxPool(2) → Conv2D(128,3,relu) → Flatten → Dense(10,softmax).
 * The CLI, the demo, the benchmark and the tests all build it from here. Its kernels start from
 * Keras's glorotUniform, as in the tutorial (TF.js's layers default to glorotNormal).
 */
import { layers } from '../layers/all.ts';
import { input, model, sequential } from '../model/containers.ts';
import type { LayersModel } from '../model/layers-model.ts';

export type ModelApi = 'sequential' | 'functional';

/** Keras's default kernel initializer, which the tutorial's model uses. */
const KERAS = 'glorotUniform';

export function mnistCnn(options: { api?: ModelApi; seed?: number; name?: string } = {}): LayersModel {
  const { api = 'sequential', seed, name } = options;
  if (api === 'sequential') {
    return sequential({
      name,
      seed,
      layers: [
        layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: KERAS, inputShape: [28, 28, 1] }),
        layers.maxPooling2d({ poolSize: 2 }),
        layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu', kernelInitializer: KERAS }),
        layers.maxPooling2d({ poolSize: 2 }),
        layers.conv2d({ filters: 128, kernelSize: 3, activation: 'relu', kernelInitializer: KERAS }),
        layers.flatten(),
        layers.dense({ units: 10, activation: 'softmax', kernelInitializer: KERAS }),
      ],
    });
  }
  if (api !== 'functional') throw new Error(`mnistCnn(): api must be 'sequential' or 'functional', got ${JSON.stringify(api)}`);
  const image = input({ shape: [28, 28, 1] });
  let x = layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: KERAS }).apply(image);
  x = layers.maxPooling2d({ poolSize: 2 }).apply(x);
  x = layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu', kernelInitializer: KERAS }).apply(x);
  x = layers.maxPooling2d({ poolSize: 2 }).apply(x);
  x = layers.conv2d({ filters: 128, kernelSize: 3, activation: 'relu', kernelInitializer: KERAS }).apply(x);
  x = layers.flatten().apply(x);
  return model({ name, seed, inputs: image, outputs: layers.dense({ units: 10, activation: 'softmax', kernelInitializer: KERAS }).apply(x) });
}
