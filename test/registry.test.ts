/**
 * The layer registry: every layer class registered once under its Keras class name, every factory
 * under a name TF.js's `tf.layers` has, each building the class it is registered with.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { layerClass, layerClassNames, layerFactoryNames, layers, sequential } from '../src/index.ts';

describe('layer registry', () => {
  it('holds the tutorial layers and the activation layers under their Keras class names', () => {
    const names = layerClassNames();
    for (const name of ['Activation', 'Add', 'Concatenate', 'Conv2D', 'Dense', 'Dropout', 'ELU', 'Flatten', 'InputLayer', 'LeakyReLU', 'MaxPooling2D', 'PReLU', 'ReLU', 'Reshape', 'Softmax', 'ThresholdedReLU', 'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Permute', 'RepeatVector', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'AveragePooling2D', 'MaxPooling1D', 'AveragePooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'GlobalAveragePooling1D', 'GlobalMaxPooling1D', 'BatchNormalization', 'LayerNormalization']) {
      expect(names).toContain(name);
      expect(typeof layerClass(name)?.fromConfig).toBe('function');
    }
    expect(layerClass('ConvLSTM2D')).toBeUndefined();
  });

  it('names every factory as tf.layers does, and each builds its registered class', () => {
    const factories = layerFactoryNames();
    expect(factories.length).toBeGreaterThan(10);
    const tfLayers = tf.layers as unknown as Record<string, unknown>;
    const ours = layers as unknown as Record<string, (config: unknown) => { className: string }>;
    // Keras layers that TF.js 4.22 lacks, under Keras's factory names.
    const beyondTfjs = ['subtract', 'multiHeadAttention', 'positionEmbedding'];
    for (const { name, className } of factories) {
      if (!beyondTfjs.includes(name)) expect(typeof tfLayers[name], `tf.layers.${name}`).toBe('function');
      expect(typeof ours[name]).toBe('function');
      expect(layerClass(className)).toBeDefined();
    }
    expect(Object.keys(layers).sort()).toEqual(factories.map((f) => f.name).sort());
    // Aliases build the same class.
    expect(ours.maxPool2d!({}).className).toBe(ours.maxPooling2d!({}).className);
  });

  it('has every tf.layers factory and alias of each class it registers (read from TF.js 4.22\'s declarations)', async () => {
    const { readFile } = await import('node:fs/promises');
    const dts = await readFile('node_modules/@tensorflow/tfjs-layers/dist/exports_layers.d.ts', 'utf8');
    const classOf = new Map([...dts.matchAll(/export declare function (\w+)\(.*\): (\w+);/g)].map((m) => [m[1]!, m[2]!]));
    for (const m of dts.matchAll(/export declare const (\w+): typeof (\w+);/g)) classOf.set(m[1]!, classOf.get(m[2]!)!);
    expect(classOf.size).toBeGreaterThan(60);
    const registered = new Set(layerClassNames());
    const ours = new Set(layerFactoryNames().map((f) => f.name));
    const missing = [...classOf].filter(([name, cls]) => registered.has(cls) && !ours.has(name)).map(([name]) => name);
    expect(missing).toEqual([]);
    for (const { name, className } of layerFactoryNames()) if (classOf.has(name)) expect(className, name).toBe(classOf.get(name));
  });

  it('inputLayer starts a Sequential model as in TF.js', async () => {
    const m = sequential([layers.inputLayer!({ inputShape: [3] }), layers.dense!({ units: 2 })]);
    expect(m.layers.map((l) => l.className)).toEqual(['Dense']);
    expect(m.inputs[0]!.shape).toEqual([3]);
    expect(() => layers.inputLayer!({})).toThrow(/give exactly one of inputShape and batchInputShape/);
    expect(layers.inputLayer!({ batchInputShape: [null, 4, 2] }).shape).toEqual([4, 2]);
  });
});
