/**
 * BatchNormalization and LayerNormalization (TF.js's names, config fields and defaults; Keras's
 * model.json), over the normalization op (src/ops/normalization.ts). BatchNormalization normalizes
 * per index of its `axis` (any axis but the batch's; -1 by default) over all the others;
 * LayerNormalization normalizes each sample over its `axis` (one axis or a list), with γ and β
 * shaped over those axes as in TF.js.
 *
 * BatchNormalization trains as in TF.js: the batch's mean and biased variance normalize it (over
 * the step's real rows only), and the moving statistics move by moving − (moving − batch)·(1 −
 * momentum) in the same step, with the biased variance as TF.js does (Python Keras uses the
 * unbiased one there). In inference, and when the layer is frozen (`trainable = false`), it uses
 * the moving statistics (Keras semantics; TF.js 4.22 keeps using batch statistics and updating the
 * moving ones for a frozen layer in fit) and its backward is that of an affine map.
 */
import { registerLayer } from './registry.ts';
import { weightsOnly, type Dispatch, type View } from '../runtime/engine.ts';
import { batchNormAffine } from '../../shaders/affine-fold.ts';
import {
  batchNormAffineBackward,
  batchNormApply,
  batchNormTrainBackward,
  batchNormTrainForward,
  layerNormBackward,
  layerNormForward,
  lnCounts,
  lnGeometry,
  normGeometry,
  resolveAxis,
  type LnGeometry,
  type NormGeometry,
} from '../ops/normalization.ts';
import { describeValue, initializerConfig, initializerFromConfig, kerasConfig, parseRegularization, regularizationFromConfig, regularizationKeys, regularized, type WeightRegularization } from './config.ts';
import { constraintConfig, type ConstraintIdentifier } from './constraints.ts';
import { regularizerConfig, type RegularizerIdentifier } from './regularizers.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { expectInputs, Layer, type AffineViews, type BackwardContext, type ForwardContext, type LayerArgs, type Shape, type WeightSpec } from './layer.ts';

function checkBoolean(where: string, field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new Error(`${where}: ${field} must be true or false, got ${describeValue(value)}`);
  return value;
}

function checkEpsilon(where: string, value: unknown): number {
  if (value === undefined) return 1e-3;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`${where}: epsilon must be a positive finite number, got ${describeValue(value)}`);
  return value;
}

/** An axis field's integer, rejecting the batch axis (0) before the input's rank is known. */
function checkAxisValue(where: string, value: unknown, field = 'axis'): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new Error(`${where}: ${field} must be an integer (counting the batch axis; negative from the end), got ${describeValue(value)}`);
  if (value === 0) throw new Error(`${where}: ${field} must not be the batch axis 0, got 0`);
  return value;
}

/** TF.js's regularizer/constraint field prefixes → the weights they apply to. */
const REGULARIZED = { beta: 'beta', gamma: 'gamma' } as const;
const REGULARIZATION_KEYS = regularizationKeys(Object.keys(REGULARIZED));

// ---- BatchNormalization ------------------------------------------------------------------

/** The fields and weights both normalizations share: the axis, epsilon, and the affine gamma/beta. */
interface AffineNormalizationConfig extends LayerArgs {
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
  betaInitializer?: Initializer | string;
  gammaInitializer?: Initializer | string;
  betaRegularizer?: RegularizerIdentifier | null;
  gammaRegularizer?: RegularizerIdentifier | null;
  betaConstraint?: ConstraintIdentifier | null;
  gammaConstraint?: ConstraintIdentifier | null;
}

abstract class AffineNormalization extends Layer {
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  readonly betaInitializer: Initializer;
  readonly gammaInitializer: Initializer;
  /** γ's and β's regularizers and constraints, by weight name. */
  readonly regularization: Readonly<Record<string, WeightRegularization>>;

