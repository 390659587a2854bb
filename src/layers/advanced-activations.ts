/**
 * TF.js's advanced activation layers (tfjs-layers advanced_activations.ts): ReLU with maxValue,
 * LeakyReLU, ELU, ThresholdedReLU, Softmax along an axis, and PReLU with its learned slope. Thin
 * Keras wrappers over the activation op (src/ops/activation.ts); config fields, defaults and the
 * model.json keys are TF.js's, with these differences:
 *  - ELU takes any alpha (TF.js throws for alpha ≠ 1; Keras takes any);
 *  - Softmax's axis defaults to -1 (the last axis, as in Keras; TF.js writes 1, which is the same
 *    axis for [batch, classes] inputs, and throws for any axis but the last);
 *  - fromConfig also reads Keras 3's spellings: LeakyReLU `negative_slope`, and ReLU's
 *    `negative_slope: 0` / `threshold: 0` (the only values TF.js's ReLU can express).
 */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { formatShape, sizeOf } from '../runtime/tensor.ts';
import {
  activationBackward,
  activationForward,
  preluAlphaShape,
  preluBackward,
  preluForward,
  preluGeometry,
  preluPartialsBytes,
  type ActivationKind,
  type ActivationShape,
  type PreluGeometry,
} from '../ops/activation.ts';
import { describeValue, initializerConfig, initializerFromConfig, kerasConfig, parseRegularization, regularizationFromConfig, regularizationKeys, regularized, type WeightRegularization } from './config.ts';
import { constraintConfig, type ConstraintIdentifier } from './constraints.ts';
import { regularizerConfig, type RegularizerIdentifier } from './regularizers.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { expectInputs, Layer, type ActivationName, type BackwardContext, type ForwardContext, type LayerArgs, type Shape, type WeightSpec } from './layer.ts';

/** A finite number config field, `fallback` when absent (undefined or null). */
function numberField(value: unknown, fallback: number, where: string, field: string, expected = 'a finite number'): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`${where}: ${field} must be ${expected}, got ${describeValue(value)}`);
  return value;
}

function checkConfig(className: string, config: unknown): LayerArgs {
  if (config === undefined || config === null) return {};
  if (typeof config !== 'object' || Array.isArray(config)) throw new Error(`${className}: expected a config object, got ${describeValue(config)}`);
  return config as LayerArgs;
}

/** The elementwise advanced activations: same shape out, the op's kernels both ways. */
abstract class PointwiseActivation extends Layer {
  /** What the op applies. */
  abstract get op(): ActivationKind;
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    return inputShapes[0]!;
  }
  private shape(ctx: ForwardContext): ActivationShape {
    return { rows: ctx.batch, width: sizeOf(ctx.outputShape) };
  }
  forward(ctx: ForwardContext): Dispatch[] {
    return activationForward(ctx.engine, this.op, { x: ctx.inputs[0]!, y: ctx.output }, this.shape(ctx));
  }
  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    if (!dx) return [];
    return activationBackward(ctx.engine, this.op, { x: ctx.inputs[0], y: ctx.output, dy: ctx.outputGrad, dx }, this.shape(ctx));
  }
}

// ---- ReLU ---------------------------------------------------------------------------------

export interface ReLUConfig extends LayerArgs {
  /** Clips the output at this value (≥ 0); none when absent. */
  maxValue?: number | null;
}

/** y = max(x, 0), clipped at maxValue when given (TF.js: clipByValue(relu(x), 0, maxValue)). */
export class ReLU extends PointwiseActivation {
  static override readonly className = 'ReLU';
  readonly maxValue: number | null;
  constructor(config?: ReLUConfig) {
    const c = checkConfig('ReLU', config) as ReLUConfig;
    super(c, 're_lu');
    const where = `ReLU ${this.name}`;
    this.maxValue = c.maxValue === undefined || c.maxValue === null ? null : numberField(c.maxValue, 0, where, 'maxValue', 'a finite number ≥ 0 or null');
    if (this.maxValue !== null && this.maxValue < 0) throw new Error(`${where}: maxValue must be a finite number ≥ 0 or null, got ${this.maxValue}`);
  }
  get op(): ActivationKind {
    return this.maxValue === null ? 'relu' : { kind: 'reluClipped', maxValue: this.maxValue };
  }
  override get onlyActivation(): ActivationName | undefined {
    return this.maxValue === null ? 'relu' : undefined;
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), max_value: this.maxValue };
  }
  static fromConfig(config: unknown): ReLU {
    const c = kerasConfig('ReLU', config, ['max_value'], { negative_slope: [0], threshold: [0] });
    return new ReLU({ name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, maxValue: c.max_value as number | null | undefined });
  }
}

