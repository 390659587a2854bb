/**
 * Wrappers: layers that apply another layer (TF.js's and Keras's Wrapper family). The inner layer's
 * weights are the wrapper's (named `<wrapper>/<weight>` as TF.js names them) and its config nests
 * in the wrapper's: `{layer: {class_name, config}, name, trainable}`.
 *
 * TimeDistributed applies its layer to every timestep: [batch, T, ...inner input] is contiguous, so
 * it is [batch·T, ...inner input], and the inner layer's forward and backward run on the same
 * buffers with a batch of batch·T. What the plan's fusions ask of a layer (its activation, the ReLU
 * mask, pooling in the producer, the inference affine fold) is the inner layer's, passed through.
 */
import { registerLayer, layerClass, layerClassNames } from './registry.ts';
import type { BufferView, Dispatch } from '../runtime/engine.ts';
import { formatShape } from '../runtime/tensor.ts';
import { describeValue, kerasConfig } from './config.ts';
import { expectInputs, Layer, type ActivationName, type AffineViews, type BackwardContext, type ForwardContext, type LayerArgs, type Shape, type WeightSpec } from './layer.ts';
import type { Regularizer } from './regularizers.ts';

export interface WrapperArgs extends LayerArgs {
  /** The layer to wrap: a layer not applied anywhere yet, and not wrapped by another wrapper. */
  layer: Layer;
}

/** Inner layers already wrapped: a second wrapper would give the same layer two sets of weights. */
const wrapped = new WeakMap<Layer, string>();

/**
 * The base of every wrapper: checks and holds the inner layer, makes the wrapper's `trainable` the
 * inner layer's (as TF.js does), and writes and reads the nested config.
 */
export abstract class Wrapper extends Layer {
  readonly layer: Layer;

  /** `check` refuses inner layers this wrapper cannot apply (an Error naming `who`), before anything is marked. */
  constructor(config: WrapperArgs, defaultPrefix: string, className: string, check?: (inner: Layer, who: string) => void) {
    if (!config || typeof config !== 'object') throw new Error(`${className}: expected a config object like { layer: layers.dense({ units: 8 }) }, got ${describeValue(config)}`);
    super(config, defaultPrefix);
    const who = `layer ${this.name} (${className})`;
    const inner = config.layer;
    if (inner === undefined || inner === null) throw new Error(`${who}: layer is required: the layer to wrap, e.g. { layer: layers.dense({ units: 8 }) }`);
    if (!(inner instanceof Layer)) {
      const hint = typeof (inner as { getClassName?: unknown }).getClassName === 'function' ? ' (a TF.js layer: build it with this library\'s layers.*)' : '';
      throw new Error(`${who}: layer must be a Layer of this library, got ${describeValue(inner)}${hint}`);
    }
    if (inner.inboundNodes.length > 0) throw new Error(`${who}: layer ${inner.name} is applied in a graph already; a wrapped layer must be used only through its wrapper`);
    const owner = wrapped.get(inner);
    if (owner !== undefined) throw new Error(`${who}: layer ${inner.name} is wrapped by ${owner} already; wrap a new layer`);
    check?.(inner, who);
    wrapped.set(inner, this.name);
    this.layer = inner;
    if (config.trainable !== undefined) inner.trainable = config.trainable;
    // TF.js's Wrapper: freezing the wrapper freezes the inner layer, and the other way round.
    Object.defineProperty(this, 'trainable', {
      get: () => this.layer.trainable,
      set: (value: boolean) => {
        this.layer.trainable = value;
      },
      enumerable: true,
      configurable: true,
    });
  }

  /** The wrapper's Keras config: the base fields and the inner layer's `{class_name, config}`. */
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), layer: { class_name: this.layer.className, config: this.layer.getConfig() } };
  }
}

/**
 * The inner layer of a wrapper's model.json config: `{class_name, config}` (Keras 3's `module`,
 * `registered_name` and `build_config` beside them are ignored) built by its registered class.
 */
export function innerLayerFromConfig(value: unknown, who: string): Layer {
  const what = `${who}: layer`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} must be {class_name, config}, got ${describeValue(value)}`);
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!['class_name', 'className', 'config', 'module', 'registered_name', 'build_config'].includes(key)) {
      throw new Error(`${what}: unknown key '${key}'; expected class_name and config (and Keras 3's module, registered_name, build_config)`);
    }
  }
  const className = v.class_name ?? v.className;
  const cls = typeof className === 'string' ? layerClass(className) : undefined;
  if (!cls) throw new Error(`${what}: unknown layer class ${describeValue(className)}; known: ${layerClassNames().join(', ')}`);
  let layer: Layer;
  try {
    layer = cls.fromConfig(v.config);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  const trainable = (v.config as Record<string, unknown> | undefined)?.trainable;
  if (typeof trainable === 'boolean') layer.trainable = trainable;
  return layer;
}

// ---- TimeDistributed ------------------------------------------------------------------------------

export type TimeDistributedConfig = WrapperArgs;

export class TimeDistributed extends Wrapper {
  static override readonly className = 'TimeDistributed';