  constructor(config: AffineNormalizationConfig, prefix: string) {
    super(config, prefix);
    const where = this.where;
    this.epsilon = checkEpsilon(where, config.epsilon);
    this.center = checkBoolean(where, 'center', config.center, true);
    this.scale = checkBoolean(where, 'scale', config.scale, true);
    this.betaInitializer = parseInitializer(config.betaInitializer ?? 'zeros', `${where}: betaInitializer`);
    this.gammaInitializer = parseInitializer(config.gammaInitializer ?? 'ones', `${where}: gammaInitializer`);
    this.regularization = parseRegularization(config, REGULARIZED, where);
  }

  /** Keras's beta_regularizer, gamma_regularizer, beta_constraint and gamma_constraint. */
  protected regularizationConfig(): Record<string, unknown> {
    const r = this.regularization;
    return {
      beta_regularizer: regularizerConfig(r.beta?.regularizer),
      gamma_regularizer: regularizerConfig(r.gamma?.regularizer),
      beta_constraint: constraintConfig(r.beta?.constraint),
      gamma_constraint: constraintConfig(r.gamma?.constraint),
    };
  }

  protected get where(): string {
    return `${this.className} ${this.name}`;
  }

  /** The shape of γ and β for an input `[batch, ...shape]` (validating the axes against it). */
  protected abstract paramShape(shape: Shape): Shape;

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    this.paramShape(inputShapes[0]!);
    return inputShapes[0]!;
  }

  /** gamma (if scale) and beta (if center), TF.js's order; subclasses append their state. */
  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const shape = this.paramShape(inputShapes[0]!);
    const specs: WeightSpec[] = [];
    if (this.scale) specs.push({ name: 'gamma', shape, initializer: this.gammaInitializer });
    if (this.center) specs.push({ name: 'beta', shape, initializer: this.betaInitializer });
    return regularized(specs, this.regularization, this.where);
  }

  /** The affine weights' views by role, and where the subclass's own weights start. */
  protected affineRoles<T>(list: readonly T[]): { gamma?: T; beta?: T; next: number } {
    let next = 0;
    const gamma = this.scale ? list[next++] : undefined;
    const beta = this.center ? list[next++] : undefined;
    return { gamma, beta, next };
  }
}

export interface BatchNormalizationConfig extends AffineNormalizationConfig {
  /** The channel axis, counting the batch axis (TF.js): any but the batch axis 0. Default -1. */
  axis?: number;
  momentum?: number;
  movingMeanInitializer?: Initializer | string;
  movingVarianceInitializer?: Initializer | string;
}

export class BatchNormalization extends AffineNormalization {
  static override readonly className = 'BatchNormalization';
  readonly axis: number;
  readonly momentum: number;
  readonly movingMeanInitializer: Initializer;
  readonly movingVarianceInitializer: Initializer;

