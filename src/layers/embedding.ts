/**
 * Embedding: the Keras layer over the embedding op (src/ops/embedding.ts). Ids of any per-sample
 * shape arrive as float32 (a user's int32 tensor is converted on upload); the output appends
 * `outputDim` to their shape. The ids get no gradient. With `maskZero` the output carries Keras's
 * mask of the ids, 1 where an id is not 0 (src/ops/masking.ts): recurrent layers after it carry
 * their state over the padded steps and the loss leaves them out; id 0 is then padding only, so
 * `inputDim` counts it (vocabulary + 1).
 */
import { registerLayer } from './registry.ts';
import type { BufferView, Dispatch } from '../runtime/engine.ts';
import { formatShape } from '../runtime/tensor.ts';
import { checkIds, embeddingBackward, embeddingForward, embeddingGeometry, MAX_EMBEDDING_ROWS, type EmbeddingGeometry } from '../ops/embedding.ts';
import { nonzeroIdsMask } from '../ops/masking.ts';
import { activityFromConfig, describeValue, initializerConfig, initializerFromConfig, kerasConfig, parseRegularization, regularizationFromConfig, regularizationKeys, regularized, type WeightRegularization } from './config.ts';
import { constraintConfig, type ConstraintIdentifier } from './constraints.ts';
import { parseRegularizer, regularizerConfig, type Regularizer, type RegularizerIdentifier } from './regularizers.ts';
import { parseInitializer, type Initializer } from './initializers.ts';
import { expectInputs, Layer, type BackwardContext, type ForwardContext, type LayerArgs, type MaskRole, type Shape, type TensorMask, type WeightSpec } from './layer.ts';
import { zeros } from '../ops/elementwise.ts';

export interface EmbeddingConfig extends LayerArgs {
  /** Rows of the table: ids lie in [0, inputDim). */
  inputDim: number;
  /** Length of each embedding vector. */
  outputDim: number;
  /** Default randomUniform in [-0.05, 0.05) (TF.js's and Keras's). */
  embeddingsInitializer?: Initializer | string;
  /** The per-sample id shape (TF.js's: it sets `inputShape` when that is not given). */
  inputLength?: number | readonly number[];
  /** Id 0 is padding: the output carries a mask of the ids ≠ 0 (Keras's mask_zero). Default false. */
  maskZero?: boolean;
  embeddingsRegularizer?: RegularizerIdentifier | null;
  /** Penalizes the layer's output (the looked-up vectors). */
  activityRegularizer?: RegularizerIdentifier | null;
  embeddingsConstraint?: ConstraintIdentifier | null;
}

/** TF.js's regularizer/constraint field prefixes → the weights they apply to. */
const REGULARIZED = { embeddings: 'embeddings' } as const;

function lengths(value: number | readonly number[], where: string): number[] {
  const list = Array.isArray(value) ? [...value] : [value];
  if (list.length === 0 || !list.every((d) => Number.isInteger(d) && d > 0)) {
    throw new Error(`${where}: inputLength must be a positive integer or an array of them, got ${describeValue(value)}`);
  }
  return list as number[];
}

export class Embedding extends Layer {
  static override readonly className = 'Embedding';
  readonly inputDim: number;
  readonly outputDim: number;
  readonly embeddingsInitializer: Initializer;
  readonly inputLength: number | number[] | undefined;
  readonly maskZero: boolean;
  /** The table's regularizer and constraint. */
  readonly regularization: Readonly<Record<string, WeightRegularization>>;
  private readonly activity: Regularizer | undefined;

  constructor(config: EmbeddingConfig) {
    if (!config || typeof config !== 'object') throw new Error(`Embedding: expected a config object like { inputDim: 1000, outputDim: 16 }, got ${describeValue(config)}`);
    // TF.js: inputLength stands for the input shape when none is given.
    const inputShape = config.inputShape ?? (config.batchInputShape === undefined && config.inputLength !== undefined ? lengths(config.inputLength, 'Embedding') : undefined);
    super({ ...config, inputShape }, 'embedding');
    const where = `Embedding ${this.name}`;
    if (!Number.isInteger(config.inputDim) || config.inputDim <= 0 || config.inputDim > MAX_EMBEDDING_ROWS) {
      throw new Error(`${where}: inputDim must be a positive integer of at most ${MAX_EMBEDDING_ROWS} (ids are float32), got ${describeValue(config.inputDim)}`);
    }
    if (!Number.isInteger(config.outputDim) || config.outputDim <= 0) {
      throw new Error(`${where}: outputDim must be a positive integer, got ${describeValue(config.outputDim)}`);
    }
    if (config.maskZero !== undefined && config.maskZero !== null && typeof config.maskZero !== 'boolean') {
      throw new Error(`${where}: maskZero must be true or false, got ${describeValue(config.maskZero)}`);
    }
    this.maskZero = config.maskZero ?? false;
    this.regularization = parseRegularization(config, REGULARIZED, where);
    this.activity = parseRegularizer(config.activityRegularizer, `${where}: activityRegularizer`);
    this.inputDim = config.inputDim;
    this.outputDim = config.outputDim;
    const inputLength = config.inputLength ?? undefined;
    this.inputLength = inputLength === undefined ? undefined : Array.isArray(inputLength) ? lengths(inputLength, where) : lengths(inputLength, where)[0];
    this.embeddingsInitializer = parseInitializer(config.embeddingsInitializer ?? 'randomUniform', `${where}: embeddingsInitializer`);
  }

