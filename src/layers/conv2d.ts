/** Conv2D: the Keras layer over the conv2d op (src/ops/conv2d.ts). */
import { registerLayer } from './registry.ts';
import type { BufferView, Dispatch } from '../runtime/engine.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry, pooledForwardVariant, type Conv2DBackwardViews, type Conv2DGeometry } from '../ops/conv2d.ts';
import { foldAffineWeights } from '../ops/affine-fold.ts';
import { pair } from '../ops/window.ts';
import { ConvLayer, convArgsFromConfig, type ConvArgs, type ConvShape } from './conv-base.ts';
import { expectInputs, type ActivationName, type AffineViews, type BackwardContext, type ForwardContext, type Shape, type WeightSpec } from './layer.ts';

export { checkDilation } from './conv-base.ts';

export type Conv2DConfig = ConvArgs<number | readonly [number, number]>;

/** The 2-D sizes: a number or [h, w]; 'valid' or 'same' padding. */
export const CONV_2D: ConvShape<readonly [number, number]> = { size: (v, what) => pair(v as number, what), list: (s) => [...s], paddings: ['valid', 'same'], as2d: (s) => s };

export class Conv2D extends ConvLayer<readonly [number, number]> {
  static override readonly className = 'Conv2D';

  constructor(config: Conv2DConfig) {
    super(config as ConvArgs<readonly [number, number]>, 'conv2d', CONV_2D);
  }

  private geometry(batch: number, inputShapes: readonly Shape[]): Conv2DGeometry {
    expectInputs(this, inputShapes, 1);
    return conv2dGeometry(this.conv2dOptions(batch, inputShapes[0]!), this.who);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes);
    return [g.outH, g.outW, g.outC];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes);
    const specs: WeightSpec[] = [{ name: 'kernel', shape: [g.kH, g.kW, g.inC, g.outC], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [g.outC], initializer: this.biasInitializer });
    return this.regularized(specs);
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    return conv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1], y: ctx.output, scratch: ctx.scratch, saved: ctx.saved });
  }

  override forwardAffine(ctx: ForwardContext, affine: AffineViews, activation: ActivationName): Dispatch[] | null {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    g.relu = activation === 'relu';
    g.bias = true;
    const folded = foldAffineWeights(ctx.engine, ctx.scratch, { kernel: ctx.weights[0]!, bias: ctx.weights[1], channels: this.filters }, affine, this.name);
    return [...folded.dispatches, ...conv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: folded.kernel, b: folded.bias, y: ctx.output, scratch: ctx.scratch, saved: ctx.saved })];
  }

  override forwardPooled(ctx: ForwardContext, argmax?: Required<BufferView>): Dispatch[] | null {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    if (this.activationName === 'softmax' || !pooledForwardVariant(ctx.engine, g)) return null;
    return conv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1], y: ctx.output, scratch: ctx.scratch, saved: ctx.saved, argmax }, undefined, { pooled: true });
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    // The next layer applied the ReLU's mask already (plan-level fusion): dy is what the mask pass would give.
    if (ctx.outputGradMasked) g.relu = false;
    const views: Conv2DBackwardViews = {
      x: ctx.inputs[0]!,
      w: ctx.weights[0]!,
      y: ctx.output,
      dy: ctx.outputGrad,
      dx: ctx.inputGrads[0] ?? null,
      dw: ctx.weightGrads[0]!,
      db: ctx.weightGrads[1] ?? null,
      scratch: ctx.scratch,
      saved: ctx.saved,
    };
    // A pooled forward's Winograd tiles covered only the pooling windows: the backward must use the same.
    return conv2dBackward(ctx.engine, g, views, undefined, { pooled: ctx.forwardPooled });
  }

  override getConfig(): Record<string, unknown> {
    return this.convConfig({ data_format: 'channels_last', dilation_rate: [...this.dilationRate] });
  }

  /** From the Keras config in model.json (the constructor validates the values). */
  static fromConfig(config: unknown): Conv2D {
    return new Conv2D(convArgsFromConfig('Conv2D', config, {}));
  }
}

const conv2DFactories = registerLayer(Conv2D, {
  conv2d: (config: Conv2DConfig) => new Conv2D(config),
});
type Conv2DFactories = typeof conv2DFactories;
declare module './registry.ts' {
  interface LayerFactories extends Conv2DFactories {}
}