// ---- LeakyReLU ----------------------------------------------------------------------------

export interface LeakyReLUConfig extends LayerArgs {
  /** The slope below 0; default 0.3. */
  alpha?: number;
}

/** y = x for x ≥ 0, alpha·x below. */
export class LeakyReLU extends PointwiseActivation {
  static override readonly className = 'LeakyReLU';
  readonly alpha: number;
  constructor(config?: LeakyReLUConfig) {
    const c = checkConfig('LeakyReLU', config) as LeakyReLUConfig;
    super(c, 'leaky_re_lu');
    this.alpha = numberField(c.alpha, 0.3, `LeakyReLU ${this.name}`, 'alpha');
  }
  get op(): ActivationKind {
    return { kind: 'leakyRelu', alpha: this.alpha };
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), alpha: this.alpha };
  }
  static fromConfig(config: unknown): LeakyReLU {
    const c = kerasConfig('LeakyReLU', config, ['alpha', 'negative_slope']);
    if (c.alpha != null && c.negative_slope != null && c.alpha !== c.negative_slope) {
      throw new Error(`LeakyReLU: alpha ${describeValue(c.alpha)} and negative_slope ${describeValue(c.negative_slope)} (its Keras 3 name) disagree`);
    }
    return new LeakyReLU({ name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, alpha: (c.alpha ?? c.negative_slope ?? undefined) as number | undefined });
  }
}

// ---- ELU ----------------------------------------------------------------------------------

export interface ELUConfig extends LayerArgs {
  /** Scale of the negative part; default 1. */
  alpha?: number;
}

/** y = x for x ≥ 0, alpha·(eˣ − 1) below. */
export class ELU extends PointwiseActivation {
  static override readonly className = 'ELU';
  readonly alpha: number;
  constructor(config?: ELUConfig) {
    const c = checkConfig('ELU', config) as ELUConfig;
    super(c, 'elu');
    this.alpha = numberField(c.alpha, 1, `ELU ${this.name}`, 'alpha');
  }
  get op(): ActivationKind {
    return { kind: 'elu', alpha: this.alpha };
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), alpha: this.alpha };
  }
  static fromConfig(config: unknown): ELU {
    const c = kerasConfig('ELU', config, ['alpha']);
    return new ELU({ name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, alpha: (c.alpha ?? undefined) as number | undefined });
  }
}

// ---- ThresholdedReLU ----------------------------------------------------------------------

export interface ThresholdedReLUConfig extends LayerArgs {
  /** Default 1. */
  theta?: number;
}

/** y = x where x > theta, 0 elsewhere. */
export class ThresholdedReLU extends PointwiseActivation {
  static override readonly className = 'ThresholdedReLU';
  readonly theta: number;
  constructor(config?: ThresholdedReLUConfig) {
    const c = checkConfig('ThresholdedReLU', config) as ThresholdedReLUConfig;
    super(c, 'thresholded_re_lu');
    this.theta = numberField(c.theta, 1, `ThresholdedReLU ${this.name}`, 'theta');
  }
  get op(): ActivationKind {
    return { kind: 'thresholdedRelu', theta: this.theta };
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), theta: this.theta };
  }
  static fromConfig(config: unknown): ThresholdedReLU {
    const c = kerasConfig('ThresholdedReLU', config, ['theta']);
    return new ThresholdedReLU({ name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, theta: (c.theta ?? undefined) as number | undefined });
  }
}

