/** Sequential and functional models, and the `sequential`, `model` and `input` factories. */
import { InputLayer } from '../layers/core.ts';
import { SymbolicTensor, type Layer } from '../layers/layer.ts';
import { describe, type Tensor } from '../runtime/tensor.ts';
import { LayersModel } from './layers-model.ts';

export class Sequential extends LayersModel {
  private readonly pending: Layer[] = [];
  constructor(config: { layers?: Layer[]; name?: string; seed?: number } = {}) {
    super(config, 'sequential');
    for (const layer of config.layers ?? []) this.add(layer);
  }

  override get className(): 'Sequential' {
    return 'Sequential';
  }

  /** Appends a layer. The model builds on first use when the first layer has an `inputShape`. */
  add(layer: Layer): void {
    if (!layer || typeof (layer as Layer).computeOutputShape !== 'function') throw new TypeError(`Sequential.add(): expected a layer, got ${describe(layer)}`);
    if (this.built) throw new Error(`model ${this.name} is already built; add layers before building`);
    this.pending.push(layer);
  }

  /** Builds for `batchInputShape` like [null, 28, 28, 1]. */
  build(batchInputShape?: readonly (number | null)[]): void {
    if (this.built) return;
    const shape = batchInputShape ?? this.pending[0]?.batchInputShape;
    if (!shape) {
      throw new Error('build(): pass the input shape, e.g. model.build([null, 28, 28, 1]), or give the first layer an `inputShape`');
    }
    if (!Array.isArray(shape) || shape.length < 2 || shape.slice(1).some((d) => !Number.isInteger(d) || (d as number) <= 0)) {
      throw new Error(`build(): expected a batch input shape like [null, 28, 28, 1], got ${JSON.stringify(shape)}`);
    }
    if (this.pending.length === 0) throw new Error(`build(): model ${this.name} has no layers`);
    // A first InputLayer (tf.layers.inputLayer) is the model's input, as in TF.js.
    const given = this.pending[0] instanceof InputLayer ? this.pending[0] : undefined;
    const stack = given ? this.pending.slice(1) : this.pending;
    if (stack.length === 0) throw new Error(`build(): model ${this.name} has only an InputLayer`);
    const misplaced = stack.find((l) => l instanceof InputLayer);
    if (misplaced) throw new Error(`Sequential: the InputLayer ${misplaced.name} can only be the first layer`);
    const input = (given ?? new InputLayer({ shape: shape.slice(1) as number[], name: `${this.name}_input` })).symbolicOutput();
    let t = input;
    for (const layer of stack) {
      const outputs = layer.applyAll(t);
      if (outputs.length !== 1) {
        throw new Error(`Sequential: layer ${layer.name} (${layer.className}) has ${outputs.length} outputs; every layer of a Sequential model has one output (as in Keras). Use the functional API (model({ inputs, outputs })) for layers with several outputs, such as returnState`);
      }
      t = outputs[0]!;
    }
    this.setGraph([input], [t]);
  }

  protected override requireGraph(what: string): ReturnType<LayersModel['requireGraph']> {
    if (!this.built && this.pending[0]?.batchInputShape) this.build();
    return super.requireGraph(what);
  }

  protected override summaryLayers(): Layer[] {
    return super.summaryLayers().filter((layer) => !(layer instanceof InputLayer));
  }

  /** The added layers, without the InputLayer (as Keras and TF.js list a Sequential model's layers). */
  override get layers(): Layer[] {
    return super.layers.filter((layer) => !(layer instanceof InputLayer));
  }
}

export interface FunctionalConfig<Outputs extends SymbolicTensor | SymbolicTensor[] = SymbolicTensor | SymbolicTensor[]> {
  inputs: SymbolicTensor | SymbolicTensor[];
  outputs: Outputs;
  name?: string;
  seed?: number;
}

/** A functional model: several inputs and outputs, layers applied at several nodes, layers of other models. */
export class Functional<Prediction = Tensor<Float32Array> | Tensor<Float32Array>[]> extends LayersModel<Prediction> {
  constructor(config: FunctionalConfig) {
    super(config, 'functional');
    const list = (v: unknown, what: string): SymbolicTensor[] => {
      const items = Array.isArray(v) ? v : [v];
      if (items.length === 0 || !items.every((t) => t instanceof SymbolicTensor)) {
        throw new Error(`model(): ${what} must be a symbolic tensor or a non-empty list of them, got ${describe(v)}`);
      }
      return items;
    };
    const inputs = list(config?.inputs, 'inputs');
    const bad = inputs.find((t) => !(t.producer.layer instanceof InputLayer));
    if (bad) throw new Error(`model(): inputs must come from input({ shape }); '${bad.producer.layer.name}' is the output of a ${bad.producer.layer.className} layer`);
    this.setGraph(inputs, list(config?.outputs, 'outputs'), Array.isArray(config.outputs));
  }
}

/** `sequential([layer, ...])` or `sequential({ layers, name, seed })`. */
export function sequential(config: Layer[] | { layers?: Layer[]; name?: string; seed?: number } = {}): Sequential {
  return new Sequential(Array.isArray(config) ? { layers: config } : config);
}

/**
 * A functional model from symbolic tensors: `model({ inputs, outputs })`. Its predict() gives one
 * tensor for one output, a list for outputs given as a list.
 */
export function model(config: FunctionalConfig<SymbolicTensor>): Functional<Tensor<Float32Array>>;
export function model(config: FunctionalConfig<SymbolicTensor[]>): Functional<Tensor<Float32Array>[]>;
export function model(config: FunctionalConfig): Functional;
export function model(config: FunctionalConfig): Functional {
  return new Functional(config);
}

/** A symbolic model input: `input({ shape: [28, 28, 1] })`. */
export function input(config: { shape: readonly number[]; name?: string }): SymbolicTensor {
  return new InputLayer(config).symbolicOutput();
}