  constructor(config: TimeDistributedConfig) {
    super(config, 'time_distributed', 'TimeDistributed', (inner, who) => {
      // TF.js ignores it; Keras applies it per timestep and divides by batch·T: no one answer to follow.
      if (inner.activityRegularizer) throw new Error(`${who}: the wrapped layer ${inner.name} has an activityRegularizer, which TimeDistributed does not support; drop it or regularize another layer's output`);
    });
  }

  /** [T, ...inner input] → the steps and the inner layer's per-sample input shape. */
  private split(inputShape: Shape): { steps: number; inner: Shape } {
    if (!Array.isArray(inputShape) || inputShape.length < 2) {
      throw new Error(`layer ${this.name} (TimeDistributed) expects inputs of shape [steps, ...the wrapped layer's input] (rank ≥ 3 with the batch), got ${Array.isArray(inputShape) ? formatShape(inputShape) : describeValue(inputShape)}`);
    }
    return { steps: inputShape[0]!, inner: inputShape.slice(1) };
  }

  private checkUnshared(): void {
    if (this.layer.inboundNodes.length > 0) {
      throw new Error(`layer ${this.name} (TimeDistributed): its wrapped layer ${this.layer.name} was applied in a graph itself; a wrapped layer must be used only through its wrapper`);
    }
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    this.checkUnshared();
    const { steps, inner } = this.split(inputShapes[0]!);
    let out: Shape;
    try {
      out = this.layer.computeOutputShape([inner]);
    } catch (err) {
      throw new Error(`layer ${this.name} (TimeDistributed) over ${formatShape(inputShapes[0]!)}: ${(err as Error).message}`);
    }
    return [steps, ...out];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    return this.layer.weightSpecs([this.split(inputShapes[0]!).inner]);
  }

  /** The inner layer's context: the same views, batch·T samples of the per-step shapes (a mask over the steps is the wrapper's, not the inner layer's). */
  private inner<C extends ForwardContext>(ctx: C): C {
    const { steps, inner } = this.split(ctx.inputShapes[0]!);
    return { ...ctx, batch: ctx.batch * steps, inputShapes: [inner], outputShape: ctx.outputShape.slice(1), mask: undefined };
  }

  /** A mask over the steps passes through to the output, as Keras's TimeDistributed hands it on. */
  override get supportsMasking(): boolean {
    return true;
  }

  forward(ctx: ForwardContext): Dispatch[] {
    return this.layer.forward(this.inner(ctx));
  }

  backward(ctx: BackwardContext): Dispatch[] {
    return this.layer.backward(this.inner(ctx));
  }

  override aliasesInput(training: boolean): boolean {
    return this.layer.aliasesInput(training);
  }

  /** Checked in the constructor: always none. */
  override get activityRegularizer(): Regularizer | undefined {
    return undefined;
  }

  /** The inner layer's: the plan applies it over the last axis, which is the inner output's. */
  override get activation(): ActivationName {
    return this.layer.activation;
  }

  override get fusedActivations(): readonly ActivationName[] {
    return this.layer.fusedActivations;
  }

  override get onlyActivation(): ActivationName | undefined {
    return this.layer.onlyActivation;
  }

  override get masksReluInputGrad(): boolean {
    return this.layer.masksReluInputGrad;
  }

  override get skipsMaskedRelu(): boolean {
    return this.layer.skipsMaskedRelu;
  }

  override forwardPooled(ctx: ForwardContext, argmax?: Required<BufferView>): Dispatch[] | null {
    return this.layer.forwardPooled(this.inner(ctx), argmax);
  }

  override poolsInProducer(inputShape: Shape, training: boolean): boolean {
    return inputShape.length >= 2 && this.layer.poolsInProducer(inputShape.slice(1), training);
  }

  override inferenceAffine(ctx: ForwardContext, affine: AffineViews): Dispatch[] | null {
    return this.layer.inferenceAffine(this.inner(ctx), affine);
  }

  override forwardAffine(ctx: ForwardContext, affine: AffineViews, activation: ActivationName): Dispatch[] | null {
    return this.layer.forwardAffine(this.inner(ctx), affine, activation);
  }

  /** The inner layer checks every step's values (sample s, step t is its sample s·T + t). */
  override checkInputData(values: ArrayLike<number>, sampleShape: Shape, firstSample: number): void {
    const { steps, inner } = this.split(sampleShape);
    try {
      this.layer.checkInputData(values, inner, firstSample * steps);
    } catch (err) {
      throw new Error(`layer ${this.name} (TimeDistributed), whose sample s step t is the wrapped layer's sample s·${steps} + t: ${(err as Error).message}`);
    }
  }

  /** From the Keras config in model.json: the wrapped layer is built by its own class. */
  static fromConfig(config: unknown): TimeDistributed {
    const c = kerasConfig('TimeDistributed', config, ['layer']);
    if (c.layer === undefined) throw new Error("TimeDistributed: config has no 'layer' (the wrapped layer's {class_name, config})");
    const layer = innerLayerFromConfig(c.layer, 'TimeDistributed');
    return new TimeDistributed({ name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, layer });
  }
}

const timeDistributedFactories = registerLayer(TimeDistributed, {
  timeDistributed: (config: TimeDistributedConfig) => new TimeDistributed(config),
});
type TimeDistributedFactories = typeof timeDistributedFactories;
declare module './registry.ts' {
  interface LayerFactories extends TimeDistributedFactories {}
}