// ---- Softmax ------------------------------------------------------------------------------

export interface SoftmaxConfig extends LayerArgs {
  /**
   * The axis normalized, counting the batch as axis 0 (1 is the first sample axis); negative
   * values count from the end. Default -1, the last axis. A one-element array means that axis.
   */
  axis?: number | readonly number[];
}

/** softmax along one axis of the input (max-subtracted: no overflow). */
export class Softmax extends Layer {
  static override readonly className = 'Softmax';
  /** As configured (serialized as given). */
  readonly axis: number | readonly number[];
  private readonly axisIndex: number;
  constructor(config?: SoftmaxConfig) {
    const c = checkConfig('Softmax', config) as SoftmaxConfig;
    super(c, 'softmax');
    const where = `Softmax ${this.name}`;
    const axis = c.axis ?? -1;
    const single = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : undefined) : axis;
    if (!Number.isInteger(single)) {
      throw new Error(
        `${where}: axis must be an integer (or an array of one integer); softmax over several axes at once is not supported, got ${describeValue(axis)}`,
      );
    }
    this.axis = Array.isArray(axis) ? [...axis] : axis;
    this.axisIndex = single as number;
  }
  /** The axis within the per-sample shape (0-based), validated against the input's rank. */
  private sampleAxis(inputShape: Shape): number {
    const rank = inputShape.length + 1;
    const a = this.axisIndex < 0 ? this.axisIndex + rank : this.axisIndex;
    if (a < 1 || a >= rank) {
      throw new Error(
        `Softmax ${this.name}: axis must be one of the input's sample axes, 1..${rank - 1} or -${rank - 1}..-1 for input ${formatShape([null, ...inputShape])} (axis 0 is the batch), got ${this.axisIndex}`,
      );
    }
    return a - 1;
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    this.sampleAxis(inputShapes[0]!);
    return inputShapes[0]!;
  }
  private shape(ctx: ForwardContext): ActivationShape {
    const s = ctx.outputShape;
    const a = this.sampleAxis(s);
    const inner = sizeOf(s.slice(a + 1));
    const width = s[a]!;
    return { rows: (ctx.batch * sizeOf(s)) / width, width, inner };
  }
  forward(ctx: ForwardContext): Dispatch[] {
    return activationForward(ctx.engine, 'softmax', { x: ctx.inputs[0]!, y: ctx.output }, this.shape(ctx));
  }
  backward(ctx: BackwardContext): Dispatch[] {
    const dx = ctx.inputGrads[0];
    if (!dx) return [];
    return activationBackward(ctx.engine, 'softmax', { y: ctx.output, dy: ctx.outputGrad, dx }, this.shape(ctx));
  }
  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), axis: Array.isArray(this.axis) ? [...this.axis] : this.axis };
  }
  static fromConfig(config: unknown): Softmax {
    const c = kerasConfig('Softmax', config, ['axis']);
    return new Softmax({ name: c.name as string | undefined, trainable: c.trainable as boolean | undefined, axis: (c.axis ?? undefined) as number | number[] | undefined });
  }
}

// ---- PReLU --------------------------------------------------------------------------------

export interface PReLUConfig extends LayerArgs {
  /** Default 'zeros'. */
  alphaInitializer?: Initializer | string;
  alphaRegularizer?: RegularizerIdentifier | null;
  alphaConstraint?: ConstraintIdentifier | null;
  /** Axes along which alpha is shared (the batch is axis 0): e.g. [1, 2] for one slope per channel of an image. */
  sharedAxes?: number | readonly number[] | null;
}

