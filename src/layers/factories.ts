/** Layer factories, named as in TensorFlow.js (`tf.layers.conv2d(...)`). */
import { Activation } from './activation.ts';
import { Conv2D, type Conv2DConfig } from './conv2d.ts';
import { Flatten, Reshape } from './core.ts';
import { Dense, type DenseConfig } from './dense.ts';
import { Dropout } from './dropout.ts';
import type { ActivationName } from './layer.ts';
import { Add, Concatenate } from './merge.ts';
import { MaxPooling2D, type MaxPooling2DConfig } from './pooling.ts';

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