  constructor(config: BatchNormalizationConfig = {}) {
    if (config === null || typeof config !== 'object') throw new Error(`BatchNormalization: expected a config object, got ${describeValue(config)}`);
    super(config, 'batch_normalization');
    const where = this.where;
    this.axis = checkAxisValue(where, config.axis ?? -1);
    const momentum = config.momentum ?? 0.99;
    if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) throw new Error(`${where}: momentum must be a number in [0, 1], got ${describeValue(config.momentum)}`);
    this.momentum = momentum;
    this.movingMeanInitializer = parseInitializer(config.movingMeanInitializer ?? 'zeros', `${where}: movingMeanInitializer`);
    this.movingVarianceInitializer = parseInitializer(config.movingVarianceInitializer ?? 'ones', `${where}: movingVarianceInitializer`);
  }

  private geometry(batch: number, shape: Shape): NormGeometry {
    return normGeometry(batch, shape, this.axis, this.where);
  }

  protected paramShape(shape: Shape): Shape {
    return [this.geometry(1, shape).channels];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const c = this.geometry(1, inputShapes[0]!).channels;
    const specs = super.weightSpecs(inputShapes);
    specs.push({ name: 'moving_mean', shape: [c], initializer: this.movingMeanInitializer, trainable: false });
    specs.push({ name: 'moving_variance', shape: [c], initializer: this.movingVarianceInitializer, trainable: false });
    return specs;
  }

  /** Weight views by role, in weightSpecs order. */
  private roles<T>(list: readonly T[]): { gamma?: T; beta?: T; movingMean: T; movingVariance: T } {
    const { gamma, beta, next } = this.affineRoles(list);
    return { gamma, beta, movingMean: list[next]!, movingVariance: list[next + 1]! };
  }

  private flags() {
    return { epsilon: this.epsilon, scale: this.scale, center: this.center, momentum: this.momentum };
  }

  /** Batch statistics: training, unless the layer is frozen (then it runs as in inference). */
  private usesBatchStatistics(training: boolean): boolean {
    return training && this.trainable;
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    const w = this.roles(ctx.weights);
    const x = ctx.inputs[0]!;
    if (!this.usesBatchStatistics(ctx.training)) {
      return batchNormApply(ctx.engine, g, this.flags(), { x, mean: w.movingMean, variance: w.movingVariance, gamma: w.gamma, beta: w.beta, y: ctx.output });
    }
    const mean = ctx.scratch(g.channels * 4, `${this.name} batch mean`);
    const variance = ctx.scratch(g.channels * 4, `${this.name} batch variance`);
    ctx.saved.set('mean', mean);
    ctx.saved.set('variance', variance);
    return batchNormTrainForward(ctx.engine, g, this.flags(), {
      x,
      stepInfo: ctx.stepInfo,
      mean,
      variance,
      movingMean: w.movingMean,
      movingVariance: w.movingVariance,
      gamma: w.gamma,
      beta: w.beta,
      y: ctx.output,
      scratch: ctx.scratch,
    });
  }

  /** Inference with the moving statistics is y = x·scale + shift per channel: foldable when the channels are the last axis. */
  override inferenceAffine(ctx: ForwardContext, affine: AffineViews): Dispatch[] | null {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    if (g.inner !== 1) return null;
    const w = this.roles(ctx.weights);
    const params = [w.movingMean, w.movingVariance, ...(w.gamma ? [w.gamma] : []), ...(w.beta ? [w.beta] : [])];
    return [weightsOnly(ctx.engine.kernel(batchNormAffine(g.channels, this.epsilon, { scale: this.scale, center: this.center }), [...params, affine.scale, affine.shift]))];
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    const w = this.roles(ctx.weights);
    const dx = ctx.inputGrads[0] ?? null;
    if (!this.usesBatchStatistics(ctx.training)) {
      // The moving statistics are constants and a frozen layer's γ, β get no update.
      return dx ? batchNormAffineBackward(ctx.engine, g, this.flags(), { dy: ctx.outputGrad, variance: w.movingVariance, gamma: w.gamma, dx }) : [];
    }
    const out: Dispatch[] = [];
    let mean = ctx.saved.get('mean');
    let variance = ctx.saved.get('variance');
    if (!mean || !variance) {
      mean = ctx.scratch(g.channels * 4, `${this.name} batch mean`);
      variance = ctx.scratch(g.channels * 4, `${this.name} batch variance`);
      out.push(
        ...batchNormTrainForward(ctx.engine, g, this.flags(), { x: ctx.inputs[0]!, stepInfo: ctx.stepInfo, mean, variance, movingMean: null, movingVariance: null, y: null, scratch: ctx.scratch }),
      );
    }
    const grads = this.roles(ctx.weightGrads);
    out.push(
      ...batchNormTrainBackward(ctx.engine, g, this.flags(), {
        x: ctx.inputs[0]!,
        dy: ctx.outputGrad,
        mean,
        variance,
        gamma: w.gamma,
        stepInfo: ctx.stepInfo,
        dx,
        dgamma: grads.gamma,
        dbeta: grads.beta,
        scratch: ctx.scratch,
      }),
    );
    return out;
  }

  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      axis: this.axis,
      momentum: this.momentum,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      beta_initializer: initializerConfig(this.betaInitializer),
      gamma_initializer: initializerConfig(this.gammaInitializer),
      moving_mean_initializer: initializerConfig(this.movingMeanInitializer),
      moving_variance_initializer: initializerConfig(this.movingVarianceInitializer),
      ...this.regularizationConfig(),
    };
  }

  static fromConfig(config: unknown): BatchNormalization {
    const c = kerasConfig(
      'BatchNormalization',
      config,
      ['axis', 'momentum', 'epsilon', 'center', 'scale', 'beta_initializer', 'gamma_initializer', 'moving_mean_initializer', 'moving_variance_initializer', ...REGULARIZATION_KEYS],
    );
    const what = (field: string) => `BatchNormalization: ${field}`;
    let axis = c.axis ?? undefined;
    // Keras 2/3 may write a one-element list.
    if (Array.isArray(axis)) {
      if (axis.length !== 1) throw new Error(`BatchNormalization: axis must be one axis (an integer or a list of one), got ${describeValue(axis)}`);
      axis = axis[0];
    }
    return new BatchNormalization({
      name: c.name as string | undefined,
      trainable: c.trainable as boolean | undefined,
      axis: axis as number | undefined,
      momentum: (c.momentum ?? undefined) as number | undefined,
      epsilon: (c.epsilon ?? undefined) as number | undefined,
      center: (c.center ?? undefined) as boolean | undefined,
      scale: (c.scale ?? undefined) as boolean | undefined,
      betaInitializer: initializerFromConfig(c.beta_initializer, what('beta_initializer')),
      gammaInitializer: initializerFromConfig(c.gamma_initializer, what('gamma_initializer')),
      movingMeanInitializer: initializerFromConfig(c.moving_mean_initializer, what('moving_mean_initializer')),
      movingVarianceInitializer: initializerFromConfig(c.moving_variance_initializer, what('moving_variance_initializer')),
      ...regularizationFromConfig(c, Object.keys(REGULARIZED), 'BatchNormalization'),
    });
  }
}

