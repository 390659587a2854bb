/** Conv2DTranspose: the Keras layer over the transposed conv2d op (src/ops/conv2d-transpose.ts). */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { conv2dTransposeBackward, conv2dTransposeForward, conv2dTransposeGeometry } from '../ops/conv2d-transpose.ts';
import type { Conv2DGeometry } from '../ops/conv2d.ts';
import { pair, type Padding } from '../ops/window.ts';
import { initializerFromConfig, kernelLayerConfig, kerasConfig, NO_REGULARIZERS, padding as parsePadding } from './config.ts';
import { parseActivation } from '../ops/activation.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { checkDilation } from './conv2d.ts';
import { expectInputs, Layer, type ActivationName, type BackwardContext, type ForwardContext, type Shape, type WeightSpec, type LayerArgs } from './layer.ts';

export interface Conv2DTransposeConfig extends LayerArgs {
  filters: number;
  kernelSize: number | readonly [number, number];
  strides?: number | readonly [number, number];
  padding?: Padding;
  /** Keras's dilation of the kernel (above 1 only with strides 1); TF.js 4.22 ignores it. */
  dilationRate?: number | readonly [number, number];
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer | string;
  biasInitializer?: Initializer | string;
}

/**
 * The gradient of a convolution with respect to its input, as a layer: each input pixel spreads
 * its channels through the kernel over a window of the output, windows `strides` apart. Output
 * [in·s + max(span − s, 0)] per axis with 'valid', [in·s] with 'same' (TF.js's deconvLength);
 * kernel [kH, kW, filters, inputChannels] (the transposed order).
 */
export class Conv2DTranspose extends Layer {
  static override readonly className = 'Conv2DTranspose';
  readonly filters: number;
  readonly kernelSize: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly dilationRate: readonly [number, number];
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  private readonly activationName: ActivationName;

  constructor(config: Conv2DTransposeConfig) {
    super(config, 'conv2d_transpose');
    const who = `layer ${this.name} (Conv2DTranspose)`;
    if (!(Number.isInteger(config.filters) && config.filters > 0)) throw new Error(`${who}: filters must be a positive integer, got ${JSON.stringify(config.filters)}`);
    this.filters = config.filters;
    this.kernelSize = pair(config.kernelSize, `${who}: kernelSize`);
    this.strides = pair(config.strides ?? 1, `${who}: strides`);
    this.padding = parsePadding(config.padding, `${who}: padding`);
    this.dilationRate = pair(config.dilationRate ?? 1, `${who}: dilationRate`);
    checkDilation(this.dilationRate, this.strides, who);
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

  /** The convolution this layer transposes (its input is this layer's output). */
  private geometry(batch: number, inputShapes: readonly Shape[]): Conv2DGeometry {
    expectInputs(this, inputShapes, 1);
    return conv2dTransposeGeometry(
      {
        batch,
        inputShape: inputShapes[0]!,
        filters: this.filters,
        kernelSize: this.kernelSize,
        strides: this.strides,
        dilationRate: this.dilationRate,
        padding: this.padding,
        relu: this.activationName === 'relu',
        useBias: this.useBias,
      },
      `layer ${this.name} (Conv2DTranspose)`,
    );
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes);
    return [g.inH, g.inW, g.inC];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes);
    const specs: WeightSpec[] = [{ name: 'kernel', shape: [g.kH, g.kW, g.inC, g.outC], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [g.inC], initializer: this.biasInitializer });
    return specs;
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    return conv2dTransposeForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1], y: ctx.output, scratch: ctx.scratch });
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    // The next layer applied the ReLU's mask already (plan-level fusion).
    if (ctx.outputGradMasked) g.relu = false;
    return conv2dTransposeBackward(ctx.engine, g, {
      x: ctx.inputs[0]!,
      w: ctx.weights[0]!,
      y: ctx.output,
      dy: ctx.outputGrad,
      dx: ctx.inputGrads[0] ?? null,
      dw: ctx.weightGrads[0]!,
      db: ctx.weightGrads[1] ?? null,
      scratch: ctx.scratch,
    });
  }

  /** As TF.js writes it (no dilation_rate), with Keras's dilation_rate where it is not 1. */
  override getConfig(): Record<string, unknown> {
    return {
      name: this.name,
      trainable: this.trainable,
      ...(this.batchInputShape ? { batch_input_shape: this.batchInputShape, dtype: 'float32' } : {}),
      filters: this.filters,
      kernel_size: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      data_format: 'channels_last',
      ...(this.dilationRate.some((d) => d !== 1) ? { dilation_rate: [...this.dilationRate] } : {}),
      ...kernelLayerConfig(this.activationName, this.useBias, this.kernelInitializer, this.biasInitializer),
    };
  }

  /** From the Keras config in model.json, TF.js's or Keras's (the constructor validates the values). */
  static fromConfig(config: unknown): Conv2DTranspose {
    const c = kerasConfig(
      'Conv2DTranspose',
      config,
      ['filters', 'kernel_size', 'strides', 'padding', 'dilation_rate', 'activation', 'use_bias', 'kernel_initializer', 'bias_initializer'],
      { data_format: ['channels_last'], output_padding: [null], groups: [1], ...NO_REGULARIZERS },
    );
    return new Conv2DTranspose({
      name: c.name as string | undefined,
      filters: c.filters as number,
      kernelSize: c.kernel_size as [number, number],
      strides: (c.strides ?? undefined) as [number, number] | undefined,
      padding: (c.padding ?? undefined) as Padding | undefined,
      dilationRate: (c.dilation_rate ?? undefined) as [number, number] | undefined,
      activation: (c.activation ?? undefined) as ActivationName | undefined,
      useBias: (c.use_bias ?? undefined) as boolean | undefined,
      kernelInitializer: initializerFromConfig(c.kernel_initializer, 'Conv2DTranspose: kernel_initializer'),
      biasInitializer: initializerFromConfig(c.bias_initializer, 'Conv2DTranspose: bias_initializer'),
    });
  }
}

const conv2DTransposeFactories = registerLayer(Conv2DTranspose, {
  conv2dTranspose: (config: Conv2DTransposeConfig) => new Conv2DTranspose(config),
});
type Conv2DTransposeFactories = typeof conv2DTransposeFactories;
declare module './registry.ts' {
  interface LayerFactories extends Conv2DTransposeFactories {}
}
