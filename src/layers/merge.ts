/**
 * Merge layers for functional graphs: the elementwise merges (Add, Subtract, Multiply, Average,
 * Maximum, Minimum) over ops/binary.ts, and Concatenate along an axis.
 *
 * The elementwise merges take inputs as TF.js's Merge does (tfjs-layers merge.ts): their
 * per-sample shapes broadcast (computeElementwiseOpOutputShape: right-aligned, 1 stretches), an
 * input of lower rank gaining size-1 axes just after the batch axis; the result is the left fold
 * in0 ∘ in1 ∘ ... (Average: the sum times 1/n). Keras's Subtract takes exactly two inputs; TF.js
 * 4.22 has no Subtract, so a model.json holding one loads here (and in Keras) but not in TF.js,
 * and the class has no `layers.*` factory (those keep TF.js's names): `new Subtract()`.
 */
import { concatSlice } from '../../shaders/concat.ts';
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { formatShape, sizeOf } from '../runtime/tensor.ts';
import { elementwiseBackward, elementwiseForward, type ElementwiseOp } from '../ops/binary.ts';
import { kerasConfig } from './config.ts';
import { Layer, type BackwardContext, type ForwardContext, type Shape, type LayerArgs } from './layer.ts';

function expectSeveral(layer: Layer, inputShapes: readonly Shape[]): void {
  if (inputShapes.length < 2) throw new Error(`layer ${layer.name} (${layer.className}) merges at least 2 inputs, got ${inputShapes.length}`);
}

export interface MergeConfig extends LayerArgs {
}

export interface ConcatenateConfig extends MergeConfig {
  /** Keras counts the batch as axis 0; default -1, the last. */
  axis?: number;
}

/**
 * TF.js's Merge.computeElementwiseOpOutputShape for per-sample shapes: right-aligned, a size of 1
 * stretches to the other's, the longer shape's leading sizes kept.
 */
function elementwiseMergeShape(layer: Layer, shape1: Shape, shape2: Shape): Shape {
  if (shape1.length < shape2.length) return elementwiseMergeShape(layer, shape2, shape1);
  const out = shape1.slice(0, shape1.length - shape2.length);
  shape2.forEach((j, k) => {
    const i = shape1[shape1.length - shape2.length + k]!;
    if (i !== 1 && j !== 1 && i !== j) {
      throw new Error(`layer ${layer.name} (${layer.className}): operands could not be broadcast together with shapes ${formatShape(shape1)} ${formatShape(shape2)}`);
    }
    out.push(i === 1 ? j : i);
  });
  return out;
}

/** The elementwise merges: the output is the broadcast left fold of the inputs under `op`. */
abstract class ElementwiseMerge extends Layer {
  protected abstract readonly op: ElementwiseOp;
  /** Multiplies the result (Average: 1/n). */
  protected scale(_inputs: number): number {
    return 1;
  }
  protected checkCount(inputShapes: readonly Shape[]): void {
    expectSeveral(this, inputShapes);
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    this.checkCount(inputShapes);
    return inputShapes.slice(1).reduce((out, s) => elementwiseMergeShape(this, out, s), inputShapes[0]!);
  }
  /** Each input's shape with the batch, size-1 axes inserted after it up to the output's rank (TF.js's expandDims(x, 1)). */
  private batchShapes(ctx: ForwardContext): Shape[] {
    return ctx.inputShapes.map((s) => [ctx.batch, ...Array<number>(ctx.outputShape.length - s.length).fill(1), ...s]);
  }
  forward(ctx: ForwardContext): Dispatch[] {
    return elementwiseForward(ctx.engine, this.op, this.batchShapes(ctx), { inputs: ctx.inputs, y: ctx.output }, { scale: this.scale(ctx.inputs.length) });
  }
  backward(ctx: BackwardContext): Dispatch[] {
    const views = { inputs: ctx.inputs, dy: ctx.outputGrad, grads: ctx.inputGrads };
    return elementwiseBackward(ctx.engine, this.op, this.batchShapes(ctx), views, ctx.scratch, { scale: this.scale(ctx.inputs.length) });
  }
}

/** The config of a merge layer without options of its own, checked against model.json (the loader sets trainable). */
function mergeArgs(className: string, config: unknown): MergeConfig {
  const c = kerasConfig(className, config, []);
  return { name: c.name as string | undefined };
}

/** The sum of its inputs (tf.layers.add). */
export class Add extends ElementwiseMerge {
  static override readonly className = 'Add';
  protected readonly op = 'add';
  constructor(config: MergeConfig = {}) {
    super(config, 'add');
  }
  static fromConfig(config: unknown): Add {
    return new Add(mergeArgs('Add', config));
  }
}

/**
 * Its first input minus its second (Keras's Subtract; TF.js 4.22 has none, so there is no
 * `layers.subtract` factory: `new Subtract(config)`).
 */
export class Subtract extends ElementwiseMerge {
  static override readonly className = 'Subtract';
  protected readonly op = 'subtract';
  constructor(config: MergeConfig = {}) {
    super(config, 'subtract');
  }
  protected override checkCount(inputShapes: readonly Shape[]): void {
    if (inputShapes.length !== 2) throw new Error(`layer ${this.name} (Subtract) takes exactly 2 inputs, got ${inputShapes.length}`);
  }
  static fromConfig(config: unknown): Subtract {
    return new Subtract(mergeArgs('Subtract', config));
  }
}

