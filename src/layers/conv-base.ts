/**
 * What Conv1D, Conv2D and Conv2DTranspose share (TF.js's BaseConv): their config fields parsed and
 * checked once (filters, kernelSize, strides, padding, dilationRate, activation, useBias, the
 * initializers, TF.js's defaults), the fused ReLU they declare, and the model.json fields they
 * read and write. Each subclass keeps its geometry, weights and passes.
 */
import type { Conv2DGeometryOptions, ConvPadding } from '../ops/conv2d.ts';
import { parseActivation } from '../ops/activation.ts';
import {
  activityFromConfig,
  describeValue,
  initializerFromConfig,
  kernelLayerConfig,
  kerasConfig,
  parseRegularization,
  regularizationFromConfig,
  regularizationKeys,
  regularized,
  type WeightRegularization,
} from './config.ts';
import type { ConstraintIdentifier } from './constraints.ts';
import { parseRegularizer, type Regularizer, type RegularizerIdentifier } from './regularizers.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { Layer, type ActivationName, type LayerArgs, type Shape, type WeightSpec } from './layer.ts';

/** TF.js's convolution config, with sizes of type S (a number or [h, w]). */
export interface ConvArgs<S> extends LayerArgs {
  filters: number;
  kernelSize: S;
  strides?: S;
  padding?: ConvPadding;
  /** Input rows/columns between neighbouring taps; default 1. Above 1 only with strides 1 (as in TF.js). */
  dilationRate?: S;
  activation?: ActivationName;
  useBias?: boolean;
  /** Default glorotNormal, as TF.js (Keras uses glorotUniform). */
  kernelInitializer?: Initializer | string;
  biasInitializer?: Initializer | string;
  kernelRegularizer?: RegularizerIdentifier | null;
  biasRegularizer?: RegularizerIdentifier | null;
  /** Penalizes the layer's output (after its activation). */
  activityRegularizer?: RegularizerIdentifier | null;
  kernelConstraint?: ConstraintIdentifier | null;
  biasConstraint?: ConstraintIdentifier | null;
}

/** TF.js's regularizer/constraint field prefixes → the weights they apply to. */
const REGULARIZED = { kernel: 'kernel', bias: 'bias' } as const;

/** How a layer reads its sizes and which paddings it takes. */
export interface ConvShape<S> {
  /** Parses a size (a number or an array, as the layer takes it); `what` names the field in errors. */
  size(value: unknown, what: string): S;
  /** The size as a list of numbers (for checks and model.json). */
  list(size: S): number[];
  paddings: readonly ConvPadding[];
  /** The size as the conv2d op takes it: [h, w] (a 1-D size k is [1, k]). */
  as2d(size: S): readonly [number, number];
}

export abstract class ConvLayer<S> extends Layer {
  readonly filters: number;
  readonly kernelSize: S;
  readonly strides: S;
  readonly padding: ConvPadding;
  readonly dilationRate: S;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  protected readonly activationName: ActivationName;
  /** The weights' regularizers and constraints, by weight name. */
  readonly regularization: Readonly<Record<string, WeightRegularization>>;
  private readonly activity: Regularizer | undefined;

  constructor(config: ConvArgs<S>, defaultPrefix: string, protected readonly shape: ConvShape<S>) {
    super(config, defaultPrefix);
    const who = this.who;
    if (!(Number.isInteger(config.filters) && config.filters > 0)) throw new Error(`${who}: filters must be a positive integer, got ${describeValue(config.filters)}`);
    this.filters = config.filters;
    this.kernelSize = shape.size(config.kernelSize, `${who}: kernelSize`);
    this.strides = shape.size(config.strides ?? 1, `${who}: strides`);
    const padding = config.padding ?? 'valid';
    if (!shape.paddings.includes(padding)) {
      const names = shape.paddings.map((p) => `'${p}'`);
      throw new Error(`${who}: padding must be ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}, got ${describeValue(padding)}`);
    }
    this.padding = padding;
    this.dilationRate = shape.size(config.dilationRate ?? 1, `${who}: dilationRate`);
    checkDilation(shape.list(this.dilationRate), shape.list(this.strides), who);
    this.activationName = parseActivation(config.activation, who);
    const useBias = config.useBias ?? true;
    if (typeof useBias !== 'boolean') throw new Error(`${who}: useBias must be true or false, got ${describeValue(useBias)}`);
    this.useBias = useBias;
    this.kernelInitializer = parseInitializer(config.kernelInitializer ?? 'glorotNormal', `${who}: kernelInitializer`);
    this.biasInitializer = parseInitializer(config.biasInitializer ?? 'zeros', `${who}: biasInitializer`);
    this.regularization = parseRegularization(config, REGULARIZED, who);
    this.activity = parseRegularizer(config.activityRegularizer, `${who}: activityRegularizer`);
  }

