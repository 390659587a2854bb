/**
 * The MNIST models the CLI (`--model`), the demo's model picker and the transfer-learning example
 * share: each a small builder (input [28, 28, 1], 10-class softmax) beside its name and description.
 */
import type { LayersModel } from '../model/layers-model.ts';
import { MNIST_MODEL_DESCRIPTIONS, MNIST_MODEL_NAMES, type MnistModelDescription, type MnistModelName } from './descriptions.ts';
import { mnistCnn, type ModelApi } from './mnist-cnn.ts';
import { mnistMlp } from './mnist-mlp.ts';
import { mnistMobilenet } from './mnist-mobilenet.ts';
import { mnistResidual } from './mnist-residual.ts';

export { MNIST_MODEL_NAMES, type MnistModelName };

export interface MnistModelOptions {
  seed?: number;
  name?: string;
  /** Only the tutorial CNN takes it; the others are built their one way (MnistModelInfo.apis). */
  api?: ModelApi;
}

export interface MnistModelInfo extends MnistModelDescription {
  build(options?: MnistModelOptions): LayersModel;
}

const BUILDERS: Record<MnistModelName, (options: MnistModelOptions) => LayersModel> = {
  cnn: (options) => mnistCnn(options),
  residual: ({ seed, name }) => mnistResidual({ seed, name }),
  mobilenet: ({ seed, name }) => mnistMobilenet({ seed, name }),
  mlp: ({ seed, name }) => mnistMlp({ seed, name }),
};

export const MNIST_MODELS: readonly MnistModelInfo[] = MNIST_MODEL_DESCRIPTIONS.map((d) => ({ ...d, build: (options = {}) => BUILDERS[d.name](options) }));

/** The catalog entry for `name`; an Error listing the names otherwise. */
export function mnistModelInfo(name: string): MnistModelInfo {
  const info = MNIST_MODELS.find((m) => m.name === name);
  if (!info) throw new Error(`unknown MNIST model ${JSON.stringify(name)}; the models: ${MNIST_MODEL_NAMES.join(', ')}`);
  return info;
}

/** Builds the named MNIST model (seeded). */
export function mnistModel(name: MnistModelName, options: MnistModelOptions = {}): LayersModel {
  return mnistModelInfo(name).build(options);
}
