/**
 * A small residual CNN with batch normalization for MNIST (112,682 parameters, 576 of them the
 * moving statistics): two conv-BN-relu stems, each followed by a residual block
 * (conv-BN-relu-conv-BN plus the identity skip, added with `layers.add`, then relu), global average
 * pooling and a softmax classifier. Layers are named as Keras applications name theirs, so that the
 * summary is the same whatever was built before and `features` (the pooled vector) is found by name.
 */
import { layers } from '../layers/all.ts';
import type { SymbolicTensor } from '../layers/layer.ts';
import { input, model } from '../model/containers.ts';
import type { LayersModel } from '../model/layers-model.ts';

/** Builds the residual CNN: input [28, 28, 1], 10-class softmax. */
export function mnistResidual(options: { seed?: number; name?: string } = {}): LayersModel {
  const { seed, name = 'mnist_residual' } = options;
  const convBn = (x: SymbolicTensor, filters: number, prefix: string, relu: boolean): SymbolicTensor => {
    let h = layers.conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, name: `${prefix}_conv` }).apply(x);
    h = layers.batchNormalization({ name: `${prefix}_bn` }).apply(h);
    return relu ? layers.reLU({ name: `${prefix}_relu` }).apply(h) : h;
  };
  const block = (x: SymbolicTensor, filters: number, prefix: string): SymbolicTensor => {
    const h = convBn(convBn(x, filters, `${prefix}_1`, true), filters, `${prefix}_2`, false);
    return layers.reLU({ name: `${prefix}_out` }).apply(layers.add({ name: `${prefix}_add` }).apply([h, x]));
  };
  const image = input({ shape: [28, 28, 1], name: 'image' });
  let x = convBn(image, 32, 'stem1', true);
  x = layers.maxPooling2d({ poolSize: 2, name: 'pool1' }).apply(x);
  x = block(x, 32, 'block1');
  x = convBn(x, 64, 'stem2', true);
  x = layers.maxPooling2d({ poolSize: 2, name: 'pool2' }).apply(x);
  x = block(x, 64, 'block2');
  x = layers.globalAveragePooling2d({ name: 'features' }).apply(x);
  const out = layers.dense({ units: 10, activation: 'softmax', name: 'classifier' }).apply(x);
  return model({ name, seed, inputs: image, outputs: out });
}
