/**
 * Conv1D: the Keras layer over the conv2d op (src/ops/conv2d.ts), which convolves `[steps,
 * channels]` as images of height 1: its kernel [k, inC, filters] is the conv2d kernel
 * [1, k, inC, filters] as it lies in memory.
 */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry, type Conv2DGeometry } from '../ops/conv2d.ts';
import { formatShape } from '../runtime/tensor.ts';
import { describeValue } from './config.ts';
import { ConvLayer, convArgsFromConfig, type ConvArgs, type ConvShape } from './conv-base.ts';
import { expectInputs, type BackwardContext, type ForwardContext, type Shape, type WeightSpec } from './layer.ts';

/** 'causal' padding: the output at step t sees inputs up to t only ((k − 1)·dilation zeros before the start). */
export type Conv1DConfig = ConvArgs<number | readonly [number]>;

/** A 1-D size: a positive integer, or TF.js's array of one; 'valid', 'same' or 'causal' padding. */
const CONV_1D: ConvShape<number> = {
  size(value, what) {
    const v = Array.isArray(value) && value.length === 1 ? (value[0] as unknown) : value;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`${what} must be a positive integer or an array of one positive integer, got ${describeValue(value)}`);
    }
    return v;
  },
  list: (s) => [s],
  as2d: (s) => [1, s],
  paddings: ['valid', 'same', 'causal'],
};

export class Conv1D extends ConvLayer<number> {
  static override readonly className = 'Conv1D';

  constructor(config: Conv1DConfig) {
    super(config as ConvArgs<number>, 'conv1d', CONV_1D);
  }

  /** The layer as a conv2d of images [1, steps, channels]. */
  private geometry(batch: number, inputShapes: readonly Shape[]): Conv2DGeometry {
    expectInputs(this, inputShapes, 1);
    const shape = inputShapes[0]!;
    if (shape.length !== 2) throw new Error(`layer ${this.name} (Conv1D) expects inputs of shape [steps, channels] (rank 2 without the batch), got ${formatShape(shape)}`);
    const [steps, channels] = shape as [number, number];
    const span = (this.kernelSize - 1) * this.dilationRate + 1;
    if (this.padding === 'valid' && span > steps) {
      throw new Error(`layer ${this.name} (Conv1D): the kernel spans ${span} steps (kernelSize ${this.kernelSize}, dilationRate ${this.dilationRate}), more than the input's ${steps} with padding 'valid'`);
    }
    return conv2dGeometry(this.conv2dOptions(batch, [1, steps, channels]), this.who);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes);
    return [g.outW, g.outC];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes);
    const specs: WeightSpec[] = [{ name: 'kernel', shape: [g.kW, g.inC, g.outC], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [g.outC], initializer: this.biasInitializer });
    return this.regularized(specs);
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    return conv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1], y: ctx.output, scratch: ctx.scratch, saved: ctx.saved });
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    // The next layer applied the ReLU's mask already (plan-level fusion).
    if (ctx.outputGradMasked) g.relu = false;
    return conv2dBackward(ctx.engine, g, {
      x: ctx.inputs[0]!,
      w: ctx.weights[0]!,
      y: ctx.output,
      dy: ctx.outputGrad,
      dx: ctx.inputGrads[0] ?? null,
      dw: ctx.weightGrads[0]!,
      db: ctx.weightGrads[1] ?? null,
      scratch: ctx.scratch,
      saved: ctx.saved,
    });
  }

  /** As TF.js writes it: sizes as arrays of one, no data_format. */
  override getConfig(): Record<string, unknown> {
    return this.convConfig({ dilation_rate: [this.dilationRate] });
  }

  /** From the Keras config in model.json, TF.js's or Keras's (the constructor validates the values). */
  static fromConfig(config: unknown): Conv1D {
    return new Conv1D(convArgsFromConfig('Conv1D', config, {}));
  }
}

const conv1DFactories = registerLayer(Conv1D, {
  conv1d: (config: Conv1DConfig) => new Conv1D(config),
});
type Conv1DFactories = typeof conv1DFactories;
declare module './registry.ts' {
  interface LayerFactories extends Conv1DFactories {}
}
