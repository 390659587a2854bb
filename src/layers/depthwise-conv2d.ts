/**
 * DepthwiseConv2D and SeparableConv2D: Keras layers over the depthwise conv2d op
 * (src/ops/depthwise-conv2d.ts). SeparableConv2D is the depthwise convolution followed by a 1×1
 * pointwise convolution, run as the dense op over the [batch·h·w, inC·depthMultiplier] rows of
 * the depthwise output, which the layer keeps in plan scratch memory for its backward.
 */
import { registerLayer } from './registry.ts';
import type { Dispatch, View } from '../runtime/engine.ts';
import { depthwiseConv2dBackward, depthwiseConv2dForward, depthwiseConv2dGeometry, type DepthwiseConv2DGeometry } from '../ops/depthwise-conv2d.ts';
import { denseBackward, denseForward, denseGeometry, type DenseGeometry } from '../ops/dense.ts';
import { pair, type Padding } from '../ops/window.ts';
import {
  activityFromConfig,
  describeValue,
  initializerConfig,
  initializerFromConfig,
  kerasConfig,
  padding as parsePadding,
  parseRegularization,
  regularizationFromConfig,
  regularizationKeys,
  regularized,
  type WeightRegularization,
} from './config.ts';
import { constraintConfig, type ConstraintIdentifier } from './constraints.ts';
import { parseRegularizer, regularizerConfig, type Regularizer, type RegularizerIdentifier } from './regularizers.ts';
import { parseActivation, serializeActivation } from '../ops/activation.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { foldAffineWeights } from '../ops/affine-fold.ts';
import { expectInputs, Layer, type ActivationName, type AffineViews, type BackwardContext, type ForwardContext, type LayerArgs, type Shape, type WeightSpec } from './layer.ts';

/** What both layers take (TF.js's BaseConvLayerArgs for 2-D, channels last). */
interface DepthwiseArgs extends LayerArgs {
  kernelSize: number | readonly [number, number];
  /** Filters per input channel; default 1. */
  depthMultiplier?: number;
  strides?: number | readonly [number, number];
  padding?: Padding;
  /** Only 'channelsLast' (the default). */
  dataFormat?: 'channelsLast';
  /** Strides must be 1 where it is above 1. */
  dilationRate?: number | readonly [number, number];
  activation?: ActivationName;
  useBias?: boolean;
  depthwiseInitializer?: Initializer | string;
  biasInitializer?: Initializer | string;
  depthwiseRegularizer?: RegularizerIdentifier | null;
  biasRegularizer?: RegularizerIdentifier | null;
  /** Penalizes the layer's output (after its activation). */
  activityRegularizer?: RegularizerIdentifier | null;
  depthwiseConstraint?: ConstraintIdentifier | null;
  biasConstraint?: ConstraintIdentifier | null;
}

export type DepthwiseConv2DConfig = DepthwiseArgs;

export interface SeparableConv2DConfig extends DepthwiseArgs {
  filters: number;
  pointwiseInitializer?: Initializer | string;
  pointwiseRegularizer?: RegularizerIdentifier | null;
  pointwiseConstraint?: ConstraintIdentifier | null;
}

/** The Keras fields that we do not implement, with the values that make them no-ops. */
const NEUTRAL: Readonly<Record<string, readonly unknown[]>> = {
  data_format: ['channels_last'],
  groups: [1], // tf.keras 2 writes Conv's groups into DepthwiseConv2D's config
};

/** TF.js's regularizer/constraint field prefixes → the weights they apply to. */
const DEPTHWISE_REGULARIZED: Readonly<Record<string, string>> = { depthwise: 'depthwise_kernel', bias: 'bias' };
const SEPARABLE_REGULARIZED: Readonly<Record<string, string>> = { depthwise: 'depthwise_kernel', pointwise: 'pointwise_kernel', bias: 'bias' };

/** The depthwise half both layers share: its window, filters, activation and bias. */
abstract class DepthwiseBase extends Layer {
  readonly kernelSize: readonly [number, number];
  readonly depthMultiplier: number;
  readonly strides: readonly [number, number];
  readonly padding: Padding;
  readonly dilationRate: readonly [number, number];
  readonly useBias: boolean;
  readonly depthwiseInitializer: Initializer;
  readonly biasInitializer: Initializer;
  protected readonly activationName: ActivationName;
  /** The weights' regularizers and constraints, by weight name. */
  readonly regularization: Readonly<Record<string, WeightRegularization>>;
  private readonly activity: Regularizer | undefined;