// ---- LayerNormalization ------------------------------------------------------------------

export interface LayerNormalizationConfig extends AffineNormalizationConfig {
  /** The normalized axis or axes (counting the batch axis; negative from the end; not the batch axis 0). Default -1. */
  axis?: number | readonly number[];
}

export class LayerNormalization extends AffineNormalization {
  static override readonly className = 'LayerNormalization';
  /** As given: TF.js keeps a number until the layer is built. */
  readonly axis: number | readonly number[];

  constructor(config: LayerNormalizationConfig = {}) {
    if (config === null || typeof config !== 'object') throw new Error(`LayerNormalization: expected a config object, got ${describeValue(config)}`);
    super(config, 'layer_normalization');
    const where = this.where;
    const axis = config.axis ?? -1;
    if (Array.isArray(axis)) {
      if (axis.length === 0) throw new Error(`${where}: axis must list at least one axis, got []`);
      axis.forEach((a, i) => checkAxisValue(where, a, `axis[${i}]`));
      if (new Set(axis).size !== axis.length) throw new Error(`${where}: axis must not repeat an axis, got ${describeValue(axis)}`);
      this.axis = [...(axis as number[])];
    } else {
      this.axis = checkAxisValue(where, axis);
    }
  }

  /** Keras's and TF.js's: the mask passes through (the statistics include every position, as theirs do). */
  override get supportsMasking(): boolean {
    return true;
  }
  private get axes(): readonly number[] {
    return typeof this.axis === 'number' ? [this.axis] : this.axis;
  }

  private geometry(batch: number, shape: Shape): LnGeometry {
    return lnGeometry(batch, shape, this.axes, this.where);
  }

  /** TF.js's γ and β shape: the sizes of the axes in the order given. */
  protected paramShape(shape: Shape): Shape {
    this.geometry(1, shape);
    return this.axes.map((a) => shape[resolveAxis(a, shape.length + 1, `${this.where}: axis`) - 1]!);
  }

  private roles<T>(list: readonly T[]): { gamma?: T; beta?: T } {
    const { gamma, beta } = this.affineRoles(list);
    return { gamma, beta };
  }

  private flags() {
    return { epsilon: this.epsilon, scale: this.scale, center: this.center };
  }