  private geometry(batch: number, idShape: Shape): EmbeddingGeometry {
    return embeddingGeometry(batch, idShape, this.inputDim, this.outputDim, `layer ${this.name} (Embedding)`);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    expectInputs(this, inputShapes, 1);
    const shape = inputShapes[0]!;
    this.geometry(1, shape);
    if (this.inputLength !== undefined) {
      const expected = lengths(this.inputLength, `layer ${this.name} (Embedding)`);
      if (expected.length !== shape.length || expected.some((d, i) => d !== shape[i])) {
        throw new Error(`layer ${this.name} (Embedding): inputLength ${formatShape(expected)} does not match the input's per-sample shape ${formatShape(shape)}`);
      }
    }
    return [...shape, this.outputDim];
  }

  override weightSpecs(): WeightSpec[] {
    return regularized([{ name: 'embeddings', shape: [this.inputDim, this.outputDim], initializer: this.embeddingsInitializer }], this.regularization, `Embedding ${this.name}`);
  }

  override get activityRegularizer(): Regularizer | undefined {
    return this.activity;
  }

  /** With maskZero the layer makes its output's mask of the ids (an input's own mask is replaced, as Keras does). */
  override get supportsMasking(): boolean {
    return this.maskZero;
  }

  override computeMask(inputMasks: readonly (TensorMask | null)[], inputShapes: readonly Shape[]): MaskRole {
    return this.maskZero ? 'produce' : super.computeMask(inputMasks, inputShapes);
  }

  /** mask = [id ≠ 0], one value per id. */
  override maskForward(ctx: Omit<ForwardContext, 'output'>, mask: Required<BufferView>): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    return [nonzeroIdsMask(ctx.engine, g.positions, { ids: ctx.inputs[0]!, mask })];
  }

  /** Rejects a batch holding an id that is not an integer in [0, inputDim), naming the sample and the value. */
  override checkInputData(values: ArrayLike<number>, sampleShape: Shape, firstSample: number): void {
    // A model reads uint8 inputs as pixels (scaled by 1/255): ids would not survive that.
    if (values instanceof Uint8Array) throw new Error(`layer ${this.name} (Embedding): ids must come as an int32 or float32 tensor, got uint8 (uint8 model inputs are read as pixels scaled by 1/255)`);
    checkIds(values, sampleShape, firstSample, this.inputDim, `layer ${this.name} (Embedding)`);
  }

  forward(ctx: ForwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    return embeddingForward(ctx.engine, g, { ids: ctx.inputs[0]!, w: ctx.weights[0]!, y: ctx.output });
  }

  /** The table's gradient; ids are not differentiable, so an input gradient asked for is zeros. */
  backward(ctx: BackwardContext): Dispatch[] {
    const g = this.geometry(ctx.batch, ctx.inputShapes[0]!);
    const dispatches = embeddingBackward(ctx.engine, g, { ids: ctx.inputs[0]!, dy: ctx.outputGrad, dw: ctx.weightGrads[0]! }, ctx.scratch);
    const dx = ctx.inputGrads[0];
    if (dx) dispatches.push(zeros(ctx.engine, dx, g.positions));
    return dispatches;
  }

  override getConfig(): Record<string, unknown> {
    return {
      ...super.getConfig(),
      ...(this.batchInputShape ? { batch_input_shape: [...this.batchInputShape], dtype: 'float32' } : {}),
      input_dim: this.inputDim,
      output_dim: this.outputDim,
      embeddings_initializer: initializerConfig(this.embeddingsInitializer),
      embeddings_regularizer: regularizerConfig(this.regularization.embeddings?.regularizer),
      activity_regularizer: regularizerConfig(this.activity),
      embeddings_constraint: constraintConfig(this.regularization.embeddings?.constraint),
      mask_zero: this.maskZero,
      input_length: this.inputLength ?? null,
    };
  }

  /**
   * From the Keras config in model.json (the constructor validates the values). TF.js writes
   * `batch_input_shape: [null, null]` for an embedding without an input length; the model's input
   * carries the shape, so the layer's own is not read.
   */
  static fromConfig(config: unknown): Embedding {
    const c = kerasConfig('Embedding', config, ['input_dim', 'output_dim', 'embeddings_initializer', 'mask_zero', 'input_length', ...regularizationKeys(Object.keys(REGULARIZED)), 'activity_regularizer']);
    return new Embedding({
      name: c.name as string | undefined,
      inputDim: c.input_dim as number,
      outputDim: c.output_dim as number,
      embeddingsInitializer: initializerFromConfig(c.embeddings_initializer, 'Embedding: embeddings_initializer'),
      maskZero: (c.mask_zero ?? undefined) as boolean | undefined,
      inputLength: (c.input_length ?? undefined) as number | number[] | undefined,
      ...regularizationFromConfig(c, Object.keys(REGULARIZED), 'Embedding'),
      activityRegularizer: activityFromConfig(c, 'Embedding'),
    });
  }
}

const embeddingFactories = registerLayer(Embedding, {
  embedding: (config: EmbeddingConfig) => new Embedding(config),
});
type EmbeddingFactories = typeof embeddingFactories;
declare module './registry.ts' {
  interface LayerFactories extends EmbeddingFactories {}
}
