/** Layers that move no data: the model input, and reshapes (a view of the same buffer). */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { formatShape, sizeOf } from '../runtime/tensor.ts';
import { kerasConfig } from './config.ts';
import { expectInputs, Layer, SymbolicTensor, type LayerArgs, type Shape } from './layer.ts';

export class InputLayer extends Layer {
  static override readonly className = 'InputLayer';
  readonly shape: Shape;
  constructor(config: { shape: readonly number[]; name?: string }) {
    // Its batch shape lets a Sequential model that starts with it build at once.
    super({ name: config?.name, batchInputShape: Array.isArray(config?.shape) ? [null, ...config.shape] : undefined }, 'input');
    const shape = config?.shape;
    if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new Error(`input(): shape must be a non-empty array of positive integers (without the batch dimension), got ${JSON.stringify(shape)}`);
    }
    this.shape = [...shape];
  }
  computeOutputShape(): Shape {
    return this.shape;
  }
  /** The graph's source: a node without inputs. */
  symbolicOutput(): SymbolicTensor {
    if (this.inboundNodes.length === 0) {
      const output = new SymbolicTensor(this.shape);
      const node = { layer: this, inputs: [], outputs: [output], output };
      this.inboundNodes.push(node);
      output.producer = node;
    }
    return this.inboundNodes[0]!.output;
  }
  forward(): Dispatch[] {
    return [];
  }
  backward(): Dispatch[] {
    return [];
  }
  override getConfig(): Record<string, unknown> {
    return { batch_input_shape: [null, ...this.shape], dtype: 'float32', sparse: false, name: this.name };
  }

  /** From the Keras config in model.json: the shape is batch_input_shape without the batch. */
  static fromConfig(config: unknown): InputLayer {
    const c = kerasConfig('InputLayer', config, [], { sparse: [false], ragged: [false] });
    const batchShape = c.batch_input_shape;
    if (!Array.isArray(batchShape) || batchShape.length < 2) {
      throw new Error(`InputLayer: batch_input_shape must be [batch, ...shape] like [null, 28, 28, 1], got ${JSON.stringify(batchShape)}`);
    }
    return new InputLayer({ shape: batchShape.slice(1), name: c.name as string | undefined });
  }
}

/** Flatten and Reshape keep the bytes and change the shape, so their output aliases their input. */
abstract class ReshapeLike extends Layer {
  override aliasesInput(): boolean {
    return true;
  }
  forward(): Dispatch[] {
    return [];
  }
  backward(): Dispatch[] {
    return [];
  }
}

export interface FlattenConfig extends LayerArgs {
}

export interface ReshapeConfig extends LayerArgs {
  targetShape: readonly number[];
}

export class Flatten extends ReshapeLike {
  static override readonly className = 'Flatten';
  constructor(config: FlattenConfig = {}) {
    super(config, 'flatten');
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    return [sizeOf(inputShapes[0]!)];
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), data_format: 'channels_last' };
  }

  static fromConfig(config: unknown): Flatten {
    const c = kerasConfig('Flatten', config, [], { data_format: ['channels_last', null] });
    return new Flatten({ name: c.name as string | undefined });
  }
}

export class Reshape extends ReshapeLike {
  static override readonly className = 'Reshape';
  readonly targetShape: readonly number[];
  constructor(config: ReshapeConfig) {
    super(config, 'reshape');
    const t = config?.targetShape;
    if (!Array.isArray(t) || t.length === 0 || t.some((d) => !Number.isInteger(d) || (d <= 0 && d !== -1)) || t.filter((d) => d === -1).length > 1) {
      throw new Error(`reshape: targetShape must be positive integers with at most one -1, got ${JSON.stringify(t)}`);
    }
    this.targetShape = [...t];
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const total = sizeOf(inputShapes[0]!);
    const known = this.targetShape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const shape = this.targetShape.map((d) => (d === -1 ? total / known : d));
    if (sizeOf(shape) !== total || shape.some((d) => !Number.isInteger(d))) {
      throw new Error(`layer ${this.name}: cannot reshape ${formatShape(inputShapes[0]!)} (${total} values) to ${formatShape(this.targetShape)}`);
    }
    return shape;
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), target_shape: this.targetShape };
  }

  /** From the Keras config in model.json (the constructor validates target_shape). */
  static fromConfig(config: unknown): Reshape {
    const c = kerasConfig('Reshape', config, ['target_shape']);
    return new Reshape({ name: c.name as string | undefined, targetShape: c.target_shape as number[] });
  }
}

/** TF.js's `tf.layers.inputLayer` config: the shape with or without the batch, and a name. */
export interface InputLayerConfig {
  inputShape?: readonly number[];
  batchInputShape?: readonly (number | null)[];
  batchSize?: number;
  dtype?: 'float32' | 'int32';
  name?: string;
}

/** `tf.layers.inputLayer({ inputShape })`: the first layer of a Sequential model, or input()'s layer. */
function inputLayer(config: InputLayerConfig): InputLayer {
  const c = config ?? ({} as InputLayerConfig);
  const known = ['inputShape', 'batchInputShape', 'batchSize', 'dtype', 'name', 'sparse'];
  const unknown = Object.keys(c).filter((k) => !known.includes(k));
  if (unknown.length) throw new Error(`inputLayer(): unknown field ${unknown.join(', ')}; known: ${known.join(', ')}`);
  if ((c.inputShape === undefined) === (c.batchInputShape === undefined)) {
    throw new Error(`inputLayer(): give exactly one of inputShape and batchInputShape, got ${formatShape(c.inputShape ?? [])} and ${JSON.stringify(c.batchInputShape)}`);
  }
  if (c.dtype !== undefined && c.dtype !== 'float32' && c.dtype !== 'int32') throw new Error(`inputLayer(): dtype must be 'float32' or 'int32', got ${JSON.stringify(c.dtype)}`);
  const shape = c.inputShape ?? (Array.isArray(c.batchInputShape) ? c.batchInputShape.slice(1) : c.batchInputShape);
  return new InputLayer({ shape: shape as number[], name: c.name });
}

const coreFactories = {
  ...registerLayer(InputLayer, { inputLayer }),
  ...registerLayer(Flatten, { flatten: (config: FlattenConfig = {}) => new Flatten(config) }),
  ...registerLayer(Reshape, { reshape: (config: ReshapeConfig) => new Reshape(config) }),
};
type CoreFactories = typeof coreFactories;
declare module './registry.ts' {
  interface LayerFactories extends CoreFactories {}
}
