/**
 * PositionEmbedding: keras_hub's layer (keras_hub.layers.PositionEmbedding, formerly keras_nlp's),
 * a trainable table `embeddings` [sequenceLength, features] that RETURNS the position embeddings
 * broadcast to its input's shape, exactly as keras_hub does: for an input [batch, T, features] with
 * T ≤ sequenceLength the output is rows 0 … T − 1 of the table, the same for every sample; the
 * input's values are never read (only its shape) and get no gradient. The user adds the result
 * to the token embeddings (`layers.add().apply([tokens, positionEmbedding.apply(tokens)])`).
 *
 * keras_hub's default initializer is glorotUniform. Past sequenceLength (T > sequenceLength)
 * keras_hub extends the table hierarchically (hierarchical_alpha); that is not implemented here:
 * such an input is an Error. hierarchical_alpha is kept in the config for model.json.
 *
 * Built from existing kernels: the forward is a nearest upsampling that repeats the table's first
 * T rows once per sample (RepeatVector's kernel, marked as reading only the weights so predict
 * runs it once per call); the backward zeroes the table's gradient when some rows go unused, then
 * sums the output gradient over the samples into the used rows.
 */
import { registerLayer } from './registry.ts';
import { weightsOnly, type Dispatch } from '../runtime/engine.ts';
import { formatShape, sizeOf } from '../runtime/tensor.ts';
import { repeatVectorGeometry, upSample2dBackward, upSample2dForward } from '../ops/shape.ts';
import { describeValue, initializerConfig, initializerFromConfig, kerasConfig } from './config.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type LayerArgs, type Shape, type WeightSpec } from './layer.ts';
import { zeros } from '../ops/elementwise.ts';

export interface PositionEmbeddingConfig extends LayerArgs {
  /** The table's rows: the longest sequence the layer embeds. */
  sequenceLength: number;
  /** Default glorotUniform (keras_hub's). */
  initializer?: Initializer | string;
  /** keras_hub's weight for extending the table past sequenceLength (not implemented; kept in the config). Default 0.4. */
  hierarchicalAlpha?: number;
}

export class PositionEmbedding extends Layer {
  static override readonly className = 'PositionEmbedding';
  readonly sequenceLength: number;
  readonly initializer: Initializer;
  readonly hierarchicalAlpha: number;

  constructor(config: PositionEmbeddingConfig) {
    if (!config || typeof config !== 'object') throw new Error(`PositionEmbedding: expected a config object like { sequenceLength: 64 }, got ${describeValue(config)}`);
    super(config, 'position_embedding');
    const where = `PositionEmbedding ${this.name}`;
    if (!Number.isInteger(config.sequenceLength) || config.sequenceLength <= 0) {
      throw new Error(`${where}: sequenceLength must be a positive integer, got ${describeValue(config.sequenceLength)}`);
    }
    const alpha = config.hierarchicalAlpha ?? 0.4;
    if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new Error(`${where}: hierarchicalAlpha must be a finite number, got ${describeValue(config.hierarchicalAlpha)}`);
    this.sequenceLength = config.sequenceLength;
    this.hierarchicalAlpha = alpha;
    this.initializer = parseInitializer(config.initializer ?? 'glorotUniform', `${where}: initializer`);
  }

  /** The input's steps and features; throws unless it is [..., steps ≤ sequenceLength, features]. */
  private sizes(inputShapes: readonly Shape[]): { steps: number; features: number; repeats: number } {
    expectInputs(this, inputShapes, 1);
    const shape = inputShapes[0]!;
    const who = `layer ${this.name} (PositionEmbedding)`;
    if (shape.length < 2 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`${who} expects inputs of shape [batch, ..., steps, features] (rank ≥ 3 with the batch), got ${formatShape([null, ...shape])}`);
    }
    const steps = shape[shape.length - 2]!;
    if (steps > this.sequenceLength) {
      throw new Error(
        `${who}: the input has ${steps} steps, more than sequenceLength ${this.sequenceLength}; keras_hub's hierarchical extension past the table is not implemented (use sequenceLength ≥ ${steps})`,
      );
    }
    return { steps, features: shape[shape.length - 1]!, repeats: sizeOf(shape.slice(0, -2)) };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    this.sizes(inputShapes);
    return [...inputShapes[0]!];
  }

  override weightSpecs(inputShapes: readonly Shape[]): WeightSpec[] {
    return [{ name: 'embeddings', shape: [this.sequenceLength, this.sizes(inputShapes).features], initializer: this.initializer }];
  }

  /** Every sample's copy of the table's first `steps` rows, as a repetition of one vector of steps·features. */
  private geometry(batch: number, inputShapes: readonly Shape[]) {
    const { steps, features, repeats } = this.sizes(inputShapes);
    return { used: steps * features, g: repeatVectorGeometry(1, [steps * features], batch * repeats, `layer ${this.name} (PositionEmbedding)`) };
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const { used, g } = this.geometry(ctx.batch, ctx.inputShapes);
    const table = ctx.weights[0]!;
    return upSample2dForward(ctx.engine, g, { x: { buffer: table.buffer, offset: table.offset, size: used * 4 }, y: ctx.output }).map(weightsOnly);
  }

  /** The used rows' gradient (summed over the samples), zeros for the others; the input gets zeros when asked. */
  backward(ctx: BackwardContext): Dispatch[] {
    const { used, g } = this.geometry(ctx.batch, ctx.inputShapes);
    const grad = ctx.weightGrads[0]!;
    const dispatches: Dispatch[] = [];
    // The unused rows' zeros: the whole table first (a view must start at an aligned offset), then the used rows over it.
    if (grad.size > used * 4) dispatches.push(zeros(ctx.engine, grad));
    dispatches.push(...upSample2dBackward(ctx.engine, g, { dy: ctx.outputGrad, dx: { buffer: grad.buffer, offset: grad.offset, size: used * 4 } }));
    const dx = ctx.inputGrads[0];
    if (dx) dispatches.push(zeros(ctx.engine, dx));
    return dispatches;
  }

  override getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), sequence_length: this.sequenceLength, hierarchical_alpha: this.hierarchicalAlpha, initializer: initializerConfig(this.initializer) };
  }

  /** From the Keras (keras_hub) config in model.json; older keras_nlp configs lack hierarchical_alpha. */
  static fromConfig(config: unknown): PositionEmbedding {
    const c = kerasConfig('PositionEmbedding', config, ['sequence_length', 'initializer', 'hierarchical_alpha']);
    return new PositionEmbedding({
      name: c.name as string | undefined,
      sequenceLength: c.sequence_length as number,
      initializer: initializerFromConfig(c.initializer, 'PositionEmbedding: initializer'),
      hierarchicalAlpha: (c.hierarchical_alpha ?? undefined) as number | undefined,
    });
  }
}

const positionEmbeddingFactories = registerLayer(PositionEmbedding, {
  positionEmbedding: (config: PositionEmbeddingConfig) => new PositionEmbedding(config),
});
type PositionEmbeddingFactories = typeof positionEmbeddingFactories;
declare module './registry.ts' {
  interface LayerFactories extends PositionEmbeddingFactories {}
}
