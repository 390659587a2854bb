/**
 * A multilayer perceptron for MNIST: flatten, two relu hidden layers each followed by dropout, and a
 * softmax classifier (109,386 parameters). The dropout masks are seeded from the model's seed, so
 * the same seed trains the same way.
 */
import { layers } from '../layers/all.ts';
import { sequential } from '../model/containers.ts';
import type { LayersModel } from '../model/layers-model.ts';

const DEFAULT_SEED = 1337;

/** Builds the MLP: input [28, 28, 1], flatten → dense 128 relu → dropout → dense 64 relu → dropout → dense 10 softmax. */
export function mnistMlp(options: { seed?: number; name?: string } = {}): LayersModel {
  const { seed = DEFAULT_SEED, name = 'mnist_mlp' } = options;
  return sequential({
    name,
    seed,
    layers: [
      layers.flatten({ inputShape: [28, 28, 1], name: 'flatten' }),
      layers.dense({ units: 128, activation: 'relu', name: 'hidden1' }),
      layers.dropout({ rate: 0.2, seed: seed + 1, name: 'dropout1' }),
      layers.dense({ units: 64, activation: 'relu', name: 'hidden2' }),
      layers.dropout({ rate: 0.2, seed: seed + 2, name: 'dropout2' }),
      layers.dense({ units: 10, activation: 'softmax', name: 'classifier' }),
    ],
  });
}
