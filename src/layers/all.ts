/**
 * Every layer file, imported so that each registers its class and factories (src/layers/registry.ts);
 * the library's layer exports come from here. A new layer adds its file to this list, nothing else.
 */
export * from './activation.ts';
export * from './advanced-activations.ts';
export * from './attention.ts';
export * from './bidirectional.ts';
export * from './conv1d.ts';
export * from './conv2d.ts';
export * from './conv2d-transpose.ts';
export * from './core.ts';
export * from './dense.ts';
export * from './depthwise-conv2d.ts';
export * from './dot.ts';
export * from './dropout.ts';
export * from './embedding.ts';
export * from './global-pooling.ts';
export * from './masking.ts';
export * from './merge.ts';
export * from './normalization.ts';
export * from './pooling.ts';
export * from './recurrent.ts';
export * from './position-embedding.ts';
export * from './shape.ts';
export * from './wrappers.ts';
export { layers, layerClass, layerClassNames, layerFactoryNames, registerLayer, type LayerClass, type LayerFactories } from './registry.ts';