  constructor(config: DepthwiseArgs, defaultPrefix: string, defaultDepthwiseInitializer: Initializer, regularizedFields: Readonly<Record<string, string>>) {
    super(config, defaultPrefix);
    const who = this.who();
    const raw = config as unknown as Record<string, unknown>;
    for (const field of ['kernelInitializer', 'kernelRegularizer', 'kernelConstraint']) {
      const suffix = field.slice('kernel'.length);
      if (raw[field] !== undefined) throw new Error(`${who}: ${field} is not a field of this layer (got ${describeValue(raw[field])}); use depthwise${suffix}${this.className === 'SeparableConv2D' ? ` and pointwise${suffix}` : ''}`);
    }
    if (config.kernelSize === undefined) throw new Error(`${who}: kernelSize is required (a positive integer or an array of two)`);
    this.kernelSize = pair(config.kernelSize, `${who}: kernelSize`);
    const multiplier = config.depthMultiplier ?? 1;
    if (!(typeof multiplier === 'number' && Number.isInteger(multiplier) && multiplier > 0)) {
      throw new Error(`${who}: depthMultiplier must be a positive integer, got ${describeValue(multiplier)}`);
    }
    this.depthMultiplier = multiplier;
    this.strides = pair(config.strides ?? 1, `${who}: strides`);
    this.padding = parsePadding(config.padding, `${who}: padding`);
    if (config.dataFormat !== undefined && config.dataFormat !== null && config.dataFormat !== 'channelsLast') {
      throw new Error(`${who}: dataFormat must be 'channelsLast' (channels-first inputs are not supported), got ${describeValue(config.dataFormat)}`);
    }
    this.dilationRate = pair(config.dilationRate ?? 1, `${who}: dilationRate`);
    if (Math.max(...this.strides) > 1 && Math.max(...this.dilationRate) > 1) {
      throw new Error(`${who}: dilationRate ${describeValue(this.dilationRate)} cannot be combined with strides ${describeValue(this.strides)}; strides must be 1 where dilationRate is above 1 (as in TF.js and Keras)`);
    }
    this.activationName = parseActivation(config.activation, who);
    const useBias = config.useBias ?? true;
    if (typeof useBias !== 'boolean') throw new Error(`${who}: useBias must be true or false, got ${describeValue(useBias)}`);
    this.useBias = useBias;
    this.depthwiseInitializer = parseInitializer(config.depthwiseInitializer ?? defaultDepthwiseInitializer, `${who}: depthwiseInitializer`);
    this.biasInitializer = parseInitializer(config.biasInitializer ?? 'zeros', `${who}: biasInitializer`);
    this.regularization = parseRegularization(config, regularizedFields, who);
    this.activity = parseRegularizer(config.activityRegularizer, `${who}: activityRegularizer`);
  }

  override get activityRegularizer(): Regularizer | undefined {
    return this.activity;
  }

  /** The subclass's weight specs with their regularizers and constraints. */
  protected regularized(specs: WeightSpec[]): WeightSpec[] {
    return regularized(specs, this.regularization, this.who());
  }

  protected who(): string {
    return `layer ${this.name} (${this.className})`;
  }

  override get activation(): ActivationName {
    return this.activationName;
  }

  /** relu runs in this layer's kernels; the plan runs any other activation after them. */
  override get fusedActivations(): readonly ActivationName[] {
    return ['linear', 'relu'];
  }

  /** A consumer that applies the fused ReLU's mask (max pooling) spares this layer's mask pass. */
  override get skipsMaskedRelu(): boolean {
    return true;
  }

  /** The input gradient's kernel stores each dx element once: masking it by [x > 0] there costs one load. */
  override get masksReluInputGrad(): boolean {
    return true;
  }

  /** The depthwise convolution's geometry (the whole layer's for DepthwiseConv2D). */
  protected depthwise(batch: number, inputShapes: readonly Shape[], relu: boolean, bias: boolean): DepthwiseConv2DGeometry {
    expectInputs(this, inputShapes, 1);
    return depthwiseConv2dGeometry(
      { batch, inputShape: inputShapes[0]!, kernelSize: this.kernelSize, depthMultiplier: this.depthMultiplier, strides: this.strides, dilationRate: this.dilationRate, padding: this.padding, relu, useBias: bias },
      this.who(),
    );
  }

