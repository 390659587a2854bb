/**
 * The models `npm run bench` measures, as our engine builds them, with the data each trains on.
 * 'tutorial' is the MNIST CNN on real MNIST (src/models/mnist-cnn.ts); 'residual' is a small
 * ResNet-style CNN with batch normalization on seeded synthetic 32×32×3 images and labels, generated
 * here (nothing downloaded), so Node and the page train on the same bytes. tfjs.ts builds the same
 * two models with TF.js layers. The sequence models ('lstm', 'charlm') are in sequence-models.ts.
 */
import { input, layers, mnistCnn, model, Tensor, type LayersModel, type SymbolicTensor } from '../src/index.ts';
import type { Mnist } from '../src/data/mnist.ts';
import type { ModelName } from './config.ts';

export const RESIDUAL_INPUT = [32, 32, 3] as const;
export const RESIDUAL_CLASSES = 10;
/** Seeds of the synthetic training and test sets. */
const TRAIN_SEED = 0x5eed;
const TEST_SEED = 0x7e57;

/** The image models' descriptions (the sequence models' are in sequence-models.ts). */
export const MODEL_DESCRIPTIONS: Record<'tutorial' | 'residual', string> = {
  tutorial: 'tutorial CNN',
  residual:
    'residual CNN with batch normalization on synthetic 32×32×3 images (seeded, 10 classes): ' +
    'conv3×3×32-BN-relu, res block 32, maxpool 2, conv3×3×64-BN-relu, res block 64, maxpool 2, ' +
    'res block 128 (1×1 conv-BN projection), global average pool, dense 10 softmax; RMSprop',
};

/**
 * The residual CNN (about 0.34 M parameters). A residual block is conv3×3-BN-relu-conv3×3-BN, plus
 * the skip (a 1×1 conv-BN projection where the channel count changes), then relu.
 */
export function residualCnn(seed?: number): LayersModel {
  const convBn = (x: SymbolicTensor, filters: number, kernelSize: number, relu: boolean): SymbolicTensor => {
    let h = layers.conv2d({ filters, kernelSize, padding: 'same' }).apply(x);
    h = layers.batchNormalization().apply(h);
    return relu ? layers.activation({ activation: 'relu' }).apply(h) : h;
  };
  const block = (x: SymbolicTensor, filters: number, project: boolean): SymbolicTensor => {
    const skip = project ? convBn(x, filters, 1, false) : x;
    let h = convBn(x, filters, 3, true);
    h = convBn(h, filters, 3, false);
    return layers.activation({ activation: 'relu' }).apply(layers.add().apply([h, skip]));
  };
  const image = input({ shape: [...RESIDUAL_INPUT] });
  let x = convBn(image, 32, 3, true);
  x = block(x, 32, false);
  x = layers.maxPooling2d({ poolSize: 2 }).apply(x);
  x = convBn(x, 64, 3, true);
  x = block(x, 64, false);
  x = layers.maxPooling2d({ poolSize: 2 }).apply(x);
  x = block(x, 128, true);
  x = layers.globalAveragePooling2d().apply(x);
  const out = layers.dense({ units: RESIDUAL_CLASSES, activation: 'softmax' }).apply(x);
  return model({ name: 'residual_cnn', seed, inputs: image, outputs: out });
}

/** A seeded uniform generator in [0, 1) (LCG; the same numbers in Node and every browser). */
export function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** `n` synthetic samples: pixels uniform in [0, 1), NHWC [n, 32, 32, 3]; labels uniform in 0..9. */
export function syntheticImages(n: number, split: 'train' | 'test'): { images: Float32Array; labels: Int32Array } {
  const next = uniform(split === 'train' ? TRAIN_SEED : TEST_SEED);
  const size = RESIDUAL_INPUT[0] * RESIDUAL_INPUT[1] * RESIDUAL_INPUT[2];
  const images = new Float32Array(n * size);
  for (let i = 0; i < images.length; i++) images[i] = next();
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(next() * RESIDUAL_CLASSES);
  return { images, labels };
}

/** A model as our engine benchmarks it: how to build it and its training / test samples. */
export interface BenchModel {
  name: ModelName;
  /** Which form of the model, where it has several (the language model's kind). */
  variant?: string;
  /** Tokens per sample, for models measured in tokens/s (the language model's sequence length). */
  tokensPerSample?: number;
  /** The optimizer it trains with (default 'rmsprop'); the loss is always sparse categorical crossentropy. */
  optimizer?: string;
  build(): LayersModel;
  train(n: number): { x: Tensor; y: Tensor };
  /** Fresh bytes each call (the model caches datasets by their bytes). */
  test(n: number): Tensor;
}

/** The first `n` rows of an MNIST split, as a tensor view on the same bytes. */
export function rows(split: Mnist['train'], n: number): { x: Tensor; y: Tensor } {
  if (n > split.labels.shape[0]!) throw new Error(`the benchmark needs ${n} samples but the split holds ${split.labels.shape[0]}`);
  return {
    x: new Tensor(split.images.values.subarray(0, n * 784), [n, 28, 28, 1]),
    y: new Tensor(split.labels.values.subarray(0, n), [n]),
  };
}

export function tutorialModel(mnist: Mnist): BenchModel {
  return {
    name: 'tutorial',
    build: () => mnistCnn(),
    train: (n) => rows(mnist.train, n),
    test: (n) => {
      const images = rows(mnist.test, n).x;
      return new Tensor(images.values.slice(), images.shape);
    },
  };
}

export function residualModel(): BenchModel {
  return {
    name: 'residual',
    build: () => residualCnn(),
    train: (n) => {
      const { images, labels } = syntheticImages(n, 'train');
      return { x: new Tensor(images, [n, ...RESIDUAL_INPUT]), y: new Tensor(labels, [n]) };
    },
    test: (n) => new Tensor(syntheticImages(n, 'test').images, [n, ...RESIDUAL_INPUT]),
  };
}
