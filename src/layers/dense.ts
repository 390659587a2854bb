/** Dense: the Keras layer over the dense op (src/ops/dense.ts), applied to the last axis. */
import { registerLayer } from './registry.ts';
import type { Dispatch } from '../runtime/engine.ts';
import { denseBackward, denseForward, denseGeometry, type DenseGeometry } from '../ops/dense.ts';
import { activityFromConfig, initializerFromConfig, kernelLayerConfig, kerasConfig, parseRegularization, regularizationFromConfig, regularizationKeys, regularized, type WeightRegularization } from './config.ts';
import { parseRegularizer, type Regularizer, type RegularizerIdentifier } from './regularizers.ts';
import type { ConstraintIdentifier } from './constraints.ts';
import { parseActivation } from '../ops/activation.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { foldAffineWeights } from '../ops/affine-fold.ts';
import { expectInputs, Layer, type ActivationName, type AffineViews, type BackwardContext, type ForwardContext, type Shape, type WeightSpec, type LayerArgs } from './layer.ts';

export interface DenseConfig extends LayerArgs {
  units: number;
  /** Default 'linear'. Only relu is fused; a softmax is appended by the graph after linear logits. */
  activation?: ActivationName;
  useBias?: boolean;
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

export class Dense extends Layer {
  static override readonly className = 'Dense';
  readonly units: number;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  private readonly activationName: ActivationName;
  /** The weights' regularizers and constraints, by weight name. */
  readonly regularization: Readonly<Record<string, WeightRegularization>>;
  private readonly activity: Regularizer | undefined;

  constructor(config: DenseConfig) {
    if (!config || typeof config !== 'object') throw new Error(`Dense: expected a config object like { units: 10 }, got ${JSON.stringify(config)}`);
    super(config, 'dense');
    const where = `Dense ${this.name}`;
    if (!Number.isInteger(config.units) || config.units <= 0) {
      throw new Error(`${where}: units must be a positive integer, got ${JSON.stringify(config.units)}`);
    }
    const activation = parseActivation(config.activation, where);
    if (config.useBias !== undefined && typeof config.useBias !== 'boolean') {
      throw new Error(`${where}: useBias must be a boolean, got ${JSON.stringify(config.useBias)}`);
    }
    this.units = config.units;
    this.activationName = activation;
    this.useBias = config.useBias ?? true;
    // TF.js's default (Keras's is glorotUniform).
    this.kernelInitializer = parseInitializer(config.kernelInitializer ?? 'glorotNormal', `${where}: kernelInitializer`);
    this.biasInitializer = parseInitializer(config.biasInitializer ?? 'zeros', `${where}: biasInitializer`);
    this.regularization = parseRegularization(config, REGULARIZED, where);
    this.activity = parseRegularizer(config.activityRegularizer, `${where}: activityRegularizer`);
  }

  override get activityRegularizer(): Regularizer | undefined {
    return this.activity;
  }

  /** The configured activation: relu runs in this layer's kernels, the plan runs any other after them. */
  override get fusedActivations(): readonly ActivationName[] {
    return ['linear', 'relu'];
  }

  override get activation(): ActivationName {
    return this.activationName;
  }

  private geometry(batch: number, inputShape: Shape): DenseGeometry {
    return denseGeometry(batch, inputShape, this.units, { relu: this.activationName === 'relu', bias: this.useBias }, `layer ${this.name} (Dense)`);
  }

  /** Over a sequence, each step's output is its own step's: a mask on the input holds for the output (Keras's, TF.js's). */
  override get supportsMasking(): boolean {
    return true;
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const shape = inputShapes[0]!;
    this.geometry(1, shape);
    return [...shape.slice(0, -1), this.units];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    const inputs = this.geometry(1, inputShapes[0]!).inputs;
    const specs: WeightSpec[] = [{ name: 'kernel', shape: [inputs, this.units], initializer: this.kernelInitializer }];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.units], initializer: this.biasInitializer });
    return regularized(specs, this.regularization, `Dense ${this.name}`);
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    return denseForward(ctx.engine, g, { x: ctx.inputs[0]!, w: ctx.weights[0]!, b: ctx.weights[1], y: ctx.output });
  }

  override forwardAffine(ctx: ForwardContext, affine: AffineViews, activation: ActivationName): Dispatch[] | null {
    const g = denseGeometry(ctx.batch, ctx.inputShapes[0]!, this.units, { relu: activation === 'relu', bias: true }, `layer ${this.name} (Dense)`);
    const folded = foldAffineWeights(ctx.engine, ctx.scratch, { kernel: ctx.weights[0]!, bias: ctx.weights[1], channels: this.units }, affine, this.name);
    return [...folded.dispatches, ...denseForward(ctx.engine, g, { x: ctx.inputs[0]!, w: folded.kernel, b: folded.bias, y: ctx.output })];
  }

  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    return denseBackward(ctx.engine, g, {
      x: ctx.inputs[0]!,
      w: ctx.weights[0]!,
      y: ctx.output,
      dy: ctx.outputGrad,
      dx: ctx.inputGrads[0] ?? null,
      dw: ctx.weightGrads[0]!,
      db: ctx.weightGrads[1],
      scratch: ctx.scratch,
    });
  }

  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      units: this.units,
      ...kernelLayerConfig(this.activationName, this.useBias, this.kernelInitializer, this.biasInitializer, this.regularization, this.activity),
    };
  }

  /** From the Keras config in model.json (the constructor validates the values). */
  static fromConfig(config: unknown): Dense {
    const c = kerasConfig('Dense', config, ['units', 'activation', 'use_bias', 'kernel_initializer', 'bias_initializer', ...regularizationKeys(Object.keys(REGULARIZED)), 'activity_regularizer']);
    return new Dense({
      name: c.name as string | undefined,
      units: c.units as number,
      activation: (c.activation ?? undefined) as ActivationName | undefined,
      useBias: (c.use_bias ?? undefined) as boolean | undefined,
      kernelInitializer: initializerFromConfig(c.kernel_initializer, 'Dense: kernel_initializer'),
      biasInitializer: initializerFromConfig(c.bias_initializer, 'Dense: bias_initializer'),
      ...regularizationFromConfig(c, Object.keys(REGULARIZED), 'Dense'),
      activityRegularizer: activityFromConfig(c, 'Dense'),
    });
  }
}

const denseFactories = registerLayer(Dense, {
  dense: (config: DenseConfig) => new Dense(config),
});
type DenseFactories = typeof denseFactories;
declare module './registry.ts' {
  interface LayerFactories extends DenseFactories {}
}