  /** The config fields both layers write, as TF.js 4.22 writes them. */
  protected baseConfig(): Record<string, unknown> {
    return {
      name: this.name,
      trainable: this.trainable,
      ...(this.batchInputShape ? { batch_input_shape: this.batchInputShape, dtype: 'float32' } : {}),
      kernel_size: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      data_format: 'channels_last',
      dilation_rate: [...this.dilationRate],
      activation: serializeActivation(this.activationName),
      use_bias: this.useBias,
      bias_initializer: initializerConfig(this.biasInitializer),
      bias_regularizer: regularizerConfig(this.regularization.bias?.regularizer),
      activity_regularizer: regularizerConfig(this.activity),
      bias_constraint: constraintConfig(this.regularization.bias?.constraint),
      depth_multiplier: this.depthMultiplier,
      depthwise_initializer: initializerConfig(this.depthwiseInitializer),
      depthwise_regularizer: regularizerConfig(this.regularization.depthwise_kernel?.regularizer),
      depthwise_constraint: constraintConfig(this.regularization.depthwise_kernel?.constraint),
    };
  }

  /** The constructor's shared fields from a Keras config (the constructor validates the values). */
  protected static argsFromKeras(className: string, c: Record<string, unknown>): DepthwiseArgs {
    return {
      name: c.name as string | undefined,
      kernelSize: c.kernel_size as [number, number],
      depthMultiplier: (c.depth_multiplier ?? undefined) as number | undefined,
      strides: (c.strides ?? undefined) as [number, number] | undefined,
      padding: (c.padding ?? undefined) as Padding | undefined,
      dilationRate: (c.dilation_rate ?? undefined) as [number, number] | undefined,
      activation: (c.activation ?? undefined) as ActivationName | undefined,
      useBias: (c.use_bias ?? undefined) as boolean | undefined,
      depthwiseInitializer: initializerFromConfig(c.depthwise_initializer, `${className}: depthwise_initializer`),
      biasInitializer: initializerFromConfig(c.bias_initializer, `${className}: bias_initializer`),
      ...regularizationFromConfig(c, ['depthwise', 'bias'], className),
      activityRegularizer: activityFromConfig(c, className),
    };
  }
}

const DEPTHWISE_KEYS = [
  'kernel_size',
  'depth_multiplier',
  'strides',
  'padding',
  'dilation_rate',
  'activation',
  'use_bias',
  'depthwise_initializer',
  'bias_initializer',
  ...regularizationKeys(['depthwise', 'bias']),
  'activity_regularizer',
];

/**
 * Keras's DepthwiseConv2D: input channel c convolved with its own depthMultiplier filters into
 * output channels c·depthMultiplier + m. Weights depthwise_kernel [kH, kW, inC, depthMultiplier]
 * and bias [inC·depthMultiplier]. The default depthwiseInitializer is TF.js's, glorotNormal.
 */
export class DepthwiseConv2D extends DepthwiseBase {
  static override readonly className = 'DepthwiseConv2D';

  constructor(config: DepthwiseConv2DConfig) {
    super(config, 'depthwise_conv2d', 'glorotNormal', DEPTHWISE_REGULARIZED);
  }

