/**
 * webgpu-train: train neural networks with WebGPU compute shaders, in pages, Workers and Node.
 *
 *   import { sequential, layers, loadMnist } from 'webgpu-train';
 */
export { layers } from './layers/factories.ts';
export { mnistCnn, type ModelApi } from './models/mnist-cnn.ts';

export { Activation } from './layers/activation.ts';
export { Conv2D, type Conv2DConfig } from './layers/conv2d.ts';
export { Flatten, Reshape, InputLayer } from './layers/core.ts';
export { Dense, type DenseConfig } from './layers/dense.ts';
export { Dropout } from './layers/dropout.ts';
export { Add, Concatenate } from './layers/merge.ts';
export { MaxPooling2D, type MaxPooling2DConfig } from './layers/pooling.ts';
export { Layer, type Shape, type ActivationName } from './layers/layer.ts';
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
export { loadModel, modelArtifacts, ModelFormatError, LAYERS_MODEL_FORMAT } from './io.ts';
export type { LoadOptions, LoadSource, LoadHandler, SaveOptions, SaveTarget, SaveHandler, SaveResult, ModelArtifacts, ModelJSON, WeightsManifestEntry, TrainingConfig } from './io.ts';
