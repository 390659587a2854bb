/**
 * A MobileNet-style CNN for MNIST: a strided conv stem, then depthwise-separable blocks as in
 * MobileNet v1 (depthwise 3×3 - BN - relu6, pointwise 1×1 - BN - relu6), strides 2 to downsample,
 * global average pooling and a softmax classifier (38,346 parameters, 1,472 of them the moving
 * statistics). Layers are named as Keras's MobileNet names its own (conv_dw_1, conv_pw_1_bn, …),
 * so the summary is stable and `features` is found by name.
 */
import { layers } from '../layers/all.ts';
import type { SymbolicTensor } from '../layers/layer.ts';
import { input, model } from '../model/containers.ts';
import type { LayersModel } from '../model/layers-model.ts';

/** [pointwise filters, stride] of each depthwise-separable block. */
const BLOCKS: readonly (readonly [number, 1 | 2])[] = [
  [32, 1],
  [64, 2],
  [64, 1],
  [128, 2],
  [128, 1],
];

/** Builds the MobileNet-style CNN: input [28, 28, 1], 10-class softmax. */
export function mnistMobilenet(options: { seed?: number; name?: string } = {}): LayersModel {
  const { seed, name = 'mnist_mobilenet' } = options;
  const relu6 = (x: SymbolicTensor, layerName: string) => layers.reLU({ maxValue: 6, name: layerName }).apply(x);
  const image = input({ shape: [28, 28, 1], name: 'image' });
  let x = layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv1' }).apply(image);
  x = relu6(layers.batchNormalization({ name: 'conv1_bn' }).apply(x), 'conv1_relu');
  BLOCKS.forEach(([filters, strides], i) => {
    const id = `${i + 1}`;
    x = layers.depthwiseConv2d({ kernelSize: 3, strides, padding: 'same', useBias: false, name: `conv_dw_${id}` }).apply(x);
    x = relu6(layers.batchNormalization({ name: `conv_dw_${id}_bn` }).apply(x), `conv_dw_${id}_relu`);
    x = layers.conv2d({ filters, kernelSize: 1, useBias: false, name: `conv_pw_${id}` }).apply(x);
    x = relu6(layers.batchNormalization({ name: `conv_pw_${id}_bn` }).apply(x), `conv_pw_${id}_relu`);
  });
  x = layers.globalAveragePooling2d({ name: 'features' }).apply(x);
  const out = layers.dense({ units: 10, activation: 'softmax', name: 'classifier' }).apply(x);
  return model({ name, seed, inputs: image, outputs: out });
}