/** The elementwise product of its inputs (tf.layers.multiply). */
export class Multiply extends ElementwiseMerge {
  static override readonly className = 'Multiply';
  protected readonly op = 'multiply';
  constructor(config: MergeConfig = {}) {
    super(config, 'multiply');
  }
  static fromConfig(config: unknown): Multiply {
    return new Multiply(mergeArgs('Multiply', config));
  }
}

/** The mean of its inputs: their sum times 1/n (tf.layers.average). */
export class Average extends ElementwiseMerge {
  static override readonly className = 'Average';
  protected readonly op = 'add';
  constructor(config: MergeConfig = {}) {
    super(config, 'average');
  }
  protected override scale(inputs: number): number {
    return 1 / inputs;
  }
  static fromConfig(config: unknown): Average {
    return new Average(mergeArgs('Average', config));
  }
}

/** The elementwise maximum (tf.layers.maximum); the gradient goes to the first input holding it. */
export class Maximum extends ElementwiseMerge {
  static override readonly className = 'Maximum';
  protected readonly op = 'maximum';
  constructor(config: MergeConfig = {}) {
    super(config, 'maximum');
  }
  static fromConfig(config: unknown): Maximum {
    return new Maximum(mergeArgs('Maximum', config));
  }
}

/** The elementwise minimum (tf.layers.minimum); the gradient goes to the first input holding it. */
export class Minimum extends ElementwiseMerge {
  static override readonly className = 'Minimum';
  protected readonly op = 'minimum';
  constructor(config: MergeConfig = {}) {
    super(config, 'minimum');
  }
  static fromConfig(config: unknown): Minimum {
    return new Minimum(mergeArgs('Minimum', config));
  }
}

export class Concatenate extends Layer {
  static override readonly className = 'Concatenate';
  readonly axis: number;
  constructor(config: ConcatenateConfig = {}) {
    super(config, 'concatenate');
    this.axis = config.axis ?? -1;
    if (!Number.isInteger(this.axis) || this.axis === 0) {
      throw new Error(`layer ${this.name}: axis must be a non-zero integer (axis 0 is the batch), got ${JSON.stringify(config.axis)}`);
    }
  }
  /** The axis within a per-sample shape (Keras counts the batch as axis 0). */
  private sampleAxis(rank: number): number {
    const a = this.axis < 0 ? rank + this.axis : this.axis - 1;
    if (a < 0 || a >= rank) throw new Error(`layer ${this.name}: axis ${this.axis} is out of range for inputs of rank ${rank + 1}`);
    return a;
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectSeveral(this, inputShapes);
    const first = inputShapes[0]!;
    const a = this.sampleAxis(first.length);
    for (const s of inputShapes) {
      if (s.length !== first.length || s.some((d, i) => i !== a && d !== first[i])) {
        throw new Error(`layer ${this.name}: Concatenate needs inputs that match except on axis ${this.axis}, got ${inputShapes.map((x) => formatShape(x)).join(' and ')}`);
      }
    }
    return first.map((d, i) => (i === a ? inputShapes.reduce((t, s) => t + s[a]!, 0) : d));
  }
  private slices(ctx: ForwardContext, toWhole: boolean, parts: readonly ({ buffer: GPUBuffer } | null)[], whole: { buffer: GPUBuffer }): Dispatch[] {
    const a = this.sampleAxis(ctx.outputShape.length);
    const inner = sizeOf(ctx.outputShape.slice(a + 1));
    const outer = ctx.batch * sizeOf(ctx.outputShape.slice(0, a));
    const total = ctx.outputShape[a]! * inner;
    let offset = 0;
    const dispatches: Dispatch[] = [];
    ctx.inputShapes.forEach((shape, i) => {
      const width = shape[a]! * inner;
      const part = parts[i];
      if (part) {
        const kernel = concatSlice(outer, width, total, offset, toWhole);
        dispatches.push(ctx.engine.kernel(kernel, toWhole ? [part as GPUBufferBinding, whole as GPUBufferBinding] : [whole as GPUBufferBinding, part as GPUBufferBinding]));
      }
      offset += width;
    });
    return dispatches;
  }
  forward(ctx: ForwardContext): Dispatch[] {
    return this.slices(ctx, true, ctx.inputs, ctx.output);
  }
  backward(ctx: BackwardContext): Dispatch[] {
    return this.slices(ctx, false, ctx.inputGrads, ctx.outputGrad);
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), axis: this.axis };
  }

  /** From the Keras config in model.json (the constructor validates the axis). */
  static fromConfig(config: unknown): Concatenate {
    const c = kerasConfig('Concatenate', config, ['axis']);
    return new Concatenate({ name: c.name as string | undefined, axis: (c.axis ?? undefined) as number | undefined });
  }
}

const mergeFactories = {
  ...registerLayer(Add, { add: (config: MergeConfig = {}) => new Add(config) }),
  // Keras's layers.subtract, which TF.js 4.22 lacks (test/registry.test.ts lists it as our extra).
  ...registerLayer(Subtract, { subtract: (config: MergeConfig = {}) => new Subtract(config) }),
  ...registerLayer(Multiply, { multiply: (config: MergeConfig = {}) => new Multiply(config) }),
  ...registerLayer(Average, { average: (config: MergeConfig = {}) => new Average(config) }),
  ...registerLayer(Maximum, { maximum: (config: MergeConfig = {}) => new Maximum(config) }),
  ...registerLayer(Minimum, { minimum: (config: MergeConfig = {}) => new Minimum(config) }),
  ...registerLayer(Concatenate, { concatenate: (config: ConcatenateConfig = {}) => new Concatenate(config) }),
};
type MergeFactories = typeof mergeFactories;
declare module './registry.ts' {
  interface LayerFactories extends MergeFactories {}
}
