/**
 * TF.js's `tf.train.*` constructors with their positional arguments, so that code written for
 * TensorFlow.js (`tf.train.adam(0.001)`) runs unchanged: each builds the same optimizer as
 * `optimizers.*` (src/optimizers/factories.ts). An `epsilon` of null or undefined takes the default.
 */
import { Adadelta, Adagrad, RMSprop } from './adaptive.ts';
import { Adam, Adamax } from './adam.ts';
import type { Optimizer } from './optimizer.ts';
import { Momentum, SGD } from './sgd.ts';

const eps = (epsilon: number | null | undefined) => (epsilon === null || epsilon === undefined ? {} : { epsilon });

export const train = {
  sgd: (learningRate: number): Optimizer => new SGD({ learningRate }),
  momentum: (learningRate: number, momentum: number, useNesterov = false): Optimizer => new Momentum({ learningRate, momentum, useNesterov }),
  adagrad: (learningRate: number, initialAccumulatorValue = 0.1): Optimizer => new Adagrad({ learningRate, initialAccumulatorValue }),
  adadelta: (learningRate = 0.001, rho = 0.95, epsilon: number | null = null): Optimizer => new Adadelta({ learningRate, rho, ...eps(epsilon) }),
  adam: (learningRate = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon: number | null = null): Optimizer => new Adam({ learningRate, beta1, beta2, ...eps(epsilon) }),
  adamax: (learningRate = 0.002, beta1 = 0.9, beta2 = 0.999, epsilon: number | null = null, decay = 0): Optimizer => new Adamax({ learningRate, beta1, beta2, decay, ...eps(epsilon) }),
  /** TF.js's `decay` is Keras's `rho`. */
  rmsprop: (learningRate: number, decay = 0.9, momentum = 0, epsilon: number | null = null, centered = false): Optimizer => new RMSprop({ learningRate, rho: decay, momentum, centered, ...eps(epsilon) }),
};