  private rowStats(ctx: ForwardContext, g: LnGeometry): { rowMean: View; rowInv: View } {
    const { groups } = lnCounts(g);
    return { rowMean: ctx.scratch(groups * 4, `${this.name} group mean`), rowInv: ctx.scratch(groups * 4, `${this.name} group 1/sigma`) };
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    const stats = this.rowStats(ctx, g);
    if (ctx.training) {
      ctx.saved.set('rowMean', stats.rowMean);
      ctx.saved.set('rowInv', stats.rowInv);
    }
    return layerNormForward(ctx.engine, g, this.flags(), { x: ctx.inputs[0]!, ...this.roles(ctx.weights), y: ctx.output, ...stats });
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    const out: Dispatch[] = [];
    let rowMean = ctx.saved.get('rowMean');
    let rowInv = ctx.saved.get('rowInv');
    if (!rowMean || !rowInv) {
      ({ rowMean, rowInv } = this.rowStats(ctx, g));
      const { groups, normalized } = lnCounts(g);
      const y = ctx.scratch(groups * normalized * 4, `${this.name} recomputed output`);
      out.push(...layerNormForward(ctx.engine, g, this.flags(), { x: ctx.inputs[0]!, ...this.roles(ctx.weights), y, rowMean, rowInv }));
    }
    const grads = this.roles(ctx.weightGrads);
    const dx = ctx.inputGrads[0] ?? null;
    out.push(
      ...layerNormBackward(ctx.engine, g, this.flags(), {
        x: ctx.inputs[0]!,
        dy: ctx.outputGrad,
        rowMean,
        rowInv,
        gamma: this.roles(ctx.weights).gamma,
        stepInfo: ctx.stepInfo,
        dx,
        dgamma: grads.gamma,
        dbeta: grads.beta,
        scratch: ctx.scratch,
      }),
    );
    return out;
  }

  override getConfig(): Record<string, unknown> {
    // TF.js writes the resolved axes as a list once the layer is built.
    const rank = this.inboundNodes[0] ? this.inboundNodes[0].inputs[0]!.shape.length + 1 : undefined;
    const axis = rank !== undefined ? this.axes.map((a) => (a < 0 ? a + rank : a)) : this.axis;
    return {
      ...super.getConfig(),
      axis,
      epsilon: this.epsilon,
      center: this.center,
      scale: this.scale,
      beta_initializer: initializerConfig(this.betaInitializer),
      gamma_initializer: initializerConfig(this.gammaInitializer),
      // TF.js's LayerNormalization has no constraints (Keras's has): written only when set.
      ...Object.fromEntries(Object.entries(this.regularizationConfig()).filter(([key, value]) => key.endsWith('_regularizer') || value !== null)),
    };
  }

  static fromConfig(config: unknown): LayerNormalization {
    const c = kerasConfig('LayerNormalization', config, ['axis', 'epsilon', 'center', 'scale', 'beta_initializer', 'gamma_initializer', ...REGULARIZATION_KEYS]);
    const what = (field: string) => `LayerNormalization: ${field}`;
    return new LayerNormalization({
      name: c.name as string | undefined,
      trainable: c.trainable as boolean | undefined,
      axis: (c.axis ?? undefined) as number | number[] | undefined,
      epsilon: (c.epsilon ?? undefined) as number | undefined,
      center: (c.center ?? undefined) as boolean | undefined,
      scale: (c.scale ?? undefined) as boolean | undefined,
      betaInitializer: initializerFromConfig(c.beta_initializer, what('beta_initializer')),
      gammaInitializer: initializerFromConfig(c.gamma_initializer, what('gamma_initializer')),
      ...regularizationFromConfig(c, Object.keys(REGULARIZED), 'LayerNormalization'),
    });
  }
}

const normalizationFactories = registerLayer(BatchNormalization, {
  batchNormalization: (config: BatchNormalizationConfig = {}) => new BatchNormalization(config),
});
const layerNormalizationFactories = registerLayer(LayerNormalization, {
  layerNormalization: (config: LayerNormalizationConfig = {}) => new LayerNormalization(config),
});
type NormalizationFactories = typeof normalizationFactories & typeof layerNormalizationFactories;
declare module './registry.ts' {
  interface LayerFactories extends NormalizationFactories {}
}
