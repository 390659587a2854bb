/**
 * Conv1D: the Keras layer over the conv2d op (src/ops/conv2d.ts), which convolves `[steps,
 * channels]` as images of height 1: its kernel [k, inC, filters] is the conv2d kernel
 * [1, k, inC, filters] as it lies in memory.
 */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry, type Conv2DGeometry, type ConvPadding } from '../ops/conv2d.ts';
import { formatShape } from '../runtime/tensor.ts';
import { describeValue, initializerFromConfig, kernelLayerConfig, kerasConfig, NO_REGULARIZERS } from './config.ts';
import { parseActivation } from '../ops/activation.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { checkDilation } from './conv2d.ts';
import { expectInputs, Layer, type ActivationName, type BackwardContext, type ForwardContext, type Shape, type WeightSpec, type LayerArgs } from './layer.ts';

export interface Conv1DConfig extends LayerArgs {
  filters: number;
  /** A positive integer, or TF.js's array of one. */
  kernelSize: number | readonly [number];
  strides?: number | readonly [number];
  /** 'causal': the output at step t sees inputs up to t only ((k − 1)·dilation zeros before the start). */
  padding?: ConvPadding;
  /** Steps between neighbouring taps; default 1. Above 1 only with strides 1. */
  dilationRate?: number | readonly [number];
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer | string;
  biasInitializer?: Initializer | string;
}

/** A 1-D size: a positive integer, or TF.js's array of one; `what` names the field in errors. */
function single(value: unknown, what: string): number {
  const v = Array.isArray(value) && value.length === 1 ? (value[0] as unknown) : value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${what} must be a positive integer or an array of one positive integer, got ${describeValue(value)}`);
  }
  return v;
}

export class Conv1D extends Layer {
  static override readonly className = 'Conv1D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: ConvPadding;
  readonly dilationRate: number;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  private readonly activationName: ActivationName;

  constructor(config: Conv1DConfig) {
    super(config, 'conv1d');
    const who = `layer ${this.name} (Conv1D)`;
    if (!(Number.isInteger(config.filters) && config.filters > 0)) throw new Error(`${who}: filters must be a positive integer, got ${JSON.stringify(config.filters)}`);
    this.filters = config.filters;
    this.kernelSize = single(config.kernelSize, `${who}: kernelSize`);
    this.strides = single(config.strides ?? 1, `${who}: strides`);
    const padding = config.padding ?? 'valid';
    if (padding !== 'valid' && padding !== 'same' && padding !== 'causal') throw new Error(`${who}: padding must be 'valid', 'same' or 'causal', got ${describeValue(padding)}`);
    this.padding = padding;
    this.dilationRate = single(config.dilationRate ?? 1, `${who}: dilationRate`);
    checkDilation([this.dilationRate], [this.strides], who);
    this.activationName = parseActivation(config.activation, who);
    const useBias = config.useBias ?? true;
    if (typeof useBias !== 'boolean') throw new Error(`${who}: useBias must be true or false, got ${JSON.stringify(useBias)}`);
    this.useBias = useBias;
    this.kernelInitializer = parseInitializer(config.kernelInitializer ?? 'glorotUniform', `${who}: kernelInitializer`);
    this.biasInitializer = parseInitializer(config.biasInitializer ?? 'zeros', `${who}: biasInitializer`);
  }

  override get skipsMaskedRelu(): boolean {
    return true;
  }

  /** relu runs in this layer's kernels, the plan runs any other activation after them. */
  override get fusedActivations(): readonly ActivationName[] {
    return ['linear', 'relu'];
  }

  override get activation(): ActivationName {
    return this.activationName;
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
    return conv2dGeometry(
      {
        batch,
        inputShape: [1, steps, channels],
        filters: this.filters,
        kernelSize: [1, this.kernelSize],
        strides: [1, this.strides],
        dilationRate: [1, this.dilationRate],
        padding: this.padding,
        relu: this.activationName === 'relu',
        useBias: this.useBias,
      },
      `layer ${this.name} (Conv1D)`,
    );
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes);
    return [g.outW, g.outC];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes);
    const specs: WeightSpec[] = [{ name: 'kernel', shape: [g.kW, g.inC, g.outC], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [g.outC], initializer: this.biasInitializer });
    return specs;
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
    return {
      name: this.name,
      trainable: this.trainable,
      ...(this.batchInputShape ? { batch_input_shape: this.batchInputShape, dtype: 'float32' } : {}),
      filters: this.filters,
      kernel_size: [this.kernelSize],
      strides: [this.strides],
      padding: this.padding,
      dilation_rate: [this.dilationRate],
      ...kernelLayerConfig(this.activationName, this.useBias, this.kernelInitializer, this.biasInitializer),
    };
  }

  /** From the Keras config in model.json, TF.js's or Keras's (the constructor validates the values). */
  static fromConfig(config: unknown): Conv1D {
    const c = kerasConfig('Conv1D', config, ['filters', 'kernel_size', 'strides', 'padding', 'dilation_rate', 'activation', 'use_bias', 'kernel_initializer', 'bias_initializer'], {
      data_format: ['channels_last'],
      groups: [1],
      ...NO_REGULARIZERS,
    });
    return new Conv1D({
      name: c.name as string | undefined,
      filters: c.filters as number,
      kernelSize: c.kernel_size as [number],
      strides: (c.strides ?? undefined) as [number] | undefined,
      padding: (c.padding ?? undefined) as ConvPadding | undefined,
      dilationRate: (c.dilation_rate ?? undefined) as [number] | undefined,
      activation: (c.activation ?? undefined) as ActivationName | undefined,
      useBias: (c.use_bias ?? undefined) as boolean | undefined,
      kernelInitializer: initializerFromConfig(c.kernel_initializer, 'Conv1D: kernel_initializer'),
      biasInitializer: initializerFromConfig(c.bias_initializer, 'Conv1D: bias_initializer'),
    });
  }
}

const conv1DFactories = registerLayer(Conv1D, {
  conv1d: (config: Conv1DConfig) => new Conv1D(config),
});
type Conv1DFactories = typeof conv1DFactories;
declare module './registry.ts' {
  interface LayerFactories extends Conv1DFactories {}
}