  private geometry(batch: number, inputShapes: readonly Shape[]): DepthwiseConv2DGeometry {
    return this.depthwise(batch, inputShapes, this.activationName === 'relu', this.useBias);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(1, inputShapes);
    return [g.outH, g.outW, g.inC * g.multiplier];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const g = this.geometry(1, inputShapes);
    const specs: WeightSpec[] = [{ name: 'depthwise_kernel', shape: [g.kH, g.kW, g.inC, g.multiplier], initializer: this.depthwiseInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [g.inC * g.multiplier], initializer: this.biasInitializer });
    return this.regularized(specs);
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    return depthwiseConv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1], y: ctx.output });
  }

  /** Its output channel c·multiplier + m is the fastest-varying index of its kernel [kH, kW, inC, multiplier], so the fold applies. */
  override forwardAffine(ctx: ForwardContext, affine: AffineViews, activation: ActivationName): Dispatch[] | null {
    const g = this.depthwise(ctx.batch, ctx.inputShapes, activation === 'relu', true);
    const folded = foldAffineWeights(ctx.engine, ctx.scratch, { kernel: ctx.weights[0]!, bias: ctx.weights[1], channels: g.inC * g.multiplier }, affine, this.name);
    return [...folded.dispatches, ...depthwiseConv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: folded.kernel, b: folded.bias, y: ctx.output })];
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes);
    // The next layer applied the ReLU's mask already (plan-level fusion).
    if (ctx.outputGradMasked) g.relu = false;
    const views = { x: ctx.inputs[0]!, w: ctx.weights[0]!, y: ctx.output, dy: ctx.outputGrad, dx: ctx.inputGrads[0] ?? null, dw: ctx.weightGrads[0]!, db: ctx.weightGrads[1] ?? null, scratch: ctx.scratch };
    return depthwiseConv2dBackward(ctx.engine, g, views, { reluMaskInput: ctx.reluMaskInputGrad });
  }

  override getConfig(): Record<string, unknown> {
    return this.baseConfig();
  }

  /**
   * From the Keras config in model.json. TF.js 4.22 writes the depthwise regularizer where the
   * depthwise constraint belongs (its getConfig serializes depthwiseRegularizer twice): a
   * depthwise_constraint that is a regularizer equal to depthwise_regularizer is read as none.
   */
  static fromConfig(config: unknown): DepthwiseConv2D {
    const c = kerasConfig('DepthwiseConv2D', config, DEPTHWISE_KEYS, NEUTRAL);
    const constraint = c.depthwise_constraint as { class_name?: unknown; className?: unknown } | null | undefined;
    const className = constraint?.class_name ?? constraint?.className;
    const tfjsBug = ['L1L2', 'L1', 'L2'].includes(String(className)) && JSON.stringify(constraint) === JSON.stringify(c.depthwise_regularizer);
    return new DepthwiseConv2D(DepthwiseBase.argsFromKeras('DepthwiseConv2D', tfjsBug ? { ...c, depthwise_constraint: null } : c));
  }
}

/** The saved entry holding SeparableConv2D's depthwise output, which its backward reads. */
const SAVED_DEPTHWISE_OUTPUT = 'separable depthwise output';

/**
 * Keras's SeparableConv2D: the depthwise convolution (no bias, no activation) and then a 1×1
 * convolution to `filters` channels with the bias and activation. Weights depthwise_kernel
 * [kH, kW, inC, depthMultiplier], pointwise_kernel [1, 1, inC·depthMultiplier, filters] and bias
 * [filters], in TF.js's order. Both initializers default to glorotUniform, as in TF.js; unlike
 * TF.js 4.22 (which initializes the pointwise kernel with depthwiseInitializer), pointwiseInitializer
 * is honoured, as in Keras.
 */
export class SeparableConv2D extends DepthwiseBase {
  static override readonly className = 'SeparableConv2D';
  readonly filters: number;
  readonly pointwiseInitializer: Initializer;

  constructor(config: SeparableConv2DConfig) {
    super(config, 'separable_conv2d', 'glorotUniform', SEPARABLE_REGULARIZED);
    const who = this.who();
    if (!(typeof config.filters === 'number' && Number.isInteger(config.filters) && config.filters > 0)) {
      throw new Error(`${who}: filters must be a positive integer, got ${describeValue(config.filters)}`);
    }
    this.filters = config.filters;
    this.pointwiseInitializer = parseInitializer(config.pointwiseInitializer ?? 'glorotUniform', `${who}: pointwiseInitializer`);
  }

