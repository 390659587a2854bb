/** Conv2D: the Keras layer over the conv2d op (src/ops/conv2d.ts). */
import { registerLayer } from './registry.ts';
import type { BufferView, Dispatch } from '../runtime/engine.ts';
import { conv2dBackward, conv2dForward, conv2dGeometry, pooledForwardVariant, type Conv2DBackwardViews, type Conv2DGeometry } from '../ops/conv2d.ts';
import { pair, type Padding } from '../ops/window.ts';
import { describeValue, initializerFromConfig, kernelLayerConfig, kerasConfig, NO_REGULARIZERS, padding as parsePadding } from './config.ts';
import { parseActivation } from '../ops/activation.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { expectInputs, Layer, type ActivationName, type BackwardContext, type ForwardContext, type Shape, type WeightSpec, type LayerArgs } from './layer.ts';

export interface Conv2DConfig extends LayerArgs {
  filters: number;
  kernelSize: number | readonly [number, number];
  strides?: number | readonly [number, number];
  padding?: Padding;
  /** Input rows/columns between neighbouring taps; default 1. Above 1 only with strides 1 (as in TF.js). */
  dilationRate?: number | readonly [number, number];
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer | string;
  biasInitializer?: Initializer | string;
}

export class Conv2D extends Layer {
  static override readonly className = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly dilationRate: readonly [number, number];
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  private readonly activationName: ActivationName;

  constructor(config: Conv2DConfig) {
    super(config, 'conv2d');
    const who = `layer ${this.name} (Conv2D)`;
    if (!(Number.isInteger(config.filters) && config.filters > 0)) throw new Error(`${who}: filters must be a positive integer, got ${JSON.stringify(config.filters)}`);
    this.filters = config.filters;
    this.kernelSize = pair(config.kernelSize, `${who}: kernelSize`);
    this.strides = pair(config.strides ?? 1, `${who}: strides`);
    this.padding = parsePadding(config.padding, `${who}: padding`);
    this.dilationRate = pair(config.dilationRate ?? 1, `${who}: dilationRate`);
    checkDilation(this.dilationRate, this.strides, who);
    const activation = parseActivation(config.activation, who);
    this.activationName = activation;
    const useBias = config.useBias ?? true;
    if (typeof useBias !== 'boolean') throw new Error(`${who}: useBias must be true or false, got ${JSON.stringify(useBias)}`);
    this.useBias = useBias;
    this.kernelInitializer = parseInitializer(config.kernelInitializer ?? 'glorotUniform', `${who}: kernelInitializer`);
    this.biasInitializer = parseInitializer(config.biasInitializer ?? 'zeros', `${who}: biasInitializer`);
  }

  override get skipsMaskedRelu(): boolean {
    return true;
  }

  /** The configured activation: relu runs in this layer's kernels, the plan runs any other after them. */
  override get fusedActivations(): readonly ActivationName[] {
    return ['linear', 'relu'];
  }

  override get activation(): ActivationName {
    return this.activationName;
  }

  private geometry(batch: number, inputShapes: readonly Shape[]): Conv2DGeometry {
    expectInputs(this, inputShapes, 1);
    return conv2dGeometry(
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
      `layer ${this.name} (Conv2D)`,
    );
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes);
    return [g.outH, g.outW, g.outC];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes);
    const specs: WeightSpec[] = [{ name: 'kernel', shape: [g.kH, g.kW, g.inC, g.outC], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [g.outC], initializer: this.biasInitializer });
    return specs;
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    return conv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1], y: ctx.output, scratch: ctx.scratch, saved: ctx.saved });
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
    return {
      name: this.name,
      trainable: this.trainable,
      ...(this.batchInputShape ? { batch_input_shape: this.batchInputShape, dtype: 'float32' } : {}),
      filters: this.filters,
      kernel_size: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      data_format: 'channels_last',
      dilation_rate: [...this.dilationRate],
      ...kernelLayerConfig(this.activationName, this.useBias, this.kernelInitializer, this.biasInitializer),
    };
  }

  /** From the Keras config in model.json (the constructor validates the values). */
  static fromConfig(config: unknown): Conv2D {
    const c = kerasConfig('Conv2D', config, ['filters', 'kernel_size', 'strides', 'padding', 'dilation_rate', 'activation', 'use_bias', 'kernel_initializer', 'bias_initializer'], {
      data_format: ['channels_last'],
      groups: [1],
      ...NO_REGULARIZERS,
    });
    return new Conv2D({
      name: c.name as string | undefined,
      filters: c.filters as number,
      kernelSize: c.kernel_size as [number, number],
      strides: (c.strides ?? undefined) as [number, number] | undefined,
      padding: (c.padding ?? undefined) as Padding | undefined,
      dilationRate: (c.dilation_rate ?? undefined) as [number, number] | undefined,
      activation: (c.activation ?? undefined) as ActivationName | undefined,
      useBias: (c.use_bias ?? undefined) as boolean | undefined,
      kernelInitializer: initializerFromConfig(c.kernel_initializer, 'Conv2D: kernel_initializer'),
      biasInitializer: initializerFromConfig(c.bias_initializer, 'Conv2D: bias_initializer'),
    });
  }
}

/**
 * TF.js's rule for a convolution's dilationRate: above 1 only where every stride is 1. `who`
 * names the layer in the error.
 */
export function checkDilation(dilationRate: readonly number[], strides: readonly number[], who: string): void {
  if (Math.max(...dilationRate) > 1 && Math.max(...strides) > 1) {
    throw new Error(`${who}: dilationRate ${describeValue(dilationRate)} cannot be combined with strides ${describeValue(strides)}; strides must be 1 where dilationRate is above 1 (as in TF.js)`);
  }
}

const conv2DFactories = registerLayer(Conv2D, {
  conv2d: (config: Conv2DConfig) => new Conv2D(config),
});
type Conv2DFactories = typeof conv2DFactories;
declare module './registry.ts' {
  interface LayerFactories extends Conv2DFactories {}
}