/** y = x for x ≥ 0, alpha·x below, alpha a weight of the input's per-sample shape (shared axes collapsed). */
export class PReLU extends Layer {
  static override readonly className = 'PReLU';
  readonly alphaInitializer: Initializer;
  readonly sharedAxes: readonly number[] | null;
  /** alpha's regularizer and constraint. */
  readonly regularization: Readonly<Record<string, WeightRegularization>>;
  constructor(config?: PReLUConfig) {
    const c = checkConfig('PReLU', config) as PReLUConfig;
    super(c, 'p_re_lu');
    const where = `PReLU ${this.name}`;
    this.alphaInitializer = parseInitializer(c.alphaInitializer ?? 'zeros', `${where}: alphaInitializer`);
    this.regularization = parseRegularization(c, { alpha: 'alpha' }, where);
    const shared = c.sharedAxes;
    if (shared === undefined || shared === null) this.sharedAxes = null;
    else if (typeof shared === 'number') this.sharedAxes = [shared];
    else if (Array.isArray(shared)) this.sharedAxes = [...shared];
    else throw new Error(`${where}: sharedAxes must be an axis, an array of axes or null, got ${describeValue(shared)}`);
    if (this.sharedAxes?.some((a) => !Number.isInteger(a) || a < 1)) {
      throw new Error(`${where}: sharedAxes must hold positive integer axes (0 is the batch and cannot be shared), got ${describeValue(shared)}`);
    }
  }
  private geometry(batch: number, inputShape: Shape): PreluGeometry {
    return preluGeometry(batch, inputShape, this.sharedAxes, `PReLU ${this.name}`);
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    this.geometry(1, inputShapes[0]!);
    return inputShapes[0]!;
  }
  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const spec = { name: 'alpha', shape: preluAlphaShape(inputShapes[0]!, this.sharedAxes, `PReLU ${this.name}`), initializer: this.alphaInitializer };
    return regularized([spec], this.regularization, `PReLU ${this.name}`);
  }
  forward(ctx: ForwardContext): Dispatch[] {
    return preluForward(ctx.engine, this.geometry(ctx.batch, ctx.inputShapes[0]!), { x: ctx.inputs[0]!, alpha: ctx.weights[0]!, y: ctx.output });
  }
  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    const bytes = preluPartialsBytes(g);
    return preluBackward(ctx.engine, g, {
      x: ctx.inputs[0]!,
      alpha: ctx.weights[0]!,
      dy: ctx.outputGrad,
      dx: ctx.inputGrads[0] ?? null,
      dalpha: ctx.weightGrads[0]!,
      partials: bytes ? ctx.scratch(bytes, `${this.name} alpha-grad partials`) : undefined,
    });
  }
  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      alpha_initializer: initializerConfig(this.alphaInitializer),
      alpha_regularizer: regularizerConfig(this.regularization.alpha?.regularizer),
      alpha_constraint: constraintConfig(this.regularization.alpha?.constraint),
      shared_axes: this.sharedAxes ? [...this.sharedAxes] : null,
    };
  }
  static fromConfig(config: unknown): PReLU {
    const c = kerasConfig('PReLU', config, ['alpha_initializer', 'shared_axes', ...regularizationKeys(['alpha'])]);
    return new PReLU({
      name: c.name as string | undefined,
      trainable: c.trainable as boolean | undefined,
      alphaInitializer: initializerFromConfig(c.alpha_initializer, 'PReLU: alpha_initializer'),
      sharedAxes: (c.shared_axes ?? null) as number | number[] | null,
      ...regularizationFromConfig(c, ['alpha'], 'PReLU'),
    });
  }
}

const advancedActivationFactories = {
  ...registerLayer(ReLU, { reLU: (config?: ReLUConfig) => new ReLU(config) }),
  ...registerLayer(LeakyReLU, { leakyReLU: (config?: LeakyReLUConfig) => new LeakyReLU(config) }),
  ...registerLayer(ELU, { elu: (config?: ELUConfig) => new ELU(config) }),
  ...registerLayer(ThresholdedReLU, { thresholdedReLU: (config?: ThresholdedReLUConfig) => new ThresholdedReLU(config) }),
  ...registerLayer(Softmax, { softmax: (config?: SoftmaxConfig) => new Softmax(config) }),
  ...registerLayer(PReLU, { prelu: (config?: PReLUConfig) => new PReLU(config) }),
};
type AdvancedActivationFactories = typeof advancedActivationFactories;
declare module './registry.ts' {
  interface LayerFactories extends AdvancedActivationFactories {}
}