  private geometries(batch: number, inputShapes: readonly Shape[]): { dw: DepthwiseConv2DGeometry; pw: DenseGeometry } {
    const dw = this.depthwise(batch, inputShapes, false, false);
    const pw = denseGeometry(batch, [dw.outH, dw.outW, dw.inC * dw.multiplier], this.filters, { relu: this.activationName === 'relu', bias: this.useBias }, this.who());
    return { dw, pw };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const { dw } = this.geometries(1, inputShapes);
    return [dw.outH, dw.outW, this.filters];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const { dw } = this.geometries(1, inputShapes);
    const mid = dw.inC * dw.multiplier;
    const specs: WeightSpec[] = [
      { name: 'depthwise_kernel', shape: [dw.kH, dw.kW, dw.inC, dw.multiplier], initializer: this.depthwiseInitializer },
      { name: 'pointwise_kernel', shape: [1, 1, mid, this.filters], initializer: this.pointwiseInitializer },
    ];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.filters], initializer: this.biasInitializer });
    return this.regularized(specs);
  }

  /** The depthwise convolution into `mid`, [batch, outH, outW, inC·depthMultiplier]. */
  private depthwiseInto(ctx: ForwardContext, g: DepthwiseConv2DGeometry, mid: View): Dispatch[] {
    return depthwiseConv2dForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, y: mid });
  }

  private midBytes(g: DepthwiseConv2DGeometry): number {
    return g.batch * g.outH * g.outW * g.inC * g.multiplier * 4;
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const { dw, pw } = this.geometries(ctx.batch, ctx.inputShapes);
    const mid = ctx.scratch(this.midBytes(dw), SAVED_DEPTHWISE_OUTPUT);
    ctx.saved.set(SAVED_DEPTHWISE_OUTPUT, mid);
    return [...this.depthwiseInto(ctx, dw, mid), ...denseForward(ctx.engine, pw, { x: mid, w: ctx.weights[1]!, b: ctx.weights[2], y: ctx.output })];
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const { dw, pw } = this.geometries(ctx.batch, ctx.inputShapes);
    // The next layer applied the ReLU's mask already (plan-level fusion).
    if (ctx.outputGradMasked) pw.relu = false;
    const dispatches: Dispatch[] = [];
    // The forward's depthwise output when it kept one in this plan, else recomputed.
    let mid = ctx.saved.get(SAVED_DEPTHWISE_OUTPUT);
    if (!mid) {
      mid = ctx.scratch(this.midBytes(dw), SAVED_DEPTHWISE_OUTPUT);
      dispatches.push(...this.depthwiseInto(ctx, dw, mid));
    }
    const dMid = ctx.scratch(this.midBytes(dw), 'separable depthwise output gradient');
    dispatches.push(...denseBackward(ctx.engine, pw, { x: mid, w: ctx.weights[1]!, y: ctx.output, dy: ctx.outputGrad, dx: dMid, dw: ctx.weightGrads[1]!, db: ctx.weightGrads[2] ?? null, scratch: ctx.scratch }));
    const views = { x: ctx.inputs[0]!, w: ctx.weights[0]!, dy: dMid, dx: ctx.inputGrads[0] ?? null, dw: ctx.weightGrads[0]!, scratch: ctx.scratch };
    dispatches.push(...depthwiseConv2dBackward(ctx.engine, dw, views, { reluMaskInput: ctx.reluMaskInputGrad }));
    return dispatches;
  }

  /**
   * TF.js 4.22's fields, and depth_multiplier, which TF.js leaves out (Keras writes it, and TF.js
   * reads it back: without it a multiplier above 1 would not load).
   */
  override getConfig(): Record<string, unknown> {
    return {
      filters: this.filters,
      ...this.baseConfig(),
      pointwise_initializer: initializerConfig(this.pointwiseInitializer),
      pointwise_regularizer: regularizerConfig(this.regularization.pointwise_kernel?.regularizer),
      pointwise_constraint: constraintConfig(this.regularization.pointwise_kernel?.constraint),
    };
  }

  /** From the Keras config in model.json; no depth_multiplier (as TF.js writes it) means 1. */
  static fromConfig(config: unknown): SeparableConv2D {
    const c = kerasConfig('SeparableConv2D', config, ['filters', ...DEPTHWISE_KEYS, 'pointwise_initializer', ...regularizationKeys(['pointwise'])], NEUTRAL);
    return new SeparableConv2D({
      ...DepthwiseBase.argsFromKeras('SeparableConv2D', c),
      filters: c.filters as number,
      pointwiseInitializer: initializerFromConfig(c.pointwise_initializer, 'SeparableConv2D: pointwise_initializer'),
      ...regularizationFromConfig(c, ['pointwise'], 'SeparableConv2D'),
    });
  }
}

const depthwiseFactories = registerLayer(DepthwiseConv2D, {
  depthwiseConv2d: (config: DepthwiseConv2DConfig) => new DepthwiseConv2D(config),
});
const separableFactories = registerLayer(SeparableConv2D, {
  separableConv2d: (config: SeparableConv2DConfig) => new SeparableConv2D(config),
});
type DepthwiseFactories = typeof depthwiseFactories & typeof separableFactories;
declare module './registry.ts' {
  interface LayerFactories extends DepthwiseFactories {}
}
