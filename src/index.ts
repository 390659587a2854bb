/**
 * webgpu-train: train neural networks with WebGPU compute shaders, in pages, Workers and Node.
 *
 *   import { sequential, layers, loadMnist } from 'webgpu-train';
 */
import { Activation } from './layers/activation.ts';
import { Conv2D, type Conv2DConfig } from './layers/conv2d.ts';
import { Flatten, Reshape } from './layers/core.ts';
import { Dense, type DenseConfig } from './layers/dense.ts';
import { Dropout } from './layers/dropout.ts';
import type { ActivationName } from './layers/layer.ts';
import { Add, Concatenate } from './layers/merge.ts';
import { MaxPooling2D, type MaxPooling2DConfig } from './layers/pooling.ts';

/** Layer factories, named as in TensorFlow.js (`tf.layers.conv2d(...)`). */
export const layers = {
  conv2d: (config: Conv2DConfig) => new Conv2D(config),
  maxPooling2d: (config: MaxPooling2DConfig = {}) => new MaxPooling2D(config),
  flatten: (config: { name?: string; inputShape?: readonly number[] } = {}) => new Flatten(config),
  reshape: (config: { targetShape: readonly number[]; name?: string; inputShape?: readonly number[] }) => new Reshape(config),
  dense: (config: DenseConfig) => new Dense(config),
  activation: (config: { activation: ActivationName; name?: string; inputShape?: readonly number[] }) => new Activation(config),
  dropout: (config: { rate: number; seed?: number; name?: string; inputShape?: readonly number[] }) => new Dropout(config),
  add: (config: { name?: string } = {}) => new Add(config),
  concatenate: (config: { axis?: number; name?: string } = {}) => new Concatenate(config),
};

export { Activation, Add, Concatenate, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, Reshape };
export { Layer, type Shape, type ActivationName } from './layers/layer.ts';
export { InputLayer } from './layers/core.ts';
export { sequential, model, input, Sequential, Functional, LayersModel, History } from './model.ts';
export type { CompileArgs, FitArgs, EvaluateArgs, Callbacks, Logs, NamedWeight, TensorLike } from './model.ts';
export { SymbolicTensor } from './graph/symbolic.ts';
export { optimizers, Optimizer, RMSprop, Adam, SGD } from './optimizers.ts';
export { createEngine, getDefaultEngine, setDefaultEngine, Engine, DeviceLostError, GPUValidationError } from './runtime/engine.ts';
export type { EngineOptions, EngineStats } from './runtime/engine.ts';
export { WebGPUUnavailableError } from './runtime/gpu.ts';
export { tensor, Tensor, GPUTensor } from './runtime/tensor.ts';
export { parseIdx, IdxFormatError } from './data/idx.ts';
export { loadMnist, mnistFromIdx } from './data/mnist.ts';
export { toCategorical, LabelError } from './data/labels.ts';
