/**
 * webgpu-train: train neural networks with WebGPU compute shaders, in pages, Workers and Node.
 *
 *   import { sequential, layers, loadMnist } from 'webgpu-train';
 */
export * from './layers/all.ts';
export { mnistCnn, type ModelApi } from './models/mnist-cnn.ts';
export { initializers, type Initializer, type InitializerObject, type FanMode, type Distribution } from './layers/initializers.ts';
export { Layer, type Shape, type ActivationName } from './layers/layer.ts';
export { regularizers, L1L2, type Regularizer, type RegularizerIdentifier, type L1L2Args } from './layers/regularizers.ts';
export { constraints, MaxNorm, MinMaxNorm, NonNeg, UnitNorm, type Constraint, type ConstraintIdentifier, type ConstraintAxis, type MaxNormArgs, type MinMaxNormArgs, type UnitNormArgs } from './layers/constraints.ts';
export { sequential, model, input, Sequential, Functional } from './model/containers.ts';
export { LayersModel } from './model/layers-model.ts';
export { History } from './model/args.ts';
export { callbacks, Callback, CallbackList, CustomCallback, EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, LearningRateScheduler, CSVLogger, JSONLogger } from './callbacks/index.ts';
export type { CallbackModel, CallbackHooks, FitCallbacks, EarlyStoppingArgs, ReduceLROnPlateauArgs, ModelCheckpointArgs, CSVLoggerArgs, Schedule, MonitorMode } from './callbacks/index.ts';
export type { CompileArgs, FitArgs, EvaluateArgs, Callbacks, Logs, NamedWeight, TensorLike } from './model/args.ts';
export { SymbolicTensor } from './layers/layer.ts';
export { optimizers, train, Optimizer, SGD, Momentum, Adagrad, Adadelta, Adam, AdamW, Adamax, Nadam, RMSprop, LearningRateSchedule, ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay, CosineDecay } from './optimizers.ts';
export type { BaseOptimizerConfig, SGDConfig, MomentumConfig, AdagradConfig, AdadeltaConfig, AdamConfig, AdamWConfig, AdamaxConfig, NadamConfig, RMSpropConfig, ExponentialDecayConfig, InverseTimeDecayConfig, PiecewiseConstantDecayConfig, PolynomialDecayConfig, CosineDecayConfig } from './optimizers.ts';
export { createEngine, getDefaultEngine, setDefaultEngine, Engine, DeviceLostError, GPUValidationError } from './runtime/engine.ts';
export type { DeviceProfile, DeviceKind } from './runtime/profile.ts';
export { describeVariants, formatVariantTable, type VariantRow } from './runtime/describe-variants.ts';
export { adapterKey, type TuneMode, type TuningFile, type TuningRecord, type TuningStats, type TuningStore } from './runtime/tuning.ts';
export { fileTuningStore, indexedDbTuningStore, defaultTuningStore, TUNING_FILE_ENV } from './runtime/tuning-store.ts';
export type { EngineOptions, EngineStats } from './runtime/engine.ts';
export { WebGPUUnavailableError } from './runtime/gpu.ts';
export { tensor, Tensor, GPUTensor } from './runtime/tensor.ts';
export { parseIdx, IdxFormatError } from './data/idx.ts';
export { loadMnist, mnistFromIdx } from './data/mnist.ts';
export { toCategorical, LabelError } from './data/labels.ts';
/** TF.js's name for loadModel (tf.loadLayersModel), so ported code runs unchanged. */
export { loadModel, loadModel as loadLayersModel } from './io/load.ts';
export { modelArtifacts } from './io/save.ts';
export { ModelFormatError, LAYERS_MODEL_FORMAT } from './io/artifacts.ts';
export type { LoadOptions, LoadSource, LoadHandler, SaveOptions, SaveTarget, SaveHandler, SaveResult, ModelArtifacts, ModelJSON, WeightsManifestEntry, TrainingConfig } from './io/artifacts.ts';
export { mnistResidual } from './models/mnist-residual.ts';
export { mnistMobilenet } from './models/mnist-mobilenet.ts';
export { mnistMlp } from './models/mnist-mlp.ts';
export { MNIST_MODELS, MNIST_MODEL_NAMES, mnistModel, mnistModelInfo, type MnistModelName, type MnistModelInfo, type MnistModelOptions } from './models/catalog.ts';
export { MNIST_MODEL_DESCRIPTIONS, type MnistModelDescription } from './models/descriptions.ts';
export { featureLayer, transferModel, TRANSFER_HEAD, type TransferOptions } from './models/transfer.ts';
export { mnistBatches, idxChunks, parseIdxHeader } from './data/idx-stream.ts';
export { CharVocab, TextWindows, TextBatches, textDataset, loadCorpus, CORPUS_FILE, UNKNOWN_ID, type CharVocabJSON, type TextBatch, type TextDataset, type TextDatasetOptions } from './data/text.ts';
export type { FitDatasetArgs, CallbackArg } from './model/args.ts';
export type { DatasetSource } from './data/stream.ts';
export type { ClassWeight } from './model/sample-weights.ts';
export { charLanguageModel, resolveCharLmOptions, type CharLmKind, type CharLmOptions, type ResolvedCharLmOptions } from './models/charlm.ts';
export { generateText, generationMode, type GenerateOptions } from './models/generate.ts';
export { recurrentStepModel, type StepModel } from './models/recurrent-step.ts';
