/**
 * The names and descriptions of the MNIST model catalog, without the builders: what a page's main
 * thread needs for a model picker without loading the layers (catalog.ts adds the builders).
 */
import type { ModelApi } from './mnist-cnn.ts';

export const MNIST_MODEL_NAMES = ['cnn', 'residual', 'mobilenet', 'mlp'] as const;
export type MnistModelName = (typeof MNIST_MODEL_NAMES)[number];

export interface MnistModelDescription {
  name: MnistModelName;
  /** A short label for pickers. */
  title: string;
  /** One line: the architecture. */
  description: string;
  /** The APIs it is built with: the tutorial CNN both, the others one. */
  apis: readonly ModelApi[];
}

export const MNIST_MODEL_DESCRIPTIONS: readonly MnistModelDescription[] = [
  {
    name: 'cnn',
    title: 'Tutorial CNN',
    description: 'Conv2D(32) → MaxPool → Conv2D(64) → MaxPool → Conv2D(128) → Flatten → Dense(10, softmax)',
    apis: ['sequential', 'functional'],
  },
  {
    name: 'residual',
    title: 'Residual CNN',
    description: 'conv-BN-relu → MaxPool → residual block (32) → conv-BN-relu → MaxPool → residual block (64) → GlobalAveragePooling → Dense(10, softmax)',
    apis: ['functional'],
  },
  {
    name: 'mobilenet',
    title: 'MobileNet-style',
    description: 'Conv2D stride 2-BN-relu6 → 5 depthwise-separable blocks (DepthwiseConv2D-BN-relu6, 1×1 Conv2D-BN-relu6; strides 2 to downsample) → GlobalAveragePooling → Dense(10, softmax)',
    apis: ['functional'],
  },
  {
    name: 'mlp',
    title: 'MLP',
    description: 'Flatten → Dense(128, relu) → Dropout(0.2) → Dense(64, relu) → Dropout(0.2) → Dense(10, softmax)',
    apis: ['sequential'],
  },
];
