/** Conv2DTranspose: the Keras layer over the transposed conv2d op (src/ops/conv2d-transpose.ts). */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { conv2dTransposeBackward, conv2dTransposeForward, conv2dTransposeGeometry } from '../ops/conv2d-transpose.ts';
import type { Conv2DGeometry } from '../ops/conv2d.ts';
import type { Padding } from '../ops/window.ts';
import { ConvLayer, convArgsFromConfig, type ConvArgs } from './conv-base.ts';
import { CONV_2D } from './conv2d.ts';
import { expectInputs, type BackwardContext, type ForwardContext, type Shape, type WeightSpec } from './layer.ts';

/** Keras's dilation of the kernel (above 1 only with strides 1); TF.js 4.22 ignores it. */
export type Conv2DTransposeConfig = ConvArgs<number | readonly [number, number]>;

/**
 * The gradient of a convolution with respect to its input, as a layer: each input pixel spreads
 * its channels through the kernel over a window of the output, windows `strides` apart. Output
 * [in·s + max(span − s, 0)] per axis with 'valid', [in·s] with 'same' (TF.js's deconvLength);
 * kernel [kH, kW, filters, inputChannels] (the transposed order).
 */
export class Conv2DTranspose extends ConvLayer<readonly [number, number]> {
  static override readonly className = 'Conv2DTranspose';

  constructor(config: Conv2DTransposeConfig) {
    super(config as ConvArgs<readonly [number, number]>, 'conv2d_transpose', CONV_2D);
  }

  private geometry(batch: number, inputShapes: readonly Shape[]): Conv2DGeometry {
    expectInputs(this, inputShapes, 1);
    return conv2dTransposeGeometry({ ...this.conv2dOptions(batch, inputShapes[0]!), padding: this.padding as Padding }, this.who);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes);
    return [g.inH, g.inW, g.inC];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes);
    const specs: WeightSpec[] = [{ name: 'kernel', shape: [g.kH, g.kW, g.inC, g.outC], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [g.inC], initializer: this.biasInitializer });
    return this.regularized(specs);
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
    return this.convConfig({ data_format: 'channels_last', ...(this.dilationRate.some((d) => d !== 1) ? { dilation_rate: [...this.dilationRate] } : {}) });
  }

  /** From the Keras config in model.json, TF.js's or Keras's (the constructor validates the values). */
  static fromConfig(config: unknown): Conv2DTranspose {
    return new Conv2DTranspose(convArgsFromConfig('Conv2DTranspose', config, { output_padding: [null] }));
  }
}

const conv2DTransposeFactories = registerLayer(Conv2DTranspose, {
  conv2dTranspose: (config: Conv2DTransposeConfig) => new Conv2DTranspose(config),
});
type Conv2DTransposeFactories = typeof conv2DTransposeFactories;
declare module './registry.ts' {
  interface LayerFactories extends Conv2DTransposeFactories {}
}