  override get activityRegularizer(): Regularizer | undefined {
    return this.activity;
  }

  /** The subclass's kernel and bias specs with their regularizers and constraints. */
  protected regularized(specs: WeightSpec[]): WeightSpec[] {
    return regularized(specs, this.regularization, this.who);
  }

  /** The conv2d op's options for this layer's config, on `inputShape` [h, w, c] (Conv1D's steps as a row). */
  protected conv2dOptions(batch: number, inputShape: Shape): Conv2DGeometryOptions {
    const { as2d } = this.shape;
    return {
      batch,
      inputShape,
      filters: this.filters,
      kernelSize: as2d(this.kernelSize),
      strides: as2d(this.strides),
      dilationRate: as2d(this.dilationRate),
      padding: this.padding,
      relu: this.activationName === 'relu',
      useBias: this.useBias,
    };
  }

  /** Names the layer in errors: `layer conv2d_1 (Conv2D)`. */
  protected get who(): string {
    return `layer ${this.name} (${this.className})`;
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

  /**
   * The model.json config in TF.js's field order; `layout` is what TF.js writes between padding and
   * the activation (data_format, dilation_rate), which differs per layer.
   */
  protected convConfig(layout: Record<string, unknown>): Record<string, unknown> {
    return {
      name: this.name,
      trainable: this.trainable,
      ...(this.batchInputShape ? { batch_input_shape: this.batchInputShape, dtype: 'float32' } : {}),
      filters: this.filters,
      kernel_size: this.shape.list(this.kernelSize),
      strides: this.shape.list(this.strides),
      padding: this.padding,
      ...layout,
      ...kernelLayerConfig(this.activationName, this.useBias, this.kernelInitializer, this.biasInitializer, this.regularization, this.activity),
    };
  }
}

/**
 * A convolution layer's TF.js config from its Keras config in model.json (the constructor then
 * validates the values); `fixed` lists the fields that must hold one of the given values.
 */
export function convArgsFromConfig<S>(className: string, config: unknown, fixed: Readonly<Record<string, readonly unknown[]>>): ConvArgs<S> {
  const keys = ['filters', 'kernel_size', 'strides', 'padding', 'dilation_rate', 'activation', 'use_bias', 'kernel_initializer', 'bias_initializer'];
  const c = kerasConfig(className, config, [...keys, ...regularizationKeys(Object.keys(REGULARIZED)), 'activity_regularizer'], {
    data_format: ['channels_last'],
    groups: [1],
    ...fixed,
  });
  return {
    name: c.name as string | undefined,
    filters: c.filters as number,
    kernelSize: c.kernel_size as S,
    strides: (c.strides ?? undefined) as S | undefined,
    padding: (c.padding ?? undefined) as ConvPadding | undefined,
    dilationRate: (c.dilation_rate ?? undefined) as S | undefined,
    activation: (c.activation ?? undefined) as ActivationName | undefined,
    useBias: (c.use_bias ?? undefined) as boolean | undefined,
    kernelInitializer: initializerFromConfig(c.kernel_initializer, `${className}: kernel_initializer`),
    biasInitializer: initializerFromConfig(c.bias_initializer, `${className}: bias_initializer`),
    ...regularizationFromConfig(c, Object.keys(REGULARIZED), className),
    activityRegularizer: activityFromConfig(c, className),
  };
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
